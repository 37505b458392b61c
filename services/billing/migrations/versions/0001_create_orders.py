"""Create the orders table.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# What a rollback may do over this migration (docs/deploy.md): "expand" when the code of the
# release before runs unchanged on the schema it leaves, "contract" otherwise.
nbship_change: str = "expand"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("number_of_items", sa.Integer(), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("message_id", name=op.f("uq_orders_message_id")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("orders")
