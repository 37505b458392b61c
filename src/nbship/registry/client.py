"""A registry's v2 HTTP API as nbship reads it (tags, digests, manifests), and its credentials.

A registry is addressed as HOST[:PORT][/PREFIX] (`localhost:5001`, `ghcr.io/OWNER`); an image's
remote name is ADDRESS/nbship/IMAGE.

Credentials are only sent to a registry that asks for them (HTTP 401): with Basic auth for an
htpasswd registry (the local one after `registry.up --auth`), or exchanged for a Bearer token at
the realm the registry names, which is how GHCR (and Docker Hub) work. They come from the
environment (see `find_credentials`) or, for a local registry, from the file `registry.up --auth`
wrote; the password is never printed, logged or put on a command line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from nbship import envfile
from nbship.errors import NbshipError
from nbship.paths import BUILD, shown

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}

# Where credentials come from, most specific first: an explicit REGISTRY_* pair, then what GitHub
# Actions provides (GITHUB_ACTOR is always set there; the workflow passes the token).
USERNAME_VARIABLES = ("REGISTRY_USERNAME", "GITHUB_ACTOR")
PASSWORD_VARIABLES = ("REGISTRY_PASSWORD", "GHCR_TOKEN", "GITHUB_TOKEN")
LOGIN_HINT = (
    "set REGISTRY_USERNAME and REGISTRY_PASSWORD (or GITHUB_ACTOR and GHCR_TOKEN or "
    "GITHUB_TOKEN), or pass --username"
)


def is_loopback(host: str) -> bool:
    """True for localhost addresses (with or without a port): plain HTTP is fine there."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in LOOPBACK


# ---------------------------------------------------------------------------------------------
# Credentials


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token), and where they came from (for messages)."""

    username: str
    password: str = field(repr=False)
    source: str = "--username"


def find_credentials(
    address: str, username: str | None = None, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials for ADDRESS: from the environment, else those saved for a local registry.

    USERNAME (the --username flag) wins over the environment's user name. None when nothing
    complete is available.
    """
    env = os.environ if env is None else env
    password_variable = next((name for name in PASSWORD_VARIABLES if env.get(name)), None)
    user = username or next((env[name] for name in USERNAME_VARIABLES if env.get(name)), None)
    if password_variable and user:
        return Credentials(user, env[password_variable], password_variable)
    saved = saved_credentials(address)
    if saved and (username is None or username == saved.username):
        return saved
    return None


def missing_credentials_hint(env: Mapping[str, str] | None = None) -> str:
    """What to set, given what is set already (a token without a user is a common slip)."""
    env = os.environ if env is None else env
    password_variable = next((name for name in PASSWORD_VARIABLES if env.get(name)), None)
    if password_variable:
        return f"{password_variable} is set but no user name: pass --username or set GITHUB_ACTOR"
    return LOGIN_HINT


def saved_credentials(address: str) -> Credentials | None:
    """The credentials `registry.up --auth` saved for a local registry at ADDRESS, if any."""
    host = address.split("/", 1)[0]
    if not is_loopback(host):
        return None
    for path in sorted(BUILD.glob("registry-auth*/credentials.env")):
        values = envfile.parse(path)
        if values.get("REGISTRY_ADDRESS") == host:
            return Credentials(
                values["REGISTRY_USERNAME"], values["REGISTRY_PASSWORD"], str(shown(path))
            )
    return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]] | None:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {key.lower(): value for key, value in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


# ---------------------------------------------------------------------------------------------
# The v2 HTTP API


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry stores it: re-PUT these bytes and the digest is kept."""

    media_type: str
    body: bytes = field(repr=False)
    digest: str


@dataclass
class _AuthState:
    """What a Registry learnt about its auth: the scheme it asked for, and tokens by scope."""

    credentials: Credentials | None = None
    looked_up: bool = False
    basic: bool = False
    tokens: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Registry:
    """A registry's v2 API; plain HTTP for loopback addresses, HTTPS for everything else.

    AUTH is used when given; otherwise credentials are looked up (find_credentials, with
    USERNAME) the first time the registry asks for them.
    """

    address: str
    auth: Credentials | None = None
    timeout: float = 10.0
    username: str | None = None
    _state: _AuthState = field(default_factory=_AuthState, init=False, repr=False, compare=False)

    @property
    def host(self) -> str:
        return self.address.split("/", 1)[0]

    @property
    def prefix(self) -> str:
        parts = self.address.split("/", 1)
        return parts[1] + "/" if len(parts) == 2 else ""

    @property
    def url(self) -> str:
        return f"{'http' if is_loopback(self.host) else 'https'}://{self.host}/v2/"

    def remote(self, repository: str) -> str:
        """The full name of a repository in this registry (what docker push/pull use)."""
        return f"{self.address}/{repository}"

    def credentials(self) -> Credentials | None:
        """The credentials this client uses when asked: AUTH, else looked up once."""
        if self.auth is not None:
            return self.auth
        if not self._state.looked_up:
            self._state.credentials = find_credentials(self.address, self.username)
            self._state.looked_up = True
        return self._state.credentials

    # -- requests ------------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> requests.Response:
        try:
            return requests.request(
                method, self.url + path, headers=headers, data=data, timeout=self.timeout
            )
        except requests.RequestException:
            raise NbshipError(
                f"the registry at {self.host} is not answering: start it with "
                "`invoke registry.up` (or check --registry)"
            ) from None

    def _authorization(self, scope: str) -> dict[str, str]:
        token = self._state.tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        credentials = self.credentials()
        if self._state.basic and credentials:
            pair = f"{credentials.username}:{credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def _request(
        self,
        method: str,
        path: str,
        *,
        repository: str | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> requests.Response:
        """Send a request, answering one auth challenge (Basic or Bearer) if the registry asks."""
        sent = {"Accept": MANIFEST_TYPES, **(headers or {})}
        actions = "pull" if method in {"GET", "HEAD"} else "pull,push"
        scope = f"repository:{self.prefix}{repository}:{actions}" if repository else ""
        response = self._send(method, path, {**sent, **self._authorization(scope)}, data)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        credentials = self.credentials()
        if challenge and challenge[0] == "bearer" and scope not in self._state.tokens:
            self._state.tokens[scope] = self._fetch_token(challenge[1], scope, credentials)
        elif challenge and challenge[0] == "basic" and credentials and not self._state.basic:
            self._state.basic = True
        else:
            raise self._refused(credentials)
        response = self._send(method, path, {**sent, **self._authorization(scope)}, data)
        if response.status_code == 401:
            raise self._refused(credentials)
        return response

    def _refused(self, credentials: Credentials | None) -> NbshipError:
        if credentials is None:
            return NbshipError(
                f"the registry at {self.host} requires a login: {missing_credentials_hint()}"
            )
        return NbshipError(
            f"the registry at {self.host} refused the credentials of user "
            f"{credentials.username!r} (from {credentials.source}): check the password or token"
        )

    def _fetch_token(
        self, challenge: dict[str, str], scope: str, credentials: Credentials | None
    ) -> str:
        """Exchange credentials (or nothing, for public images) for a Bearer token."""
        realm = challenge.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.netloc)):
            # Credentials go to the realm: never in clear text to another machine.
            raise NbshipError(
                f"the registry at {self.host} names an unusable token realm {realm!r}"
            )
        query = {"service": challenge["service"]} if challenge.get("service") else {}
        if scope or challenge.get("scope"):
            query["scope"] = scope or challenge["scope"]
        auth = (credentials.username, credentials.password) if credentials else None
        try:
            response = requests.get(realm, params=query, auth=auth, timeout=self.timeout)
        except requests.RequestException:
            raise NbshipError(
                f"the token service of {self.host} ({parts.netloc}) is not answering"
            ) from None
        if response.status_code in {401, 403}:
            raise self._refused(credentials)
        if response.status_code != 200:
            raise NbshipError(
                f"the token service of {self.host} answered HTTP {response.status_code}"
            )
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise NbshipError(f"the token service of {self.host} answered without a token")
        return token

    # -- the API -------------------------------------------------------------------------------

    def requires_login(self) -> bool:
        """True when the registry refuses anonymous requests to its API root."""
        return self._send("GET", "", {"Accept": MANIFEST_TYPES}, None).status_code == 401

    def ping(self) -> None:
        """Stop with a clear message unless the registry answers and accepts our credentials."""
        response = self._request("GET", "")
        if response.status_code != 200:
            raise NbshipError(f"the registry at {self.host} answered HTTP {response.status_code}")

    def _manifest_response(self, method: str, repository: str, tag: str) -> requests.Response:
        path = f"{self.prefix}{repository}/manifests/{tag}"
        response = self._request(method, path, repository=repository)
        if response.status_code not in {200, 404}:
            raise NbshipError(
                f"registry {self.host}: {method} {repository}:{tag} answered "
                f"HTTP {response.status_code}"
            )
        return response

    def digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest a tag points at, or None when the tag does not exist."""
        response = self._manifest_response("HEAD", repository, tag)
        if response.status_code == 404:
            return None
        return response.headers["Docker-Content-Digest"]

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest a tag (or digest) names, byte for byte; None when it does not exist."""
        response = self._manifest_response("GET", repository, reference)
        if response.status_code == 404:
            return None
        body = response.content
        digest = response.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(body).hexdigest()
        )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(media_type, body, digest)

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        """Point TAG at MANIFEST (same bytes, so the same digest); return the digest stored."""
        response = self._request(
            "PUT",
            f"{self.prefix}{repository}/manifests/{tag}",
            repository=repository,
            headers={"Content-Type": manifest.media_type},
            data=manifest.body,
        )
        if response.status_code != 201:
            raise NbshipError(
                f"registry {self.host}: tagging {repository}:{tag} answered HTTP "
                f"{response.status_code} {response.text.strip()[:200]}"
            )
        return response.headers.get("Docker-Content-Digest") or manifest.digest

    def labels(self, repository: str, reference: str) -> dict[str, str]:
        """The labels of the image REPOSITORY@REFERENCE, read from its config blob: what
        `docker image inspect` shows, without pulling the image ({} when it is not here)."""
        found = self.manifest(repository, reference)
        digest = (json.loads(found.body).get("config") or {}).get("digest") if found else None
        if not digest:
            return {}
        path = f"{self.prefix}{repository}/blobs/{digest}"
        response = self._request("GET", path, repository=repository)
        if response.status_code != 200:
            return {}
        labels = (response.json().get("config") or {}).get("Labels") or {}
        return {str(key): str(value) for key, value in labels.items()}

    def config_digest(self, repository: str, tag: str) -> str | None:
        """The image ID (config digest) behind a tag, to compare with a local image."""
        found = self.manifest(repository, tag)
        if found is None:
            return None
        config = json.loads(found.body).get("config") or {}
        return config.get("digest")

    def tags(self, repository: str) -> list[str]:
        """Every tag of a repository (empty when the repository does not exist)."""
        response = self._request(
            "GET", f"{self.prefix}{repository}/tags/list", repository=repository
        )
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def repositories(self) -> list[str]:
        """Every repository in the registry (the catalog API; local registries only)."""
        response = self._request("GET", "_catalog?n=1000")
        response.raise_for_status()
        return sorted(response.json().get("repositories") or [])


# ---------------------------------------------------------------------------------------------
# The local registry container
