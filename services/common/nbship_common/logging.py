"""JSON log lines and the request-id middleware that ties a request's lines across services."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# Probes hit these every few seconds; their lines go to DEBUG so they do not drown real traffic.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})

# A caller-supplied id is echoed into logs and headers, so only a short, plain token is trusted.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Attributes every LogRecord has; anything else was passed through `extra=` and is logged.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_HANDLER_MARK = "_nbship_handler"

request_log = logging.getLogger("nbship.request")


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object with time, level, logger, message and extras."""

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        validate: bool = True,
        *,
        service: str | None = None,
    ) -> None:
        super().__init__(fmt, datefmt, style, validate)
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as a single JSON line."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service:
            entry["service"] = self.service
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to records logged while a request is being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach `request_id` unless the record already carries one."""
        if not hasattr(record, "request_id") and has_request_context():
            request_id = g.get("request_id")
            if request_id:
                record.request_id = request_id
        return True


def configure_logging(service: str, level: str, log_file: Path | None = None) -> None:
    """Send JSON lines to stdout (and `log_file` when given) from the root logger.

    Safe to call more than once: handlers installed by an earlier call are replaced, any others
    (pytest's capture handler, for one) are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        # Opened now, not on first write, so an unwritable log volume fails the start.
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(JsonFormatter(service=service))
        handler.addFilter(RequestIdFilter())
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    root.setLevel(level)
    # pika logs each failed connection step as an ERROR, several lines per attempt; the callers
    # catch the exception and log one line with the reason instead.
    logging.getLogger("pika").setLevel(logging.CRITICAL)


def current_request_id() -> str:
    """The id of the request being handled (a fresh one outside a request)."""
    if has_request_context():
        request_id = g.get("request_id")
        if request_id:
            return str(request_id)
    return str(uuid.uuid4())


def init_request_logging(app: Flask) -> None:
    """Give each request an id (taken from X-Request-ID or new) and log one line when it ends."""
    app.before_request(_start_request)
    app.after_request(_finish_request)


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or str(uuid.uuid4())
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    level = logging.INFO
    if request.path in PROBE_PATHS and response.status_code < 400:
        level = logging.DEBUG
    request_log.log(
        level,
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "request_id": request_id,
        },
    )
    return response
