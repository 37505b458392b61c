"""A stack's orchestrator: checked when the stack is made, and its own release history."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbship.deploy.stack import ComposeRuntime, Stack
from nbship.deploy.swarm import SwarmRuntime
from nbship.errors import NbshipError


def test_unknown_orchestrator_is_refused_naming_the_choices() -> None:
    with pytest.raises(NbshipError, match="unknown orchestrator 'kubernetes': use one of compose"):
        Stack(orchestrator="kubernetes")


def test_each_orchestrator_has_its_runtime_and_its_own_ledger(tmp_path: Path) -> None:
    compose = Stack(project="p", state_dir=tmp_path)
    swarm = Stack(project="p", state_dir=tmp_path, orchestrator="swarm")
    assert isinstance(compose.runtime, ComposeRuntime)
    assert isinstance(swarm.runtime, SwarmRuntime)
    # A Swarm stack and a compose project of one name are two deployments, two histories.
    assert compose.ledger.path != swarm.ledger.path
    assert compose.ledger.path.parent == swarm.ledger.path.parent  # one lock serialises both
