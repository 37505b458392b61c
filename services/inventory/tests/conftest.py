"""Fixtures for inventory: the app with a database address that refuses connections."""

from __future__ import annotations

import socket

import pytest
from flask import Flask

from inventory import create_app


def closed_port() -> int:
    """A local port nothing listens on, so connecting fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inventory_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the compose file provides, with the database unreachable."""
    monkeypatch.setenv("NBSHIP_ENV", "test")
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql+psycopg://inventory:s3cret@127.0.0.1:{closed_port()}/movies_db"
    )


@pytest.fixture
def app(inventory_env: None) -> Flask:
    """The inventory app exactly as gunicorn builds it."""
    return create_app({"TESTING": True})
