"""The tasks' wiring, with Invoke's MockContext: flags reach the right call with the configured
defaults, and bad combinations stop in one line before anything runs. What those calls do is
tested on their own (unit) and end to end through the CLI (integration)."""

from __future__ import annotations

from typing import Any

import pytest
from invoke.config import Config
from invoke.context import MockContext
from invoke.exceptions import Exit

from nbship.cli import ns
from nbship.deploy import stack as deploying
from nbship.tasks import release


@pytest.fixture
def c() -> MockContext:
    return MockContext(config=Config(overrides=ns.configuration()))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    seen: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for name in ("deploy", "rollback", "running_version"):

        def record(*args: Any, _name: str = name, **kwargs: Any) -> None:
            seen.append((_name, args, kwargs))

        # The tasks import nbship.deploy.stack when they run (issue 13's start-up budget).
        monkeypatch.setattr(deploying, name, record)
    return seen


def test_deploy_env_resolves_no_version_and_names_the_environment(
    c: MockContext, calls: list[Any]
) -> None:
    release.deploy(c, env="staging")
    (name, (stack, registry, version), kwargs) = calls[0]
    assert (name, version, kwargs) == ("deploy", None, {"environment": "staging"})
    assert (stack.project, stack.orchestrator, registry.address) == (
        "nbship",
        "compose",
        "localhost:5001",
    )


def test_deploy_version_and_swarm_flags_reach_the_stack(c: MockContext, calls: list[Any]) -> None:
    release.deploy(c, version="1.2.3", registry="localhost:5999", swarm=True)
    (_, (stack, registry, version), kwargs) = calls[0]
    assert (str(version), kwargs["environment"]) == ("1.2.3", None)
    assert (stack.orchestrator, registry.address) == ("swarm", "localhost:5999")


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ({"version": "1.2.3", "env": "prod"}, "give --version or --env, not both"),
        ({"env": "production"}, "unknown environment 'production'"),
        ({"version": "one.two"}, "one.two"),
    ],
)
def test_bad_deploy_flags_stop_in_one_line_before_anything_runs(
    c: MockContext, calls: list[Any], flags: dict[str, str], said: str
) -> None:
    with pytest.raises(Exit) as stopped:
        release.deploy(c, **flags)
    assert said in str(stopped.value.message) and "\n" not in str(stopped.value.message)
    assert stopped.value.code == 1
    assert calls == []


def test_rollback_to_and_swarm_reach_the_rollback(c: MockContext, calls: list[Any]) -> None:
    release.rollback(c, to="0.1.0", swarm=True)
    (name, (stack, version, data), kwargs) = calls[0]
    assert (name, stack.orchestrator, version, data) == ("rollback", "swarm", "0.1.0", "refuse")
    assert kwargs == {"confirmed": False}


def test_restore_data_and_yes_reach_the_rollback(c: MockContext, calls: list[Any]) -> None:
    release.rollback(c, restore_data=True, yes=True)
    (_, (_, version, data), kwargs) = calls[0]
    assert (version, data, kwargs) == (None, "restore", {"confirmed": True})
    release.rollback(c, downgrade=True)
    rollbacks = [args for name, args, _ in calls if name == "rollback"]
    assert rollbacks[1][2] == "downgrade"
