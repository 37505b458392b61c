"""JSON error responses: every error body is {"error": ..., "details": ...}."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

log = logging.getLogger(__name__)

_MESSAGES = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


class ApiError(Exception):
    """An error the client can act on, answered as JSON with `status`."""

    def __init__(self, status: int, error: str, details: object = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details


def describe(exc: BaseException) -> str:
    """A one-line description of `exc` for logs and readiness reports, never blank."""
    text = str(exc)
    if not text and exc.args:
        text = repr(exc.args[0] if len(exc.args) == 1 else exc.args)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_response(
    status: int, error: str, details: object = None, headers: dict[str, str] | None = None
) -> Response:
    """A JSON error response in the one shape every service uses."""
    response = jsonify({"error": error, "details": details})
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer every error as JSON; only a genuine bug becomes a 500."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.error, exc.details)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    details: object = exc.description
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed):
        allowed = sorted(exc.valid_methods or [])
        details = {"method": request.method, "allowed": allowed}
        headers["Allow"] = ", ".join(allowed)
    elif isinstance(exc, RequestEntityTooLarge):
        details = {"max_bytes": current_app.config.get("MAX_CONTENT_LENGTH")}
    elif status == 404:
        details = {"path": request.path}
    error = _MESSAGES.get(status, exc.name.lower())
    return error_response(status, error, details, headers)


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return error_response(500, "internal server error")
