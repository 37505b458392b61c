"""A release that changes only inventory and billing, deployed and rolled back under a steady
client: no request fails, no accepted order is lost, and nothing else is touched."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from polling import eventually

from nbship.catalogue import IMAGES
from nbship.registry.client import Registry
from nbship_bench.release import SteadyClient

pytestmark = pytest.mark.integration

V1, V2 = "0.1.0", "0.2.0"
# V1's gateway, databases and broker with V2's inventory and billing: a release that changes
# only the two apps, pushed by digest as a release is (a set of digests).
APPS_ONLY = "0.1.1-apps"
APPS = ("inventory-app", "billing-app")


def _push_apps_only_release(address: str) -> None:
    """Tag APPS_ONLY in the registry at the exact manifests of V1 and V2 (nothing is pushed)."""
    registry = Registry(address)
    for image in IMAGES:
        source = V2 if image.name in APPS else V1
        manifest = registry.manifest(image.repository, source)
        assert manifest is not None, f"{image.repository}:{source} is not in the registry"
        registry.put_manifest(image.repository, APPS_ONLY, manifest)


def _containers(stack: Any) -> dict[str, str]:
    """Service -> container id (one container each once a deploy is over)."""
    result = stack.compose("ps", "--format", "{{.Service}} {{.ID}}")
    return dict(line.split() for line in result.stdout.splitlines() if line.strip())


def _stored(stack: Any, message_ids: list[str]) -> bool:
    rows = {row[0] for row in stack.sql("billing-db", "SELECT message_id FROM orders")}
    return set(message_ids) <= rows


def test_apps_replaced_under_load_fail_no_request_and_lose_no_order(stack: Any) -> None:
    line = stack.pipeline
    _push_apps_only_release(line.registry)
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
