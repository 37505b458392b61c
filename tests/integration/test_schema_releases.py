"""Releases that change a database's schema, on a real PostgreSQL: migrations as a release step,
snapshots before them, rollbacks that know what they may do.

Three more releases of inventory, each a commit on V1 as a user would make it, built and pushed
to the session's registry, deployed to a stack of their own (the session's stack stays on the
schema every other test expects):

- 0.3.0 adds migration 0002: a nullable column (expand);
- 0.4.0 adds 0003 on top: it drops that column (contract);
- 0.3.1 adds a 0003 of its own that fails half-way (a column added, then an error).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import (
    V1,
    Pipeline,
    free_port,
    next_commit,
    remove_compose_project,
    stack_env,
)
from nbship.build.images import CONTENT_LABEL, content_tag
from nbship.deploy.stack import Stack as DeployStack
from nbship.deploy.status import running_container

pytestmark = pytest.mark.integration

EXPAND, CONTRACT, BROKEN = "0.3.0", "0.4.0", "0.3.1"
VERSIONS = "services/inventory/migrations/versions"
TIMEOUT = 10

MIGRATION = '''"""{message}

Revision ID: {revision}
Revises: {down}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "{revision}"
down_revision: str | Sequence[str] | None = "{down}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
nbship_change: str = "{change}"


def upgrade() -> None:
    """Apply this revision."""
{upgrade}


def downgrade() -> None:
    """Revert this revision."""
{downgrade}
'''
ADD_RATING = '    op.add_column("movies", sa.Column("rating", sa.Integer(), nullable=True))'
DROP_RATING = '    op.drop_column("movies", "rating")'
FAIL_HALF_WAY = ADD_RATING.replace("rating", "stars") + '\n    op.execute("SELECT 1 / 0")'


def migration(revision: str, down: str, change: str, upgrade: str, downgrade: str) -> str:
    return MIGRATION.format(
        message=f"{change} {revision}", revision=revision, down=down, change=change,
        upgrade=upgrade, downgrade=downgrade,
    )  # fmt: skip


@dataclass
class SchemaStack:
    """A stack of its own, deployed with the nbship CLI from a registry of its own: these
    releases' version tags (and `latest`) never reach the session's registry, which the other
    tests read."""

    pipeline: Pipeline
    state: Path
    gateway_port: int
    registry_port: int

    @property
    def env(self) -> dict[str, str]:
        return stack_env(
            self.project,
            self.gateway_port,
            self.state / "stack.env",
            INVOKE_NBSHIP_STATE_DIR=str(self.state),
            INVOKE_NBSHIP_REGISTRY=f"localhost:{self.registry_port}",
            INVOKE_NBSHIP_REGISTRY_PROJECT=f"{self.project}-registry",
            INVOKE_NBSHIP_REGISTRY_VOLUME=f"{self.project}-registry-data",
        )

    @property
    def project(self) -> str:
        return f"{self.pipeline.project}-schema"

    @property
    def deploy_stack(self) -> DeployStack:
        return DeployStack(project=self.project, state_dir=self.state)

    def invoke(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.pipeline.invoke(*args, check=check, **self.env)

    def sql(self, query: str) -> list[str]:
        container = running_container(self.project, "compose", "inventory-db")
        assert container is not None, "inventory-db is not running"
        shell = f'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAq -c "{query}"'
        result = subprocess.run(
            ["docker", "exec", container, "sh", "-c", shell],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return result.stdout.split()

    def revision(self) -> str:
        return ",".join(self.sql("SELECT version_num FROM alembic_version"))

    def columns(self) -> set[str]:
        query = "SELECT column_name FROM information_schema.columns WHERE table_name = 'movies'"
        return set(self.sql(query))

    def movies(self) -> int:
        return int(self.sql("SELECT count(*) FROM movies")[0])

    def add_movie(self, title: str) -> None:
        created = requests.post(
            f"http://127.0.0.1:{self.gateway_port}/api/movies",
            json={"title": title, "description": "a schema release test"},
            timeout=TIMEOUT,
        )
        assert created.status_code == 201, created.text

    def version(self) -> str:
        """The version inventory runs (the gateway's is V1's: its image never changes here),
        which must be the release the ledger says is live."""
        report = json.loads(self.invoke("status", "--json").stdout)
        [inventory] = [each for each in report["services"] if each["service"] == "inventory-app"]
        version: str = inventory["version"]
        assert report["live"]["version"] == version and report["problems"] == []
        return version


@pytest.fixture(scope="module")
def schema_stack(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """EXPAND, CONTRACT and BROKEN built and pushed with V1 to a registry of their own; a
    stack of their own; both removed after."""
    # (Only inventory is built: each release's other images are V1's.)
    base = pipeline.checkout
    expand = {
        f"{VERSIONS}/0002_add_rating.py": migration(
            "0002", "0001", "expand", ADD_RATING, DROP_RATING
        )
    }
    contract = {
        f"{VERSIONS}/0003_drop_rating.py": migration(
            "0003", "0002", "contract", DROP_RATING, ADD_RATING
        )
    }
    broken = {
        f"{VERSIONS}/0003_stars.py": migration("0003", "0002", "expand", FAIL_HALF_WAY, "    pass")
    }
    built = []
    state = tmp_path_factory.mktemp("schema-state")
    stack = SchemaStack(pipeline, state, free_port(), free_port())
    try:
        stack.invoke("registry.up")
        stack.invoke("push", "--version", V1)
        checkouts = {}
        for version, source, files in (
            (EXPAND, base, expand),
            (CONTRACT, None, contract),
            (BROKEN, None, broken),
        ):
            folder = tmp_path_factory.mktemp(f"checkout-{version}") / base.name
            note = f"integration tests {pipeline.tag}: {version}"
            origin = source or checkouts[EXPAND]
            checkouts[version] = next_commit(origin, folder, ("inventory",), note, files)
            pipeline.invoke("build", "--version", version, "--image", "inventory-app", root=folder)
            built.append(version)
            for image in ("api-gateway-app", "billing-app", "postgres", "rabbitmq"):
                # The release's other images are V1's: a release that changes inventory only.
                subprocess.run(
                    ["docker", "tag", f"nbship/{image}:{V1}", f"nbship/{image}:{version}"],
                    check=True,
                )
            stack.invoke("push", "--version", version)
        yield stack
    finally:
        stack.invoke("down", "--remove-data", check=False)
        remove_compose_project(stack.project)
        stack.invoke("registry.down", "--remove-data", check=False)
        remove_compose_project(f"{stack.project}-registry")
        shutil.rmtree(state, ignore_errors=True)
        for version in built:  # this session's own inventory content: never reused
            shown = subprocess.run(
                ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}",
                 f"nbship/inventory-app:{version}"],
                capture_output=True, text=True,
            )  # fmt: skip
            key = json.loads(shown.stdout or "null" if shown.returncode == 0 else "null") or {}
            if key.get(CONTENT_LABEL):
                tag = f"nbship/inventory-app:{content_tag(key[CONTENT_LABEL])}"
                subprocess.run(["docker", "rmi", tag], capture_output=True)


def test_a_schema_release_migrates_once_snapshots_first_and_rolls_back_over_expand(
    schema_stack: Any,
) -> None:
    stack = schema_stack
    first = stack.invoke("deploy", "--version", V1)
    assert "migrating inventory-db to 0001" in first.stdout and "snapshot of" not in first.stdout
    assert stack.revision() == "0001"
    stack.add_movie("written under 0.1.0")
    before = stack.movies()

    # Expand: snapshot at 0001, one migration step, then the new code.
    up = stack.invoke("deploy", "--version", EXPAND)
    assert "snapshot of inventory-db before 0.3.0 (inventory-db 0001 -> 0002)" in up.stdout
    assert "migrating inventory-db to 0002" in up.stdout
    assert (stack.revision(), stack.version()) == ("0002", EXPAND)
    assert "rating" in stack.columns() and stack.movies() == before
    live = stack.deploy_stack.ledger.current()
    assert live.schema["inventory-db"] == {"expects": "0002", "live": "0002"}
    [snapshot] = live.snapshots
    assert stack.deploy_stack.snapshots.find(snapshot).revision == "0001"

    # A migration that fails half-way: the deploy stops before any app changes.
    failed = stack.invoke("deploy", "--version", BROKEN, check=False)
    assert failed.returncode == 1, failed.stdout
    [said] = failed.stderr.strip().splitlines()
    assert said.startswith(
        f"nbship: error: deploy of {BROKEN} stopped before any app changed: migrating "
        "inventory-db to 0003 failed: "
    )
    assert "division by zero" in said
    assert (stack.revision(), stack.version()) == ("0002", EXPAND)
    assert "stars" not in stack.columns()  # the half of it that ran was rolled back
    assert stack.deploy_stack.ledger.entries()[-1].status == "failed"

    # Back over an expand migration: the old code runs on the newer schema; nothing refused.
    back = stack.invoke("rollback")
    assert "migrating" not in back.stdout and "snapshot of" not in back.stdout
    assert (stack.revision(), stack.version()) == ("0002", V1)
    stack.add_movie("written under 0.1.0 on the 0.3.0 schema")
    assert stack.movies() == before + 1
    assert "inventory-db=0002/code:0001" in stack.invoke("releases").stdout.splitlines()[-1]


def test_a_rollback_over_a_contract_migration_is_refused_or_restores_the_snapshot(
    schema_stack: Any,
) -> None:
    stack = schema_stack
    stack.invoke("deploy", "--version", EXPAND)  # 0002 is live already: nothing to migrate
    kept = stack.movies()
    stack.invoke("deploy", "--version", CONTRACT)
    assert stack.revision() == "0003" and "rating" not in stack.columns()
    for number in range(3):
        stack.add_movie(f"written under 0.4.0, lost by the restore: {number}")

    refused = stack.invoke("rollback", check=False)
    assert refused.returncode == 1
    [said] = refused.stderr.strip().splitlines()
    assert said.startswith(f"nbship: error: refusing to run {EXPAND} on a schema it does not know")
    assert "migration 0003 between them is not backward-compatible" in said
    assert (stack.revision(), stack.version()) == ("0003", CONTRACT)

    asked = stack.invoke("rollback", "--restore-data", check=False)
    assert asked.returncode == 1
    assert "3 row(s) written since (movies: 3) would be lost. Say --yes" in asked.stderr
    assert stack.movies() == kept + 3

    restored = stack.invoke("rollback", "--restore-data", "--yes")
    assert "restored inventory-db from" in restored.stdout
    assert "3 row(s) written since (movies: 3) discarded" in restored.stdout
    assert (stack.revision(), stack.version()) == ("0002", EXPAND)
    assert "rating" in stack.columns() and stack.movies() == kept
    stack.add_movie("written under 0.3.0 after the restore")
    # What the restore discarded was kept first, in a snapshot of its own.
    listed = stack.invoke("snapshots", "--verify").stdout
    assert "before the restore of inventory-db from 0003 to 0002 ok" in listed


def test_a_rollback_over_a_contract_migration_can_run_its_downgrade(schema_stack: Any) -> None:
    stack = schema_stack
    stack.invoke("deploy", "--version", CONTRACT)
    assert stack.revision() == "0003"
    count = stack.movies()
    down = stack.invoke("rollback", "--downgrade")
    assert "downgrading inventory-db from 0003 to 0002" in down.stdout
    assert (stack.revision(), stack.version()) == ("0002", EXPAND)
    assert "rating" in stack.columns() and stack.movies() == count  # no row lost
    listed = stack.invoke("snapshots", "--verify").stdout
    assert "before 0.4.0 (inventory-db 0002 -> 0003) ok" in listed
    assert "before the downgrade of inventory-db from 0003 to 0002 ok" in listed
    assert json.loads(stack.invoke("status", "--json").stdout)["schema"]["inventory-db"] == {
        "expects": "0002", "live": "0002",
    }  # fmt: skip
