"""What several unit-test modules share."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nbship.paths import ROOT

HADOLINT = Path(sys.executable).parent / "hadolint"


def _assert_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def hadolint_clean() -> Callable[[Path], None]:
    """Asserts that hadolint, with the project's configuration, finds nothing in a Dockerfile."""
    return _assert_hadolint_clean
