"""The stack a benchmark measures: a private one it deploys and removes, or one already running.

A private stack is its own compose project on a free loopback port with its state under
build/bench-state, so a developer's stack (project `nbship`, port 3000) is never touched. It is
deployed from the local registry when that answers, else from a private registry started (and
removed) for the run, into which the already-built version is pushed.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import semver

from nbship import catalogue, docker, envfile
from nbship.build import images
from nbship.deploy import stack as deploying
from nbship.deploy.ledger import Release
from nbship.errors import NbshipError
from nbship.paths import BUILD, COMPOSE_FILE
from nbship.registry.client import Registry
from nbship.registry.local import LocalRegistry
from nbship.registry.push import push

PROJECT = "nbship-bench"
STATE_DIR = BUILD / "bench-state"
LOADGEN = Path(__file__).with_name("loadgen.py")


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class BenchStack:
    """A running stack and the images its services run, with ways to reach inside it."""

    stack: deploying.Stack
    images: dict[str, str]

    @property
    def gateway_url(self) -> str:
        return self.stack.gateway_url

    def compose(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """docker compose for this stack (output captured), optionally fed INPUT on stdin."""
        cmd = [*docker.compose_command(), "-f", str(COMPOSE_FILE), "-p", self.stack.project]
        env = self.stack.environment(self.images)
        return docker.run([*cmd, *args], env=env, capture=True, check=check, input=input)

    def exec_command(self, service: str, *cmd: str) -> list[str]:
        """The full `docker compose exec -T SERVICE CMD` command line, for a background process."""
        base = [*docker.compose_command(), "-f", str(COMPOSE_FILE), "-p", self.stack.project]
        return [*base, "exec", "-T", service, *cmd]

    def environment(self) -> dict[str, str]:
        return self.stack.environment(self.images)

    def loadgen(self, params: dict[str, Any]) -> dict[str, Any]:
        """Run loadgen.py with PARAMS in the gateway's container; its JSON answer.

        From there it reaches the gateway on 127.0.0.1:3000 and inventory by name, over the
        same kind of hop, with no host-side port proxy in the way.
        """
        out = self.compose(
            "exec", "-T", "api-gateway-app", "python", "-", json.dumps(params),
            input=LOADGEN.read_text(encoding="utf-8"),
        )  # fmt: skip
        try:
            answer = json.loads(out.stdout)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise NbshipError(f"the load generator printed no JSON object: {out.stdout[:200]!r}")
        return answer

    def settings(self) -> dict[str, str]:
        """The stack's .env values (database users and the like)."""
        return envfile.parse(self.stack.env_file)


def attach(stack: deploying.Stack) -> BenchStack:
    """A stack deployed earlier by `invoke deploy`, as its release ledger records it."""
    current = stack.ledger.current()
    if current is None:
        raise NbshipError(
            f"no release of stack {stack.project!r} is recorded in {stack.ledger.path}: "
            "deploy it first, or leave out --project to let the benchmark start its own stack"
        )
    return BenchStack(stack, current.images)


@contextmanager
def private_stack(
    registry_address: str, version: semver.Version, keep: bool = False, wait_timeout: int = 240
) -> Iterator[BenchStack]:
    """Deploy VERSION as project nbship-bench on a free port; remove it all afterwards.

    With KEEP the stack (and a private registry, if one was started) is left running.
    WAIT_TIMEOUT is the configured wait for health: a busy shared machine needs more.
    """
    docker.ensure_daemon()
    images.require_local(version, [image.name for image in catalogue.IMAGES])
    registry, started = _registry(registry_address, version)
    stack = deploying.Stack(
        project=PROJECT,
        gateway_port=free_port(),
        state_dir=STATE_DIR,
        env_file=STATE_DIR / "stack.env",
        wait_timeout=wait_timeout,
    )
    release: Release | None = None
    try:
        release = deploying.deploy(stack, registry, version)
        yield BenchStack(stack, release.images)
    finally:
        if keep:
            print(f"nbship: kept stack {stack.project!r} on {stack.gateway_url} (--keep)")
        else:
            pinned = release.images if release else {i.name: "none" for i in catalogue.IMAGES}
            print(f"nbship: removing stack {stack.project!r}")
            stack.compose(pinned, "down", "--volumes", "--remove-orphans", check=False)
            shutil.rmtree(STATE_DIR / stack.project, ignore_errors=True)
            if started is not None:
                started.down(remove_data=True)


def _registry(address: str, version: semver.Version) -> tuple[Registry, LocalRegistry | None]:
    """The registry to deploy from, and the private registry started for it (if any)."""
    registry = Registry(address)
    try:
        registry.ping()
        return registry, None
    except NbshipError:
        pass
    private = LocalRegistry(
        port=free_port(), project=f"{PROJECT}-registry", volume=f"{PROJECT}-registry-data"
    )
    print(f"nbship: {address} is not answering; starting a private registry for the benchmark")
    private.up()
    try:
        registry = Registry(private.address)
        push(registry, version)
    except BaseException:
        private.down(remove_data=True)
        raise
    return registry, private


def with_overrides(stack: deploying.Stack, project: str, port: int | None) -> deploying.Stack:
    """STACK pointed at another compose project (and gateway port)."""
    return replace(stack, project=project, gateway_port=port or stack.gateway_port)
