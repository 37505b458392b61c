"""Inventory rejects bad input with 4xx JSON before it touches the database."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from inventory import create_app
from nbship_common.settings import SettingsError
from nbship_common.validation import MAX_CONTENT_LENGTH


def call(app: Flask, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = app.test_client().open(path, method=method, **kwargs)
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


def test_missing_database_url_is_named(
    inventory_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(SettingsError, match=r"^DATABASE_URL is required"):
        create_app()


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=%EF%BC%95",  # a full-width digit five
        "offset=-1",
        "offset=x",
        "offset=99999999999",
        "after_id=-5",
        "title=",
        "title=%20%20",
        "title=%00",
        f"title={'a' * 256}",
    ],
)
def test_invalid_list_parameters_are_400(app: Flask, query: str) -> None:
    status, body = call(app, "GET", f"/api/movies?{query}")
    assert status == 400
    assert body["error"].startswith("invalid query parameter")


@pytest.mark.parametrize(
    ("payload", "problems"),
    [
        ({}, {"title", "description"}),
        ({"title": "Alien"}, {"description"}),
        ({"title": "", "description": "d"}, {"title"}),
        ({"title": "   ", "description": "d"}, {"title"}),
        ({"title": 42, "description": "d"}, {"title"}),
        ({"title": "Alien", "description": None}, {"description"}),
        ({"title": "Alien", "description": "d", "year": 1979}, {"year"}),
        ({"title": "A" * 256, "description": "d"}, {"title"}),
        ({"title": "Alien", "description": "d" * 10_001}, {"description"}),
        ({"title": "Al\u0000ien", "description": "d"}, {"title"}),
    ],
)
def test_invalid_movie_is_400_naming_each_field(
    app: Flask, payload: dict[str, object], problems: set[str]
) -> None:
    status, body = call(app, "POST", "/api/movies", json=payload)
    assert status == 400
    assert body["error"] == "invalid movie"
    assert set(body["details"]) == problems


def test_update_needs_at_least_one_field(app: Flask) -> None:
    status, body = call(app, "PUT", "/api/movies/1", json={})
    assert status == 400
    assert body["details"] == {"body": "must contain title and/or description"}


def test_update_validates_fields_it_is_given(app: Flask) -> None:
    status, body = call(app, "PUT", "/api/movies/1/", json={"title": ""})
    assert status == 400
    assert set(body["details"]) == {"title"}


@pytest.mark.parametrize("raw", [b"", b"title=Alien", b"[]", b"{", b"[" * 20_000])
def test_body_that_is_not_a_json_object_is_400(app: Flask, raw: bytes) -> None:
    status, _ = call(app, "POST", "/api/movies", data=raw)
    assert status == 400


def test_oversized_body_is_413(app: Flask) -> None:
    payload = {"title": "Alien", "description": "x" * MAX_CONTENT_LENGTH}
    status, _ = call(app, "POST", "/api/movies", json=payload)
    assert status == 413


@pytest.mark.parametrize(
    "path", ["/api/movies/abc", "/api/movies/-1", "/api/movies/1.5", "/api/movies/99999999999"]
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_ids_that_cannot_exist_are_404(app: Flask, method: str, path: str) -> None:
    status, _ = call(app, method, path, json={"title": "x"})
    assert status == 404


def test_unsupported_method_is_405(app: Flask) -> None:
    status, _ = call(app, "PATCH", "/api/movies")
    assert status == 405


def test_database_down_is_503_not_500(app: Flask) -> None:
    status, body = call(app, "GET", "/api/movies/")
    assert status == 503
    assert body["error"] == "database unavailable"


def test_readyz_names_the_database(app: Flask) -> None:
    status, body = call(app, "GET", "/readyz")
    assert status == 503
    assert set(body["details"]) == {"database"}
