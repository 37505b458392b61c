"""The Flask app skeleton every service starts from: JSON errors, request logs, health."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from flask import Flask

from nbship_common.errors import register_error_handlers
from nbship_common.health import init_health
from nbship_common.logging import configure_logging, init_request_logging
from nbship_common.settings import CommonSettings
from nbship_common.validation import MAX_CONTENT_LENGTH

T = TypeVar("T")


def create_base_app(
    import_name: str,
    settings: CommonSettings,
    config: Mapping[str, object] | None = None,
    log_file: Path | None = None,
) -> Flask:
    """A Flask app with logging, JSON errors and /healthz, /readyz, /version wired in."""
    configure_logging(settings.service, settings.log_level, log_file)
    # JSON APIs serve no files: without this Flask adds an undocumented /static/<filename>.
    app = Flask(import_name, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    if config:
        app.config.update(config)
    # The contract serves /api/movies and /api/movies/ alike; a 308 redirect would make clients
    # resend bodies, so neither trailing nor doubled slashes redirect.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    init_request_logging(app)
    register_error_handlers(app)
    init_health(app, settings)
    return app


def extension_of(app: object, name: str, kind: type[T]) -> T | None:
    """App's `extensions[name]` if it is a KIND, else None.

    For gunicorn hooks, whose worker may hold no Flask app (the master calls worker_exit too).
    """
    if isinstance(app, Flask):
        found = app.extensions.get(name)
        if isinstance(found, kind):
            return found
    return None
