"""The snapshots folder: what is kept, what a restore refuses, and when a deploy takes one.

(Taking and restoring a real dump of a real PostgreSQL: tests/integration/test_snapshots.py.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nbship.deploy import stack as deploying
from nbship.deploy.snapshots import Snapshot, Snapshots, human_size
from nbship.errors import NbshipError


def recorded(folder: Snapshots, database: str, number: int, content: bytes = b"dump") -> Snapshot:
    """A snapshot file and its index entry, as `take` leaves them."""
    folder.folder.mkdir(parents=True, exist_ok=True)
    name = f"2026120{number}T000000Z-{database}-0001.dump"
    (folder.folder / name).write_bytes(content)
    entry = Snapshot(
        file=name, database=database, revision="0001", reason="by hand",
        taken_at=f"2026-12-0{number}T00:00:00+00:00", size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )  # fmt: skip
    folder._write([*folder.entries(), entry])
    return entry


def test_only_the_newest_snapshots_of_each_database_are_kept(tmp_path: Path) -> None:
    folder = Snapshots(tmp_path / "snapshots", keep=2)
    inventory = [recorded(folder, "inventory-db", number) for number in (1, 2, 3)]
    billing = recorded(folder, "billing-db", 4)
    assert folder.prune("inventory-db") == [inventory[0]]
    assert folder.entries() == [inventory[1], inventory[2], billing]
    assert not (folder.folder / inventory[0].file).exists()
    assert (folder.folder / inventory[1].file).exists()
    assert folder.prune("inventory-db") == []
    with pytest.raises(NbshipError, match="at least 1"):
        Snapshots(tmp_path, keep=0)


def test_a_changed_or_missing_file_is_refused_before_any_restore(tmp_path: Path) -> None:
    folder = Snapshots(tmp_path / "snapshots")
    entry = recorded(folder, "inventory-db", 1, b"PGDMP good bytes")
    assert folder.verify(entry) == folder.folder / entry.file
    (folder.folder / entry.file).write_bytes(b"PGDMP evil bytes")  # same size, other bytes
    with pytest.raises(NbshipError, match=r"is corrupted: 16 bytes with sha256 .* refusing"):
        folder.verify(entry)
    with pytest.raises(NbshipError, match=r"is corrupted"):
        folder.restore("nbship", "compose", entry)  # refused before Docker is asked anything
    (folder.folder / entry.file).unlink()
    with pytest.raises(NbshipError, match=r"is missing"):
        folder.verify(entry)


def test_snapshots_are_found_by_file_name_or_path(tmp_path: Path) -> None:
    folder = Snapshots(tmp_path / "snapshots")
    assert folder.entries() == []
    entry = recorded(folder, "billing-db", 1)
    assert folder.find(entry.file) == entry
    assert folder.find(str(folder.folder / entry.file)) == entry
    with pytest.raises(NbshipError, match=rf"no snapshot 'nope.dump' .* recorded: {entry.file}"):
        folder.find("nope.dump")


def test_an_unreadable_index_is_named(tmp_path: Path) -> None:
    folder = Snapshots(tmp_path)
    folder.index.write_text(json.dumps({"format": 9, "snapshots": []}))
    with pytest.raises(NbshipError, match=rf"{folder.index} is unreadable \(unknown format 9\)"):
        folder.entries()
    folder.index.write_text("{")
    with pytest.raises(NbshipError, match="is unreadable"):
        folder.entries()


def test_sizes_read_as_people_write_them() -> None:
    assert [human_size(n) for n in (912, 830_000, 1_234_567, 5_000_000_000_000)] == [
        "912 B", "830.0 kB", "1.2 MB", "5000.0 GB",
    ]  # fmt: skip


@dataclass
class SchemaRuntime:
    """A runtime whose databases are at the given revisions while the images expect others."""

    schema_now: dict[str, dict[str, str | None]]
    steps: dict[str, dict[str, tuple[tuple[str, ...], str]]] = field(default_factory=dict)

    def schema(self, images: dict[str, str]) -> dict[str, dict[str, str | None]]:
        return self.schema_now

    def migrations(
        self, images: dict[str, str]
    ) -> dict[str, dict[str, tuple[tuple[str, ...], str]]]:
        return dict(self.steps)


@dataclass
class NoteSnapshots:
    taken: list[tuple[str, str | None, str]] = field(default_factory=list)

    def take(
        self, project: str, orchestrator: str, database: str, revision: str | None, reason: str
    ) -> Snapshot:
        self.taken.append((database, revision, reason))
        return Snapshot(f"{database}.dump", database, revision, reason, "now", 1, "0" * 64)


@dataclass(frozen=True)
class NotingStack(deploying.Stack):
    noted: NoteSnapshots = field(default_factory=NoteSnapshots)

    @property
    def snapshots(self) -> Snapshots:
        return self.noted  # type: ignore[return-value]


def test_a_release_snapshots_exactly_the_databases_a_migration_changes(tmp_path: Path) -> None:
    stack = NotingStack(project="fake", state_dir=tmp_path)
    chain = {"0001": ((), "expand"), "0002": (("0001",), "contract")}
    runtime = SchemaRuntime(
        {
            "inventory-db": {"live": "0001", "expects": "0002"},  # will migrate
            "billing-db": {"live": "0001", "expects": "0001"},  # unchanged
            "other-db": {"live": None, "expects": "0001"},  # a new database: nothing to keep
            "old-db": {"live": "0002", "expects": "0001"},  # behind: refused, not migrated
        },
        {"inventory-db": chain, "billing-db": chain, "other-db": chain, "old-db": chain},
    )
    plans = deploying.schema_plans(runtime, {}, None)  # type: ignore[arg-type]
    assert [plan.action for plan in plans] == ["upgrade", "none", "upgrade", "refuse"]
    taken = deploying.snapshot_before(stack, "0.3.0", plans)
    assert taken == ["inventory-db.dump"]
    assert stack.noted.taken == [
        ("inventory-db", "0001", "before 0.3.0 (inventory-db 0001 -> 0002)")
    ]
