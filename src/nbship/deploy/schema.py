"""Which Alembic revision each database of a stack is at, beside the one a release's code expects.

The expected revision is a label `invoke build` put on each app image (catalogue.SCHEMA_LABEL):
the head of the migrations that image ships. The live one is read from the database itself, the
`alembic_version` table, with psql inside the database's container (its local socket, as the
database's own user: no password leaves the container). Either is None when it cannot be known:
an image built before the label existed, a database container not on this engine (Swarm puts it
on another node) or not running, a database never migrated.
"""

from __future__ import annotations

import json
import subprocess

from nbship import docker
from nbship.catalogue import IMAGES, SCHEMA_LABEL
from nbship.deploy.status import running_container

# Alembic keeps one row per head; several rows are a branched history.
QUERY = "SELECT version_num FROM alembic_version ORDER BY version_num"
PSQL = f'psql --no-psqlrc -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAq -c "{QUERY}"'
TIMEOUT_SECONDS = 15

# database -> {"expects": revision or None, "live": revision or None}
Schema = dict[str, dict[str, str | None]]


def read(project: str, orchestrator: str, images: dict[str, str]) -> Schema:
    """Each database's live revision, and the revision the app images in IMAGES expect of it."""
    found: Schema = {}
    for image in IMAGES:
        if image.database is None:
            continue
        found[image.database] = {
            "expects": expected(images[image.name]) if image.name in images else None,
            "live": live(project, orchestrator, image.database),
        }
    return found


def expected(ref: str) -> str | None:
    """The schema revision image REF's code expects (its label), None when not labelled."""
    shown = docker.docker(
        "image", "inspect", "--format", "{{json .Config.Labels}}", ref, check=False
    )
    if shown.returncode != 0:
        return None
    labels = json.loads(shown.stdout or "null") or {}
    revision = labels.get(SCHEMA_LABEL)
    return str(revision) if revision else None


def live(project: str, orchestrator: str, database: str) -> str | None:
    """The revision DATABASE of PROJECT is at now, read in its running container."""
    container = running_container(project, orchestrator, database)
    if container is None:
        return None
    try:
        result = subprocess.run(
            ["docker", "exec", container, "sh", "-c", PSQL],
            capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    revisions = result.stdout.split()
    return ",".join(revisions) if result.returncode == 0 and revisions else None


def describe(schema: Schema) -> str:
    """One line: each database's live revision and what the code expects of it."""
    parts = []
    for database, revisions in schema.items():
        live_revision = revisions.get("live") or "unknown"
        expects = revisions.get("expects") or "unknown"
        parts.append(f"{database} at {live_revision} (code expects {expects})")
    return "; ".join(parts)
