"""Integration fixtures: the real pipeline, driven through its CLI, on an isolated stack.

Everything here runs against real containers: a registry on its own port and volume, the full
compose stack under its own project name and gateway port, and state in a temporary directory,
so a developer's own stack on :3000/:5001 is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from nbship import docker
from nbship.build.images import CONTENT_LABEL, content_tag
from nbship.catalogue import IMAGES
from nbship.deploy.stack import Stack as DeployStack
from nbship.envfile import parse as parse_env
from nbship.errors import NbshipError
from nbship.paths import ROOT
from nbship.registry.client import Registry

pytestmark = pytest.mark.integration

V1, V2 = "0.1.0", "0.2.0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(project: str, gateway_port: int, env_file: Path, **more: str) -> dict[str, str]:
    """The settings that point the pipeline's CLI at a stack of its own: PROJECT on GATEWAY_PORT,
    its secrets in ENV_FILE, and MORE (INVOKE_NBSHIP_* variables)."""
    return {
        "INVOKE_NBSHIP_PROJECT": project,
        "INVOKE_NBSHIP_GATEWAY_PORT": str(gateway_port),
        "INVOKE_NBSHIP_ENV_FILE": str(env_file),
        **more,
    }


@dataclass
class Pipeline:
    """The nbship CLI pointed at an isolated registry, stack and state directory."""

    state: Path
    registry_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    # The checkout V1 was built from (its build/ holds V1's SBOMs); builds run there.
    checkout: Path = ROOT

    @property
    def registry(self) -> str:
        return f"localhost:{self.registry_port}"

    @property
    def project(self) -> str:
        return f"nbship-it-{self.tag}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "INVOKE_NBSHIP_REGISTRY": self.registry,
            "INVOKE_NBSHIP_REGISTRY_PROJECT": f"{self.project}-registry",
            "INVOKE_NBSHIP_REGISTRY_VOLUME": f"{self.project}-registry-data",
            "INVOKE_NBSHIP_PROJECT": self.project,
            "INVOKE_NBSHIP_GATEWAY_PORT": str(self.gateway_port),
            "INVOKE_NBSHIP_STATE_DIR": str(self.state),
            "INVOKE_NBSHIP_ENV_FILE": str(self.state / "stack.env"),
            # Developers run the suite with uncommitted changes: their builds are labelled -dirty
            # (and get no sha- tag) instead of refused. CI's clean clone builds clean images.
            "INVOKE_NBSHIP_ALLOW_DIRTY": "1",
        }

    def invoke(
        self, *args: str, check: bool = True, root: Path = ROOT, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `invoke ARGS` as a user would, in project ROOT (this checkout by default: nbship
        works on the project it runs in); with check, a failure shows its output."""
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            command = " ".join(args)
            pytest.fail(
                f"invoke {command} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result


@dataclass
class RunningStack:
    """The deployed test stack: its gateway URL and ways to poke at its containers."""

    pipeline: Pipeline

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.pipeline.gateway_port}"

    @property
    def deploy_stack(self) -> DeployStack:
        return DeployStack(
            project=self.pipeline.project,
            gateway_port=self.pipeline.gateway_port,
            state_dir=self.pipeline.state,
            env_file=self.pipeline.state / "stack.env",
        )

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """docker compose for the test stack, with the currently deployed images pinned."""
        current = self.deploy_stack.ledger.current()
        assert current is not None, "nothing deployed"
        return self.deploy_stack.compose(current.images, *args, check=check)

    def wait_healthy(self, *services: str, timeout: float = 120) -> None:
        """Wait until the named services (all when none) report healthy."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.compose(
                "ps", "--format", "{{.Service}} {{.Health}}", *services, check=False
            )
            rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
            healthy = rows and all(len(row) == 2 and row[1] == "healthy" for row in rows)
            if healthy and (not services or {row[0] for row in rows} >= set(services)):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"services not healthy after {timeout}s: {rows}")
            time.sleep(1)

    def sql(self, db: str, query: str) -> list[tuple[str, ...]]:
        """Rows of QUERY run by psql inside DB ("inventory-db" or "billing-db")."""
        settings = parse_env(self.pipeline.state / "stack.env")
        user, database = {
            "inventory-db": (settings["INVENTORY_DB_USER"], "movies_db"),
            "billing-db": (settings["BILLING_DB_USER"], "billing_db"),
        }[db]
        result = self.compose(
            "exec", "-T", db, "psql", "-U", user, "-d", database, "-At", "-F", "|", "-c", query
        )
        return [tuple(line.split("|")) for line in result.stdout.splitlines() if line]

    def version(self) -> dict[str, str]:
        response = requests.get(f"{self.gateway_url}/version", timeout=5)
        response.raise_for_status()
        return response.json()


def remove_compose_project(project: str) -> None:
    """Last-resort cleanup: remove every container, volume and network of a compose project."""
    label = f"label=com.docker.compose.project={project}"
    for kind, listing in (
        ("container", ["docker", "ps", "-aq", "--filter", label]),
        ("volume", ["docker", "volume", "ls", "-q", "--filter", label]),
        ("network", ["docker", "network", "ls", "-q", "--filter", label]),
    ):
        ids = subprocess.run(listing, capture_output=True, text=True).stdout.split()
        if ids:
            remove = ["docker", "rm", "-f"] if kind == "container" else ["docker", kind, "rm"]
            subprocess.run([*remove, *ids], capture_output=True)


# The apps both releases change, one line each, as a commit would: V1 so that its app images are
# this session's own, stamped V1 whatever this engine built before (an image whose content was
# built before keeps the version it was first built at), V2 again on top of V1. The database and
# broker never change: V2 has V1's images for them.
APP_SERVICES = ("api-gateway", "inventory", "billing")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "nbship tests", "GIT_AUTHOR_EMAIL": "tests@nbship.invalid",
    "GIT_COMMITTER_NAME": "nbship tests", "GIT_COMMITTER_EMAIL": "tests@nbship.invalid",
}  # fmt: skip


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, env={**os.environ, **GIT_IDENTITY},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def next_commit(
    source: Path,
    folder: Path,
    services: tuple[str, ...],
    note: str,
    files: dict[str, str] | None = None,
) -> Path:
    """A copy of checkout SOURCE as it is (untracked files too, ignored ones not) in FOLDER, made
    a git repository, plus one commit appending a comment line (NOTE) to each of SERVICES'
    package __init__.py, and writing FILES (path: text): a release in which only those services
    changed. Build it with `Pipeline.invoke(..., root=FOLDER)`."""
    listed = _git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (source / name).is_file():  # a deleted but still tracked file is skipped
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, folder / name)
    _git(folder, "init", "--quiet")
    _git(folder, "add", "--all")
    _git(folder, "commit", "--quiet", "--message", f"tests: {source.name} as it is")
    for service in services:
        init = sorted((folder / "services" / service).glob("*/__init__.py"))[0]
        with init.open("a", encoding="utf-8") as handle:
            handle.write(f"# {note}\n")
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
        _git(folder, "add", name)
    _git(folder, "commit", "--quiet", "--all", "--message", f"tests: change {', '.join(services)}")
    # The wheels are keyed by the lock files, which did not change: hard links, not a download.
    wheels = source / "build" / "wheelhouse"
    if wheels.is_dir():
        shutil.copytree(wheels, folder / "build" / "wheelhouse", copy_function=os.link)
    return folder


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A private registry with V1 and V2 built and pushed: what every deploy test starts from.
    Each is a commit that changes the three apps (APP_SERVICES): V1 on this checkout as it is,
    V2 on V1; they are built in copies (Pipeline.checkout is V1's)."""
    docker.ensure_daemon()  # no Docker is a failure here, never a skip: CI must run these
    line = Pipeline(state=tmp_path_factory.mktemp("nbship-state"))
    line.invoke("registry.up")
    try:
        source = ROOT
        for version in (V1, V2):
            copy = tmp_path_factory.mktemp(f"checkout-{version}") / ROOT.name
            note = f"integration tests {line.tag}: {version}"  # this session's own images
            source = next_commit(source, copy, APP_SERVICES, note)
            line.invoke("build", "--version", version, root=source)
            line.invoke("push", "--version", version)
            if version == V1:
                line.checkout = source
        yield line
    finally:
        forget_app_content(line)
        line.invoke("registry.down", "--remove-data", check=False)
        remove_compose_project(f"{line.project}-registry")


def forget_app_content(line: Pipeline, versions: tuple[str, ...] = (V1, V2)) -> None:
    """Drop the content tags of the app images this session stamped: their content is its own
    (the line it added), so no later build will reuse them, and the tag would keep them forever."""
    registry = Registry(line.registry)
    for image in IMAGES:
        for version in versions if image.lock else ():
            try:
                pushed = registry.config_digest(image.repository, version)
            except NbshipError:  # the registry is gone: nothing to read the images from
                return
            shown = subprocess.run(
                ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", str(pushed)],
                capture_output=True, text=True,
            )  # fmt: skip
            if pushed is None or shown.returncode != 0:
                continue
            key = (json.loads(shown.stdout) or {}).get(CONTENT_LABEL)
            if key:
                subprocess.run(["docker", "rmi", image.ref(content_tag(key))], capture_output=True)


@pytest.fixture(scope="session")
def stack(pipeline: Pipeline) -> Iterator[RunningStack]:
    """The full stack deployed at V1 from the private registry; removed with its volumes after."""
    running = RunningStack(pipeline)
    try:
        # Inside the try: a first deploy that never gets healthy leaves stopped containers.
        pipeline.invoke("deploy", "--version", V1)
        yield running
    finally:
        if running.deploy_stack.ledger.current() is not None:
            running.compose("down", "--volumes", "--remove-orphans", check=False)
        remove_compose_project(pipeline.project)


@pytest.fixture(scope="session")
def broken_release(pipeline: Pipeline) -> str:
    """A version in the pipeline's registry that never gets healthy: V1's images, except that
    inventory-app is the PostgreSQL image, which exits at once without its POSTGRES_* settings
    (so it is restarted again and again)."""
    broken = "0.9.0-broken"
    remote = f"{pipeline.registry}/nbship"
    for image in IMAGES:
        source = f"nbship/{'postgres' if image.name == 'inventory-app' else image.name}:{V1}"
        subprocess.run(["docker", "tag", source, f"{remote}/{image.name}:{broken}"], check=True)
        subprocess.run(
            ["docker", "push", "--quiet", f"{remote}/{image.name}:{broken}"],
            check=True,
            capture_output=True,
        )
    return broken


# V1's gateway, databases and broker with V2's inventory and billing: a release that changes
# only the two apps, pushed by digest as a release is (a set of digests).
APPS_ONLY = "0.1.1-apps"
APPS = ("inventory-app", "billing-app")


def push_apps_only_release(address: str) -> None:
    """Tag APPS_ONLY in the registry at the exact manifests of V1 and V2 (nothing is pushed)."""
    registry = Registry(address)
    for image in IMAGES:
        source = V2 if image.name in APPS else V1
        manifest = registry.manifest(image.repository, source)
        assert manifest is not None, f"{image.repository}:{source} is not in the registry"
        registry.put_manifest(image.repository, APPS_ONLY, manifest)
