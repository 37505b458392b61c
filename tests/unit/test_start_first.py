"""Which containers a compose deploy replaces start-first, read from `docker inspect`."""

from __future__ import annotations

from typing import Any

from nbship.deploy.stack import Container, _replaceable


def inspected(
    service: str, config_hash: str, status: str = "running", health: str = "healthy"
) -> Container:
    """The parts of a `docker container inspect` row that a deploy reads."""
    row: dict[str, Any] = {
        "Id": f"{service}-{config_hash}",
        "State": {"Status": status, "StartedAt": "2026-12-06T10:00:00Z"},
        "Config": {
            "Labels": {
                "com.docker.compose.service": service,
                "com.docker.compose.config-hash": config_hash,
            },
            "Healthcheck": {"Test": ["CMD", "python3", "-m", "probe", "http://127.0.0.1/readyz"]},
        },
    }
    if health:
        row["State"]["Health"] = {"Status": health}
    return Container.from_inspect(row)


def test_inspect_row_gives_service_hash_state_and_the_check_to_run_again() -> None:
    container = inspected("inventory-app", "abc", health="starting")
    assert (container.service, container.config_hash) == ("inventory-app", "abc")
    assert (container.status, container.health) == ("running", "starting")
    assert container.check == ("python3", "-m", "probe", "http://127.0.0.1/readyz")


def test_shell_form_check_is_not_run_again_and_no_check_means_no_health() -> None:
    row = {
        "Id": "x",
        "State": {"Status": "running", "StartedAt": ""},
        "Config": {"Labels": {}, "Healthcheck": {"Test": ["CMD-SHELL", "pg_isready"]}},
    }
    assert Container.from_inspect(row).check == ()
    row["Config"] = {"Labels": None}
    assert (Container.from_inspect(row).check, Container.from_inspect(row).health) == ((), "")


def test_only_one_healthy_container_on_another_configuration_is_replaced_start_first() -> None:
    wanted = {"inventory-app": "new"}
    old = inspected("inventory-app", "old")
    assert _replaceable("inventory-app", [old], wanted)
    # Already on the release: nothing to replace.
    assert not _replaceable("inventory-app", [inspected("inventory-app", "new")], wanted)
    # Not running: nothing to keep serving, compose replaces it.
    assert not _replaceable("inventory-app", [], wanted)
    assert not _replaceable("inventory-app", [inspected("inventory-app", "old", "exited")], wanted)
    # Running but called unhealthy (a check timed out on a busy machine): it may still answer,
    # so it keeps serving until its successor is healthy.
    assert _replaceable(
        "inventory-app", [inspected("inventory-app", "old", health="unhealthy")], wanted
    )
    # A replacement already under way (two containers): left to compose.
    assert not _replaceable("inventory-app", [old, inspected("inventory-app", "other")], wanted)
