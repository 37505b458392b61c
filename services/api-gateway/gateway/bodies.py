"""Whole bodies: every request body is read in full, within a size and a time bound, before any
route sees it.

WSGI middleware in front of the pass-through and the Flask app. The gateway is the stack's
public entry, so a body arrives here however a client frames it (Content-Length or chunked) and
as slowly as it likes. Reading it whole first gives one size limit for every framing (413 past
it; nbship_common.validation.read_body) and one time limit for the whole body (408 past it):
on gevent a slow client costs a greenlet, not a thread, but one that trickles a byte at a time
would hold its connection for as long as it cared to. The routes then read a plain in-memory
body with a Content-Length, the framing every reader handles exactly.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import gevent
from werkzeug.http import HTTP_STATUS_CODES

from nbship_common.errors import ApiError, error_json
from nbship_common.logging import REQUEST_ID_HEADER, log_request, request_id_from
from nbship_common.validation import MAX_CONTENT_LENGTH, read_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


# How much of a refused body one read drops.
_DRAIN_STEP = 64 * 1024


class BodyTimeout(Exception):
    """The client did not send its whole body in time.

    An Exception, not gevent's default BaseException: gunicorn marks a body whose read raised
    an Exception as failed and closes the connection instead of reading the rest of it.
    """


class WholeBody:
    """WSGI middleware: the body of each request is read whole (bounded) before APP runs."""

    def __init__(
        self, app: WSGIApplication, *, timeout: float, max_bytes: int = MAX_CONTENT_LENGTH
    ) -> None:
        self._app = app
        self._timeout = timeout
        self._max_bytes = max_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not _has_body(environ):
            return self._app(environ, start_response)
        started = time.perf_counter()
        try:
            with gevent.Timeout(self._timeout, BodyTimeout):
                body = read_body(environ, self._max_bytes)
        except BodyTimeout:
            error = ApiError(408, "request body too slow", {"timeout_seconds": self._timeout})
            return _refuse(environ, start_response, error, started)
        except ApiError as exc:
            answer = _refuse(environ, start_response, exc, started)
            return _Lingering(answer, environ["wsgi.input"], self._timeout)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self._app(environ, start_response)


class _Lingering:
    """An answer that, once sent, reads and drops the rest of the refused body (nginx's
    "lingering close"), within the body timeout.

    A server that closes a connection with unread bytes in it makes the kernel send a reset,
    and a client still sending its body then loses the answer telling it why (413). WSGI
    servers call close() after sending the answer; the rest of the body is read there.
    """

    def __init__(self, answer: list[bytes], stream: object, timeout: float) -> None:
        self._answer = answer
        self._stream = stream
        self._timeout = timeout

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._answer)

    def close(self) -> None:
        """Drop what is left of the body; past the timeout the server closes the connection."""
        read = getattr(self._stream, "read")  # noqa: B009 - WSGI types the stream loosely
        try:
            with gevent.Timeout(self._timeout, BodyTimeout):
                while read(_DRAIN_STEP):
                    pass
        except (BodyTimeout, OSError, ValueError):
            pass  # gunicorn marks the body failed and closes the connection


def _has_body(environ: WSGIEnvironment) -> bool:
    """Whether the request says it carries a body (RFC 9112: a length or a transfer coding)."""
    return bool(environ.get("HTTP_TRANSFER_ENCODING")) or environ.get("CONTENT_LENGTH") not in (
        None,
        "",
        "0",
    )


def _refuse(
    environ: WSGIEnvironment, start_response: StartResponse, exc: ApiError, started: float
) -> list[bytes]:
    """Answer EXC as JSON, with the request id and the request's log line, as routes do."""
    request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
    body = error_json(exc.error, exc.details)
    headers = [
        *exc.headers.items(),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        (REQUEST_ID_HEADER, request_id),
    ]
    start_response(f"{exc.status} {HTTP_STATUS_CODES.get(exc.status, 'Error')}", headers)
    method = environ.get("REQUEST_METHOD", "")
    log_request(method, environ.get("PATH_INFO", ""), exc.status, started, request_id)
    return [] if method == "HEAD" else [body]
