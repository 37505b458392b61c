"""Request bodies at a real gunicorn gateway, sent over raw sockets: one size limit for every
framing, a body parsed only whole, and a slow body bounded while the server keeps serving.

Raw sockets, because HTTP clients choose the framing themselves and refuse to send malformed or
slow bodies. Billing's broker is unreachable here, so a valid order is answered 503 ("billing
queue unavailable") and a refused body 4xx: the status says whether the body was judged valid.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from nbship_common.validation import MAX_CONTENT_LENGTH

if TYPE_CHECKING:
    from conftest import ServedGateway

ORDER = b'{"user_id": "3", "number_of_items": "5", "total_amount": "180"}'
QUEUED_OR_BROKER_DOWN = 503
# Seconds a socket waits for the server's answer before the test fails instead of hanging.
ANSWER_WAIT = 30


def request(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: gateway", "Connection: close"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def with_length(path: str, body: bytes, content_type: str = "application/json") -> bytes:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    return request("POST", path, headers, body)


def chunked(path: str, body: bytes, *, chunk: int = 8192, coding: str = "chunked") -> bytes:
    framed = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + chunk]), body[i : i + chunk])
        for i in range(0, len(body), chunk)
    )
    headers = {"Content-Type": "application/json", "Transfer-Encoding": coding}
    return request("POST", path, headers, framed + b"0\r\n\r\n")


def read_answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Status and JSON body of the one answer on SOCK (Connection: close, so read to EOF)."""
    sock.settimeout(ANSWER_WAIT)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


def exchange(address: tuple[str, int], raw: bytes) -> tuple[int, dict[str, object]]:
    with socket.create_connection(address, timeout=ANSWER_WAIT) as sock:
        # The server may answer and close before reading everything: its answer is read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return read_answer(sock)


def padded(size: int) -> bytes:
    """A valid order padded with JSON whitespace to exactly SIZE bytes."""
    return ORDER + b" " * (size - len(ORDER))


FRAMINGS: dict[str, Callable[[str, bytes], bytes]] = {
    "content-length": with_length,
    "chunked": chunked,
}


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("size", [len(ORDER), MAX_CONTENT_LENGTH - 1, MAX_CONTENT_LENGTH])
def test_an_order_up_to_the_limit_is_judged_whole(
    served: ServedGateway, framing: str, size: int
) -> None:
    status, body = exchange(served.address, FRAMINGS[framing]("/api/billing", padded(size)))
    assert (status, body["error"]) == (QUEUED_OR_BROKER_DOWN, "billing queue unavailable")


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("size", [MAX_CONTENT_LENGTH + 1, 10 * 1024 * 1024])
def test_a_body_past_the_limit_is_413(served: ServedGateway, framing: str, size: int) -> None:
    status, body = exchange(served.address, FRAMINGS[framing]("/api/billing", padded(size)))
    assert status == 413
    assert body == {"error": "request body too large", "details": {"max_bytes": MAX_CONTENT_LENGTH}}


@pytest.mark.parametrize("framing", FRAMINGS)
def test_garbage_after_a_valid_order_is_never_ignored(served: ServedGateway, framing: str) -> None:
    # The case: a valid order, 70 KB of spaces, then invalid JSON. Read whole, it is
    # invalid JSON (below the limit) or too large (past it); never the order alone.
    for size in (70_000, MAX_CONTENT_LENGTH - 8, MAX_CONTENT_LENGTH + 100):
        raw = padded(size - len(b"GARBAGE{")) + b"GARBAGE{"
        status, body = exchange(served.address, FRAMINGS[framing]("/api/billing", raw))
        expected = 400 if size <= MAX_CONTENT_LENGTH else 413
        assert status == expected, (size, body)


def test_chunks_of_every_size_make_the_same_body(served: ServedGateway) -> None:
    raw = padded(MAX_CONTENT_LENGTH - 8) + b"GARBAGE{"
    for chunk in (1000, 4096, 65536, MAX_CONTENT_LENGTH):
        status, _ = exchange(served.address, chunked("/api/billing", raw, chunk=chunk))
        assert status == 400, chunk


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_movie_body_reaches_inventory_whole(served: ServedGateway, framing: str) -> None:
    movie = json.dumps({"title": "Alien", "description": "x" * 100_000}).encode()
    served.inventory.received.clear()
    status, _ = exchange(served.address, FRAMINGS[framing]("/api/movies", movie))
    assert status == 200
    assert [request.body for request in served.inventory.received] == [movie]
    assert served.inventory.received[0].headers["Content-Length"] == str(len(movie))


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_movie_body_past_the_limit_never_reaches_inventory(
    served: ServedGateway, framing: str
) -> None:
    served.inventory.received.clear()
    status, _ = exchange(
        served.address, FRAMINGS[framing]("/api/movies", b" " * (MAX_CONTENT_LENGTH + 1))
    )
    assert status == 413
    assert served.inventory.received == []


@pytest.mark.parametrize("coding", ["gzip, chunked", "deflate, chunked", "compress, chunked"])
def test_a_transfer_coding_the_gateway_cannot_decode_is_501(
    served: ServedGateway, coding: str
) -> None:
    # gunicorn accepts these and passes the bytes on still coded; nothing here decodes them.
    status, body = exchange(served.address, chunked("/api/billing", ORDER, coding=coding))
    assert status == 501
    assert body["error"] == "transfer coding not supported"


def test_a_content_coding_is_415(served: ServedGateway) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    raw = request("POST", "/api/billing", {**headers, "Content-Length": str(len(ORDER))}, ORDER)
    status, _ = exchange(served.address, raw)
    assert status == 415


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_says_it_is_not_json_is_415(served: ServedGateway, content_type: str) -> None:
    status, body = exchange(served.address, with_length("/api/billing", ORDER, content_type))
    assert status == 415
    assert body["error"] == "unsupported media type"


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.order+json"]
)
def test_json_media_types_are_accepted(served: ServedGateway, content_type: str) -> None:
    status, _ = exchange(served.address, with_length("/api/billing", ORDER, content_type))
    assert status == QUEUED_OR_BROKER_DOWN


def test_a_stalled_body_is_408_and_the_server_keeps_serving(served: ServedGateway) -> None:
    # Many clients that announce a body and stop sending: each is answered 408 and closed
    # once the body timeout passes, and meanwhile other clients are served.
    stalled = []
    for framing in ("content-length", "chunked"):
        for _ in range(20):
            sock = socket.create_connection(served.address, timeout=ANSWER_WAIT)
            raw = FRAMINGS[framing]("/api/billing", padded(1000))
            sock.sendall(raw[: raw.index(b"\r\n\r\n") + 100])
            stalled.append(sock)
    try:
        status, _ = exchange(served.address, request("GET", "/healthz"))
        assert status == 200
        for sock in stalled:
            status, body = read_answer(sock)
            assert status == 408
            assert body["error"] == "request body too slow"
    finally:
        for sock in stalled:
            sock.close()


def test_a_trickled_body_is_cut_off_at_the_deadline_not_per_read(served: ServedGateway) -> None:
    # One byte at a time, each well within any per-read timeout: only a deadline on the whole
    # body ends it. The answer comes long before the body would have been complete.
    raw = with_length("/api/billing", padded(1000))
    head, body = raw[: raw.index(b"\r\n\r\n") + 4], raw[raw.index(b"\r\n\r\n") + 4 :]
    with socket.create_connection(served.address, timeout=ANSWER_WAIT) as sock:
        sock.sendall(head)
        answered = False
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                answered = True
                break
            time.sleep(0.05)
            sock.setblocking(False)
            try:
                answered = bool(sock.recv(1, socket.MSG_PEEK))
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if answered:
                break
        assert answered, "the whole body was sent without an answer"
        status, _ = read_answer(sock)
    assert status == 408
