"""The rollback target over histories of deploys, rollbacks and roll-forwards.

Each history is written to a real ledger file the way `invoke deploy` and `invoke rollback`
write it (nbship.deploy records the target's digests, with action "rollback", for both a plain
rollback and `rollback --to`), then replayed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship.deploy.ledger import Ledger, Release
from nbship.errors import NbshipError


def digests(version: str, build: int = 1) -> dict[str, str]:
    """The images of one build of VERSION: another build of it has other digests."""
    return {"inventory-app": f"reg/inventory-app@sha256:{version}-{build}"}


class History:
    """A stack's ledger driven as the deploy and rollback commands drive it."""

    def __init__(self, path: Path) -> None:
        self.ledger = Ledger(path / "releases.json")

    def deploy(self, version: str, build: int = 1, ok: bool = True) -> None:
        status = "succeeded" if ok else "failed"
        self.ledger.record(version, digests(version, build), action="deploy", status=status)

    def rollback(self, to: str | None = None) -> str:
        target = self.ledger.rollback_target(to)
        self.ledger.record(target.version, target.images, action="rollback")
        return target.version

    @property
    def running(self) -> str | None:
        current = self.ledger.current()
        return current.version if current else None


@pytest.fixture
def history(tmp_path: Path) -> History:
    """An empty ledger in a temporary state directory."""
    return History(tmp_path)


def test_rollback_after_a_roll_forward_returns_to_the_release_before_it(history: History) -> None:
    """The issue's history: a plain rollback after `rollback --to 0.1.1` goes back to 0.1.0."""
    history.deploy("0.1.0")
    history.deploy("0.1.1")
    assert history.rollback() == "0.1.0"
    assert history.rollback("0.1.1") == "0.1.1"
    assert history.rollback() == "0.1.0"
    assert history.running == "0.1.0"


def test_a_ledger_written_before_the_fix_replays_to_the_right_target(tmp_path: Path) -> None:
    """The exact file the old code wrote for that history (both rollbacks say "rollback")."""
    rows = [
        ("0.1.0", "deploy"),
        ("0.1.1", "deploy"),
        ("0.1.0", "rollback"),
        ("0.1.1", "rollback"),
    ]
    releases = [
        {
            "id": number,
            "version": version,
            "images": digests(version),
            "action": action,
            "status": "succeeded",
            "deployed_at": f"2026-12-06T09:0{number}:00+00:00",
            "note": "",
        }
        for number, (version, action) in enumerate(rows, 1)
    ]
    path = tmp_path / "releases.json"
    path.write_text(json.dumps({"format": 1, "releases": releases}), encoding="utf-8")
    ledger = Ledger(path)
    assert [entry.id for entry in ledger.live()] == [1, 4]
    assert ledger.rollback_target().version == "0.1.0"
    assert ledger.live()[0].schema == {}  # written before releases recorded schema revisions


def test_rolling_back_twice_goes_two_releases_back(history: History) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        history.deploy(version)
    assert history.rollback() == "1.1.0"
    assert history.rollback() == "1.0.0"
    with pytest.raises(NbshipError, match=r"no earlier release.*1\.0\.0 is the first version"):
        history.rollback()


def test_a_jump_back_is_undone_by_a_plain_rollback(history: History) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        history.deploy(version)
    assert history.rollback("1.0.0") == "1.0.0"
    assert history.rollback() == "1.2.0"
    assert history.rollback() == "1.1.0"
    assert history.rollback() == "1.0.0"


def test_rollback_to_the_previous_release_is_a_plain_rollback(history: History) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        history.deploy(version)
    assert history.rollback("1.1.0") == "1.1.0"
    assert history.rollback() == "1.0.0"


def test_a_redeployed_version_is_not_its_own_previous_release(history: History) -> None:
    """A rebuild of 1.1.0 (other digests) deployed over 1.1.0: rollback still means 1.0.0."""
    history.deploy("1.0.0")
    history.deploy("1.1.0")
    history.deploy("1.1.0", build=2)
    assert history.rollback() == "1.0.0"
    assert history.ledger.current() is not None
    assert history.ledger.current().images == digests("1.0.0")  # type: ignore[union-attr]


def test_deploying_the_same_digests_again_changes_nothing(history: History) -> None:
    history.deploy("1.0.0")
    history.deploy("1.1.0")
    history.deploy("1.1.0")
    assert [entry.version for entry in history.ledger.live()] == ["1.0.0", "1.1.0"]
    assert history.rollback() == "1.0.0"


def test_deploying_an_older_version_makes_the_newer_one_previous(history: History) -> None:
    """`deploy --version` of an old release is a new deploy: rollback undoes it."""
    history.deploy("1.0.0")
    history.deploy("1.1.0")
    history.deploy("1.0.0")
    assert history.rollback() == "1.1.0"


def test_failed_deploys_never_become_current_or_previous(history: History) -> None:
    history.deploy("1.0.0")
    history.deploy("1.1.0")
    history.deploy("1.2.0", ok=False)
    assert history.running == "1.1.0"
    assert history.rollback() == "1.0.0"
    with pytest.raises(NbshipError, match=r"was never deployed to this stack; deployed: 1\.0\.0"):
        history.rollback("1.2.0")


def test_rollback_refuses_what_it_cannot_do(history: History) -> None:
    with pytest.raises(NbshipError, match="nothing is deployed yet"):
        history.rollback()
    history.deploy("1.0.0")
    with pytest.raises(NbshipError, match="no earlier release"):
        history.rollback()
    with pytest.raises(NbshipError, match=r"1\.0\.0 is already the running release"):
        history.rollback("1.0.0")
    with pytest.raises(NbshipError, match=r"version 3\.3\.3 was never deployed"):
        history.rollback("3.3.3")


def test_rollback_to_a_version_takes_its_newest_digests(history: History) -> None:
    history.deploy("1.0.0")
    history.deploy("1.0.0", build=2)
    history.deploy("1.1.0")
    history.rollback("1.0.0")
    current = history.ledger.current()
    assert isinstance(current, Release) and current.images == digests("1.0.0", build=2)


# Random histories: deploys of three versions (two builds of each), plain rollbacks and
# rollbacks to a named version. A refused rollback records nothing, as the command records nothing.
VERSIONS = st.sampled_from(["1.0.0", "1.1.0", "1.2.0"])
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("deploy"), VERSIONS, st.integers(1, 2)),
        st.tuples(st.just("rollback"), st.none() | VERSIONS, st.just(1)),
    ),
    max_size=14,
)


@settings(max_examples=200, deadline=None)
@given(steps=STEPS)
def test_every_history_keeps_the_rollback_promises(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, str | None, int]]
) -> None:
    """A plain rollback never lands on the running version, and right after a deploy or a jump
    that changed the version it returns to what ran before."""
    history = History(tmp_path_factory.mktemp("ledger"))
    for action, version, build in steps:
        before = history.ledger.current()
        pops = action == "rollback" and version in (None, _previous_version(history))
        try:
            if action == "deploy":
                assert version is not None
                history.deploy(version, build)
            else:
                history.rollback(version)
        except NbshipError:
            continue
        now = history.ledger.current()
        assert now is not None
        try:
            target = history.ledger.rollback_target()
        except NbshipError:
            assert {entry.version for entry in history.ledger.live()} == {now.version}
            continue
        assert target.version != now.version
        if before is not None and before.version != now.version and not pops:
            assert target.images == before.images


def _previous_version(history: History) -> str | None:
    try:
        return history.ledger.rollback_target().version
    except NbshipError:
        return None
