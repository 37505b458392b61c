"""Liveness, readiness and version endpoints, with per-app readiness checks."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, jsonify

from nbship_common.errors import describe, error_response
from nbship_common.settings import CommonSettings

log = logging.getLogger(__name__)

# A check returns when the dependency is usable and raises (with a short reason) when it is not.
ReadinessCheck = Callable[[], None]

_CHECKS = "nbship_readiness_checks"
_SETTINGS = "nbship_settings"
_MAX_REASON = 200

bp = Blueprint("health", __name__)


def init_health(app: Flask, settings: CommonSettings) -> None:
    """Serve /healthz, /readyz and /version for `app`."""
    app.extensions[_SETTINGS] = settings
    app.extensions.setdefault(_CHECKS, {})
    app.register_blueprint(bp)


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    """Make /readyz run `check` under `name`."""
    checks: dict[str, ReadinessCheck] = app.extensions.setdefault(_CHECKS, {})
    checks[name] = check


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving requests."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Every registered dependency answers; 503 names the ones that do not."""
    checks: dict[str, ReadinessCheck] = current_app.extensions.get(_CHECKS, {})
    results: dict[str, str] = {}
    failed = False
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:
            failed = True
            results[name] = describe(exc)[:_MAX_REASON]
            log.warning("readiness check failed", extra={"check": name, "reason": results[name]})
        else:
            results[name] = "ok"
    if failed:
        return error_response(503, "not ready", results)
    return jsonify({"status": "ready", "checks": results})


@bp.get("/version")
def version() -> Response:
    """Which build is running."""
    settings: CommonSettings = current_app.extensions[_SETTINGS]
    return jsonify(
        {
            "service": settings.service,
            "version": settings.version,
            "git_sha": settings.git_sha,
            "lock_sha256": settings.lock_sha256,
            "notebook_cells_sha256": settings.notebook_cells_sha256,
        }
    )
