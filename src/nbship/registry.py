"""The image registry: the local one nbship runs (start/stop/gc) and the v2 HTTP API nbship reads.

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
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from nbship import base, docker, envfile
from nbship.errors import NbshipError
from nbship.files import atomic_write
from nbship.paths import BUILD, REGISTRY_DIR, ROOT

OFFICIAL_IMAGE = "registry:2"
DEBIAN_IMAGE = "nbship/registry:2.8"
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
                values["REGISTRY_USERNAME"], values["REGISTRY_PASSWORD"], str(_shown(path))
            )
    return None


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


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

DEFAULT_PROJECT = "nbship-registry"
CONFIG_PATH = "/etc/docker/registry/config.yml"
HTPASSWD_DOCKERFILE = REGISTRY_DIR / "htpasswd.Dockerfile"
# The official image names the binary `registry`, Debian's package `docker-registry`.
GC_SCRIPT = (
    'for bin in registry docker-registry; do if command -v "$bin" >/dev/null; then '
    'exec "$bin" garbage-collect "$@"; fi; done; echo "no registry binary found" >&2; exit 127'
)


@dataclass(frozen=True)
class LocalRegistry:
    """Where the local registry runs: a compose project, a loopback port and a data volume.

    Its login (after `up(auth=True)`) lives in AUTH_DIR: `htpasswd` (bcrypt hashes, mounted into
    the container) and `credentials.env` (the user and password, mode 0600). While that
    directory holds an htpasswd file the registry runs with auth; `down(remove_data=True)`
    removes it together with the images.
    """

    port: int = 5001
    project: str = DEFAULT_PROJECT
    volume: str = "nbship-registry-data"
    auth_dir: Path | None = None

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    @property
    def auth_path(self) -> Path:
        """build/registry-auth for the default registry, build/registry-auth-PROJECT otherwise."""
        if self.auth_dir is not None:
            return self.auth_dir
        suffix = "" if self.project == DEFAULT_PROJECT else f"-{self.project}"
        return BUILD / f"registry-auth{suffix}"

    @property
    def htpasswd(self) -> Path:
        return self.auth_path / "htpasswd"

    @property
    def credentials_file(self) -> Path:
        return self.auth_path / "credentials.env"

    @property
    def auth_enabled(self) -> bool:
        return self.htpasswd.exists()

    def credentials(self) -> Credentials | None:
        """The saved login of this registry (None while it runs without auth)."""
        if not (self.auth_enabled and self.credentials_file.exists()):
            return None
        values = envfile.parse(self.credentials_file)
        return Credentials(
            values["REGISTRY_USERNAME"],
            values["REGISTRY_PASSWORD"],
            str(_shown(self.credentials_file)),
        )

    def client(self) -> Registry:
        """The v2 API of this registry, logged in with its saved credentials when it has any."""
        return Registry(self.address, auth=self.credentials())

    def _compose(
        self, *args: str, image: str = "unused", readonly: bool = False
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "NBSHIP_REGISTRY_IMAGE": image,
            "NBSHIP_REGISTRY_PORT": str(self.port),
            "NBSHIP_REGISTRY_VOLUME": self.volume,
            "NBSHIP_REGISTRY_AUTH_DIR": str(self.auth_path),
        }
        files = ["compose.yaml"]
        if self.auth_enabled:
            files.append("compose.auth.yaml")
        if readonly:
            files.append("compose.readonly.yaml")
        cmd = list(docker.compose_command())
        for name in files:
            cmd += ["-f", str(REGISTRY_DIR / name)]
        return docker.run([*cmd, "-p", self.project, *args], env=env, capture=True)

    def up(self, base_mode: str = "auto", auth: bool = False) -> str:
        """Start (or keep) the registry and wait until its API answers; return its address.

        With AUTH, a login is created first (once) and the registry requires it from then on.
        """
        docker.ensure_daemon()
        if auth:
            self._ensure_login(base_mode)
        image = registry_image(base_mode)
        login = f", login in {_shown(self.credentials_file)}" if self.auth_enabled else ""
        print(f"nbship: registry {self.address} ({image}, data in volume {self.volume}{login})")
        self._start(image)
        return self.address

    def _start(self, image: str, readonly: bool = False) -> None:
        self._compose("up", "--detach", "--remove-orphans", image=image, readonly=readonly)
        _wait_until_answering(self.client())

    def down(self, remove_data: bool = False) -> None:
        """Stop the registry; its data volume (and login) are kept unless remove_data."""
        docker.ensure_daemon()
        self._compose("down", *(["--volumes"] if remove_data else []))
        if remove_data and self.auth_path.exists():
            shutil.rmtree(self.auth_path)

    def running_image(self) -> str | None:
        """The image the registry container runs, or None when it is not running."""
        result = docker.docker(
            "ps",
            "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", "label=com.docker.compose.service=registry",
            "--format", "{{.Image}}",
        )  # fmt: skip
        lines = result.stdout.split()
        return lines[0] if lines else None

    def gc(self, dry_run: bool = False) -> str:
        """Delete untagged manifests and the blobs nothing references; return the summary line.

        Distribution's garbage collector is not safe while images are pushed: a layer uploaded
        during the mark phase can be swept. So the registry is restarted read-only (pulls still
        work, pushes get HTTP 405) for the sweep and restarted writable afterwards, even when
        the sweep fails. A dry run changes nothing and runs on the live registry.
        """
        docker.ensure_daemon()
        image = self.running_image()
        if image is None:
            raise NbshipError(
                f"the local registry {self.address} is not running: `invoke registry.up` first"
            )
        args = ["--delete-untagged", *(["--dry-run"] if dry_run else []), CONFIG_PATH]
        exec_gc = ["exec", "-T", "registry", "sh", "-c", GC_SCRIPT, "sh", *args]
        if dry_run:
            return _summary(self._compose(*exec_gc, image=image).stdout)
        self._start(image, readonly=True)
        try:
            output = self._compose(*exec_gc, image=image, readonly=True).stdout
        finally:
            self._start(image)
        return _summary(output)

    def _ensure_login(self, base_mode: str) -> None:
        """Create this registry's user, random password and bcrypt htpasswd file, once."""
        saved = self.credentials()
        if saved is None:
            saved = Credentials("nbship", secrets.token_urlsafe(24), "generated")
            line = bcrypt_htpasswd(saved.username, saved.password, base_mode)
            self.auth_path.mkdir(mode=0o700, parents=True, exist_ok=True)
            # World-readable: the Debian image's registry runs as a non-root user and reads it
            # through the bind mount; it holds only bcrypt hashes (the directory stays 0700).
            atomic_write(self.htpasswd, line + "\n", mode=0o644)
            print(f"nbship: created a registry login in {_shown(self.credentials_file)}")
        atomic_write(
            self.credentials_file,
            "# Written by `invoke registry.up --auth`: the local registry's login. Not for git.\n"
            f"REGISTRY_ADDRESS={self.address}\n"
            f"REGISTRY_USERNAME={saved.username}\n"
            f"REGISTRY_PASSWORD={saved.password}\n",
            mode=0o600,
        )


def _summary(output: str) -> str:
    """distribution's count line ("N blobs marked, M blobs and K manifests eligible ...")."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    counts = [line for line in lines if "eligible for deletion" in line and "marked" in line]
    return (counts or lines or ["garbage-collect printed nothing"])[-1]


def bcrypt_htpasswd(username: str, password: str, base_mode: str = "auto") -> str:
    """An htpasswd line with a bcrypt hash (the only kind distribution accepts).

    `htpasswd` from apache2-utils does the hashing: the host's when installed, else one in a
    small image built once from the Debian base. The password goes in on stdin (-i), never on a
    command line. htpasswd's default bcrypt cost (5) is fine: the password is 24 random bytes,
    and the registry checks it on every request.
    """
    args = ["-niB", username]
    if shutil.which("htpasswd"):
        result = docker.run(["htpasswd", *args], capture=True, input=password)
    else:
        image = htpasswd_image(base_mode)
        command = ["docker", "run", "--rm", "-i", "--network", "none", image, *args]
        result = docker.run(command, capture=True, input=password)
    line = result.stdout.strip()
    if not line.startswith(f"{username}:$2"):
        raise NbshipError("htpasswd did not produce a bcrypt hash")
    return line


def htpasswd_image(base_mode: str = "auto") -> str:
    """nbship/htpasswd:KEY, built once per Debian base and Dockerfile (apt needs the mirror)."""
    base_ref = base.ensure_debian_base(base_mode)
    key = hashlib.sha256(
        (docker.image_id(base_ref) + HTPASSWD_DOCKERFILE.read_text(encoding="utf-8")).encode()
    ).hexdigest()[:12]
    tag = f"nbship/htpasswd:{key}"
    if not docker.image_exists(tag):
        print(f"nbship: building {tag} (htpasswd from Debian's apache2-utils)")
        docker.run(
            [
                "docker", "build", "--quiet", "--tag", tag,
                "--build-arg", f"BASE_IMAGE={base_ref}",
                "--file", str(HTPASSWD_DOCKERFILE), str(REGISTRY_DIR),
            ],
            capture=True,
        )  # fmt: skip
    return tag


@retry(
    retry=retry_if_exception_type(NbshipError),
    stop=stop_after_delay(30),
    wait=wait_fixed(0.5),
    reraise=True,
)
def _wait_until_answering(registry: Registry) -> None:
    registry.ping()


def registry_image(base_mode: str = "auto") -> str:
    """registry:2 where present or pullable, else the Debian-built image (built once)."""
    override = os.environ.get("NBSHIP_REGISTRY_IMAGE")
    if override:
        return override
    if base_mode != "bootstrap" and (
        docker.image_exists(OFFICIAL_IMAGE) or docker.try_pull(OFFICIAL_IMAGE, timeout=60)
    ):
        return OFFICIAL_IMAGE
    if not docker.image_exists(DEBIAN_IMAGE):
        base_ref = base.ensure_debian_base(base_mode)
        print(f"nbship: {OFFICIAL_IMAGE} cannot be pulled; building {DEBIAN_IMAGE} from Debian")
        docker.run(
            [
                "docker", "build", "--quiet", "--tag", DEBIAN_IMAGE,
                "--build-arg", f"BASE_IMAGE={base_ref}",
                "--file", str(REGISTRY_DIR / "Dockerfile"), str(ROOT),
            ],
            capture=True,
        )  # fmt: skip
    return DEBIAN_IMAGE
