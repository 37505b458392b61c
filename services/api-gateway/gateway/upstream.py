"""The inventory client: kept-alive connections from a small pool, answers parsed by httptools.

A pass-through proxy spends much of its own time in its HTTP client, so this one does only what
forwarding needs. It writes the request line and headers itself (a handful of fixed-shape
lines) and leaves reading the answer, the part where HTTP is subtle, to httptools: the binding
of llhttp, Node.js's parser, that uvicorn uses. Measured side by side in one run in the
gateway's image, http.client and geventhttpclient each cost about twice the CPU per call of
this client, and requests and urllib3 more (docs/services.md). The pool adds what a library
pool would: reuse, a bound on open connections, and replacing a connection that inventory
closed while it sat idle.
"""

from __future__ import annotations

import re
import select
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httptools
from flask import Flask, current_app

from nbship_common.errors import describe
from nbship_common.health import add_readiness_check

CONNECT_TIMEOUT_SECONDS = 3.05
# Well under gunicorn's 30 s worker timeout, so a slow inventory becomes a 504, not a killed worker.
READ_TIMEOUT_SECONDS = 15.0
PROBE_TIMEOUT_SECONDS = 2.0
# Connections kept open to inventory per gateway worker. Inventory serves 2 workers x 4 threads;
# more connections would only wait in its queue, so a request beyond them waits for a free one.
POOL_SIZE = 16
# Inventory's largest answer is a page of at most 1,000 movies of at most about 10 kB each;
# anything far beyond that is not inventory answering, and is refused rather than buffered.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
# Re-sending on a fresh connection after a kept one failed is only safe when the request is
# idempotent; a POST that may have reached inventory is answered 502 instead.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# A header name or value with one of these would end its line early and smuggle in another.
_LINE_BREAKING = re.compile(r"[\r\n\x00]")
_RECEIVE_BYTES = 64 * 1024
_EXTENSION = "inventory_client"


class InventoryUnavailable(Exception):
    """Inventory could not be asked or did not answer; `kind` says which way it failed."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        # "connect-timeout" (or no free connection), "read-timeout", "unreachable", or
        # "invalid-answer" (what came back is not an HTTP answer this client can pass on)
        self.kind = kind


@dataclass(frozen=True)
class Answer:
    """What inventory answered: status, its headers by lower-case name, and the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _AnswerTooLarge(Exception):
    """The answer grew past MAX_ANSWER_BYTES."""


class _AnswerReader:
    """httptools' callbacks for one answer: its headers and body, and whether it has ended."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        # Repeated fields are one comma-separated list (RFC 9110 5.3).
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.headers_done = True
        # Asked now: the headers decide it, and once the answer is complete llhttp resets its
        # flags for the next one (a HEAD answer is complete here, as far as this client goes).
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.parser.get_status_code() < 200:
            # An interim answer (103 Early Hints, say): the real one follows on the same bytes.
            self.headers, self.chunks, self.headers_done = {}, [], False
        else:
            self.complete = True


class InventoryClient:
    """Sends requests to inventory over kept-alive connections, at most `pool_size` at once."""

    def __init__(
        self,
        base_url: str,
        *,
        pool_size: int = POOL_SIZE,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        url = urlsplit(base_url.rstrip("/"))
        if url.scheme != "http" or not url.hostname or url.username or url.password:
            raise ValueError(f"inventory URL must be http://host[:port][/path]: {base_url!r}")
        self._address = (url.hostname, url.port or 80)
        self._host = url.netloc
        self._prefix = url.path
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        # Under gunicorn's gevent worker this is gevent's (the worker patches threading), so a
        # request waiting for a connection lets the others run.
        self._slots = threading.BoundedSemaphore(pool_size)
        # Idle connections, the most recently used last: it is taken first, warm and least
        # likely to have been closed by inventory's keep-alive timeout.
        self._idle: list[socket.socket] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]],
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> Answer:
        """Send one request to inventory; raises InventoryUnavailable when it cannot.

        Raises ValueError, before anything is sent, for a header that would break its line.
        """
        target = f"{self._prefix}{path}"
        if params:
            target = f"{target}?{urlencode(list(params))}"
        message = _request_message(method, target, self._host, headers, body)
        head = method == "HEAD"
        # A connection freed within the connect timeout is as good as a new one made in it.
        if not self._slots.acquire(timeout=self._connect_timeout):
            raise InventoryUnavailable("connect-timeout", "every connection to inventory is busy")
        try:
            sock = self._checkout()
            if sock is not None:
                try:
                    return self._exchange(sock, message, head)
                except InventoryUnavailable as exc:
                    _raise_unless_resendable(exc, method)
                # A kept connection failed before an answer: inventory closed it under us.
            try:
                return self._exchange(self._connect(), message, head)
            except InventoryUnavailable as exc:
                _raise_unless_resendable(exc, method)
            # A new connection failed too: it reached an inventory container that is stopping
            # (a deploy replaces it start-first), which closed its listener with the connection
            # still in its backlog. Connecting again resolves the name again: the stopping
            # container now refuses, and the new one, beside it under the same name, answers.
            return self._exchange(self._connect(), message, head)
        finally:
            self._slots.release()

    def ping(self) -> None:
        """Readiness check: inventory's process answers (its own /readyz covers its database)."""
        message = _request_message("GET", f"{self._prefix}/healthz", self._host, {}, None)
        sock = self._connect(timeout=PROBE_TIMEOUT_SECONDS)
        try:
            answer = self._exchange(sock, message, head=False, keep=False)
        finally:
            sock.close()
        if answer.status != 200:
            raise InventoryUnavailable("unreachable", f"/healthz answered {answer.status}")

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()

    def _checkout(self) -> socket.socket | None:
        """An idle connection still open, or None when there is none."""
        while self._idle:
            sock = self._idle.pop()
            if _still_open(sock):
                return sock
            sock.close()
        return None

    def _connect(self, timeout: float | None = None) -> socket.socket:
        try:
            sock = socket.create_connection(self._address, timeout=timeout or self._connect_timeout)
        except TimeoutError as exc:
            raise InventoryUnavailable("connect-timeout", describe(exc)) from exc
        except OSError as exc:
            raise InventoryUnavailable("unreachable", describe(exc)) from exc
        # Requests and answers are single small writes: send each at once, never after an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout or self._read_timeout)
        return sock

    def _exchange(
        self, sock: socket.socket, message: bytes, head: bool, keep: bool = True
    ) -> Answer:
        """Send MESSAGE on SOCK and read the whole answer; pool SOCK if it stays open."""
        try:
            answer, reusable = _send_and_read(sock, message, head)
        except TimeoutError as exc:
            sock.close()
            raise InventoryUnavailable("read-timeout", describe(exc)) from exc
        except OSError as exc:
            sock.close()
            raise InventoryUnavailable("unreachable", describe(exc)) from exc
        except (httptools.HttpParserError, _AnswerTooLarge) as exc:
            sock.close()
            raise InventoryUnavailable("invalid-answer", describe(exc)) from exc
        if keep and reusable:
            self._idle.append(sock)
        elif keep:
            sock.close()
        return answer


def _raise_unless_resendable(exc: InventoryUnavailable, method: str) -> None:
    """Re-raise EXC unless the request may be sent again on a new connection: it is idempotent
    and the connection broke before an answer (a timeout may mean inventory is still at it)."""
    if not (exc.kind == "unreachable" and method in _IDEMPOTENT):
        raise exc


def _request_message(
    method: str, target: str, host: str, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    """The bytes of one HTTP/1.1 request; ValueError for a header that would break its line."""
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers.items():
        if _LINE_BREAKING.search(name) or _LINE_BREAKING.search(value):
            raise ValueError(f"header {name!r} contains a line break or NUL")
        lines.append(f"{name}: {value}\r\n")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("\r\n")
    # Header values arrive from WSGI as latin-1 strings (PEP 3333), so they encode back as such.
    start = "".join(lines).encode("latin-1")
    return start + body if body else start


def _send_and_read(sock: socket.socket, message: bytes, head: bool) -> tuple[Answer, bool]:
    """Send MESSAGE, read one answer; the answer and whether SOCK can carry another request."""
    _send(sock, message)
    reader = _AnswerReader()
    received = 0

    # A HEAD answer has no body whatever its Content-Length says: it ends with its headers.
    def ended() -> bool:
        return reader.complete or (head and reader.headers_done)

    while not ended():
        data = sock.recv(_RECEIVE_BYTES)
        if not data:
            if reader.headers_done and not _framed(reader.headers):
                break  # RFC 9112 6.3: without Content-Length or chunking, the close ends it
            raise ConnectionError("inventory closed the connection before answering in full")
        received += len(data)
        if received > MAX_ANSWER_BYTES:
            raise _AnswerTooLarge(f"inventory's answer is over {MAX_ANSWER_BYTES} bytes")
        reader.parser.feed_data(data)
    answer = Answer(reader.parser.get_status_code(), reader.headers, b"".join(reader.chunks))
    reusable = ended() and reader.keep_alive
    return answer, reusable


def _send(sock: socket.socket, data: bytes) -> None:
    # send() until all is written, not sendall(): gevent's sendall asks the kernel for the
    # socket's buffer size on every call, one more system call per request.
    view = memoryview(data)
    while view:
        view = view[sock.send(view) :]


def _framed(headers: Mapping[str, str]) -> bool:
    """Whether an answer says where its body ends (a length or chunked transfer coding)."""
    return "content-length" in headers or "transfer-encoding" in headers


def _still_open(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection is usable: nothing waits to be read on it.

    An idle HTTP connection only becomes readable when the server closed it (or broke it).
    """
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def init_app(app: Flask, base_url: str) -> InventoryClient:
    """Create the app's inventory client and probe it from /readyz."""
    client = InventoryClient(base_url)
    app.extensions[_EXTENSION] = client
    add_readiness_check(app, "inventory", client.ping)
    return client


def inventory_client() -> InventoryClient:
    """The current app's inventory client."""
    client: InventoryClient = current_app.extensions[_EXTENSION]
    return client
