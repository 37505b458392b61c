"""The schema revision an app's code expects: the head of its Alembic migrations.

`invoke build` puts it on the app's image (catalogue.SCHEMA_LABEL), so a deploy or a rollback
knows it from the image alone, without the migrations or this checkout.
"""

from __future__ import annotations

from pathlib import Path

from nbship.errors import NbshipError


def expected_head(migrations: Path) -> str:
    """The head revision of the Alembic migrations in MIGRATIONS (several joined by commas)."""
    # Alembic (and SQLAlchemy under it) is imported only when an app image is built.
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if not (migrations / "versions").is_dir():
        raise NbshipError(f"{migrations}: no Alembic migrations here (no versions/ folder)")
    try:
        heads = ScriptDirectory(str(migrations)).get_heads()
    except (CommandError, ImportError, SyntaxError) as exc:
        raise NbshipError(f"{migrations}: cannot read the Alembic migrations: {exc}") from exc
    if not heads:
        raise NbshipError(f"{migrations}: the Alembic migrations have no revision")
    return ",".join(sorted(heads))
