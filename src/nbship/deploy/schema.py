"""Which Alembic revision each database of a stack is at, beside the one a release's code expects.

The expected revision is a label `invoke build` put on each app image (catalogue.SCHEMA_LABEL):
the head of the migrations that image ships. The live one is read from the database itself, the
`alembic_version` table, with psql inside the database's container (its local socket, as the
database's own user: no password leaves the container). Either is None when it cannot be known:
an image built before the label existed, a database container not on this engine (Swarm puts it
on another node) or not running, a database never migrated.
"""

from __future__ import annotations

import functools
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nbship import docker
from nbship.catalogue import IMAGES, MIGRATIONS_LABEL, SCHEMA_LABEL
from nbship.deploy.status import running_container
from nbship.errors import NbshipError

# Alembic keeps one row per head; several rows are a branched history.
QUERY = "SELECT version_num FROM alembic_version ORDER BY version_num"
TIMEOUT_SECONDS = 15

# database -> {"expects": revision or None, "live": revision or None}
Schema = dict[str, dict[str, str | None]]


def read(project: str, orchestrator: str, images: dict[str, str]) -> Schema:
    """Each database's live revision, and the revision the app images in IMAGES expect of it.

    The databases are read side by side: this runs twice in every deploy and rollback.
    """
    apps = [image for image in IMAGES if image.database is not None]
    with ThreadPoolExecutor(max_workers=len(apps) or 1) as pool:
        lives = list(pool.map(lambda app: live(project, orchestrator, str(app.database)), apps))
    return {
        str(app.database): {
            "expects": expected(images[app.name]) if app.name in images else None,
            "live": revision,
        }
        for app, revision in zip(apps, lives, strict=True)
    }


def app_of(database: str) -> str:
    """The app service whose migrations run on DATABASE."""
    for image in IMAGES:
        if image.database == database:
            return image.name
    raise NbshipError(f"no app of the catalogue has the database {database!r}")


def shipped(images: dict[str, str]) -> dict[str, Steps]:
    """Per database: the migrations the app image in IMAGES ships (from its label)."""
    return {
        image.database: migrations(images[image.name])
        for image in IMAGES
        if image.database and image.name in images
    }


@functools.lru_cache(maxsize=64)
def _labels(ref: str) -> tuple[tuple[str, str], ...]:
    """The labels of image REF: the local image's, else (on a Swarm manager that does not run
    it) its registry's; none when neither has it. Deploys name images by digest, which never
    changes what it names: each is looked up once per process."""
    shown = docker.docker(
        "image", "inspect", "--format", "{{json .Config.Labels}}", ref, check=False
    )
    if shown.returncode == 0:
        labels = json.loads(shown.stdout or "null") or {}
    else:
        labels = _registry_labels(ref)
    return tuple(sorted((str(key), str(value)) for key, value in labels.items()))


def _registry_labels(ref: str) -> dict[str, str]:
    """The labels of REF (REGISTRY/REPOSITORY[:TAG]@DIGEST) in its registry; {} if unreadable."""
    # Here, not at the top: requests is slow to import and most commands never need it.
    from nbship.registry.client import Registry

    name, _, digest = ref.partition("@")
    host, _, repository = name.partition("/")
    head, colon, tag = repository.rpartition(":")
    if colon and "/" not in tag:
        repository = head
    if not (digest and repository):
        return {}
    try:
        return Registry(host).labels(repository, digest)
    except NbshipError:
        return {}


def expected(ref: str) -> str | None:
    """The schema revision image REF's code expects (its label), None when not labelled."""
    revision = dict(_labels(ref)).get(SCHEMA_LABEL)
    return revision or None


def live(project: str, orchestrator: str, database: str) -> str | None:
    """The revision DATABASE of PROJECT is at now, read in its running container."""
    container = running_container(project, orchestrator, database)
    if container is None:
        return None
    try:
        result = psql(container, QUERY, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return None
    revisions = result.stdout.split()
    return ",".join(revisions) if result.returncode == 0 and revisions else None


def log_message(line: str) -> str:
    """The message of one of the apps' JSON log lines (Alembic's, in a migration), else LINE."""
    try:
        record = json.loads(line)
    except ValueError:
        return line.strip()
    return str(record.get("message", line)) if isinstance(record, dict) else line.strip()


def psql(
    container: str, query: str, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """QUERY run by psql in the database CONTAINER over its local socket, as the database's own
    user (no password leaves the container); rows unaligned, one per line, fields split by "|"."""
    shell = f'psql --no-psqlrc -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAq -F "|" -c "{query}"'
    return subprocess.run(
        ["docker", "exec", container, "sh", "-c", shell],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def describe(schema: Schema) -> str:
    """One line: each database's live revision and what the code expects of it."""
    parts = []
    for database, revisions in schema.items():
        live_revision = revisions.get("live") or "unknown"
        expects = revisions.get("expects") or "unknown"
        parts.append(f"{database} at {live_revision} (code expects {expects})")
    return "; ".join(parts)


# revision -> (down revisions, "expand" or "contract"), as the MIGRATIONS_LABEL carries them
Steps = dict[str, tuple[tuple[str, ...], str]]


def migrations(ref: str) -> Steps:
    """The migrations image REF ships, from its label; empty when it has none."""
    try:
        raw = json.loads(dict(_labels(ref)).get(MIGRATIONS_LABEL) or "{}")
        return {
            str(rev): (tuple(map(str, down)), str(change)) for rev, (down, change) in raw.items()
        }
    except (ValueError, TypeError, AttributeError):
        return {}


@dataclass(frozen=True)
class Plan:
    """What a release does to one database's schema, decided before anything changes.

    action: "none" (the code expects the live revision), "upgrade" (migrations will run: the
    code is ahead), "keep" (the code is behind, but every migration in between is "expand":
    the old code runs on the newer schema), "refuse" (the code is behind and some migration in
    between is "contract": BLOCKING), "unknown" (the history does not say; as before nbship
    knew: the apps' own `alembic upgrade head` decides).
    """

    database: str
    live: str | None
    expects: str | None
    action: str
    between: tuple[str, ...] = ()  # the migrations live has beyond what the code expects
    blocking: tuple[str, ...] = ()  # those of them that are "contract"


def plan(database: str, live: str | None, expects: str | None, steps: Steps) -> Plan:
    """Decide what a release whose code expects EXPECTS does to DATABASE at LIVE."""
    if expects is None or (live is not None and ("," in live or "," in expects)):
        return Plan(database, live, expects, "unknown")
    if live is None:  # a new or unreadable database: the migrations bring it to the code
        return Plan(database, live, expects, "upgrade")
    if live == expects:
        return Plan(database, live, expects, "none")
    if live in _lineage(expects, steps):
        return Plan(database, live, expects, "upgrade")
    if expects in _lineage(live, steps):
        between = tuple(rev for rev in _lineage(live, steps) if rev not in _lineage(expects, steps))
        blocking = tuple(rev for rev in between if steps[rev][1] != "expand")
        return Plan(database, live, expects, "refuse" if blocking else "keep", between, blocking)
    return Plan(database, live, expects, "unknown")


def _lineage(revision: str, steps: Steps) -> list[str]:
    """REVISION and every revision before it, newest first (as far as STEPS know them)."""
    seen: list[str] = []
    todo = [revision]
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.append(current)
        todo.extend(steps.get(current, ((), ""))[0])
    return seen


def refusal(plans: list[Plan], version: str) -> str:
    """The one line a refused release says: what blocks it and the two ways on."""
    parts = [
        f"{p.database} is at {p.live} but {version}'s code expects {p.expects}, and migration "
        f"{', '.join(p.blocking)} between them is not backward-compatible (contract)"
        for p in plans
    ]
    return (
        f"refusing to run {version} on a schema it does not know: {'; '.join(parts)}. Ways on: "
        f"`invoke rollback --to {version} --restore-data --yes` (restores the snapshot taken "
        f"before that migration; rows written since are lost) or `--downgrade` (runs the "
        f"migrations' own downgrade, where they define one)"
    )
