"""Deploy decisions on a fake runtime, in milliseconds: what counts as live, what a failed
release leaves behind, what a rollback returns to. The same paths run on real containers in
tests/integration (test_pipeline.py); here each branch is taken on purpose."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nbship import docker
from nbship.catalogue import stack_services
from nbship.deploy import stack as deploying
from nbship.deploy.runtime import FAILED, Runtime
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
        revision = images["inventory-app"].rsplit(":", 1)[1]
        return {"inventory-db": {"expects": revision, "live": revision}}

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
