"""Waiting for asynchronous outcomes (a row written by the consumer, a service back up)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], *, timeout: float = 30, what: str = "") -> T:
    """The first truthy result of `probe`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or probe}")
        time.sleep(0.5)
