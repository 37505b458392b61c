"""A release that changes only inventory and billing, deployed and rolled back under a steady
client: no request fails, no accepted order is lost, and nothing else is touched."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from polling import eventually

from conftest import APPS, APPS_ONLY, push_apps_only_release
from nbship_bench.release import SteadyClient

pytestmark = pytest.mark.integration

V1, V2 = "0.1.0", "0.2.0"


def _containers(stack: Any) -> dict[str, str]:
    """Service -> container id (one container each once a deploy is over)."""
    result = stack.compose("ps", "--format", "{{.Service}} {{.ID}}")
    return dict(line.split() for line in result.stdout.splitlines() if line.strip())


def _stored(stack: Any, message_ids: list[str]) -> bool:
    rows = {row[0] for row in stack.sql("billing-db", "SELECT message_id FROM orders")}
    return set(message_ids) <= rows


def test_apps_replaced_under_load_fail_no_request_and_lose_no_order(stack: Any) -> None:
    line = stack.pipeline
    push_apps_only_release(line.registry)
    line.invoke("deploy", "--version", V1)
    movie = requests.post(
        f"{stack.gateway_url}/api/movies",
        json={"title": "Read through a deploy", "description": "steady"},
        timeout=10,
    )
    assert movie.status_code == 201, movie.text
    before = _containers(stack)

    client = SteadyClient(stack.gateway_url, movie.json()["id"])
    client.start()
    try:
        line.invoke("deploy", "--version", APPS_ONLY)
        during = _containers(stack)
        line.invoke("rollback")
    finally:
        client.stop()
    after = _containers(stack)

    # The apps were really replaced, twice; everything else kept its container.
    for app in APPS:
        assert len({before[app], during[app], after[app]}) == 3, app
    unchanged = set(before) - set(APPS)
    assert {s: after[s] for s in unchanged} == {s: before[s] for s in unchanged}

    failed = [(s.kind, s.detail) for s in client.sent if not s.ok]
    assert failed == [], f"{len(failed)} of {len(client.sent)} requests failed: {failed[:10]}"
    assert sum(s.kind == "order" for s in client.sent) > 10  # the client really ran throughout
    accepted = client.accepted
    eventually(lambda: _stored(stack, accepted), timeout=60, what="every accepted order stored")
