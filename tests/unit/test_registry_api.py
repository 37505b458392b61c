"""The registry client against an in-process fake of the v2 API: Basic, Bearer (GHCR), promote.

The fake answers like distribution and GHCR do (WWW-Authenticate challenges, a token service,
Docker-Content-Digest headers), so the auth flows run for real without Docker or the internet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import semver

from nbship import docker
from nbship.catalogue import IMAGES
from nbship.errors import NbshipError
from nbship.registry import push
from nbship.registry.client import (
    Credentials,
    Registry,
    find_credentials,
    missing_credentials_hint,
    parse_challenge,
)
from nbship.registry.promote import promote, promoted

USER, PASSWORD = "octocat", "s3cret-token-value"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class FakeRegistry:
    """A v2 registry in a thread: SCHEME is None (open), "basic" or "bearer" (like GHCR)."""

    scheme: str | None
    manifests: dict[tuple[str, str], bytes] = field(default_factory=dict)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, Authorization
    token_requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}/owner"

    def add(self, repository: str, tag: str, payload: dict[str, Any]) -> str:
        """Store a manifest under TAG (and its digest); return the digest."""
        body = json.dumps(payload, indent=3).encode()  # odd indent: bytes must survive as is
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[(repository, tag)] = body
        self.manifests[(repository, digest)] = body
        return digest

    def allowed(self, handler: BaseHTTPRequestHandler, scope: str) -> bool:
        header = handler.headers.get("Authorization", "")
        if self.scheme == "basic":
            return header == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.scheme == "bearer":
            granted = header.removeprefix("Bearer token-for:")
            return header.startswith("Bearer token-for:") and (not scope or granted == scope)
        return True

    def challenge(self, scope: str) -> str:
        if self.scheme == "basic":
            return 'Basic realm="fake"'
        realm = f"http://127.0.0.1:{self.port}/token"
        return f'Bearer realm="{realm}",service="fake-registry"' + (
            f',scope="{scope}"' if scope else ""
        )


def _handler(fake: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _token(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            fake.token_requests.append(query)
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._reply(401, b'{"errors": [{"code": "DENIED"}]}')
                return
            token = json.dumps({"token": f"token-for:{query.get('scope', '')}"}).encode()
            self._reply(200, token, {"Content-Type": "application/json"})

        def _handle(self) -> None:
            path = urlsplit(self.path).path
            fake.seen.append((self.command, path, self.headers.get("Authorization", "")))
            if path == "/token":
                self._token()
                return
            rest = path.removeprefix("/v2/")
            name, kind, reference = rest, "", ""
            for marker in ("/manifests/", "/tags/"):
                if marker in rest:
                    name, reference = rest.split(marker, 1)
                    kind = marker.strip("/")
            actions = "pull" if self.command in {"GET", "HEAD"} else "pull,push"
            scope = f"repository:{name}:{actions}" if kind else ""
            if not fake.allowed(self, scope):
                self._reply(401, b"{}", {"WWW-Authenticate": fake.challenge(scope)})
                return
            if not kind:
                self._reply(200, b"{}")
            elif kind == "tags":
                tags = sorted(
                    tag
                    for repo, tag in fake.manifests
                    if repo == name and not tag.startswith("sha256:")
                )
                status = 200 if tags else 404
                self._reply(status, json.dumps({"name": name, "tags": tags}).encode())
            elif self.command == "PUT":
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Type"] == MANIFEST_TYPE
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                fake.manifests[(name, reference)] = body
                fake.manifests[(name, digest)] = body
                self._reply(201, headers={"Docker-Content-Digest": digest})
            elif (name, reference) in fake.manifests:
                body = fake.manifests[(name, reference)]
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                headers = {"Content-Type": MANIFEST_TYPE, "Docker-Content-Digest": digest}
                self._reply(200, body, headers)
            else:
                self._reply(404, b"{}")

        do_GET = do_HEAD = do_PUT = _handle

    return Handler


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start fakes on free loopback ports; all are shut down after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(scheme: str | None) -> FakeRegistry:
        fake = FakeRegistry(scheme)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        fake.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's or runner's own tokens must not leak into these tests."""
    for name in ("REGISTRY_USERNAME", "REGISTRY_PASSWORD", "GITHUB_ACTOR", "GHCR_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)


def credentials(password: str = PASSWORD) -> Credentials:
    return Credentials(USER, password, "GHCR_TOKEN")


# -- Bearer (GHCR) ----------------------------------------------------------------------------


def test_bearer_flow_fetches_a_token_per_repository_scope(serve: Any) -> None:
    fake = serve("bearer")
    digest = fake.add("owner/nbship/inventory-app", "1.0.0", {"schemaVersion": 2})
    registry = Registry(fake.address, auth=credentials())

    registry.ping()
    assert registry.digest("nbship/inventory-app", "1.0.0") == digest
    assert registry.digest("nbship/inventory-app", "2.0.0") is None

    scopes = [request.get("scope") for request in fake.token_requests]
    assert scopes == [None, "repository:owner/nbship/inventory-app:pull"]
    assert all(request["service"] == "fake-registry" for request in fake.token_requests)
    # The token is reused: one token request for the two manifest lookups.
    assert len([s for s in fake.seen if "/manifests/" in s[1]]) == 3


def test_bearer_flow_asks_for_push_scope_to_tag(serve: Any) -> None:
    fake = serve("bearer")
    fake.add("owner/nbship/billing-app", "1.0.0", {"schemaVersion": 2})
    registry = Registry(fake.address, auth=credentials())
    manifest = registry.manifest("nbship/billing-app", "1.0.0")
    assert manifest is not None

    assert registry.put_manifest("nbship/billing-app", "prod", manifest) == manifest.digest
    assert fake.token_requests[-1]["scope"] == "repository:owner/nbship/billing-app:pull,push"


def test_wrong_token_stops_with_one_line_that_hides_the_token(serve: Any) -> None:
    fake = serve("bearer")
    registry = Registry(fake.address, auth=credentials("not-the-token"))
    with pytest.raises(NbshipError) as error:
        registry.ping()
    message = str(error.value)
    assert "refused the credentials of user 'octocat' (from GHCR_TOKEN)" in message
    assert "not-the-token" not in message and "\n" not in message


def test_credentials_come_from_the_environment_when_the_registry_asks(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = serve("bearer")
    monkeypatch.setenv("GITHUB_ACTOR", USER)
    monkeypatch.setenv("GITHUB_TOKEN", PASSWORD)
    Registry(fake.address).ping()
    assert fake.token_requests and fake.seen[-1][2].startswith("Bearer ")


def test_missing_login_says_what_to_set(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = serve("basic")
    with pytest.raises(NbshipError, match="requires a login: set REGISTRY_USERNAME"):
        Registry(fake.address).ping()
    monkeypatch.setenv("GHCR_TOKEN", PASSWORD)
    with pytest.raises(NbshipError, match="GHCR_TOKEN is set but no user name"):
        Registry(fake.address).ping()


def test_token_realm_over_plain_http_elsewhere_is_refused() -> None:
    registry = Registry("registry.example")
    with pytest.raises(NbshipError, match="unusable token realm"):
        registry._fetch_token({"realm": "http://evil.example/token"}, "", credentials())


# -- Basic (local registry with htpasswd) and open registries ---------------------------------


def test_basic_auth_answers_the_challenge(serve: Any) -> None:
    fake = serve("basic")
    fake.add("owner/nbship/postgres", "1.0.0", {"schemaVersion": 2, "config": {"digest": "x"}})
    registry = Registry(fake.address, auth=credentials())
    assert registry.tags("nbship/postgres") == ["1.0.0"]
    assert registry.config_digest("nbship/postgres", "1.0.0") == "x"
    assert fake.seen[-1][2].startswith("Basic ")


def test_credentials_are_not_sent_to_a_registry_that_does_not_ask(serve: Any) -> None:
    fake = serve(None)
    registry = Registry(fake.address, auth=credentials())
    registry.ping()
    assert registry.tags("nbship/rabbitmq") == []
    assert not registry.requires_login()
    assert all(authorization == "" for _, _, authorization in fake.seen)


# -- Where credentials come from --------------------------------------------------------------


def test_explicit_registry_password_wins_over_github_tokens() -> None:
    env = {
        "GITHUB_ACTOR": "actor",
        "GITHUB_TOKEN": "gh",
        "GHCR_TOKEN": "ghcr",
        "REGISTRY_USERNAME": "me",
        "REGISTRY_PASSWORD": "mine",
    }
    found = find_credentials("ghcr.io/owner", env=env)
    assert found == Credentials("me", "mine", "REGISTRY_PASSWORD")
    found = find_credentials("ghcr.io/owner", env={"GITHUB_ACTOR": "actor", "GITHUB_TOKEN": "gh"})
    assert found == Credentials("actor", "gh", "GITHUB_TOKEN")
    flagged = find_credentials("ghcr.io/owner", username="bot", env={"GHCR_TOKEN": "ghcr"})
    assert flagged == Credentials("bot", "ghcr", "GHCR_TOKEN")


def test_a_token_without_a_user_is_not_credentials() -> None:
    assert find_credentials("ghcr.io/owner", env={"GITHUB_TOKEN": "gh"}) is None
    assert "GITHUB_TOKEN is set but no user name" in missing_credentials_hint({"GITHUB_TOKEN": "x"})


def test_password_never_shows_in_repr() -> None:
    assert PASSWORD not in repr(credentials()) and PASSWORD not in repr(
        Registry("ghcr.io/o", auth=credentials())
    )


def test_challenge_parsing_keeps_commas_inside_quotes() -> None:
    header = (
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull,push"'
    )
    assert parse_challenge(header) == (
        "bearer",
        {
            "realm": "https://ghcr.io/token",
            "service": "ghcr.io",
            "scope": "repository:a/b:pull,push",
        },
    )


def test_docker_login_gets_the_password_on_stdin_only(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = serve("basic")
    calls: list[tuple[list[str], str | None]] = []

    def fake_run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((list(args), kwargs.get("input")))
        return subprocess.CompletedProcess(args, 0, "Login Succeeded\n", "")

    monkeypatch.setattr(docker, "run", fake_run)
    push.login(Registry(fake.address, auth=credentials()))
    [(args, stdin)] = calls
    assert args[:2] == ["docker", "login"] and "--password-stdin" in args
    assert args[-1] == f"127.0.0.1:{fake.port}"
    assert stdin == PASSWORD and all(PASSWORD not in arg for arg in args)


# -- Promotion --------------------------------------------------------------------------------


def _release(fake: FakeRegistry, version: str) -> dict[str, str]:
    return {
        image.name: fake.add(
            f"owner/{image.repository}",
            version,
            {"schemaVersion": 2, "v": version, "i": image.name},
        )
        for image in IMAGES
    }


def test_promote_points_the_tag_at_the_versions_exact_digest(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = serve("bearer")
    first, second = _release(fake, "1.0.0"), _release(fake, "1.1.0")
    registry = Registry(fake.address, auth=credentials())

    assert promote(registry, semver.Version.parse("1.0.0"), "prod") == first
    for image in IMAGES:
        assert registry.digest(image.repository, "prod") == first[image.name]
    assert promote(registry, semver.Version.parse("1.1.0"), "prod") == second
    assert "was sha256:" in capsys.readouterr().out
    assert not any(method == "POST" for method, _, _ in fake.seen)  # no blob was uploaded


def test_promote_of_an_unknown_version_names_it_and_lists_known_ones(serve: Any) -> None:
    fake = serve(None)
    _release(fake, "1.0.0")
    _release(fake, "1.1.0")
    with pytest.raises(NbshipError) as error:
        promote(Registry(fake.address), semver.Version.parse("9.9.9"), "staging")
    assert "version 9.9.9 is not in the registry" in str(error.value)
    assert "known versions: 1.0.0, 1.1.0" in str(error.value)
    assert not any(key[1] == "staging" for key in fake.manifests)


def test_promote_refuses_unknown_environments(serve: Any) -> None:
    with pytest.raises(NbshipError, match=r"unknown environment 'qa': use one of staging, prod"):
        promote(Registry(serve(None).address), semver.Version.parse("1.0.0"), "qa")


def test_an_environment_resolves_to_the_version_promoted_there(serve: Any) -> None:
    fake = serve(None)
    first, _ = _release(fake, "1.0.0"), _release(fake, "1.1.0")
    registry = Registry(fake.address)
    promote(registry, semver.Version.parse("1.0.0"), "staging")
    version, digests = promoted(registry, "staging")
    assert (str(version), digests) == ("1.0.0", first)


def test_an_environment_nothing_was_promoted_to_says_how(serve: Any) -> None:
    fake = serve(None)
    _release(fake, "1.0.0")
    with pytest.raises(NbshipError, match=r"nothing is promoted to prod .*invoke promote X.Y.Z"):
        promoted(Registry(fake.address), "prod")
    with pytest.raises(NbshipError, match="unknown environment 'production'"):
        promoted(Registry(fake.address), "production")


def test_an_environment_tag_moved_by_hand_to_a_mix_is_refused(serve: Any) -> None:
    fake = serve(None)
    _release(fake, "1.0.0")
    second = _release(fake, "1.1.0")
    registry = Registry(fake.address)
    promote(registry, semver.Version.parse("1.0.0"), "prod")
    last = IMAGES[-1]
    manifest = registry.manifest(last.repository, "1.1.0")
    assert manifest is not None
    registry.put_manifest(last.repository, "prod", manifest)  # one image moved by hand
    assert registry.digest(last.repository, "prod") == second[last.name]
    with pytest.raises(NbshipError, match=f"prod is not one version: .* but {last.repository}"):
        promoted(registry, "prod")
