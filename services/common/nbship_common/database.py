"""SQLAlchemy engine settings shared by the services that own a PostgreSQL database."""

from __future__ import annotations

from sqlalchemy import Engine, MetaData, create_engine, text

# Explicit constraint names, so models and Alembic migrations agree and `alembic check` is quiet.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CONNECT_TIMEOUT_SECONDS = 3
# No request should hold a connection longer than gunicorn lets it live.
STATEMENT_TIMEOUT_MS = 10_000


def metadata() -> MetaData:
    """Fresh metadata with the project's naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, *, application_name: str, pool_size: int) -> Engine:
    """An engine that fails fast when PostgreSQL is away and recovers when it returns."""
    return create_engine(
        url,
        # One connection per gunicorn thread, plus a little headroom for readiness probes.
        pool_size=pool_size,
        max_overflow=2,
        pool_timeout=CONNECT_TIMEOUT_SECONDS,
        # Drop connections that died while idle (database restart) instead of failing a request.
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": application_name,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        },
    )


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
