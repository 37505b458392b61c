"""read_json_object: JSON is judged whole, and only when the request says it is JSON or says
nothing; what the shared code answers for inventory and the gateway alike."""

from __future__ import annotations

import pytest
from flask import Flask

from nbship_common.validation import MAX_CONTENT_LENGTH, json_media_type_problem


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "json"],
)
def test_a_body_that_says_it_is_not_json_is_415(app: Flask, content_type: str) -> None:
    response = app.test_client().post("/echo", data=b'{"a": 1}', content_type=content_type)
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported media type"


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", "application/problem+json", None],
)
def test_json_or_no_media_type_is_read_as_json(app: Flask, content_type: str | None) -> None:
    response = app.test_client().post("/echo", data=b'{"a": 1}', content_type=content_type)
    assert response.status_code == 200
    assert response.get_json() == {"a": 1}


def test_a_content_coding_is_415_not_garbage_json(app: Flask) -> None:
    response = app.test_client().post(
        "/echo", data=b"\x1f\x8b", headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 415
    assert response.get_json()["error"] == "content coding not supported"


@pytest.mark.parametrize("coding", ["gzip, chunked", "br"])
def test_a_transfer_coding_other_than_chunked_is_501(app: Flask, coding: str) -> None:
    response = app.test_client().post(
        "/echo", data=b'{"a": 1}', headers={"Transfer-Encoding": coding}
    )
    assert response.status_code == 501


def test_a_body_at_the_limit_is_parsed_and_one_byte_more_is_413(app: Flask) -> None:
    body = b'{"a": 1}'
    at_limit = body + b" " * (MAX_CONTENT_LENGTH - len(body))
    assert app.test_client().post("/echo", data=at_limit).status_code == 200
    assert app.test_client().post("/echo", data=at_limit + b" ").status_code == 413


def test_the_media_type_rule_names_what_it_got() -> None:
    assert json_media_type_problem("text/plain; charset=utf-8") == (
        "must be application/json, got 'text/plain'"
    )
