"""Fixtures for the gateway: an app whose inventory and broker addresses refuse connections."""

from __future__ import annotations

import socket

import pytest
from flask import Flask

from gateway import create_app


def closed_port() -> int:
    """A local port nothing listens on, so connecting fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gateway_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the compose file provides, pointing at ports where nothing listens."""
    for name in ("LOG_DIR", "BILLING_QUEUE", "PORT", "NBSHIP_VERSION", "NBSHIP_GIT_SHA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NBSHIP_ENV", "test")
    monkeypatch.setenv("INVENTORY_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("RABBITMQ_URL", f"amqp://gateway:s3cret@127.0.0.1:{closed_port()}/%2F")


@pytest.fixture
def app(gateway_env: None) -> Flask:
    """The gateway app exactly as gunicorn builds it."""
    return create_app({"TESTING": True})
