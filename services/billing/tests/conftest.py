"""Fixtures for billing: the app with a database and broker that refuse connections."""

from __future__ import annotations

import socket

import pytest
from flask import Flask

from billing import create_app


def closed_port() -> int:
    """A local port nothing listens on, so connecting fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def billing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the compose file provides, with database and broker unreachable."""
    monkeypatch.setenv("NBSHIP_ENV", "test")
    monkeypatch.delenv("BILLING_QUEUE", raising=False)
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql+psycopg://billing:s3cret@127.0.0.1:{closed_port()}/billing_db"
    )
    monkeypatch.setenv("RABBITMQ_URL", f"amqp://billing:s3cret@127.0.0.1:{closed_port()}/%2F")


@pytest.fixture
def app(billing_env: None) -> Flask:
    """The billing app exactly as gunicorn builds it (consumer created, not started)."""
    return create_app({"TESTING": True})
