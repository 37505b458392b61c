"""Alembic environment for inventory: DATABASE_URL from the environment, models as the target."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from inventory.models import Base
from nbship_common.logging import configure_logging
from nbship_common.settings import Env, database_url, read_common

_env = Env()
_common = read_common(_env, service="inventory-migrations", default_port=8080)
configure_logging(_common.service, _common.log_level)

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit SQL for review (`alembic upgrade head --sql`) without connecting."""
    context.configure(
        url=database_url(_env, _common),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations over one short-lived connection."""
    engine = create_engine(database_url(_env, _common), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
