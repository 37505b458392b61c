"""The same compose file on Docker Swarm: deployed as a stack pinned by digest, health-gated,
rolled back without a build, an unhealthy release replaced, and taken down."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import stack_env
from nbship import docker
from nbship.catalogue import IMAGES, stack_services
from nbship.deploy.stack import Stack
from nbship.deploy.swarm import stack_file, swarm_state
from nbship_bench.stack import free_port

pytestmark = pytest.mark.integration

V1, V2 = "0.1.0", "0.2.0"


@pytest.fixture(scope="module")
def swarm_manager() -> Iterator[None]:
    """This engine as a one-node Swarm manager; it leaves the swarm again if it was not one."""
    docker.ensure_daemon()
    joined = False
    if swarm_state() == "inactive":
        subprocess.run(
            ["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"],
            capture_output=True,
            check=True,
        )
        joined = True
    assert swarm_state() == "active"
    yield
    if joined:
        subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)


@dataclass
class SwarmStack:
    """The test pipeline's CLI pointed at a Swarm stack of its own project, port and secrets."""

    pipeline: Any
    project: str
    gateway_port: int

    @property
    def env(self) -> dict[str, str]:
        env_file = self.pipeline.state / f"{self.project}.env"
        return stack_env(
            self.project, self.gateway_port, env_file, INVOKE_NBSHIP_ORCHESTRATOR="swarm"
        )

    def invoke(self, *args: str, check: bool = True, **env: str) -> Any:
        return self.pipeline.invoke(*args, check=check, **{**self.env, **env})

    def version(self) -> str:
        response = requests.get(f"http://127.0.0.1:{self.gateway_port}/version", timeout=5)
        response.raise_for_status()
        return str(response.json()["version"])

    def services(self) -> dict[str, str]:
        """Each service of the stack and the image its spec names."""
        out = subprocess.run(
            ["docker", "stack", "services", self.project, "--format", "{{json .}}"],
            capture_output=True,
            text=True,
        ).stdout
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return {row["Name"].removeprefix(f"{self.project}_"): row["Image"] for row in rows}

    def volumes(self) -> list[str]:
        label = f"label=com.docker.stack.namespace={self.project}"
        return subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", label], capture_output=True, text=True
        ).stdout.split()


@pytest.fixture(scope="module")
def swarm_stack(pipeline: Any, swarm_manager: None) -> Iterator[SwarmStack]:
    """A Swarm stack deployed from the pipeline's registry; removed with its data afterwards."""
    stack = SwarmStack(pipeline, f"{pipeline.project}-swarm", free_port())
    try:
        yield stack
    finally:
        stack.invoke("down", "--remove-data", check=False)
        subprocess.run(["docker", "stack", "rm", stack.project], capture_output=True)


def test_swarm_deploy_on_an_engine_outside_a_swarm_says_so_and_changes_nothing(
    pipeline: Any, tmp_path: Path
) -> None:
    """First in this module: CI's engine is in no swarm until swarm_manager makes it one."""
    if swarm_state() != "inactive":
        pytest.skip("this engine is in a swarm already; CI's is not, and runs this test")
    result = pipeline.invoke(
        "deploy", "--version", V1, "--swarm", check=False,
        INVOKE_NBSHIP_PROJECT=f"{pipeline.project}-noswarm",
        INVOKE_NBSHIP_STATE_DIR=str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert "not a Swarm manager (swarm state: inactive)" in result.stderr
    assert "docker swarm init" in result.stderr
    assert not list(tmp_path.rglob("releases*.json"))


def test_stack_loader_accepts_the_compose_file_as_rendered_for_swarm(tmp_path: Path) -> None:
    stack = Stack(project="nbship-render-check", env_file=tmp_path / "stack.env")
    digest = "sha256:" + "0" * 64
    images = {image.name: f"localhost:5001/nbship/{image.name}@{digest}" for image in IMAGES}
    rendered = stack.compose(images, "config", "--format", "json")
    # docker stack config runs the stack loader itself, with no swarm needed.
    checked = subprocess.run(
        ["docker", "stack", "config", "--compose-file", "-"],
        input=stack_file(json.loads(rendered.stdout)),
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "depends_on" not in checked.stdout and "security_opt" not in checked.stdout


def test_deploy_rollback_and_data_on_swarm(swarm_stack: SwarmStack) -> None:
    result = swarm_stack.invoke("deploy", "--version", V1)
    assert f"runs version {V1}" in result.stdout
    images = swarm_stack.services()
    assert set(images) == set(stack_services())
    registry = swarm_stack.pipeline.registry
    assert all(ref.startswith(registry) and "@sha256:" in ref for ref in images.values())

    swarm_stack.invoke("deploy", "--version", V2)
    assert swarm_stack.version() == V2
    url = f"http://127.0.0.1:{swarm_stack.gateway_port}/api/movies"
    written = {"title": "Written on the swarm", "description": "under 0.2.0"}
    movie = requests.post(url, json=written, timeout=10)
    assert movie.status_code == 201, movie.text

    started = time.monotonic()
    result = swarm_stack.invoke("rollback")
    print(f"rollback on swarm took {time.monotonic() - started:.1f}s")
    assert f"runs version {V1}" in result.stdout
    assert swarm_stack.version() == V1
    stored = requests.get(f"{url}/{movie.json()['id']}", timeout=10)
    assert (stored.status_code, stored.json()["title"]) == (200, "Written on the swarm")

    releases = swarm_stack.invoke("releases").stdout
    assert V1 in releases and V2 in releases and "rollback" in releases


def test_unhealthy_release_on_swarm_is_replaced_by_the_previous_one(
    swarm_stack: SwarmStack, broken_release: str
) -> None:
    before = swarm_stack.services()
    result = swarm_stack.invoke(
        "deploy", "--version", broken_release, check=False, INVOKE_NBSHIP_WAIT_TIMEOUT="60"
    )
    assert result.returncode == 1
    assert "inventory-app" in result.stderr and f"restored {V1}" in result.stderr
    # Swarm paused the update when the new task failed: the gate stopped there, not at 60 s.
    assert "update paused" in result.stderr
    assert swarm_stack.services() == before
    assert swarm_stack.version() == V1
    assert "failed" in swarm_stack.invoke("releases").stdout


def test_down_keeps_the_data_unless_asked(swarm_stack: SwarmStack) -> None:
    swarm_stack.invoke("down")
    assert swarm_stack.services() == {}
    assert len(swarm_stack.volumes()) == 4  # both databases, the broker, the gateway's logs

    swarm_stack.invoke("down", "--remove-data")
    assert swarm_stack.volumes() == []
