"""Snapshots of a stack's databases: taken before a release changes a schema, kept, verified.

A snapshot is `pg_dump --format=custom` run inside the database's container (its local socket,
as the database's own user: no password leaves the container), streamed into nbship's state
directory (`.nbship/PROJECT/snapshots/`, never in git or an image) and checksummed as it is
written. An index beside the files (snapshots.json, replaced atomically) records each one's
database, schema revision, reason, time, size and sha256. A restore checks the file against
that record first and refuses a snapshot whose bytes changed; pg_restore then runs in a single
transaction, so a restore that fails leaves the database as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbship.deploy.schema import psql
from nbship.deploy.status import running_container
from nbship.errors import NbshipError
from nbship.files import atomic_write

INDEX = "snapshots.json"
FORMAT = 1
# Keep this many snapshots per database (the newest); older ones are deleted after a new one.
DEFAULT_KEEP = 10
DUMP = 'pg_dump --format=custom --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB"'
RESTORE = (
    "pg_restore --clean --if-exists --single-transaction --no-owner --exit-on-error "
    '-U "$POSTGRES_USER" -d "$POSTGRES_DB"'
)
CHUNK = 1 << 20
# Every table of the public schema with its exact row count, one "table|count" line each.
COUNT_ROWS = (
    "SELECT table_name, (xpath('/row/c/text()', query_to_xml(format("
    "'SELECT count(*) AS c FROM public.%I', table_name), false, true, '')))[1]::text "
    "FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
    "AND table_name <> 'alembic_version' ORDER BY table_name"
)


@dataclass(frozen=True)
class Snapshot:
    """One dump of one database, as the index records it."""

    file: str  # the dump's name inside the snapshots folder
    database: str  # the compose service of the database
    revision: str | None  # its Alembic revision when it was taken
    reason: str  # why it was taken: "before 0.3.0 (inventory-db 0001 -> 0002)", "by hand"
    taken_at: str
    size: int
    sha256: str
    # Rows per table when it was taken: what a restore discards is counted against them.
    rows: dict[str, int] = field(default_factory=dict)


class Snapshots:
    """The snapshots folder of one stack."""

    def __init__(self, folder: Path, keep: int = DEFAULT_KEEP) -> None:
        if keep < 1:
            raise NbshipError(f"snapshots to keep must be at least 1, not {keep}")
        self.folder = folder
        self.keep = keep

    @property
    def index(self) -> Path:
        return self.folder / INDEX

    def entries(self) -> list[Snapshot]:
        """Every snapshot recorded, oldest first."""
        if not self.index.exists():
            return []
        try:
            data: Any = json.loads(self.index.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            return [Snapshot(**entry) for entry in data["snapshots"]]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise NbshipError(f"snapshot index {self.index} is unreadable ({exc})") from None

    def find(self, name: str) -> Snapshot:
        """The snapshot whose file is NAME (a path to it works too)."""
        wanted = Path(name).name
        for entry in self.entries():
            if entry.file == wanted:
                return entry
        known = ", ".join(entry.file for entry in self.entries()) or "none"
        raise NbshipError(f"no snapshot {wanted!r} in {self.folder}; recorded: {known}")

    def take(
        self, project: str, orchestrator: str, database: str, revision: str | None, reason: str
    ) -> Snapshot:
        """Dump DATABASE of PROJECT now; the file appears whole and recorded, or not at all."""
        container = _container(project, orchestrator, database)
        rows = row_counts(container)
        taken = datetime.now(UTC)
        name = f"{taken:%Y%m%dT%H%M%S%fZ}-{database}-{revision or 'none'}.dump"
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".tmp")
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(descriptor, "wb") as handle:
                dump = subprocess.Popen(
                    ["docker", "exec", container, "sh", "-c", DUMP],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                )  # fmt: skip
                assert dump.stdout is not None and dump.stderr is not None
                while chunk := dump.stdout.read(CHUNK):
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                said = dump.stderr.read().decode("utf-8", "replace").strip().splitlines()
                if dump.wait() != 0 or size == 0:
                    reason_said = said[-1] if said else f"exit status {dump.returncode}"
                    raise NbshipError(f"snapshot of {database} failed: {reason_said}")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, 0o600)  # a database's rows: for this user only
            os.replace(temp_name, self.folder / name)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        snapshot = Snapshot(
            file=name,
            database=database,
            revision=revision,
            reason=reason,
            taken_at=taken.isoformat(timespec="seconds"),
            size=size,
            sha256=digest.hexdigest(),
            rows=rows,
        )
        self._write([*self.entries(), snapshot])
        self.prune(database)
        return snapshot

    def prune(self, database: str) -> list[Snapshot]:
        """Delete DATABASE's snapshots beyond the newest KEEP; return the ones deleted."""
        entries = self.entries()
        own = [entry for entry in entries if entry.database == database]
        dropped = own[: max(0, len(own) - self.keep)]
        if dropped:
            self._write([entry for entry in entries if entry not in dropped])
            for entry in dropped:
                (self.folder / entry.file).unlink(missing_ok=True)
        return dropped

    def verify(self, snapshot: Snapshot) -> Path:
        """The snapshot's file, once its size and sha256 are those recorded; else refuse."""
        path = self.folder / snapshot.file
        if not path.is_file():
            raise NbshipError(f"snapshot {path} is missing (the index still records it)")
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        if (size, digest.hexdigest()) != (snapshot.size, snapshot.sha256):
            raise NbshipError(
                f"snapshot {path} is corrupted: {size} bytes with sha256 "
                f"{digest.hexdigest()[:12]}..., but it was taken as {snapshot.size} bytes with "
                f"sha256 {snapshot.sha256[:12]}...; refusing to restore it"
            )
        return path

    def restore(self, project: str, orchestrator: str, snapshot: Snapshot) -> None:
        """Put SNAPSHOT back into its database, in one transaction: all of it or nothing."""
        path = self.verify(snapshot)
        container = _container(project, orchestrator, snapshot.database)
        with path.open("rb") as dump:
            result = subprocess.run(
                ["docker", "exec", "-i", container, "sh", "-c", RESTORE],
                stdin=dump, capture_output=True,
            )  # fmt: skip
        if result.returncode != 0:
            said = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise NbshipError(
                f"restoring {snapshot.file} into {snapshot.database} failed, the database is "
                f"unchanged: {said[-1] if said else f'exit status {result.returncode}'}"
            )

    def _write(self, entries: list[Snapshot]) -> None:
        payload = {"format": FORMAT, "snapshots": [asdict(entry) for entry in entries]}
        atomic_write(self.index, json.dumps(payload, indent=2) + "\n", mode=0o600)


def written_since(project: str, orchestrator: str, snapshot: Snapshot) -> dict[str, int]:
    """Per table, how many more rows its database holds now than when SNAPSHOT was taken:
    the rows a restore of it discards (rows deleted since are not counted)."""
    now = row_counts(_container(project, orchestrator, snapshot.database))
    grown = {table: count - snapshot.rows.get(table, 0) for table, count in now.items()}
    return {table: count for table, count in grown.items() if count > 0}


def row_counts(container: str) -> dict[str, int]:
    """Exact row counts of the tables in the database of CONTAINER (psql over its socket)."""
    result = psql(container, COUNT_ROWS)
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()
        raise NbshipError(f"cannot count the rows of {container[:12]}: {said[-1] if said else ''}")
    counts = {}
    for line in result.stdout.splitlines():
        table, _, count = line.partition("|")
        if table and count.isdigit():
            counts[table] = int(count)
    return counts


def _container(project: str, orchestrator: str, database: str) -> str:
    container = running_container(project, orchestrator, database)
    if container is None:
        raise NbshipError(
            f"{database} of stack {project!r} is not running on this Docker engine: "
            "start the stack (`invoke deploy`) first"
        )
    return container


def human_size(size: int) -> str:
    """1.2 MB, 830 kB, 912 B."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
