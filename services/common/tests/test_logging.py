"""JSON request logs and the request id that crosses service boundaries."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from pathlib import Path

import pytest
from flask import Flask

from nbship_common.logging import JsonFormatter, LineWriterHandler, flush_logs


def logged(log_file: Path) -> list[dict[str, object]]:
    """Every JSON line written to LOG_FILE so far (lines are written by a background thread)."""
    flush_logs()
    return [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]


def request_lines(log_file: Path) -> list[dict[str, object]]:
    return [entry for entry in logged(log_file) if entry["logger"] == "nbship.request"]


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
    [error] = [entry for entry in logged(log_file) if entry["level"] == "ERROR"]
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


def writer(*streams: io.StringIO) -> LineWriterHandler:
    handler = LineWriterHandler(list(streams))
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def record(message: str) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "t", "levelno": logging.INFO, "msg": message})


def test_lines_from_many_threads_arrive_whole_and_all_in_every_sink() -> None:
    first, second = io.StringIO(), io.StringIO()
    handler = writer(first, second)

    def burst(thread: int) -> None:
        for line in range(500):
            handler.handle(record(f"thread {thread} line {line} " + "x" * 100))

    threads = [threading.Thread(target=burst, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush()
    for sink in (first, second):
        lines = sink.getvalue().splitlines()
        assert len(lines) == 8 * 500
        assert all(line.endswith("x" * 100) and line.startswith("thread ") for line in lines)
        # Each thread's lines keep their order.
        for number in range(8):
            mine = [line for line in lines if line.startswith(f"thread {number} ")]
            assert mine == [f"thread {number} line {n} " + "x" * 100 for n in range(500)]
    handler.close()


def test_a_line_is_written_promptly_without_a_flush() -> None:
    sink = io.StringIO()
    handler = writer(sink)
    handler.handle(record("hello"))
    deadline = time.monotonic() + 5
    while sink.getvalue() != "hello\n" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.getvalue() == "hello\n"
    handler.close()


def test_close_writes_what_is_queued_and_closes_owned_files(tmp_path: Path) -> None:
    owned = (tmp_path / "app.log").open("a", encoding="utf-8")
    handler = LineWriterHandler([owned], [owned])
    handler.setFormatter(logging.Formatter("%(message)s"))
    for number in range(1000):
        handler.handle(record(f"line {number}"))
    handler.close()
    assert owned.closed
    lines = (tmp_path / "app.log").read_text(encoding="utf-8").splitlines()
    assert lines == [f"line {number}" for number in range(1000)]


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_a_failing_sink_does_not_stop_the_others_and_is_reported_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    good = io.StringIO()
    handler = writer(BrokenStream(), good)
    for line in ("still here", "and here"):
        handler.handle(record(line))
        handler.flush()
    assert good.getvalue() == "still here\nand here\n"
    handler.close()
    assert capfd.readouterr().err.count("No space left on device") == 1
