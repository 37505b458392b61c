"""Create the movies table.

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
        "movies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movies")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("movies")
