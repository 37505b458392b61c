"""Movies: passed through to inventory unchanged (status, body), with the request id.

The pass-through is WSGI middleware in front of the Flask app, the way Flask's documentation
adds middleware (`app.wsgi_app = PassThrough(app.wsgi_app, ...)`): a request under /api/movies
is forwarded here, everything else goes on to Flask. Forwarding needs none of what Flask adds
per request (a request context, its proxies, a Response object, hooks), and on the gateway's
hot path that bookkeeping cost more CPU than the forwarding itself (docs/services.md). What
it shares with the Flask side is shared code: the router is Werkzeug's, errors are the
services' JSON errors (nbship_common.errors), and the request id and the request's log line
are the ones every service uses (nbship_common.logging).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule

from gateway.upstream import Answer, InventoryClient, InventoryUnavailable
from nbship_common.errors import ApiError, api_error_from, error_json, log_unexpected
from nbship_common.logging import REQUEST_ID_HEADER, log_request, request_id_from
from nbship_common.validation import MAX_CONTENT_LENGTH, read_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

PREFIX = "/api/movies"
# The methods inventory serves on each path, as Flask routes would declare them (GET implies
# HEAD); anything else is the gateway's own 405, and the published OpenAPI document and these
# routes are compared one to one by the tests.
COLLECTION_METHODS = ["GET", "POST", "DELETE"]
ITEM_METHODS = ["GET", "PUT", "DELETE"]
# The contract serves /api/movies and /api/movies/ alike, and never redirects (a 308 would make
# clients send bodies twice): the same settings as the Flask app's own routes.
ROUTES = Map(
    [
        Rule(PREFIX, endpoint="collection", methods=COLLECTION_METHODS),
        Rule(f"{PREFIX}/<movie_id>", endpoint="item", methods=ITEM_METHODS),
    ],
    strict_slashes=False,
    merge_slashes=False,
)
# Request headers inventory needs (WSGI environ keys); hop-by-hop and client headers stay here.
_FORWARDED_REQUEST_HEADERS = (("CONTENT_TYPE", "Content-Type"), ("HTTP_ACCEPT", "Accept"))
# Response headers that belong to the answer itself.
_FORWARDED_RESPONSE_HEADERS = ("Allow", "Location")
_WITH_BODY = frozenset({"POST", "PUT"})
# How each way of not getting an answer from inventory is told to the client.
_FAILURES = {
    "connect-timeout": (503, "inventory service unavailable"),
    "read-timeout": (504, "inventory service timed out"),
    "unreachable": (502, "inventory service unavailable"),
    "invalid-answer": (502, "inventory service sent an invalid answer"),
}

_Headers = list[tuple[str, str]]


class PassThrough:
    """WSGI middleware: requests under /api/movies go to inventory, the rest to APP."""

    def __init__(self, app: WSGIApplication, client: InventoryClient) -> None:
        self._app = app
        self._client = client
        # The adapter only matches paths: it holds no per-request state and is shared.
        self._routes = ROUTES.bind("gateway")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if not (path == PREFIX or path.startswith(f"{PREFIX}/")):
            return self._app(environ, start_response)
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        method: str = environ["REQUEST_METHOD"]
        try:
            status, headers, body = self._answer(environ, method, path, request_id)
        except ApiError as exc:
            status, headers, body = _error_answer(exc)
        except Exception as exc:  # a bug: answered as the Flask side answers one
            log_unexpected(exc, request_id=request_id)
            status, headers, body = _error_answer(ApiError(500, "internal server error"))
        headers.append((REQUEST_ID_HEADER, request_id))
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}", headers)
        log_request(method, path, status, started, request_id)
        return [] if method == "HEAD" else [body]

    def _answer(
        self, environ: WSGIEnvironment, method: str, path: str, request_id: str
    ) -> tuple[int, _Headers, bytes]:
        """Inventory's answer to the request, or the gateway's own when it cannot be asked."""
        try:
            _endpoint, values = self._routes.match(path, method=method)
            body = read_body(environ) if method in _WITH_BODY else None
        except MethodNotAllowed as exc:
            if method == "OPTIONS":  # answered here, as Flask answers it for its own routes
                allowed = sorted({*(exc.valid_methods or []), "OPTIONS"})
                return 200, [("Allow", ", ".join(allowed)), ("Content-Length", "0")], b""
            raise self._error(exc, method, path) from None
        except HTTPException as exc:
            raise self._error(exc, method, path) from None
        target = PREFIX
        if "movie_id" in values:
            target = f"{PREFIX}/{quote(values['movie_id'], safe='')}"
        forwarded = {REQUEST_ID_HEADER: request_id}
        for key, name in _FORWARDED_REQUEST_HEADERS:
            if environ.get(key):
                forwarded[name] = environ[key]
        query = environ.get("QUERY_STRING")
        try:
            answer = self._client.request(
                method,
                target,
                params=parse_qsl(query, keep_blank_values=True) if query else [],
                body=body,
                headers=forwarded,
            )
        except InventoryUnavailable as exc:
            status, error = _FAILURES[exc.kind]
            log.error(error, extra={"reason": str(exc)[:500], "request_id": request_id})
            raise ApiError(status, error, "try again shortly") from None
        except ValueError as exc:  # a forwarded header that would break its line: nothing sent
            raise ApiError(400, "invalid request header", str(exc)) from None
        return answer.status, _answer_headers(answer, method), answer.body

    @staticmethod
    def _error(exc: HTTPException, method: str, path: str) -> ApiError:
        return api_error_from(exc, method=method, path=path, max_bytes=MAX_CONTENT_LENGTH)


def _error_answer(exc: ApiError) -> tuple[int, _Headers, bytes]:
    """The gateway's own JSON answer for EXC."""
    body = error_json(exc.error, exc.details)
    headers = [*exc.headers.items(), ("Content-Type", "application/json")]
    return exc.status, [*headers, ("Content-Length", str(len(body)))], body


def _answer_headers(answer: Answer, method: str) -> _Headers:
    """The headers the client gets with inventory's answer."""
    # A HEAD answer carries the length of the body a GET would have had.
    length = answer.headers.get("content-length") if method == "HEAD" else None
    headers = [
        ("Content-Type", answer.headers.get("content-type", "application/json")),
        ("Content-Length", length or str(len(answer.body))),
    ]
    for name in _FORWARDED_RESPONSE_HEADERS:
        value = answer.headers.get(name.lower())
        if value is not None:
            headers.append((name, value))
    return headers
