"""JSON error responses: every error body is {"error": ..., "details": ...}."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

log = logging.getLogger(__name__)

_MESSAGES = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


class ApiError(Exception):
    """An error the client can act on, answered as JSON with `status` (and `headers`)."""

    def __init__(
        self,
        status: int,
        error: str,
        details: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details
        self.headers = dict(headers or {})


def describe(exc: BaseException) -> str:
    """A one-line description of `exc` for logs and readiness reports, never blank."""
    text = str(exc)
    if not text and exc.args:
        text = repr(exc.args[0] if len(exc.args) == 1 else exc.args)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_json(error: str, details: object = None) -> bytes:
    """The body of every error answer: {"error": ..., "details": ...}, as Flask's jsonify writes
    JSON (compact, sorted keys, ASCII); anything JSON cannot hold is written as its str()."""
    document = {"error": error, "details": details}
    text = json.dumps(document, separators=(",", ":"), sort_keys=True, default=str)
    return f"{text}\n".encode()


def error_response(
    status: int, error: str, details: object = None, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON error response in the one shape every service uses."""
    return Response(
        error_json(error, details), status=status, headers=headers, mimetype="application/json"
    )


def api_error_from(
    exc: HTTPException, *, method: str, path: str, max_bytes: int | None
) -> ApiError:
    """The JSON error for one of Werkzeug's HTTP errors (404, 405, 413, ...), with details the
    client can act on: the path not found, the methods allowed, the largest body accepted."""
    status = exc.code or 500
    details: object = exc.description
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed):
        allowed = sorted(exc.valid_methods or [])
        details = {"method": method, "allowed": allowed}
        headers["Allow"] = ", ".join(allowed)
    elif isinstance(exc, RequestEntityTooLarge):
        details = {"max_bytes": max_bytes}
    elif status == 404:
        details = {"path": path}
    return ApiError(status, _MESSAGES.get(status, exc.name.lower()), details, headers)


def register_error_handlers(app: Flask) -> None:
    """Answer every error as JSON; only a genuine bug becomes a 500."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.error, exc.details, exc.headers)


def _handle_http_exception(exc: HTTPException) -> Response:
    max_bytes = current_app.config.get("MAX_CONTENT_LENGTH")
    return _handle_api_error(
        api_error_from(exc, method=request.method, path=request.path, max_bytes=max_bytes)
    )


def log_unexpected(exc: Exception, **fields: object) -> None:
    """Log a bug with its traceback (the client is told only "internal server error")."""
    log.error("unhandled error", exc_info=exc, extra={"error_type": type(exc).__name__, **fields})


def _handle_unexpected(exc: Exception) -> Response:
    log_unexpected(exc)
    return error_response(500, "internal server error")
