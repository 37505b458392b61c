"""Fixtures for every test under tests/ and services/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nbship_common.logging import flush_logs


@pytest.fixture(autouse=True)
def _write_service_logs_within_the_test() -> Iterator[None]:
    """Service apps log from a background thread: write a test's lines before its capture ends."""
    yield
    flush_logs()
