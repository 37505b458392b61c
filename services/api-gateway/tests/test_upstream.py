"""The inventory client keeps connections alive, recovers when inventory closes one, reads every
way an HTTP/1.1 answer can be framed, and says how it failed when inventory does not answer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from gateway import upstream
from gateway.upstream import InventoryClient, InventoryUnavailable

if TYPE_CHECKING:
    from conftest import StandInInventory


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


def get(client: InventoryClient, method: str = "GET") -> int:
    answer = client.request(method, "/api/movies", params=[], body=None, headers={})
    return answer.status


def test_sequential_requests_reuse_one_connection(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    client = make_client(inventory.url, pool_size=4)
    assert [get(client) for _ in range(5)] == [200] * 5
    assert len(inventory.connections) == 1


def test_connection_closed_by_inventory_is_replaced_transparently(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    inventory.close_after_response = True
    client = make_client(inventory.url, pool_size=4)
    assert [get(client) for _ in range(3)] == [200] * 3
    assert len(inventory.connections) == 3


def test_answer_carries_status_headers_and_body(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    client = make_client(inventory.url, pool_size=1)
    answer = client.request(
        "GET", "/api/movies", params=[("title", "a b&c")], body=None, headers={}
    )
    assert (answer.status, answer.body) == (200, b'{"movies": []}')
    assert answer.headers["content-type"] == "application/json"  # by lower-case name
    assert inventory.paths == ["/api/movies?title=a+b%26c"]


def test_request_carries_host_headers_and_body(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    client = make_client(inventory.url + "/base", pool_size=1)
    client.request(
        "PUT", "/api/movies/7", params=[], body=b'{"title": "t"}',
        headers={"Content-Type": "application/json", "X-Request-ID": "rid-1"},
    )  # fmt: skip
    [received] = inventory.received
    assert (received.method, received.path, received.body) == (
        "PUT", "/base/api/movies/7", b'{"title": "t"}',
    )  # fmt: skip
    assert received.headers["Host"] == inventory.url.removeprefix("http://")
    assert received.headers["Content-Length"] == "14"
    assert received.headers["X-Request-ID"] == "rid-1"


def test_head_answer_ends_with_its_headers_and_keeps_the_connection(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    client = make_client(inventory.url, pool_size=1, read_timeout=2)
    # The answer says Content-Length: 14 and sends no body, as HEAD answers do.
    answer = client.request("HEAD", "/api/movies", params=[], body=None, headers={})
    assert (answer.status, answer.headers["content-length"], answer.body) == (200, "14", b"")
    assert get(client) == 200
    assert len(inventory.connections) == 1


def test_slow_inventory_is_a_read_timeout(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    inventory.delay = 1.0
    client = make_client(inventory.url, pool_size=1, read_timeout=0.2)
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


@pytest.mark.parametrize(
    "url",
    ["ftp://inventory", "inventory-app:8080", "http://", "https://inventory", "http://u:p@inv"],
)
def test_unusable_inventory_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="inventory URL"):
        InventoryClient(url, pool_size=1)


def test_kept_connection_closed_while_idle_is_replaced_for_a_post(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    inventory.idle_timeout = 0.2
    client = make_client(inventory.url, pool_size=4)
    for _ in range(3):
        answer = client.request("POST", "/api/movies", params=[], body=b"{}", headers={})
        assert answer.status == 200
        time.sleep(0.4)  # idle past inventory's keep-alive: it closes the connection
    # Each POST found its kept connection closed and used a new one, before sending anything.
    assert len(inventory.connections) == 3
    assert [request.method for request in inventory.received] == ["POST"] * 3


def test_no_more_connections_than_the_pool_allows(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    inventory.delay = 0.5
    client = make_client(inventory.url, pool_size=1, connect_timeout=0.1)
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
    assert len(inventory.connections) == 1


def test_ping_asks_healthz_under_the_base_path_and_needs_a_200(
    inventory: StandInInventory, make_client: Callable[..., InventoryClient]
) -> None:
    client = make_client(inventory.url + "/base", pool_size=1)
    client.ping()
    assert inventory.paths == ["/base/healthz"]
    inventory.reply.status = 503
    with pytest.raises(InventoryUnavailable, match="503"):
        client.ping()


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Request-ID", "a\r\nX-Injected: 1"), ("Accept", "a\nb"), ("Bad\r\nName", "v")],
)
def test_header_that_would_break_its_line_is_refused_before_anything_is_sent(
    inventory: StandInInventory,
    make_client: Callable[..., InventoryClient],
    name: str,
    value: str,
) -> None:
    client = make_client(inventory.url, pool_size=1)
    with pytest.raises(ValueError, match="line break"):
        client.request("GET", "/api/movies", params=[], body=None, headers={name: value})
    assert inventory.connections == []


# --- answers framed every way HTTP/1.1 allows, and answers that are not HTTP --------------------


class ScriptedInventory:
    """A loopback server that reads each request and answers with the next scripted bytes;
    an answer scripted with close=True is followed by closing the connection."""

    def __init__(self, answers: list[tuple[bytes, bool]]) -> None:
        self._answers = list(answers)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while self._answers:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                self._converse(conn)

    def _converse(self, conn: socket.socket) -> None:
        pending = b""
        while self._answers:
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            self.requests.append(head)
            answer, close = self._answers.pop(0)
            conn.sendall(answer)
            if close:
                return


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedInventory]]:
    """ScriptedInventory(answers) for a test, closed afterwards."""
    made: list[ScriptedInventory] = []

    def make(*answers: tuple[bytes, bool]) -> ScriptedInventory:
        made.append(ScriptedInventory(list(answers)))
        return made[-1]

    yield make
    for server in made:
        server.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_chunked_answer_is_read_whole_and_the_connection_kept(
    scripted: Callable[..., ScriptedInventory], make_client: Callable[..., InventoryClient]
) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    server = scripted((chunked, False), (OK, False))
    client = make_client(server.url, pool_size=1)
    first = client.request("GET", "/a", params=[], body=None, headers={})
    second = client.request("GET", "/b", params=[], body=None, headers={})
    assert (first.body, second.body) == (b"hello world", b"ok")
    assert server.connections == 1


def test_answer_without_framing_ends_when_inventory_closes(
    scripted: Callable[..., ScriptedInventory], make_client: Callable[..., InventoryClient]
) -> None:
    server = scripted((b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", True))
    client = make_client(server.url, pool_size=1)
    answer = client.request("GET", "/a", params=[], body=None, headers={})
    assert answer.body == b"until the end"
    client.close()


def test_interim_answer_is_skipped_for_the_final_one(
    scripted: Callable[..., ScriptedInventory], make_client: Callable[..., InventoryClient]
) -> None:
    early_hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
    server = scripted((early_hints + OK, False))
    client = make_client(server.url, pool_size=1)
    answer = client.request("GET", "/a", params=[], body=None, headers={})
    assert (answer.status, answer.body) == (200, b"ok")
    assert "link" not in answer.headers


def test_repeated_header_fields_are_one_comma_separated_value(
    scripted: Callable[..., ScriptedInventory], make_client: Callable[..., InventoryClient]
) -> None:
    answer_bytes = b"HTTP/1.1 200 OK\r\nAllow: GET\r\nallow: PUT\r\nContent-Length: 0\r\n\r\n"
    server = scripted((answer_bytes, False))
    client = make_client(server.url, pool_size=1)
    answer = client.request("GET", "/a", params=[], body=None, headers={})
    assert answer.headers["allow"] == "GET, PUT"


@pytest.mark.parametrize(
    "garbage",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_answer_that_is_not_http_is_an_invalid_answer(
    scripted: Callable[..., ScriptedInventory],
    make_client: Callable[..., InventoryClient],
    garbage: bytes,
) -> None:
    server = scripted((garbage, False))
    client = make_client(server.url, pool_size=1, read_timeout=2)
    with pytest.raises(InventoryUnavailable) as raised:
        client.request("POST", "/a", params=[], body=b"{}", headers={})
    assert raised.value.kind == "invalid-answer"


def test_answer_larger_than_the_limit_is_refused(
    scripted: Callable[..., ScriptedInventory],
    make_client: Callable[..., InventoryClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upstream, "MAX_ANSWER_BYTES", 1000)
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    server = scripted((huge, False))
    client = make_client(server.url, pool_size=1, read_timeout=2)
    with pytest.raises(InventoryUnavailable, match="over 1000 bytes") as raised:
        client.request("GET", "/a", params=[], body=None, headers={})
    assert raised.value.kind == "invalid-answer"


def test_answer_cut_off_is_unreachable_and_a_post_is_not_sent_twice(
    scripted: Callable[..., ScriptedInventory], make_client: Callable[..., InventoryClient]
) -> None:
    cut = b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\nonly part"
    server = scripted((OK, False), (cut, True), (OK, False))
    client = make_client(server.url, pool_size=1)
    assert client.request("GET", "/a", params=[], body=None, headers={}).status == 200
    # The POST goes out on the kept connection, which inventory closes mid-answer: it may have
    # acted on it, so the client says so instead of sending it again.
    with pytest.raises(InventoryUnavailable) as raised:
        client.request("POST", "/b", params=[], body=b"{}", headers={})
    assert raised.value.kind == "unreachable"
    assert len(server.requests) == 2


def test_get_cut_off_on_a_kept_connection_is_sent_again_on_a_new_one(
    scripted: Callable[..., ScriptedInventory], make_client: Callable[..., InventoryClient]
) -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"
    server = scripted((OK, False), (cut, True), (OK, False))
    client = make_client(server.url, pool_size=1)
    assert get(client) == 200
    assert get(client) == 200
    assert (len(server.requests), server.connections) == (3, 2)


def test_get_dropped_on_a_new_connection_is_sent_once_more(
    scripted: Callable[..., ScriptedInventory], make_client: Callable[..., InventoryClient]
) -> None:
    """What a deploy looks like from the gateway: the inventory container being replaced takes
    the connection, then closes it unanswered as it stops; the next one is answered."""
    server = scripted((b"", True), (OK, False))
    client = make_client(server.url, pool_size=1)
    assert get(client) == 200
    assert (len(server.requests), server.connections) == (2, 2)


def test_post_dropped_on_a_new_connection_is_not_sent_twice(
    scripted: Callable[..., ScriptedInventory], make_client: Callable[..., InventoryClient]
) -> None:
    server = scripted((b"", True), (OK, False))
    client = make_client(server.url, pool_size=1)
    with pytest.raises(InventoryUnavailable) as raised:
        client.request("POST", "/b", params=[], body=b"{}", headers={})
    assert raised.value.kind == "unreachable"
    assert len(server.requests) == 1
