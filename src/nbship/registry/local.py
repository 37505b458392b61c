"""The local registry nbship runs: start, stop, login and garbage collection.

`registry:2` where it can be pulled, else an image built once from Debian's docker-registry
package (the build stage's Debian base: this is the one registry module that may build).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from nbship import docker, envfile
from nbship.build import base
from nbship.errors import NbshipError
from nbship.files import atomic_write
from nbship.paths import BUILD, REGISTRY_DIR, ROOT, shown
from nbship.registry.client import Credentials, Registry

DEBIAN_IMAGE = "nbship/registry:2.8"
OFFICIAL_IMAGE = "registry:2"
DEFAULT_PROJECT = "nbship-registry"
CONFIG_PATH = "/etc/docker/registry/config.yml"
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
            str(shown(self.credentials_file)),
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
            self._ensure_login()
        image = registry_image(base_mode)
        login = f", login in {shown(self.credentials_file)}" if self.auth_enabled else ""
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

    def _ensure_login(self) -> None:
        """Create this registry's user, random password and bcrypt htpasswd file, once."""
        saved = self.credentials()
        if saved is None:
            saved = Credentials("nbship", secrets.token_urlsafe(24), "generated")
            line = bcrypt_htpasswd(saved.username, saved.password)
            self.auth_path.mkdir(mode=0o700, parents=True, exist_ok=True)
            # World-readable: the Debian image's registry runs as a non-root user and reads it
            # through the bind mount; it holds only bcrypt hashes (the directory stays 0700).
            atomic_write(self.htpasswd, line + "\n", mode=0o644)
            print(f"nbship: created a registry login in {shown(self.credentials_file)}")
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


def bcrypt_htpasswd(username: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash (the only kind distribution accepts).

    The `bcrypt` library hashes in this process: no apache2-utils and no helper image. Cost 5
    is htpasswd's own default and enough here: the password is 24 random bytes (nothing to
    guess), and the registry checks it on every request, so a higher cost only slows pushes.
    """
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{username}:{hashed}"


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
