"""`invoke status` reading what Docker reports: times, pinned images, problems, the table."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from nbship.deploy.ledger import Release
from nbship.deploy.status import StackStatus, _parse_time, _pinned, _service

REF = "localhost:5001/nbship/inventory-app@sha256:" + "a" * 64
LIVE = Release(id=3, version="0.2.0", images={"inventory-app": REF}, deployed_at="2026-12-06")
NOW = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)


def container(state: dict[str, Any], image: str = REF) -> dict[str, Any]:
    """The parts of `docker container inspect` that status reads, as Docker 20.10 writes them."""
    labels = {
        "com.docker.compose.service": "inventory-app",
        "org.opencontainers.image.version": "0.2.0",
    }
    return {
        "Name": "/nbship-inventory-app-1",
        "Image": "sha256:" + "b" * 64,
        "Config": {"Image": image, "Labels": labels},
        "State": state,
    }


def test_docker_times_with_nanoseconds_and_the_zero_time() -> None:
    assert _parse_time("2026-12-06T09:58:20.123456789Z") == datetime(
        2026, 12, 6, 9, 58, 20, 123456, tzinfo=UTC
    )
    assert _parse_time("2026-12-06T09:58:20Z") == datetime(2026, 12, 6, 9, 58, 20, tzinfo=UTC)
    assert _parse_time("0001-01-01T00:00:00Z") is None


def test_an_image_is_pinned_by_repository_and_digest_whatever_tag_swarm_adds() -> None:
    pinned = {REF}
    assert _pinned(REF, pinned)
    assert _pinned(REF.replace("@", ":0.2.0@"), pinned)  # Swarm's REPO:TAG@DIGEST
    assert not _pinned(REF.replace("a" * 64, "c" * 64), pinned)
    assert not _pinned("localhost:5001/nbship/inventory-app:0.2.0", pinned)


def test_a_running_healthy_container_of_the_live_release() -> None:
    state = {
        "Status": "running",
        "StartedAt": "2026-12-06T09:58:20.5Z",
        "Health": {"Status": "healthy"},
    }
    each = _service(container(state), "compose", "nbship", {REF}, NOW)
    assert (each.service, each.version, each.health, each.uptime_seconds) == (
        "inventory-app",
        "0.2.0",
        "healthy",
        99,
    )
    assert each.digest == "sha256:" + "a" * 64 and each.in_ledger
    status = StackStatus("nbship", "compose", LIVE, [each], ("inventory-app",))
    assert status.problems == []
    assert "inventory-app  0.2.0    sha256:aaaaaaaaaaaa  healthy  1m39s   live" in status.as_table()
    assert json.loads(status.as_json())["services"][0]["uptime_seconds"] == 99


def test_problems_name_missing_stopped_and_unpinned_services() -> None:
    stopped = _service(container({"Status": "exited"}), "compose", "nbship", {REF}, NOW)
    other = "localhost:5001/nbship/inventory-app@sha256:" + "c" * 64
    running = {"Status": "running", "StartedAt": "2026-12-06T09:00:00Z"}
    stray = _service(container(running, other), "compose", "nbship", {REF}, NOW)
    expected = ("inventory-app", "billing-app")
    assert StackStatus("nbship", "compose", LIVE, [stopped], expected).problems == [
        "billing-app has no container",
        "inventory-app exited",
    ]
    assert StackStatus("nbship", "compose", LIVE, [stray], ()).problems == [
        f"inventory-app runs {other}, not release #3"
    ]
    assert StackStatus("nbship", "compose", None, [], expected).problems == []


def test_each_database_schema_is_shown_beside_what_the_live_code_expects() -> None:
    state = {"Status": "running", "StartedAt": "2026-12-06T09:58:20Z"}
    each = _service(container(state), "compose", "nbship", {REF}, NOW)
    schema: dict[str, dict[str, str | None]] = {
        "inventory-db": {"expects": "0001", "live": "0002"},
        "billing-db": {"expects": "0001", "live": None},
    }
    status = StackStatus("nbship", "compose", LIVE, [each], ("inventory-app",), schema)
    table = status.as_table().splitlines()
    assert table[-2:] == [
        "schema of inventory-db: at 0002, the live release's code expects 0001",
        "schema of billing-db: at unknown, the live release's code expects 0001",
    ]
    assert json.loads(status.as_json())["schema"] == schema
    # A schema ahead of the code is what an expand-only rollback leaves: not a problem.
    assert status.problems == []


def test_on_swarm_each_task_names_the_node_it_runs_on() -> None:
    state = {"Status": "running", "StartedAt": "2026-12-06T09:58:20Z"}
    each = _service(container(state), "compose", "nbship", {REF}, NOW)
    tasks = [replace(each, container=f"nbship_inventory-app.{k}", node=f"n{k}") for k in (1, 2)]
    table = StackStatus("nbship", "swarm", LIVE, tasks, ("inventory-app",)).as_table()
    rows = table.splitlines()[1:]
    assert rows[0].split()[-1] == "NODE"
    assert [row.split()[-1] for row in rows[1:]] == ["n1", "n2"]
    # On compose (no node) the column is left out.
    assert "NODE" not in StackStatus("nbship", "compose", LIVE, [each], ()).as_table()
