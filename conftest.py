"""Fixtures for every test under tests/ and services/."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from socketserver import BaseServer
from typing import TypeVar

import pytest

from nbship_common.logging import flush_logs


@pytest.fixture(autouse=True)
def _write_service_logs_within_the_test() -> Iterator[None]:
    """Service apps log from a background thread: write a test's lines before its capture ends."""
    yield
    flush_logs()


Server = TypeVar("Server", bound=BaseServer)


@pytest.fixture
def serve_http() -> Iterator[Callable[[Server], Server]]:
    """serve_http(server): SERVER (a stand-in peer) serving on a thread until the test ends."""
    started: list[tuple[BaseServer, threading.Thread]] = []

    def serve(server: Server) -> Server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield serve
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(5)
