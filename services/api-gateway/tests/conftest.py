"""Fixtures for the gateway: an app whose inventory and broker addresses refuse connections,
and a stand-in inventory (a real HTTP/1.1 server on loopback) for what must reach inventory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask

from gateway import create_app


def closed_port() -> int:
    """A local port nothing listens on, so connecting fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One request as the stand-in inventory received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What the stand-in inventory answers."""

    status: int = 200
    body: bytes = b'{"movies": []}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class StandInInventory(ThreadingHTTPServer):
    """An HTTP/1.1 keep-alive server, as gunicorn serves inventory, that records every TCP
    connection it accepts and every request it receives."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections: list[tuple[str, int]] = []
        self.received: list[Received] = []
        self.reply = Reply()
        self.close_after_response = False
        self.delay = 0.0
        # Like gunicorn's keepalive: an idle connection is closed after this many seconds.
        self.idle_timeout: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        return [request.path for request in self.received]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn serves inventory
    server: StandInInventory

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout
        super().setup()
        self.server.connections.append(self.client_address)

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(
            Received(self.command, self.path, dict(self.headers.items()), body)
        )
        time.sleep(self.server.delay)
        reply = self.server.reply
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        # Like gunicorn's keepalive timeout: the server drops the connection after answering,
        # without telling the client.
        self.close_connection = self.server.close_after_response

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def inventory(serve_http: Callable[[StandInInventory], StandInInventory]) -> StandInInventory:
    """A stand-in for inventory that records the connections and requests it gets."""
    return serve_http(StandInInventory())


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


@pytest.fixture
def proxying_app(
    gateway_env: None, inventory: StandInInventory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    """The gateway app with the stand-in as its inventory."""
    monkeypatch.setenv("INVENTORY_URL", inventory.url)
    app = create_app({"TESTING": True})
    yield app
    app.extensions["inventory_client"].close()


SERVICES = Path(__file__).resolve().parents[2]
# The body timeout of the served gateway: short, so slow-body tests end soon.
SERVED_BODY_TIMEOUT = 1


@dataclass(frozen=True)
class ServedGateway:
    """A gateway under gunicorn and gevent, as its image runs it, and its stand-in inventory."""

    address: tuple[str, int]
    inventory: StandInInventory


@pytest.fixture(scope="module")
def served() -> Iterator[ServedGateway]:
    """The gateway as a real gunicorn server, for what only a real server shows (framing,
    slow clients); its broker is unreachable and its inventory is a stand-in."""
    inventory = StandInInventory()
    thread = threading.Thread(target=inventory.serve_forever, daemon=True)
    thread.start()
    port = closed_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SERVICES / "common"), str(SERVICES / "api-gateway")]),
        "PORT": str(port),
        "NBSHIP_ENV": "test",
        "INVENTORY_URL": inventory.url,
        "RABBITMQ_URL": f"amqp://gateway:s3cret@127.0.0.1:{closed_port()}/%2F",
        "BODY_TIMEOUT_SECONDS": str(SERVED_BODY_TIMEOUT),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "gunicorn", "--config", "python:gateway.gunicorn_conf"]
    process = subprocess.Popen(
        [*command, "gateway:create_app()"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    address = ("127.0.0.1", port)
    try:
        _wait_until_serving(process, address)
        yield ServedGateway(address, inventory)
    finally:
        process.terminate()
        process.communicate(timeout=30)
        inventory.shutdown()
        inventory.server_close()


def _wait_until_serving(process: subprocess.Popen[bytes], address: tuple[str, int]) -> None:
    """Return once the server accepts connections; fail with its stderr if it exits."""
    for _ in range(600):
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"gunicorn exited: {stderr.decode(errors='replace')[-2000:]}")
        try:
            socket.create_connection(address, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("gunicorn never accepted a connection")
