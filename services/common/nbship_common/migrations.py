"""The Alembic environment both databases share: DATABASE_URL from the environment, the
service's models as the target. Each service's migrations/env.py calls `run` with its models."""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import Connection, Engine, MetaData, create_engine, pool, text
from sqlalchemy.exc import OperationalError
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from nbship_common.logging import configure_logging
from nbship_common.settings import Env, database_url, read_common

log = logging.getLogger(__name__)

# How long the one-shot migration step waits for its database to accept connections. Compose
# starts an app only once its database is healthy; Swarm has no start order, and replaces a
# database (stop-first) while a release's new app tasks start, so there it may not answer yet.
CONNECT_WAIT_SECONDS = 90.0
# The PostgreSQL advisory lock every migration run of a database takes (any fixed bigint).
LOCK_KEY = 0x6E62_7368_6970  # "nbship"


def run(target_metadata: MetaData, service: str) -> None:
    """Run the migrations Alembic asked for, offline (SQL out) or online (one connection)."""
    env = Env()
    common = read_common(env, service=service, default_port=8080)
    configure_logging(common.service, common.log_level)
    url = database_url(env, common)
    if context.is_offline_mode():
        # Emit SQL for review (`alembic upgrade head --sql`) without connecting.
        context.configure(
            url=url,
            target_metadata=target_metadata,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with connect_when_ready(engine) as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            # Two runs at once (two replicas of an image run by hand, which migrates as it
            # starts): the second waits here for the first's transaction, then finds the
            # schema at head.
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            context.run_migrations()


def connect_when_ready(engine: Engine, wait_seconds: float = CONNECT_WAIT_SECONDS) -> Connection:
    """A connection from ENGINE, retried with capped backoff while the database does not accept
    one (not resolvable, not listening, starting up), for up to WAIT_SECONDS; then its error."""
    retrying = Retrying(
        retry=retry_if_exception_type(OperationalError),
        stop=stop_after_delay(wait_seconds),
        wait=wait_exponential(multiplier=0.25, max=3),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    return retrying(engine.connect)
