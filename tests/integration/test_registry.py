"""A registry that requires a login, driven through the CLI: the GHCR code path, promotion, gc.

GHCR cannot be reached here, so the same code path (credentials from GITHUB_ACTOR/GHCR_TOKEN,
`docker login --password-stdin`, an authenticated v2 API) runs against a private local registry
with htpasswd auth on a free port. The images are tiny: each is nbship/registry:2.8 (already on
the machine) with a label of its own, so a push uploads almost nothing and every image and
version still has its own digest. Nothing here needs the deployed stack.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nbship import docker
from nbship import version as versions
from nbship.catalogue import IMAGES
from nbship.paths import ROOT
from nbship.registry import push as pushing
from nbship.registry.client import Credentials, Registry
from nbship.registry.local import DEBIAN_IMAGE, LocalRegistry
from nbship.registry.promote import promote

pytestmark = pytest.mark.integration

TAG = uuid.uuid4().hex[:8]
# Prerelease versions unique to this run: the local nbship/IMAGE:VERSION tags never collide.
V1, V2, V3 = f"0.0.1-it.{TAG}", f"0.0.2-it.{TAG}", f"0.0.3-it.{TAG}"
CREDENTIAL_VARIABLES = (
    "REGISTRY_USERNAME",
    "REGISTRY_PASSWORD",
    "GITHUB_ACTOR",
    "GHCR_TOKEN",
    "GITHUB_TOKEN",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AuthRegistry:
    """A private registry with a login, and the nbship CLI pointed at it."""

    local: LocalRegistry
    login: Credentials
    docker_config: Path

    @property
    def address(self) -> str:
        return self.local.address

    @property
    def api(self) -> Registry:
        return self.local.client()

    def invoke(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `invoke ARGS` as CI would, with only the credentials given in ENV."""
        base = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=ROOT,
            env={
                **base,
                "INVOKE_NBSHIP_REGISTRY": self.address,
                "INVOKE_NBSHIP_REGISTRY_PROJECT": self.local.project,
                "INVOKE_NBSHIP_REGISTRY_VOLUME": self.local.volume,
                # docker login writes here, not to the user's ~/.docker/config.json.
                "DOCKER_CONFIG": str(self.docker_config),
                **(env or {}),
            },
            capture_output=True,
            text=True,
        )
        # Whatever happened, the password is never part of what a user (or a CI log) sees.
        assert self.login.password not in result.stdout + result.stderr
        if check and result.returncode != 0:
            pytest.fail(f"invoke {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def as_github(self, password: str | None = None) -> dict[str, str]:
        """The environment a GitHub Actions push step has: GITHUB_ACTOR and GHCR_TOKEN."""
        return {"GITHUB_ACTOR": self.login.username, "GHCR_TOKEN": password or self.login.password}


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    """A private registry with htpasswd auth on a free port; removed with its login after."""
    docker.ensure_daemon()  # no Docker is a failure here, never a skip: CI must run these
    project = f"nbship-it-auth-{TAG}-registry"
    local = LocalRegistry(port=free_port(), project=project, volume=f"{project}-data")
    try:
        local.up(auth=True)
        login = local.credentials()
        assert login is not None
        yield AuthRegistry(local, login, tmp_path_factory.mktemp("docker-config"))
    finally:
        local.down(remove_data=True)


@pytest.fixture(scope="module")
def releases(auth_registry: AuthRegistry) -> Iterator[subprocess.CompletedProcess[str]]:
    """V1 and V2 of every image built (by labelling a local image) and pushed as CI would."""
    container = docker.docker("create", DEBIAN_IMAGE).stdout.strip()
    try:
        # One commit per version (a commit costs seconds on a busy machine), tagged for every
        # image: V1 and V2 differ, which is what promotion must tell apart.
        for version in (V1, V2):
            first, *others = [image.ref(version) for image in IMAGES]
            _commit(container, first, version)
            for ref in others:
                docker.docker("tag", first, ref)
        _commit(container, f"nbship/postgres:{V3}", V3)
        # One CLI run, two tasks: invoke's own syntax, and half the interpreter start-ups.
        yield auth_registry.invoke(
            "push", "--version", V1, "push", "--version", V2, env=auth_registry.as_github()
        )
    finally:
        docker.docker("rm", container)
        _remove_images(auth_registry.address)


def _commit(container: str, ref: str, label: str, revision: str = TAG) -> None:
    docker.docker(
        "commit",
        "--change", f"LABEL nbship.test={label!r}",
        "--change", f"LABEL org.opencontainers.image.revision={revision}",
        container, ref,
    )  # fmt: skip


def _remove_images(address: str) -> None:
    """Untag what this module created (its unique versions and its private registry's names)."""
    refs = docker.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    ours = [ref for ref in refs if ref.startswith(f"{address}/") or f"-it.{TAG}" in ref]
    if ours:
        docker.docker("rmi", *ours, check=False)


def test_push_logs_in_with_the_github_token_and_never_shows_it(
    auth_registry: AuthRegistry, releases: subprocess.CompletedProcess[str]
) -> None:
    assert f"logged in to {auth_registry.address} as nbship (GHCR_TOKEN)" in releases.stdout
    api = auth_registry.api
    for image in IMAGES:
        assert api.digest(image.repository, V1) and api.digest(image.repository, V2)
        assert api.digest(image.repository, V1) != api.digest(image.repository, V2)
    assert Registry(auth_registry.address).requires_login()  # anonymous requests are refused


def test_wrong_token_fails_with_one_clear_line(
    auth_registry: AuthRegistry, releases: subprocess.CompletedProcess[str]
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    result = auth_registry.invoke(
        "push", "--version", V1, check=False, env=auth_registry.as_github(wrong)
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "refused the credentials of user 'nbship' (from GHCR_TOKEN)" in lines[0]
    assert wrong not in result.stdout + result.stderr


def test_ls_uses_the_saved_login_of_the_local_registry(
    auth_registry: AuthRegistry, releases: subprocess.CompletedProcess[str]
) -> None:
    listing = auth_registry.invoke("registry.ls").stdout
    assert f"{auth_registry.address}/nbship/inventory-app: " in listing
    assert V1 in listing and V2 in listing


def test_promote_points_prod_at_the_versions_digest_without_docker(
    auth_registry: AuthRegistry, releases: subprocess.CompletedProcess[str]
) -> None:
    # No Docker daemon at all: promotion can only have used the registry's API.
    no_docker = {"DOCKER_HOST": "unix:///nonexistent.sock", **auth_registry.as_github()}
    api = auth_registry.api
    result = auth_registry.invoke(
        "promote", V2, "--to", "prod", "promote", V1, "--to", "prod", env=no_docker
    )
    assert result.stdout.count("prod -> ") == 2 * len(IMAGES)
    for image in IMAGES:
        assert api.digest(image.repository, "prod") == api.digest(image.repository, V1)
        assert api.digest(image.repository, "prod") != api.digest(image.repository, V2)

    unknown = auth_registry.invoke("promote", "9.9.9", "--to", "prod", check=False, env=no_docker)
    assert unknown.returncode == 1
    [line] = unknown.stderr.strip().splitlines()
    assert "version 9.9.9 is not in the registry" in line
    assert f"known versions: {V1}, {V2}" in line
    for image in IMAGES:
        assert api.digest(image.repository, "prod") == api.digest(image.repository, V1)


def test_gc_deletes_untagged_manifests_and_leaves_the_registry_writable(
    auth_registry: AuthRegistry,
    releases: subprocess.CompletedProcess[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(auth_registry.docker_config))
    api, only = auth_registry.api, ["postgres"]
    repository = "nbship/postgres"
    pushing.push(api, versions.parse(V3), only)
    replaced = api.digest(repository, V3)
    # A rebuild of the same commit with other content, forced over V3: the old manifest loses
    # its last tags (V3 and sha-REVISION) and becomes garbage.
    docker.docker("tag", f"nbship/postgres:{V2}", f"nbship/postgres:{V3}")
    pushing.push(api, versions.parse(V3), only, force=True)
    assert replaced is not None and api.digest(repository, V3) not in {None, replaced}

    result = auth_registry.invoke("registry.gc")

    assert "manifests eligible for deletion" in result.stdout, result.stdout
    assert api.digest(repository, replaced) is None
    assert api.digest(repository, V3) is not None and api.digest(repository, V1) is not None
    # Writable again after the read-only sweep: moving a tag is a write.
    promote(api, versions.parse(V1), "staging")
    assert api.digest(repository, "staging") == api.digest(repository, V1)
