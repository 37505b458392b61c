"""/healthz, /readyz and /version."""

from __future__ import annotations

from flask import Flask

from nbship_common.health import add_readiness_check


def test_healthz_answers_ok(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_is_200_when_every_check_passes(app: Flask) -> None:
    add_readiness_check(app, "database", lambda: None)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok"}}


def test_readyz_is_503_naming_the_failed_check(app: Flask) -> None:
    def broker() -> None:
        raise ConnectionRefusedError("broker is down")

    add_readiness_check(app, "database", lambda: None)
    add_readiness_check(app, "broker", broker)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "not ready"
    assert body["details"]["database"] == "ok"
    assert body["details"]["broker"] == "ConnectionRefusedError: broker is down"


def test_trailing_slash_is_served_without_redirect(app: Flask) -> None:
    assert app.test_client().get("/healthz/").status_code == 200


def test_version_reports_service_version_and_sha(app: Flask) -> None:
    response = app.test_client().get("/version")
    assert response.get_json() == {
        "service": "demo",
        "version": "1.2.3",
        "git_sha": "abc123",
        "lock_sha256": "unknown",
        "notebook_cells_sha256": "unknown",
    }
