"""What an app's code expects of its database: the head of its Alembic migrations, and the
migrations themselves with what each lets a rollback do.

`invoke build` puts both on the app's image (catalogue.SCHEMA_LABEL, catalogue.MIGRATIONS_LABEL),
so a deploy or a rollback knows them from the image alone, without the migrations or this
checkout. Each migration says in a module attribute, `nbship_change`, whether the code of the
release before it runs unchanged on the schema it leaves ("expand") or not ("contract"); a
migration that does not say is taken as "contract".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nbship.errors import NbshipError

CHANGES = ("expand", "contract")


@dataclass(frozen=True)
class Migrations:
    """An app's migrations: the head revision(s) and, per revision, its parents and change."""

    head: str
    # revision -> (down revisions, "expand" or "contract")
    steps: dict[str, tuple[tuple[str, ...], str]]

    def label(self) -> str:
        """The steps as the compact JSON the image label carries."""
        payload = {rev: [list(down), change] for rev, (down, change) in sorted(self.steps.items())}
        return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def read(folder: Path) -> Migrations:
    """The Alembic migrations in FOLDER; a broken folder is refused, naming it."""
    # Alembic (and SQLAlchemy under it) is imported only when an app image is built.
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if not (folder / "versions").is_dir():
        raise NbshipError(f"{folder}: no Alembic migrations here (no versions/ folder)")
    try:
        scripts = ScriptDirectory(str(folder))
        heads = scripts.get_heads()
        revisions = list(scripts.walk_revisions())
    except (CommandError, ImportError, SyntaxError) as exc:
        raise NbshipError(f"{folder}: cannot read the Alembic migrations: {exc}") from exc
    if not heads:
        raise NbshipError(f"{folder}: the Alembic migrations have no revision")
    steps = {}
    for script in revisions:
        change = getattr(script.module, "nbship_change", "contract")
        if change not in CHANGES:
            raise NbshipError(
                f"{script.path}: nbship_change is {change!r}; say 'expand' or 'contract'"
            )
        down = script.down_revision
        parents = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        steps[script.revision] = (parents, change)
    return Migrations(",".join(sorted(heads)), steps)


def expected_head(folder: Path) -> str:
    """The head revision of the Alembic migrations in FOLDER (several joined by commas)."""
    return read(folder).head
