"""The image registry: the local one nbship runs (start/stop) and the v2 HTTP API nbship reads.

A registry is addressed as HOST[:PORT][/PREFIX] (`localhost:5001`, `ghcr.io/OWNER`); an image's
remote name is ADDRESS/nbship/IMAGE.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import requests
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from nbship import base, docker
from nbship.errors import NbshipError
from nbship.paths import REGISTRY_DIR, ROOT

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


@dataclass(frozen=True)
class Registry:
    """A registry's v2 API; plain HTTP for loopback addresses, HTTPS for everything else."""

    address: str
    auth: tuple[str, str] | None = None
    timeout: float = 10.0

    @property
    def host(self) -> str:
        return self.address.split("/", 1)[0]

    @property
    def prefix(self) -> str:
        parts = self.address.split("/", 1)
        return parts[1] + "/" if len(parts) == 2 else ""

    @property
    def url(self) -> str:
        local = self.host.split(":")[0] in {"localhost", "127.0.0.1", "::1"}
        return f"{'http' if local else 'https'}://{self.host}/v2/"

    def remote(self, repository: str) -> str:
        """The full name of a repository in this registry (what docker push/pull use)."""
        return f"{self.address}/{repository}"

    def _get(self, method: str, path: str) -> requests.Response:
        try:
            return requests.request(
                method,
                self.url + path,
                headers={"Accept": MANIFEST_TYPES},
                auth=self.auth,
                timeout=self.timeout,
            )
        except requests.RequestException:
            raise NbshipError(
                f"the registry at {self.host} is not answering: start it with "
                "`invoke registry.up` (or check --registry)"
            ) from None

    def ping(self) -> None:
        """Stop with a clear message unless the registry answers and accepts our credentials."""
        response = self._get("GET", "")
        if response.status_code == 401:
            raise NbshipError(f"the registry at {self.host} refused the credentials (HTTP 401)")
        if response.status_code != 200:
            raise NbshipError(f"the registry at {self.host} answered HTTP {response.status_code}")

    def digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest a tag points at, or None when the tag does not exist."""
        response = self._get("HEAD", f"{self.prefix}{repository}/manifests/{tag}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise NbshipError(
                f"registry {self.host}: HEAD {repository}:{tag} answered HTTP {response.status_code}"
            )
        return response.headers["Docker-Content-Digest"]

    def config_digest(self, repository: str, tag: str) -> str | None:
        """The image ID (config digest) behind a tag, to compare with a local image."""
        response = self._get("GET", f"{self.prefix}{repository}/manifests/{tag}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        config = response.json().get("config") or {}
        return config.get("digest")

    def tags(self, repository: str) -> list[str]:
        """Every tag of a repository (empty when the repository does not exist)."""
        response = self._get("GET", f"{self.prefix}{repository}/tags/list")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def repositories(self) -> list[str]:
        """Every repository in the registry (the catalog API; local registries only)."""
        response = self._get("GET", "_catalog?n=1000")
        response.raise_for_status()
        return sorted(response.json().get("repositories") or [])


# ---------------------------------------------------------------------------------------------
# The local registry container


@dataclass(frozen=True)
class LocalRegistry:
    """Where the local registry runs: a compose project, a loopback port and a data volume."""

    port: int = 5001
    project: str = "nbship-registry"
    volume: str = "nbship-registry-data"

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def _compose(self, *args: str, image: str = "unused") -> None:
        env = {
            "NBSHIP_REGISTRY_IMAGE": image,
            "NBSHIP_REGISTRY_PORT": str(self.port),
            "NBSHIP_REGISTRY_VOLUME": self.volume,
        }
        cmd = [*docker.compose_command(), "-f", str(REGISTRY_DIR / "compose.yaml")]
        docker.run([*cmd, "-p", self.project, *args], env=env, capture=True)

    def up(self, base_mode: str = "auto") -> str:
        """Start (or keep) the registry and wait until its API answers; return its address."""
        docker.ensure_daemon()
        image = registry_image(base_mode)
        print(f"nbship: registry {self.address} ({image}, data in volume {self.volume})")
        self._compose("up", "--detach", "--remove-orphans", image=image)
        _wait_until_answering(Registry(self.address))
        return self.address

    def down(self, remove_data: bool = False) -> None:
        """Stop the registry; its data volume is kept unless remove_data."""
        docker.ensure_daemon()
        self._compose("down", *(["--volumes"] if remove_data else []))


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
