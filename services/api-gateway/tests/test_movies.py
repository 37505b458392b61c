"""The movies proxy: errors that the gateway answers itself, as JSON."""

from __future__ import annotations

import pytest
from flask import Flask

from nbship_common.validation import MAX_CONTENT_LENGTH


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/movies"),
        ("GET", "/api/movies/"),
        ("POST", "/api/movies"),
        ("GET", "/api/movies/1"),
        ("PUT", "/api/movies/1/"),
        ("DELETE", "/api/movies/1"),
    ],
)
def test_inventory_unreachable_is_502_json(app: Flask, method: str, path: str) -> None:
    response = app.test_client().open(path, method=method, json={"title": "t"})
    assert response.status_code == 502
    assert response.get_json() == {
        "error": "inventory service unavailable",
        "details": "try again shortly",
    }
    assert response.headers["X-Request-ID"]


def test_nested_paths_are_404_without_calling_inventory(app: Flask) -> None:
    response = app.test_client().get("/api/movies/1/extra")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not found"


def test_unsupported_method_is_405(app: Flask) -> None:
    response = app.test_client().patch("/api/movies/1")
    assert response.status_code == 405


def test_oversized_body_is_413_before_forwarding(app: Flask) -> None:
    response = app.test_client().post("/api/movies", data=b"x" * (MAX_CONTENT_LENGTH + 1))
    assert response.status_code == 413
    assert response.get_json()["error"] == "request body too large"


def test_readyz_names_both_dependencies_when_down(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert set(response.get_json()["details"]) == {"inventory", "broker"}
