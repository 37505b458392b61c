"""Alembic environment for billing: the shared one, nbship_common.migrations."""

from billing.models import Base
from nbship_common.migrations import run

run(Base.metadata, service="billing-migrations")
