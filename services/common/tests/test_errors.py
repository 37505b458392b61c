"""Every error is JSON {"error", "details"}; bad input never becomes a 500."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from nbship_common.validation import MAX_CONTENT_LENGTH


def assert_json_error(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"error", "details"}
    assert isinstance(body["error"], str) and body["error"]
    return body


def test_unknown_route_is_json_404(app: Flask) -> None:
    body = assert_json_error(app.test_client().get("/nope"), 404)
    assert body["details"] == {"path": "/nope"}


def test_wrong_method_is_json_405_with_allow_header(app: Flask) -> None:
    response = app.test_client().delete("/ok")
    body = assert_json_error(response, 405)
    assert "GET" in response.headers["Allow"]
    assert body["details"]["method"] == "DELETE"


def test_oversized_body_is_json_413(app: Flask) -> None:
    response = app.test_client().post("/echo", data=b"x" * (MAX_CONTENT_LENGTH + 1))
    body = assert_json_error(response, 413)
    assert body["details"] == {"max_bytes": MAX_CONTENT_LENGTH}


def test_a_bug_is_json_500_without_internals(app: Flask) -> None:
    body = assert_json_error(app.test_client().get("/bug"), 500)
    assert "deliberate" not in str(body)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b"null",
        b"NaN",
        b'{"a": Infinity}',
        b"\xff\xfe\x00garbage",
        b"[" * 30_000,
        b'{"a": 1',
    ],
)
def test_bad_json_bodies_are_json_400(app: Flask, raw: bytes) -> None:
    assert_json_error(app.test_client().post("/echo", data=raw), 400)


def test_json_object_is_accepted_without_content_type(app: Flask) -> None:
    response = app.test_client().post("/echo", data=b'{"a": 1}')
    assert response.status_code == 200
    assert response.get_json() == {"a": 1}
