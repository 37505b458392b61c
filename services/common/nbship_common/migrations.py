"""The Alembic environment both databases share: DATABASE_URL from the environment, the
service's models as the target. Each service's migrations/env.py calls `run` with its models."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, create_engine, pool

from nbship_common.logging import configure_logging
from nbship_common.settings import Env, database_url, read_common


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
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
