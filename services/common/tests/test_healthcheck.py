"""The HEALTHCHECK probe exits 0 only for a 2xx answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nbship_common.healthcheck import main


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/readyz" else 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    """A real HTTP server on a free port: 200 on /readyz, 503 elsewhere."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_2xx_exits_0(server_url: str) -> None:
    assert main([f"{server_url}/readyz"]) == 0


def test_5xx_exits_1(server_url: str) -> None:
    assert main([f"{server_url}/other"]) == 1


def test_unreachable_exits_1() -> None:
    assert main([f"http://127.0.0.1:{closed_port()}/readyz"]) == 1


@pytest.mark.parametrize("argv", [[], ["a", "b"], ["file:///etc/passwd"]])
def test_bad_arguments_exit_1(argv: list[str]) -> None:
    assert main(argv) == 1
