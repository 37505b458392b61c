"""The pipeline end to end through its CLI: build, push, deploy by digest, roll back, fail."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import requests

from nbship import docker
from nbship.catalogue import IMAGES
from nbship.registry.client import Registry
from nbship.registry.push import REVISION_LABEL

pytestmark = pytest.mark.integration

# The two releases the session fixture builds and pushes (see conftest.py).
V1, V2 = "0.1.0", "0.2.0"


def _images_in_use(stack: Any) -> set[str]:
    result = stack.compose("ps", "--format", "{{.Image}}")
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


def _revision(ref: str) -> str:
    label = f'{{{{index .Config.Labels "{REVISION_LABEL}"}}}}'
    return docker.docker("image", "inspect", "--format", label, ref).stdout.strip()


def test_pushed_tags_follow_semver_and_point_at_one_digest(pipeline: Any) -> None:
    registry = Registry(pipeline.registry)
    for image in IMAGES:
        tags = registry.tags(image.repository)
        assert {V1, V2, "0.2", "0", "latest"} <= set(tags), (image.name, tags)
        # One sha- tag per commit, on the first version pushed from it; none for a build from a
        # dirty tree (see conftest). Read from what was pushed: the registry-named local tags.
        revisions = {v: _revision(f"{registry.remote(image.repository)}:{v}") for v in (V1, V2)}
        clean = {v: r for v, r in revisions.items() if r and not r.endswith("-dirty")}
        sha_tags = {tag for tag in tags if tag.startswith("sha-")}
        assert sha_tags == {f"sha-{r[:12]}" for r in clean.values()}, (image.name, revisions)
        for version, revision in clean.items():
            first = V1 if revisions[V1] == revision else version
            assert registry.digest(image.repository, f"sha-{revision[:12]}") == registry.digest(
                image.repository, first
            )
        # Moving tags follow the newest final release.
        assert registry.digest(image.repository, "0.2") == registry.digest(image.repository, V2)
        assert registry.digest(image.repository, "latest") == registry.digest(image.repository, V2)
        # V2 changed the apps only: the database and broker images are V1's (same digest).
        differs = registry.digest(image.repository, V1) != registry.digest(image.repository, V2)
        assert differs == (image.package is None), image.name


def test_deploy_runs_every_service_pinned_by_digest(stack: Any) -> None:
    in_use = _images_in_use(stack)
    assert len(in_use) == len(IMAGES)
    assert all("@sha256:" in ref and ref.startswith(stack.pipeline.registry) for ref in in_use)
    assert stack.version()["version"] == V1


def test_rollback_serves_previous_release_and_keeps_data(stack: Any) -> None:
    line = stack.pipeline
    line.invoke("deploy", "--version", V2)
    assert stack.version()["version"] == V2
    movie = requests.post(
        f"{stack.gateway_url}/api/movies",
        json={"title": "Written under 0.2.0", "description": "must survive the rollback"},
        timeout=10,
    )
    assert movie.status_code == 201, movie.text

    # A rollback needs no registry: V1's images are here, by digest.
    line.invoke("registry.down")
    try:
        result = line.invoke("rollback")
    finally:
        line.invoke("registry.up")
    assert f"runs version {V1}" in result.stdout
    assert stack.version()["version"] == V1
    stored = requests.get(f"{stack.gateway_url}/api/movies/{movie.json()['id']}", timeout=10)
    assert stored.status_code == 200
    assert stored.json()["title"] == "Written under 0.2.0"

    # V1 was the first release: there is nothing earlier, and saying so changes nothing.
    again = line.invoke("rollback", check=False)
    assert again.returncode == 1
    assert "no earlier release" in again.stderr
    assert stack.version()["version"] == V1

    # Rolling forward to a named earlier release works too (the ledger remembers V2's digests).
    line.invoke("rollback", "--to", V2)
    assert stack.version()["version"] == V2

    # An environment's tag leads somewhere: deploy what staging points at, by digest.
    line.invoke("promote", V1, "--to", "staging")
    deployed = line.invoke("deploy", "--env", "staging")
    assert f"deploying {V1} (what staging points at)" in deployed.stdout
    assert stack.version()["version"] == V1
    newest = line.invoke("releases").stdout.strip().splitlines()[-1]
    assert newest.startswith("*") and V1 in newest and "from the staging tag" in newest


def _project_objects(project: str, kind: str) -> list[str]:
    label = f"label=com.docker.compose.project={project}"
    listing = ["docker", "ps", "-aq"] if kind == "container" else ["docker", "volume", "ls", "-q"]
    out = subprocess.run([*listing, "--filter", label], capture_output=True, text=True).stdout
    return out.split()


def test_down_removes_the_containers_and_keeps_the_data(stack: Any) -> None:
    line = stack.pipeline
    written = {"title": "Written before down", "description": "must survive it"}
    movie = requests.post(f"{stack.gateway_url}/api/movies", json=written, timeout=10)
    assert movie.status_code == 201, movie.text

    result = line.invoke("down")
    assert "its volumes are kept" in result.stdout
    assert _project_objects(line.project, "container") == []
    assert len(_project_objects(line.project, "volume")) == 4

    line.invoke("deploy", "--version", V1)  # the stack the later tests use, with its data
    stored = requests.get(f"{stack.gateway_url}/api/movies/{movie.json()['id']}", timeout=10)
    assert (stored.status_code, stored.json()["title"]) == (200, written["title"])


def test_unhealthy_release_is_not_left_running(stack: Any, broken_release: str) -> None:
    """A release whose inventory never gets healthy is replaced by what ran before."""
    line = stack.pipeline
    broken = broken_release
    before = _images_in_use(stack)

    result = line.invoke(
        "deploy", "--version", broken, check=False, INVOKE_NBSHIP_WAIT_TIMEOUT="45"
    )

    assert result.returncode == 1
    assert "inventory-app" in result.stderr and f"restored {V1}" in result.stderr
    assert _images_in_use(stack) == before
    assert stack.version()["version"] == V1
    releases = line.invoke("releases").stdout
    assert f"{broken}" in releases and "failed" in releases


def test_push_refuses_to_overwrite_a_version_with_other_content(pipeline: Any) -> None:
    again = pipeline.invoke("push", "--version", V1, "--image", "postgres")
    assert "same content" in again.stdout

    subprocess.run(["docker", "tag", "nbship/rabbitmq:0.1.0", "nbship/postgres:9.9.9"], check=True)
    pipeline.invoke("push", "--version", "9.9.9", "--image", "postgres")
    subprocess.run(["docker", "tag", "nbship/registry:2.8", "nbship/postgres:9.9.9"], check=True)
    try:
        refused = pipeline.invoke("push", "--version", "9.9.9", "--image", "postgres", check=False)
        assert refused.returncode == 1
        assert "immutable" in refused.stderr
        forced = pipeline.invoke("push", "--version", "9.9.9", "--image", "postgres", "--force")
        assert "nbship/postgres:9.9.9" in forced.stdout
    finally:
        subprocess.run(["docker", "rmi", "nbship/postgres:9.9.9"], capture_output=True)


def test_registry_keeps_images_across_restart(pipeline: Any) -> None:
    registry = Registry(pipeline.registry)
    digest = registry.digest("nbship/inventory-app", V1)
    pipeline.invoke("registry.down")
    down = pipeline.invoke("deploy", "--version", V1, check=False)
    assert down.returncode == 1 and "registry.up" in down.stderr
    pipeline.invoke("registry.up")
    assert registry.digest("nbship/inventory-app", V1) == digest


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("deploy", "--version", "1.2"), {}, "not a SemVer 2.0 version"),
        (("build", "--version", "banana"), {}, "not a SemVer 2.0 version"),
        (("deploy", "--version", "7.7.7"), {}, "version 7.7.7 is not in the registry"),
        (
            ("deploy", "--version", V1),
            {"INVOKE_NBSHIP_REGISTRY": "localhost:9"},
            "is not answering",
        ),
        (
            ("deploy", "--version", V1),
            {"DOCKER_HOST": "unix:///nonexistent.sock"},
            "Docker daemon is not reachable",
        ),
        (
            ("rollback",),
            {"INVOKE_NBSHIP_PROJECT": "nbship-it-never-deployed"},
            "nothing is deployed yet",
        ),
        (("rollback", "--to", "3.3.3"), {}, "was never deployed"),
        (("push", "--image", "nope"), {}, "unknown image 'nope'"),
    ],
)
def test_bad_input_stops_with_one_clear_line(
    stack: Any, args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    before = _images_in_use(stack)
    result = stack.pipeline.invoke(*args, check=False, **env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert _images_in_use(stack) == before
