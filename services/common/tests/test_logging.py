"""JSON request logs and the request id that crosses service boundaries."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

from flask import Flask

from nbship_common.logging import JsonFormatter


def request_lines(log_file: Path) -> list[dict[str, object]]:
    entries = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    return [entry for entry in entries if entry["logger"] == "nbship.request"]


def test_each_request_logs_one_json_line_with_its_fields(app: Flask, log_file: Path) -> None:
    response = app.test_client().get("/ok", headers={"X-Request-ID": "abc-123"})

    assert response.status_code == 200
    [entry] = request_lines(log_file)
    assert entry["method"] == "GET"
    assert entry["path"] == "/ok"
    assert entry["status"] == 200
    assert entry["request_id"] == "abc-123"
    assert entry["service"] == "demo"
    assert isinstance(entry["duration_ms"], float)
    assert entry["duration_ms"] >= 0


def test_incoming_request_id_is_echoed(app: Flask) -> None:
    response = app.test_client().get("/ok", headers={"X-Request-ID": "from-upstream.42"})
    assert response.headers["X-Request-ID"] == "from-upstream.42"


def test_missing_request_id_is_generated_as_uuid4(app: Flask) -> None:
    response = app.test_client().get("/ok")
    assert uuid.UUID(response.headers["X-Request-ID"]).version == 4


def test_unsafe_request_id_is_replaced(app: Flask) -> None:
    response = app.test_client().get("/ok", headers={"X-Request-ID": "x" * 500})
    assert uuid.UUID(response.headers["X-Request-ID"]).version == 4
    response = app.test_client().get("/ok", headers={"X-Request-ID": "bad id\twith space"})
    assert uuid.UUID(response.headers["X-Request-ID"]).version == 4


def test_error_responses_are_logged_with_request_id(app: Flask, log_file: Path) -> None:
    app.test_client().get("/missing", headers={"X-Request-ID": "rid-404"})
    [entry] = request_lines(log_file)
    assert (entry["status"], entry["request_id"]) == (404, "rid-404")


def test_lines_logged_during_a_request_carry_its_id(app: Flask, log_file: Path) -> None:
    app.test_client().get("/bug", headers={"X-Request-ID": "rid-bug"})
    entries = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    [error] = [entry for entry in entries if entry["level"] == "ERROR"]
    assert error["request_id"] == "rid-bug"
    assert "deliberate bug" in error["exc_info"]


def test_probe_requests_log_at_debug(app: Flask, log_file: Path) -> None:
    app.test_client().get("/healthz")
    assert request_lines(log_file) == []


def test_formatter_includes_extras_and_serialises_anything() -> None:
    record = logging.makeLogRecord(
        {"name": "x", "levelname": "INFO", "msg": "hi %s", "args": ("there",), "obj": object()}
    )
    entry = json.loads(JsonFormatter(service="svc").format(record))
    assert entry["message"] == "hi there"
    assert entry["service"] == "svc"
    assert entry["obj"].startswith("<object object")
