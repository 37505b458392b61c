"""The database resource: one engine per worker, one session per request."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from inventory.settings import InventorySettings
from nbship_common.database import make_engine, ping
from nbship_common.errors import describe, error_response
from nbship_common.health import add_readiness_check

log = logging.getLogger(__name__)

_SESSIONS = "inventory_sessions"


def init_app(app: Flask, settings: InventorySettings) -> None:
    """Create the engine (it connects lazily), close sessions after each request, probe it."""
    engine = make_engine(
        settings.database_url,
        application_name="inventory",
        pool_size=settings.common.threads + 1,
    )
    app.extensions[_SESSIONS] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)
    for unavailable in (OperationalError, InterfaceError, PoolTimeoutError):
        app.register_error_handler(unavailable, _database_unavailable)
    add_readiness_check(app, "database", lambda: ping(engine))


def session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions[_SESSIONS]
        g.db_session = factory()
    db_session: Session = g.db_session
    return db_session


def _close_session(_exc: BaseException | None) -> None:
    # Closing rolls back whatever a failed request left uncommitted.
    db_session: Session | None = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


def _database_unavailable(exc: Exception) -> Response:
    log.error("database unavailable", extra={"reason": describe(exc)[:500]})
    return error_response(503, "database unavailable", "try again shortly")
