"""The schema revision a release's code expects, read from its Alembic migrations at build time.

(The live revision is read from a real PostgreSQL in tests/integration/test_release_cli.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nbship.build.schema import expected_head
from nbship.catalogue import IMAGES, stack_services
from nbship.deploy.schema import describe
from nbship.errors import NbshipError

REVISION = '''"""{message}"""
revision = "{revision}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


def migrations(tmp_path: Path, *chain: tuple[str, str | None]) -> Path:
    """A migrations folder holding one revision file per (revision, down_revision) of CHAIN."""
    folder = tmp_path / "migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "script.py.mako").write_text("")
    for revision, down in chain:
        text = REVISION.format(message=revision, revision=revision, down=repr(down))
        (folder / "versions" / f"{revision}_step.py").write_text(text)
    return folder


def test_the_head_is_the_newest_revision_of_the_chain_whatever_the_file_order(
    tmp_path: Path,
) -> None:
    folder = migrations(tmp_path, ("b2", "a1"), ("a1", None), ("c3", "b2"))
    assert expected_head(folder) == "c3"


def test_a_branched_history_names_every_head(tmp_path: Path) -> None:
    folder = migrations(tmp_path, ("a1", None), ("b2", "a1"), ("b3", "a1"))
    assert expected_head(folder) == "b2,b3"


def test_every_app_with_a_database_has_migrations_and_a_compose_database() -> None:
    with_database = [image for image in IMAGES if image.database]
    assert {image.name for image in with_database} == {"inventory-app", "billing-app"}
    for image in with_database:
        assert image.database in stack_services()
        assert image.migrations is not None
        revisions = sorted((image.migrations / "versions").glob("*.py"))
        assert revisions, image.name
        # The head is one of the revision files' own ids.
        assert f'"{expected_head(image.migrations)}"' in "".join(
            path.read_text(encoding="utf-8") for path in revisions
        )


def test_broken_migrations_stop_the_build_naming_the_folder(tmp_path: Path) -> None:
    folder = migrations(tmp_path, ("a1", None))
    (folder / "versions" / "a1_step.py").write_text('revision = "a1"\ndown_revision = (\n')
    with pytest.raises(NbshipError, match=rf"{folder}: cannot read the Alembic migrations"):
        expected_head(folder)
    with pytest.raises(NbshipError, match=r"no Alembic migrations here"):
        expected_head(tmp_path / "nowhere")
    empty = migrations(tmp_path / "empty")
    with pytest.raises(NbshipError, match=r"have no revision"):
        expected_head(empty)


def test_a_revision_that_cannot_be_read_is_said_unknown() -> None:
    assert describe({"inventory-db": {"expects": "0002", "live": None}}) == (
        "inventory-db at unknown (code expects 0002)"
    )
