"""The schema revision a release's code expects, read from its Alembic migrations at build time.

(The live revision is read from a real PostgreSQL in tests/integration/test_release_cli.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbship.build.schema import expected_head
from nbship.build.schema import read as read_migrations
from nbship.catalogue import IMAGES, stack_services
from nbship.deploy.schema import describe
from nbship.deploy.schema import plan as schema_plan
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


# 0001 creates the tables, 0002 adds a nullable column (expand), 0003 drops one (contract).
CHAIN = {
    "0001": ((), "expand"),
    "0002": (("0001",), "expand"),
    "0003": (("0002",), "contract"),
}


@pytest.mark.parametrize(
    ("live", "expects", "action", "between", "blocking"),
    [
        ("0002", "0002", "none", (), ()),
        ("0001", "0003", "upgrade", (), ()),  # a deploy of newer code migrates
        (None, "0001", "upgrade", (), ()),  # a new database
        ("0002", "0001", "keep", ("0002",), ()),  # back over an expand: the schema stays
        ("0003", "0002", "refuse", ("0003",), ("0003",)),
        ("0003", "0001", "refuse", ("0003", "0002"), ("0003",)),
        ("0001", None, "unknown", (), ()),  # an image from before the label
        ("ffff", "0002", "unknown", (), ()),  # a revision no release here knows
    ],
)
def test_what_a_release_does_to_a_schema(
    live: str | None, expects: str | None, action: str, between: tuple[str, ...],
    blocking: tuple[str, ...],
) -> None:  # fmt: skip
    plan = schema_plan("inventory-db", live, expects, CHAIN)
    assert (plan.action, plan.between, plan.blocking) == (action, between, blocking)


def test_the_migrations_and_what_each_allows_are_read_from_the_files(tmp_path: Path) -> None:
    folder = migrations(tmp_path, ("a1", None), ("b2", "a1"))
    text = (folder / "versions" / "a1_step.py").read_text()
    (folder / "versions" / "a1_step.py").write_text(text + 'nbship_change = "expand"\n')
    read = read_migrations(folder)
    assert read.steps == {"a1": ((), "expand"), "b2": (("a1",), "contract")}  # unsaid: contract
    assert json.loads(read.label()) == {"a1": [[], "expand"], "b2": [["a1"], "contract"]}
    (folder / "versions" / "b2_step.py").write_text(
        REVISION.format(message="b2", revision="b2", down=repr("a1")) + 'nbship_change = "maybe"\n'
    )
    with pytest.raises(NbshipError, match=r"b2_step.py: nbship_change is 'maybe'"):
        read_migrations(folder)


def test_the_project_migrations_all_say_what_a_rollback_may_do() -> None:
    for image in IMAGES:
        if image.migrations is not None:
            for path in sorted((image.migrations / "versions").glob("*.py")):
                assert "nbship_change: str = " in path.read_text(encoding="utf-8"), path
