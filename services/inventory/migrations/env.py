"""Alembic environment for inventory: the shared one, nbship_common.migrations."""

from inventory.models import Base
from nbship_common.migrations import run

run(Base.metadata, service="inventory-migrations")
