"""The stack's data: database snapshots, taken by hand or before a release changes a schema,
listed, and restored."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit

from nbship import catalogue
from nbship.errors import NbshipError
from nbship.tasks import _common as common
from nbship.tasks._common import task
from nbship.tasks.release import SWARM_HELP

DATABASES = [image.database for image in catalogue.IMAGES if image.database]
DATABASE_HELP = f"only this database (repeatable; default: all of {', '.join(DATABASES)})"


@task(iterable=["database"], help={"database": DATABASE_HELP, "swarm": SWARM_HELP})
def snapshot(c: Context, database: list[str] | None = None, swarm: bool = False) -> None:
    """Snapshot the stack's databases now (pg_dump inside each database's container).

    Deploys and rollbacks take one by themselves before a release changes a schema. Snapshots
    live in the state directory (.nbship/PROJECT/snapshots/), never in git or an image; the
    newest `snapshots_keep` (10) per database are kept.
    """
    from nbship.deploy import schema as schemas
    from nbship.deploy.snapshots import human_size

    unknown = [name for name in database or () if name not in DATABASES]
    if unknown:
        raise NbshipError(f"unknown database {unknown[0]!r}; known: {', '.join(DATABASES)}")
    target = common.stack(c, swarm)
    with target.ledger.locked():  # never beside a deploy of the same stack
        for name in database or DATABASES:
            revision = schemas.live(target.project, target.orchestrator, name)
            taken = target.snapshots.take(
                target.project, target.orchestrator, name, revision, "by hand"
            )
            size = human_size(taken.size)
            print(f"nbship: {name}: {target.snapshots.folder / taken.file} ({size})")


@task(
    help={
        "verify": "also check every file against its recorded size and sha256",
        "swarm": SWARM_HELP,
    }
)
def snapshots(c: Context, verify: bool = False, swarm: bool = False) -> None:
    """List the stack's database snapshots, oldest first: size, database, revision, time, why."""
    from nbship.deploy.snapshots import human_size

    target = common.stack(c, swarm)
    entries = target.snapshots.entries()
    if not entries:
        print(f"no snapshots of stack {target.project!r} in {target.snapshots.folder}")
        return
    bad = []
    for entry in entries:
        check = ""
        if verify:
            try:
                target.snapshots.verify(entry)
                check = " ok"
            except NbshipError as exc:
                bad.append(str(exc))
                check = " CORRUPTED"
        print(
            f"{entry.file}  {human_size(entry.size):>8}  {entry.database}  "
            f"rev {entry.revision or '?'}  {entry.taken_at}  {entry.reason}{check}"
        )
    if bad:
        raise Exit(f"nbship: {bad[0]}", code=1)


@task(
    help={
        "snapshot": "the snapshot's file name, as `invoke snapshots` lists it",
        "yes": "confirm: rows written since the snapshot are lost",
        "swarm": SWARM_HELP,
    }
)
def restore(c: Context, snapshot: str, yes: bool = False, swarm: bool = False) -> None:
    """Put a snapshot back into its database, in one transaction (all or nothing).

    The file is checked against its recorded sha256 first; a changed file is refused. Rows
    written since the snapshot are lost: say --yes.
    """
    target = common.stack(c, swarm)
    found = target.snapshots.find(snapshot)
    if not yes:
        raise NbshipError(
            f"restoring {found.file} replaces everything in {found.database} with its state of "
            f"{found.taken_at}; rows written since are lost. Say --yes to go on"
        )
    with target.ledger.locked():
        target.snapshots.restore(target.project, target.orchestrator, found)
    print(f"nbship: {found.database} restored from {found.file} (taken {found.taken_at})")
