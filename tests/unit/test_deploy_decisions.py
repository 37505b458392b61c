"""Deploy decisions on a fake runtime, in milliseconds: what counts as live, what a failed
release leaves behind, what a rollback returns to. The same paths run on real containers in
tests/integration (test_pipeline.py); here each branch is taken on purpose."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nbship import docker
from nbship.catalogue import stack_services
from nbship.deploy import stack as deploying
from nbship.deploy.runtime import FAILED, Runtime
from nbship.deploy.snapshots import Snapshot, Snapshots
from nbship.errors import NbshipError

GOOD = {"inventory-app": "reg/inventory@sha256:1", "billing-app": "reg/billing@sha256:1"}
NEXT = {"inventory-app": "reg/inventory@sha256:2", "billing-app": "reg/billing@sha256:2"}
BROKEN = {"inventory-app": "reg/inventory@sha256:bad", "billing-app": "reg/billing@sha256:2"}


@dataclass
class FakeRuntime:
    """Runs nothing: every service is healthy on images it has not been told are broken."""

    broken: set[str] = field(default_factory=set)
    refuses: set[str] = field(default_factory=set)
    running: dict[str, str] | None = None
    calls: list[str] = field(default_factory=list)
    # Set to decide the schema: what each database is at and expects, the migrations shipped,
    # and the databases whose migration fails.
    schema_now: dict[str, dict[str, str | None]] | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    snapshots: list[Snapshot] = field(default_factory=list)

    def pull(self, images: dict[str, str]) -> None:
        self.calls.append("pull")

    def up(self, images: dict[str, str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(f"up {images['inventory-app'].rsplit(':', 1)[1]}")
        if set(images.values()) & self.refuses:
            return subprocess.CompletedProcess(["up"], 1, "", "Error: port is already allocated")
        self.running = images
        return subprocess.CompletedProcess(["up"], 0, "", "")

    def states(self, images: dict[str, str]) -> dict[str, str]:
        bad = self.running is not None and set(self.running.values()) & self.broken
        return {
            name: f"{FAILED} exited (1)" if bad and name == "inventory-app" else "healthy"
            for name in stack_services()
        }

    def logs(self, images: dict[str, str], service: str) -> str:
        return f"{service}: KeyError: 'DATABASE_URL'"

    def schema(self, images: dict[str, str]) -> dict[str, dict[str, str | None]]:
        """The revision each image's code expects is its digest's last part; the live one too."""
        if self.schema_now is not None:
            return self.schema_now
        revision = images["inventory-app"].rsplit(":", 1)[1]
        return {"inventory-db": {"expects": revision, "live": revision}}

    def migrations(self, images: dict[str, str]) -> dict[str, dict[str, Any]]:
        return dict(self.steps)

    def migrate(
        self, images: dict[str, str], database: str, *command: str
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(f"migrate {database} {' '.join(command)}")
        if database in self.failing:
            said = 'psycopg.errors.DuplicateColumn: column "rating" already exists'
            return subprocess.CompletedProcess(["alembic"], 1, "", f"INFO running\n{said}\n")
        return subprocess.CompletedProcess(["alembic"], 0, "", "")

    def stop(self, images: dict[str, str]) -> str:
        self.calls.append("stop")
        self.running = None
        return "stopped its services"

    def down(self, images: dict[str, str], remove_data: bool) -> None:
        self.calls.append("down")


@dataclass(frozen=True)
class FakeStack(deploying.Stack):
    fake: FakeRuntime = field(default_factory=FakeRuntime)

    @property
    def runtime(self) -> Runtime:
        return self.fake

    @property
    def snapshots(self) -> Snapshots:
        return FakeSnapshots(self.fake)  # type: ignore[return-value]


@dataclass
class FakeSnapshots:
    """Takes no dump: notes each snapshot in the runtime's calls, in order with the rest."""

    fake: FakeRuntime

    def take(
        self, project: str, orchestrator: str, database: str, revision: str | None, reason: str
    ) -> Snapshot:
        self.fake.calls.append(f"snapshot {database} {revision}")
        name = f"{database}-{revision}.dump"
        taken = Snapshot(name, database, revision, reason, "now", 1, "0" * 64)
        self.fake.snapshots.append(taken)
        return taken

    def entries(self) -> list[Snapshot]:
        return list(self.fake.snapshots)

    def restore(self, project: str, orchestrator: str, snapshot: Snapshot) -> None:
        self.fake.calls.append(f"restore {snapshot.file}")


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeStack:
    monkeypatch.setattr(docker, "ensure_daemon", lambda: None)
    monkeypatch.setattr(deploying.time, "sleep", lambda seconds: None)
    return FakeStack(project="fake", state_dir=tmp_path, wait_timeout=5)


def switch(stack: FakeStack, version: str, images: dict[str, str]) -> deploying.Release:
    """What deploy does once the registry has resolved VERSION to IMAGES."""
    return deploying._switch(stack, version, images, stack.ledger.current(), action="deploy")


def test_a_healthy_release_is_recorded_live(stack: FakeStack) -> None:
    release = switch(stack, "0.1.0", GOOD)
    assert (release.version, release.status, release.images) == ("0.1.0", "succeeded", GOOD)
    assert stack.ledger.current() == release
    assert stack.fake.running == GOOD


def test_a_release_records_each_database_schema_as_the_runtime_reads_it(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    switch(stack, "0.1.0", GOOD)
    assert stack.ledger.current().schema == {"inventory-db": {"expects": "1", "live": "1"}}
    assert "nbship: schema: inventory-db at 1 (code expects 1)" in capsys.readouterr().out
    stack.fake.broken.add(BROKEN["inventory-app"])
    with pytest.raises(NbshipError):
        switch(stack, "0.2.0", BROKEN)
    assert stack.ledger.entries()[-1].schema == {}  # a failed release did not change it


def test_an_unhealthy_release_is_replaced_by_the_one_before(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    first = switch(stack, "0.1.0", GOOD)
    stack.fake.broken.add(BROKEN["inventory-app"])
    with pytest.raises(NbshipError, match=r"deploy of 0.2.0 failed .*restored 0.1.0"):
        switch(stack, "0.2.0", BROKEN)
    assert stack.fake.running == GOOD
    assert stack.ledger.current() == first
    failed = stack.ledger.entries()[-1]
    assert (failed.version, failed.status) == ("0.2.0", "failed")
    assert "inventory-app" in failed.note
    assert "KeyError: 'DATABASE_URL'" in capsys.readouterr().out  # its logs are shown


def test_a_first_release_that_fails_is_stopped_not_left_running(stack: FakeStack) -> None:
    stack.fake.broken.add(BROKEN["inventory-app"])
    with pytest.raises(NbshipError, match="no earlier release to restore"):
        switch(stack, "0.1.0", BROKEN)
    assert stack.fake.calls[-1] == "stop" and stack.fake.running is None
    assert stack.ledger.current() is None


def test_a_runtime_that_refuses_to_start_fails_the_deploy_with_its_reason(
    stack: FakeStack,
) -> None:
    switch(stack, "0.1.0", GOOD)
    stack.fake.refuses.add(NEXT["inventory-app"])
    with pytest.raises(NbshipError, match="could not start it: Error: port is already allocated"):
        switch(stack, "0.2.0", NEXT)
    assert stack.ledger.entries()[-1].status == "failed"
    assert stack.fake.running == GOOD


def test_rollback_returns_to_the_previous_release_by_its_recorded_digests(
    stack: FakeStack,
) -> None:
    switch(stack, "0.1.0", GOOD)
    switch(stack, "0.2.0", NEXT)
    back = deploying.rollback(stack)
    assert (back.version, back.action, back.images) == ("0.1.0", "rollback", GOOD)
    assert stack.fake.running == GOOD
    assert "pull" in stack.fake.calls  # no registry is needed when the digests are here


def test_rollback_with_nothing_earlier_changes_nothing(stack: FakeStack) -> None:
    switch(stack, "0.1.0", GOOD)
    calls = list(stack.fake.calls)
    with pytest.raises(NbshipError, match="no earlier release"):
        deploying.rollback(stack)
    assert stack.fake.calls == calls


CHAIN = {"0001": ((), "expand"), "0002": (("0001",), "expand"), "0003": (("0002",), "contract")}


def on_schema(stack: FakeStack, live: str | None, expects: str) -> None:
    """GOOD live, then inventory-db at LIVE while the next release's code expects EXPECTS."""
    switch(stack, "0.1.0", GOOD)
    stack.fake.calls.clear()
    stack.fake.schema_now = {"inventory-db": {"live": live, "expects": expects}}
    stack.fake.steps = {"inventory-db": CHAIN}


def test_a_rollback_behind_a_contract_migration_is_refused_before_anything_changes(
    stack: FakeStack,
) -> None:
    on_schema(stack, "0003", "0002")
    entries = stack.ledger.entries()
    with pytest.raises(NbshipError) as refused:
        switch(stack, "0.2.0", NEXT)
    said = str(refused.value)
    assert said.startswith("refusing to run 0.2.0 on a schema it does not know: inventory-db is")
    assert "migration 0003 between them is not backward-compatible" in said
    assert "--restore-data --yes" in said and "--downgrade" in said
    assert stack.fake.calls == [] and stack.fake.running == GOOD
    assert stack.ledger.entries() == entries  # nothing was attempted


def test_back_over_expand_migrations_the_code_changes_and_the_schema_stays(
    stack: FakeStack,
) -> None:
    on_schema(stack, "0002", "0001")
    switch(stack, "0.2.0", NEXT)
    assert stack.fake.calls == ["up 2"]  # no migration, no snapshot
    assert stack.fake.running == NEXT


def test_a_failed_migration_stops_the_release_before_any_app_changes(stack: FakeStack) -> None:
    on_schema(stack, None, "0002")  # a new database: nothing to snapshot
    stack.fake.failing = {"inventory-db"}
    with pytest.raises(NbshipError) as failed:
        switch(stack, "0.2.0", NEXT)
    assert str(failed.value) == (
        "deploy of 0.2.0 stopped before any app changed: migrating inventory-db to 0002 failed: "
        'psycopg.errors.DuplicateColumn: column "rating" already exists'
    )
    assert stack.fake.calls == ["migrate inventory-db upgrade head"]
    assert stack.fake.running == GOOD
    assert stack.ledger.entries()[-1].status == "failed"


def test_a_downgrade_runs_with_the_code_of_the_release_that_has_the_migration(
    stack: FakeStack,
) -> None:
    on_schema(stack, "0003", "0002")
    release = deploying._switch(
        stack, "0.2.0", NEXT, stack.ledger.current(), "rollback", data="downgrade"
    )
    assert stack.fake.calls == [
        "snapshot inventory-db 0003",  # what the downgrade may discard is kept first
        "migrate inventory-db downgrade 0002",
        "up 2",
    ]
    assert release.note == "downgraded inventory-db 0003 -> 0002"
    assert release.snapshots == ["inventory-db-0003.dump"]
    stack.fake.failing = {"inventory-db"}
    with pytest.raises(NbshipError, match=r"downgrading inventory-db to 0002 failed, it is still"):
        deploying._switch(stack, "0.1.0", GOOD, release, "rollback", data="downgrade")
    assert stack.fake.running == NEXT


def test_a_downgraded_rollback_that_fails_health_puts_the_database_back_first(
    stack: FakeStack,
) -> None:
    on_schema(stack, "0003", "0002")
    stack.fake.broken.add(BROKEN["inventory-app"])
    with pytest.raises(NbshipError, match=r"restored 0\.1\.0"):
        deploying._switch(
            stack, "0.2.0", BROKEN, stack.ledger.current(), "rollback", data="downgrade"
        )
    # The newer release restarts on the schema and rows it left, not on the downgraded ones.
    assert stack.fake.calls == [
        "snapshot inventory-db 0003",
        "migrate inventory-db downgrade 0002",
        "up bad",
        "restore inventory-db-0003.dump",
        "up 1",
    ]
    assert stack.fake.running == GOOD
