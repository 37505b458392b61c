"""The inventory client keeps connections alive and recovers when inventory closes one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.upstream import InventoryClient


class CountingServer(ThreadingHTTPServer):
    """An HTTP/1.1 server that records every TCP connection it accepts."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections: list[tuple[str, int]] = []
        self.close_after_response = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn serves inventory
    server: CountingServer

    def setup(self) -> None:
        super().setup()
        self.server.connections.append(self.client_address)

    def do_GET(self) -> None:
        body = b'{"movies": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # Like gunicorn's keepalive timeout: the server drops the connection after answering,
        # without telling the client.
        self.close_connection = self.server.close_after_response

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def server() -> Iterator[CountingServer]:
    """A stand-in for inventory that counts the connections the client opens."""
    httpd = CountingServer()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def get(client: InventoryClient) -> int:
    response = client.request("GET", "/api/movies", params=[], body=None, headers={})
    return response.status_code


def test_sequential_requests_reuse_one_connection(server: CountingServer) -> None:
    client = InventoryClient(server.url, pool_size=4)
    assert [get(client) for _ in range(5)] == [200] * 5
    assert len(server.connections) == 1


def test_connection_closed_by_inventory_is_replaced_transparently(
    server: CountingServer,
) -> None:
    server.close_after_response = True
    client = InventoryClient(server.url, pool_size=4)
    assert [get(client) for _ in range(3)] == [200] * 3
    assert len(server.connections) == 3
