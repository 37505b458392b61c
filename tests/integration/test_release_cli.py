"""Provenance and the stack's status through the CLI: dirty builds, sha- tags, `invoke status`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbship.build.schema import expected_head
from nbship.catalogue import IMAGES, SCHEMA_LABEL, stack_services
from nbship.paths import ROOT
from nbship.registry.client import Registry
from nbship.registry.push import REVISION_LABEL

pytestmark = pytest.mark.integration

V1, V2 = "0.1.0", "0.2.0"
POSTGRES = "nbship/postgres"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_build_from_a_dirty_tree_is_refused_naming_the_files(tmp_path: Path) -> None:
    """The real `invoke build`, run from a commit of nbship's own code with two changes in it."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "src", checkout / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("tasks.py", "VERSION", ".gitignore"):
        shutil.copy2(ROOT / name, checkout / name)
    _git(checkout, "init", "--quiet")
    _git(checkout, "add", ".")
    _git(checkout, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "c")
    (checkout / "VERSION").write_text("0.0.1\n")
    (checkout / "src" / "nbship" / "scratch.py").write_text("# not committed\n")

    env = {**os.environ, "PYTHONPATH": str(checkout / "src"), "INVOKE_NBSHIP_ALLOW_DIRTY": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "build", "--version", "0.0.1-dirty.1"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "uncommitted changes in VERSION, src/nbship/scratch.py" in line
    assert "--allow-dirty" in line
    listed = subprocess.run(
        ["docker", "image", "ls", "--quiet", "nbship/*:0.0.1-dirty.1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.strip() == ""


@pytest.fixture
def relabelled() -> Iterator[Any]:
    """Make local postgres images with other labels (so other content); removed after."""
    made: list[str] = []

    def make(tag: str, labels: dict[str, str]) -> str:
        ref = f"{POSTGRES}:{tag}"
        lines = [f"FROM {POSTGRES}:{V1}", *(f'LABEL "{k}"="{v}"' for k, v in labels.items())]
        subprocess.run(
            ["docker", "build", "--quiet", "--tag", ref, "-"],
            input="\n".join(lines) + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        made.append(ref)
        return ref

    yield make
    subprocess.run(["docker", "rmi", *made], capture_output=True)


def test_an_image_built_dirty_is_pushed_without_a_sha_tag(pipeline: Any, relabelled: Any) -> None:
    relabelled("9.9.7-dirty.1", {REVISION_LABEL: "d" * 40 + "-dirty"})

    result = pipeline.invoke("push", "--version", "9.9.7-dirty.1", "--image", "postgres")

    tags = Registry(pipeline.registry).tags(POSTGRES)
    assert "9.9.7-dirty.1" in tags and "sha-dddddddddddd" not in tags
    assert "no sha-dddddddddddd tag (built from uncommitted changes)" in result.stdout


def test_a_sha_tag_is_never_moved_to_other_content(pipeline: Any, relabelled: Any) -> None:
    registry, commit = Registry(pipeline.registry), "e" * 40
    relabelled("9.9.5-sha.1", {REVISION_LABEL: commit})
    pipeline.invoke("push", "--version", "9.9.5-sha.1", "--image", "postgres")
    first = registry.digest(POSTGRES, "9.9.5-sha.1")
    assert first is not None and registry.digest(POSTGRES, "sha-eeeeeeeeeeee") == first

    # Another build of the same commit (another version of it): its version tag is pushed, the
    # sha- tag stays on the first build.
    relabelled("9.9.6-sha.1", {REVISION_LABEL: commit, "io.nbship.test": "other content"})
    result = pipeline.invoke("push", "--version", "9.9.6-sha.1", "--image", "postgres")

    assert "sha-eeeeeeeeeeee already names another build of this commit; kept" in result.stdout
    assert registry.digest(POSTGRES, "9.9.6-sha.1") not in {None, first}
    assert registry.digest(POSTGRES, "sha-eeeeeeeeeeee") == first


def test_rollback_after_a_roll_forward_returns_to_the_release_before_it(stack: Any) -> None:
    """The issue's history on a real stack: deploy, rollback, rollback --to, rollback."""
    line = stack.pipeline
    line.invoke("deploy", "--version", V2)
    line.invoke("rollback")
    line.invoke("rollback", "--to", V2)
    assert stack.version()["version"] == V2

    result = line.invoke("rollback")

    assert f"from {V2} to {V1}" in result.stdout and f"runs version {V1}" in result.stdout
    assert stack.version()["version"] == V1


def _status(stack: Any, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return stack.pipeline.invoke("status", *args, check=False, **env)


def test_status_shows_every_service_beside_the_live_release(stack: Any) -> None:
    live = stack.deploy_stack.ledger.current()
    assert live is not None

    result = _status(stack, "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["live"]["id"], report["live"]["version"]) == (live.id, live.version)
    services = {each["service"]: each for each in report["services"]}
    assert set(services) == set(stack_services()) and report["problems"] == []
    for name, each in services.items():
        assert each["health"] == "healthy", (name, each)
        assert each["in_ledger"] and each["image"] in live.images.values(), (name, each)
        assert each["digest"] == each["image"].partition("@")[2]
        assert each["uptime_seconds"] >= 0 and each["started_at"]
    for app in ("api-gateway-app", "inventory-app", "billing-app"):
        assert services[app]["version"] == live.version == stack.version()["version"]

    table = _status(stack).stdout
    assert f"the ledger says {live.version} is live (release #{live.id}" in table
    for name in stack_services():
        row = next(line for line in table.splitlines() if line.startswith(name + " "))
        assert "healthy" in row and row.rstrip().endswith("live"), row


def test_status_fails_in_one_line_when_a_service_is_down(stack: Any) -> None:
    stack.compose("stop", "billing-app")
    try:
        result = _status(stack)
        report = json.loads(_status(stack, "--json").stdout)
    finally:
        stack.compose("start", "billing-app")
        stack.wait_healthy()

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line == "nbship: billing-app exited"
    billing = next(each for each in report["services"] if each["service"] == "billing-app")
    assert (billing["state"], billing["uptime_seconds"]) == ("exited", None)
    assert report["problems"] == ["billing-app exited"]


def test_status_of_a_stack_never_deployed_says_so(stack: Any) -> None:
    result = _status(stack, INVOKE_NBSHIP_PROJECT="nbship-it-never-deployed")
    assert result.returncode == 0, result.stderr
    assert "the ledger records no live release" in result.stdout
    assert "no containers of this stack exist" in result.stdout


def test_ledger_status_and_releases_know_each_database_schema_revision(stack: Any) -> None:
    """Each release records, per database, the revision its code expects (a label its build put
    on the app image) and the one live after it (read from the database itself)."""
    live = stack.deploy_stack.ledger.current()
    assert live is not None
    with_database = [image for image in IMAGES if image.database]
    heads = {image.database: expected_head(image.migrations) for image in with_database}
    for image in with_database:
        shown = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}",
             live.images[image.name]],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert json.loads(shown.stdout)[SCHEMA_LABEL] == heads[image.database]
    assert live.schema == {db: {"expects": head, "live": head} for db, head in heads.items()}

    report = json.loads(_status(stack, "--json").stdout)
    assert report["schema"] == live.schema
    listed = stack.pipeline.invoke("releases").stdout.splitlines()
    [current] = [line for line in listed if line.startswith("*")]  # a rollback pops: not the last
    assert f"#{live.id} " in current and f"inventory-db={heads['inventory-db']}" in current

    # The live revision is the database's own: move it, and status says so at once.
    stack.sql("inventory-db", "UPDATE alembic_version SET version_num = '9999'")
    try:
        moved = json.loads(_status(stack, "--json").stdout)["schema"]["inventory-db"]
        table = _status(stack).stdout
    finally:
        head = heads["inventory-db"]
        stack.sql("inventory-db", f"UPDATE alembic_version SET version_num = '{head}'")
    assert moved == {"expects": heads["inventory-db"], "live": "9999"}
    assert (
        f"schema of inventory-db: at 9999, the live release's code expects "
        f"{heads['inventory-db']}" in table
    )
