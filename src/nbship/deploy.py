"""Deploying the stack pinned by digest, health-gated, and rolling it back.

A deploy resolves every image of a version to its digest in the registry before it touches the
running stack, then hands the pinned images to the stack's runtime: Docker Compose on this host
(`docker compose up`), or Docker Swarm (`docker stack deploy`, from the same compose file; see
nbship.swarm). When the new release does not become healthy, the previous release is started
again (or, for a first deploy, the stack is stopped), so the stack is never left half on one
version and half on another.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import semver

from nbship import docker, envfile, swarm
from nbship.errors import NbshipError
from nbship.images import IMAGES
from nbship.paths import COMPOSE_FILE, ENV_EXAMPLE, ROOT
from nbship.registry import Registry
from nbship.releases import Ledger, Release
from nbship.runtime import FAILED, Runtime
from nbship.version import docker_tag

# Every service of deploy/compose.yaml: all must be running and healthy for a release to count.
STACK_SERVICES = (
    "api-gateway-app",
    "inventory-app",
    "billing-app",
    "inventory-db",
    "billing-db",
    "rabbit-queue",
)


# Where a stack can run: "compose" (Docker Compose on this host) or "swarm" (a Docker Swarm).
ORCHESTRATORS = ("compose", "swarm")


def image_variable(image_name: str) -> str:
    """The compose variable that carries an image reference: NBSHIP_IMAGE_INVENTORY_APP."""
    return "NBSHIP_IMAGE_" + image_name.upper().replace("-", "_")


@dataclass(frozen=True)
class Stack:
    """One deployed stack: its project, published gateway port, local state and orchestrator."""

    project: str = "nbship"
    gateway_port: int = 3000
    state_dir: Path = ROOT / ".nbship"
    env_file: Path = ROOT / ".env"
    wait_timeout: int = 240
    orchestrator: str = "compose"

    def __post_init__(self) -> None:
        if self.orchestrator not in ORCHESTRATORS:
            raise NbshipError(
                f"unknown orchestrator {self.orchestrator!r}: use one of {', '.join(ORCHESTRATORS)}"
            )

    @property
    def ledger(self) -> Ledger:
        # A Swarm stack and a compose project of one name are two deployments, two histories.
        name = "releases.json" if self.orchestrator == "compose" else "releases-swarm.json"
        return Ledger(self.state_dir / self.project / name)

    @property
    def runtime(self) -> Runtime:
        if self.orchestrator == "swarm":
            return swarm.SwarmRuntime(self)
        return ComposeRuntime(self)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def environment(self, images: dict[str, str]) -> dict[str, str]:
        settings = envfile.ensure(self.env_file, ENV_EXAMPLE)
        env = {**settings, "NBSHIP_GATEWAY_PORT": str(self.gateway_port)}
        env.update({image_variable(name): ref for name, ref in images.items()})
        return env

    def compose(
        self, images: dict[str, str], *args: str, capture: bool = True, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run docker compose for this stack with the given images pinned."""
        cmd = [*docker.compose_command(), "-f", str(COMPOSE_FILE), "-p", self.project, *args]
        return docker.run(cmd, env=self.environment(images), capture=capture, check=check)


class ComposeRuntime:
    """The stack as a Docker Compose project on this host."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def pull(self, images: dict[str, str]) -> None:
        # A digest names one image for ever: one already here needs no registry (a rollback
        # works with the registry down).
        if not all(docker.image_exists(ref) for ref in images.values()):
            self.stack.compose(images, "pull", "--quiet")

    def up(self, images: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return self.stack.compose(images, "up", "--detach", "--remove-orphans", check=False)

    def states(self, images: dict[str, str]) -> dict[str, str]:
        result = self.stack.compose(images, "ps", "--all", "--format", "json", check=False)
        rows: list[dict[str, str]] = []
        for line in result.stdout.splitlines():
            line = line.strip()
            if line.startswith("["):
                rows.extend(json.loads(line))
            elif line.startswith("{"):
                rows.append(json.loads(line))
        states = {}
        for row in rows:
            state, health = row.get("State", ""), row.get("Health", "")
            if state == "running" and health in ("healthy", ""):
                states[row["Service"]] = "healthy"
            else:
                states[row["Service"]] = health if state == "running" else state
        return states

    def logs(self, images: dict[str, str], service: str) -> str:
        tail = ["logs", "--no-color", "--tail", "15", service]
        return self.stack.compose(images, *tail, check=False).stdout.rstrip()

    def stop(self, images: dict[str, str]) -> str:
        self.stack.compose(images, "stop")
        return "stopped the stack"

    def down(self, images: dict[str, str], remove_data: bool) -> None:
        volumes = ["--volumes"] if remove_data else []
        self.stack.compose(images, "down", "--remove-orphans", *volumes)


def resolve(registry: Registry, version: semver.Version) -> dict[str, str]:
    """Every image of VERSION as REGISTRY/REPO@DIGEST, or stop before anything changes."""
    registry.ping()
    tag = docker_tag(version)
    pinned: dict[str, str] = {}
    for image in IMAGES:
        digest = registry.digest(image.repository, tag)
        if digest is None:
            known = [
                t for t in registry.tags(image.repository) if t[:1].isdigit() and t.count(".") == 2
            ]
            hint = f"it has {', '.join(known)}" if known else "it has no versions"
            raise NbshipError(
                f"version {version} is not in the registry {registry.address} "
                f"({image.repository}: {hint}); build and push it first: "
                f"`invoke build --version {version} && invoke push --version {version}`"
            )
        pinned[image.name] = f"{registry.remote(image.repository)}@{digest}"
    return pinned


def deploy(stack: Stack, registry: Registry, version: semver.Version) -> Release:
    """Deploy VERSION from REGISTRY; on an unhealthy result, restore what ran before."""
    docker.ensure_daemon()
    ledger = stack.ledger
    with ledger.locked():
        images = resolve(registry, version)
        previous = ledger.current()
        print(
            f"nbship: deploying {version} to {stack.orchestrator} stack {stack.project!r} "
            "(images pinned by digest)"
        )
        stack.runtime.pull(images)
        return _switch(stack, str(version), images, previous, action="deploy")


def rollback(stack: Stack, version: str | None = None) -> Release:
    """Return the stack to the previous release (or to VERSION), without building anything."""
    docker.ensure_daemon()
    ledger = stack.ledger
    with ledger.locked():
        target = ledger.rollback_target(version)
        current = ledger.current()
        print(
            f"nbship: rolling back {stack.project!r} "
            f"from {current and current.version} to {target.version}"
        )
        stack.runtime.pull(target.images)
        return _switch(stack, target.version, target.images, current, action="rollback")


def _switch(
    stack: Stack, version: str, images: dict[str, str], previous: Release | None, action: str
) -> Release:
    started = time.monotonic()
    runtime = stack.runtime
    result = runtime.up(images)
    if result.returncode == 0:
        problems = wait_healthy(stack, images)
    else:
        said = result.stderr.strip().splitlines() or ["no reason given"]
        problems = [f"{stack.orchestrator} could not start it: {said[-1]}"]
    if not problems:
        release = stack.ledger.record(version, images, action=action)
        print(f"nbship: {version} is live and healthy ({time.monotonic() - started:.0f}s)")
        return release
    stack.ledger.record(version, images, action=action, status="failed", note="; ".join(problems))
    for problem in problems[:3]:
        name = problem.split(" ", 1)[0]
        if name in STACK_SERVICES:
            print(f"--- last log lines of {name} ---\n{runtime.logs(images, name)}")
    if previous is not None:
        print(f"nbship: {version} did not become healthy; restoring {previous.version}")
        restored = runtime.up(previous.images)
        if restored.returncode != 0 or wait_healthy(stack, previous.images):
            raise NbshipError(
                f"{action} of {version} failed and restoring {previous.version} failed too"
            )
        what = f"restored {previous.version}"
    else:
        what = f"{runtime.stop(images)} (no earlier release to restore)"
    raise NbshipError(f"{action} of {version} failed ({'; '.join(problems)}); {what}")


def wait_healthy(stack: Stack, images: dict[str, str]) -> list[str]:
    """Wait until every service is running and healthy; return what is not, at the timeout.

    `docker compose up --wait` is not enough: it has been seen returning success while a
    container was in a restart loop. Two consecutive all-healthy looks are required.
    """
    deadline = time.monotonic() + stack.wait_timeout
    expected = set(STACK_SERVICES)
    good_looks, last_report = 0, ""
    runtime = stack.runtime
    while True:
        states = runtime.states(images)
        missing = sorted(expected - states.keys())
        bad = [f"{name} {state}" for name, state in sorted(states.items()) if state != "healthy"]
        bad += [f"{name} missing" for name in missing]
        good_looks = good_looks + 1 if not bad else 0
        if good_looks >= 2:
            return []
        report = ", ".join(bad)
        if report and report != last_report:
            print(f"  waiting: {report}", flush=True)
            last_report = report
        final = any(state.startswith(FAILED) for state in states.values())
        if final or time.monotonic() > deadline:
            return bad
        time.sleep(1)


def running_version(stack: Stack) -> dict[str, str] | None:
    """What the gateway's /version says, or None when it does not answer."""
    try:
        response = requests.get(f"{stack.gateway_url}/version", timeout=5)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError):
        return None


def down(stack: Stack, remove_data: bool = False) -> None:
    """Stop and remove the stack's containers (and its volumes, with remove_data)."""
    docker.ensure_daemon()
    current = stack.ledger.current()
    images = current.images if current else {image.name: "none" for image in IMAGES}
    stack.runtime.down(images, remove_data)
