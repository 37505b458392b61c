"""The inventory client keeps connections alive, recovers when inventory closes one, and says
how it failed when inventory does not answer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gateway.upstream import InventoryClient, InventoryUnavailable


class CountingServer(ThreadingHTTPServer):
    """An HTTP/1.1 server that records every TCP connection it accepts."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections: list[tuple[str, int]] = []
        self.close_after_response = False
        self.delay = 0.0
        self.status = 200
        self.paths: list[str] = []
        # Like gunicorn's keepalive: an idle connection is closed after this many seconds.
        self.idle_timeout: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn serves inventory
    server: CountingServer

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout
        super().setup()
        self.server.connections.append(self.client_address)

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        time.sleep(self.server.delay)
        body = b'{"movies": []}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # Like gunicorn's keepalive timeout: the server drops the connection after answering,
        # without telling the client.
        self.close_connection = self.server.close_after_response

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.do_GET()

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


@pytest.fixture
def make_client() -> Iterator[Callable[..., InventoryClient]]:
    """InventoryClient(...) for a test; their pooled connections are closed afterwards."""
    made: list[InventoryClient] = []

    def make(*args: Any, **kwargs: Any) -> InventoryClient:
        made.append(InventoryClient(*args, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()


def get(client: InventoryClient) -> int:
    answer = client.request("GET", "/api/movies", params=[], body=None, headers={})
    return answer.status


def test_sequential_requests_reuse_one_connection(
    server: CountingServer, make_client: Callable[..., InventoryClient]
) -> None:
    client = make_client(server.url, pool_size=4)
    assert [get(client) for _ in range(5)] == [200] * 5
    assert len(server.connections) == 1


def test_connection_closed_by_inventory_is_replaced_transparently(
    server: CountingServer, make_client: Callable[..., InventoryClient]
) -> None:
    server.close_after_response = True
    client = make_client(server.url, pool_size=4)
    assert [get(client) for _ in range(3)] == [200] * 3
    assert len(server.connections) == 3


def test_answer_carries_status_headers_and_body(
    server: CountingServer, make_client: Callable[..., InventoryClient]
) -> None:
    client = make_client(server.url, pool_size=1)
    answer = client.request(
        "GET", "/api/movies", params=[("title", "a b&c")], body=None, headers={}
    )
    assert (answer.status, answer.body) == (200, b'{"movies": []}')
    assert answer.headers["content-type"] == "application/json"  # any case
    assert server.paths == ["/api/movies?title=a+b%26c"]


def test_slow_inventory_is_a_read_timeout(
    server: CountingServer, make_client: Callable[..., InventoryClient]
) -> None:
    server.delay = 1.0
    client = make_client(server.url, pool_size=1, read_timeout=0.2)
    with pytest.raises(InventoryUnavailable) as raised:
        get(client)
    assert raised.value.kind == "read-timeout"


def test_nothing_listening_is_unreachable(make_client: Callable[..., InventoryClient]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", pool_size=1)
    with pytest.raises(InventoryUnavailable) as raised:
        get(client)
    assert raised.value.kind == "unreachable"


@pytest.mark.parametrize("url", ["ftp://inventory", "inventory-app:8080", "http://"])
def test_unusable_inventory_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="inventory URL"):
        InventoryClient(url, pool_size=1)


def test_kept_connection_closed_while_idle_is_replaced_for_a_post(
    server: CountingServer, make_client: Callable[..., InventoryClient]
) -> None:
    server.idle_timeout = 0.2
    client = make_client(server.url, pool_size=4)
    for _ in range(3):
        answer = client.request("POST", "/api/movies", params=[], body=b"{}", headers={})
        assert answer.status == 200
        time.sleep(0.4)  # idle past inventory's keep-alive: it closes the connection
    # Each POST found its kept connection closed and used a new one, before sending anything.
    assert len(server.connections) == 3


def test_no_more_connections_than_the_pool_allows(
    server: CountingServer, make_client: Callable[..., InventoryClient]
) -> None:
    server.delay = 0.5
    client = make_client(server.url, pool_size=1, connect_timeout=0.1)
    results: list[object] = []

    def call() -> None:
        try:
            results.append(get(client))
        except InventoryUnavailable as exc:
            results.append(exc.kind)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One got the only connection; the other waited the connect timeout for it, then gave up.
    assert sorted(map(str, results)) == ["200", "connect-timeout"]
    assert len(server.connections) == 1


def test_ping_asks_healthz_under_the_base_path_and_needs_a_200(
    server: CountingServer, make_client: Callable[..., InventoryClient]
) -> None:
    client = make_client(server.url + "/base", pool_size=1)
    client.ping()
    assert server.paths == ["/base/healthz"]
    server.status = 503
    with pytest.raises(InventoryUnavailable, match="503"):
        client.ping()
