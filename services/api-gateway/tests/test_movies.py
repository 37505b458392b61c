"""The movies pass-through: inventory's answers unchanged, and the errors that the gateway
answers itself, as JSON."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder

from nbship_common.validation import MAX_CONTENT_LENGTH

if TYPE_CHECKING:
    from conftest import StandInInventory


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


def test_nothing_outside_the_movies_paths_is_passed_through(app: Flask) -> None:
    response = app.test_client().get("/api/moviesX")
    assert response.status_code == 404
    assert response.get_json()["details"] == {"path": "/api/moviesX"}


# --- through to a stand-in inventory -------------------------------------------------------------


def test_inventory_answer_passes_through_unchanged(
    proxying_app: Flask, inventory: StandInInventory
) -> None:
    inventory.reply.status = 404
    inventory.reply.body = b'{"details":{"id":7},"error":"movie not found"}\n'
    inventory.reply.headers["Location"] = "/api/movies/7"
    inventory.reply.headers["Set-Cookie"] = "inventory=private"
    response = proxying_app.test_client().get("/api/movies/7")
    assert (response.status_code, response.data) == (404, inventory.reply.body)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Location"] == "/api/movies/7"
    assert "Set-Cookie" not in response.headers  # only the answer's own headers travel


def test_request_id_query_and_body_reach_inventory_and_nothing_else(
    proxying_app: Flask, inventory: StandInInventory
) -> None:
    response = proxying_app.test_client().post(
        "/api/movies/?title=a%20b&title=c",
        json={"title": "t"},
        headers={"X-Request-ID": "rid-42", "Accept": "application/json", "Cookie": "s=1"},
    )
    assert response.headers["X-Request-ID"] == "rid-42"
    [received] = inventory.received
    assert (received.method, received.path) == ("POST", "/api/movies?title=a+b&title=c")
    assert received.body == b'{"title": "t"}'
    assert received.headers["X-Request-ID"] == "rid-42"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Accept"] == "application/json"
    assert "Cookie" not in received.headers


def test_movie_id_is_forwarded_percent_encoded(
    proxying_app: Flask, inventory: StandInInventory
) -> None:
    proxying_app.test_client().delete("/api/movies/a%20b%3F/")
    assert inventory.paths == ["/api/movies/a%20b%3F"]


def test_head_answers_the_length_of_the_get_without_a_body(
    proxying_app: Flask, inventory: StandInInventory
) -> None:
    response = proxying_app.test_client().head("/api/movies/7")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(inventory.reply.body))
    assert response.data == b""
    assert [request.method for request in inventory.received] == ["HEAD"]


def test_options_lists_the_methods_without_asking_inventory(
    proxying_app: Flask, inventory: StandInInventory
) -> None:
    response = proxying_app.test_client().options("/api/movies")
    assert response.status_code == 200
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, POST"
    assert inventory.received == []


def test_header_that_would_break_its_line_is_400_and_not_forwarded(
    proxying_app: Flask, inventory: StandInInventory
) -> None:
    # Werkzeug's test client refuses such a header itself, so the environ is written directly.
    environ = EnvironBuilder(path="/api/movies").get_environ()
    environ["HTTP_ACCEPT"] = "application/json\r\nX-Injected: 1"
    answered: list[str] = []
    body = b"".join(proxying_app.wsgi_app(environ, lambda status, headers: answered.append(status)))
    assert [status.split()[0] for status in answered] == ["400"]
    assert b"invalid request header" in body
    assert inventory.connections == []


def test_each_passed_through_request_logs_one_line_with_its_id(
    proxying_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="nbship.request"):
        response = proxying_app.test_client().get("/api/movies/7")
    [line] = [record for record in caplog.records if record.name == "nbship.request"]
    assert (line.method, line.path, line.status) == ("GET", "/api/movies/7", 200)  # type: ignore[attr-defined]
    assert line.request_id == response.headers["X-Request-ID"]  # type: ignore[attr-defined]
    assert uuid.UUID(response.headers["X-Request-ID"]).version == 4
    assert line.duration_ms >= 0  # type: ignore[attr-defined]


def test_a_bug_in_the_pass_through_is_json_500_without_internals(
    proxying_app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No input reaches this path (that is the point); a fault is injected to prove its answer."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("deliberate bug with a secret inside")

    monkeypatch.setattr(proxying_app.extensions["inventory_client"], "request", broken)
    response = proxying_app.test_client().get("/api/movies/7")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error", "details": None}
    assert "secret" not in response.get_data(as_text=True)
    # Logged as the Flask side logs a bug: its type, its traceback, and the request's id.
    [logged] = [record for record in caplog.records if record.getMessage() == "unhandled error"]
    assert logged.error_type == "RuntimeError"  # type: ignore[attr-defined]
    assert logged.request_id == response.headers["X-Request-ID"]  # type: ignore[attr-defined]
    assert logged.exc_info and "secret" in str(logged.exc_info[1])
