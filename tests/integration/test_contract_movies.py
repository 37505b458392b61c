"""The movies contract, exercised through the gateway against the running stack."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import requests
from polling import eventually

from nbship_common.validation import MAX_CONTENT_LENGTH

pytestmark = pytest.mark.integration

TIMEOUT = 15


def token() -> str:
    """A title fragment no other test (or earlier run) uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def movies_url(stack: Any, suffix: str = "") -> str:
    return f"{stack.gateway_url}/api/movies{suffix}"


def call(stack: Any, method: str, suffix: str = "", **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    kwargs.setdefault("allow_redirects", False)
    return requests.request(method, movies_url(stack, suffix), **kwargs)


def create(stack: Any, title: str, description: str = "a description") -> dict[str, Any]:
    response = call(stack, "POST", json={"title": title, "description": description})
    assert response.status_code == 201, response.text
    movie: dict[str, Any] = response.json()
    return movie


def search(stack: Any, **params: str | int) -> list[dict[str, Any]]:
    response = call(stack, "GET", params=params)
    assert response.status_code == 200, response.text
    movies: list[dict[str, Any]] = response.json()["movies"]
    return movies


def assert_json_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "details"}
    return body


def gateway_ready(stack: Any) -> bool:
    try:
        return requests.get(f"{stack.gateway_url}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


# --- create, read, update, delete ------------------------------------------------------------


def test_post_creates_a_movie_and_answers_201_with_it(stack: Any) -> None:
    title = token()
    movie = create(stack, title, "Sci-fi")
    assert set(movie) == {"id", "title", "description"}
    assert isinstance(movie["id"], int)
    assert (movie["title"], movie["description"]) == (title, "Sci-fi")

    fetched = call(stack, "GET", f"/{movie['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == movie


def test_title_whitespace_is_normalised(stack: Any) -> None:
    tok = token()
    movie = create(stack, f"  {tok}   Space  Odyssey ")
    assert movie["title"] == f"{tok} Space Odyssey"


def test_list_answers_movies_key_with_created_movie(stack: Any) -> None:
    movie = create(stack, token())
    response = call(stack, "GET")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"movies"}
    assert movie in search(stack, title=movie["title"])


def test_put_updates_only_the_fields_given(stack: Any) -> None:
    movie = create(stack, token(), "old description")
    new_title = token()

    response = call(stack, "PUT", f"/{movie['id']}", json={"title": new_title})
    assert response.status_code == 200
    assert response.json() == {**movie, "title": new_title}

    response = call(stack, "PUT", f"/{movie['id']}", json={"description": "new description"})
    assert response.status_code == 200
    assert response.json() == {
        "id": movie["id"],
        "title": new_title,
        "description": "new description",
    }
    assert call(stack, "GET", f"/{movie['id']}").json()["description"] == "new description"


def test_delete_one_answers_200_and_the_movie_is_gone(stack: Any) -> None:
    movie = create(stack, token())
    response = call(stack, "DELETE", f"/{movie['id']}")
    assert response.status_code == 200
    assert response.json() == movie
    assert_json_error(call(stack, "GET", f"/{movie['id']}"), 404)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_id_is_404_json(stack: Any, method: str) -> None:
    movie = create(stack, token())
    call(stack, "DELETE", f"/{movie['id']}")
    response = call(stack, method, f"/{movie['id']}", json={"title": "x"})
    body = assert_json_error(response, 404)
    assert body["error"] == "movie not found"


@pytest.mark.parametrize("suffix", ["/abc", "/-1", "/1.5", "/99999999999", "/1/extra"])
def test_ids_that_cannot_exist_are_404_json(stack: Any, suffix: str) -> None:
    assert_json_error(call(stack, "GET", suffix), 404)


def test_delete_all_empties_the_catalogue(stack: Any) -> None:
    create(stack, token())
    create(stack, token())
    response = call(stack, "DELETE")
    assert response.status_code == 200
    assert response.json()["deleted"] >= 2
    assert search(stack) == []


# --- trailing slashes: same behaviour, never a redirect ----------------------------------------


def test_trailing_slash_forms_work_without_redirects(stack: Any) -> None:
    response = call(stack, "POST", "/", json={"title": token(), "description": "d"})
    assert response.status_code == 201
    movie = response.json()
    movie_path = f"/{movie['id']}/"

    assert call(stack, "GET", "/").status_code == 200
    assert call(stack, "GET", movie_path).json() == movie
    updated = call(stack, "PUT", movie_path, json={"description": "changed"})
    assert (updated.status_code, updated.json()["description"]) == (200, "changed")
    assert call(stack, "DELETE", movie_path).status_code == 200
    assert call(stack, "GET", movie_path).status_code == 404


# --- search and pagination ---------------------------------------------------------------------


def test_title_search_is_case_insensitive_containment(stack: Any) -> None:
    tok = token()
    wanted = create(stack, f"The {tok} Matrix")
    create(stack, f"{token()} Matrix")

    assert search(stack, title=tok.upper()) == [wanted]
    assert search(stack, title=f"the {tok} MATRIX") == [wanted]
    assert search(stack, title=f"  THE   {tok}  ") == [wanted]


def test_title_search_treats_like_wildcards_literally(stack: Any) -> None:
    tok = token()
    percent = create(stack, f"{tok} 100% pure")
    create(stack, f"{tok} 100 pure")
    underscore = create(stack, f"{tok}_x")
    create(stack, f"{tok}ax")
    backslash = create(stack, f"{tok} a\\b")

    assert search(stack, title=f"{tok} 100%") == [percent]
    assert search(stack, title=f"{tok}_") == [underscore]
    assert search(stack, title=f"{tok} a\\") == [backslash]
    assert search(stack, title=f"{tok}%x") == []


def test_listing_is_bounded_by_limit_offset_and_after_id(stack: Any) -> None:
    tok = token()
    movies = [create(stack, f"{tok} {n}") for n in range(3)]

    assert search(stack, title=tok) == movies
    assert search(stack, title=tok, limit=2) == movies[:2]
    assert search(stack, title=tok, limit=2, offset=2) == movies[2:]
    assert search(stack, title=tok, after_id=movies[0]["id"]) == movies[1:]


def test_default_limit_is_100_and_max_is_1000(stack: Any) -> None:
    tok = token()
    for n in range(101):
        create(stack, f"{tok} {n}")
    assert len(search(stack, title=tok)) == 100
    assert len(search(stack, title=tok, limit=1000)) == 101
    assert_json_error(call(stack, "GET", params={"limit": 1001}), 400)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "abc"},
        {"limit": "0"},
        {"limit": "-1"},
        {"offset": "-1"},
        {"offset": "x"},
        {"after_id": "1.5"},
        {"title": ""},
    ],
)
def test_invalid_list_parameters_are_400_json(stack: Any, params: dict[str, str]) -> None:
    assert_json_error(call(stack, "GET", params=params), 400)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"title", "description"}),
        ({"title": "Alien"}, {"description"}),
        ({"title": "", "description": "d"}, {"title"}),
        ({"title": 7, "description": "d"}, {"title"}),
        ({"title": "Alien", "description": "d", "rating": 5}, {"rating"}),
    ],
)
def test_invalid_movie_is_400_naming_fields(
    stack: Any, payload: dict[str, object], fields: set[str]
) -> None:
    body = assert_json_error(call(stack, "POST", json=payload), 400)
    assert set(body["details"]) == fields


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1]", b'{"title": "x"'])
def test_body_that_is_not_a_json_object_is_400(stack: Any, raw: bytes) -> None:
    response = call(stack, "POST", data=raw, headers={"Content-Type": "application/json"})
    assert_json_error(response, 400)


def test_put_without_fields_is_400(stack: Any) -> None:
    movie = create(stack, token())
    assert_json_error(call(stack, "PUT", f"/{movie['id']}", json={}), 400)


def test_oversized_body_is_413_json(stack: Any) -> None:
    payload = {"title": token(), "description": "x" * (MAX_CONTENT_LENGTH + 1)}
    assert_json_error(call(stack, "POST", json=payload), 413)


def test_unsupported_method_is_405_json(stack: Any) -> None:
    assert_json_error(call(stack, "PATCH", json={}), 405)


def test_unknown_gateway_path_is_404_json(stack: Any) -> None:
    response = requests.get(f"{stack.gateway_url}/api/nothing", timeout=TIMEOUT)
    assert_json_error(response, 404)


# --- request ids, health -----------------------------------------------------------------------


def test_request_id_is_echoed_and_reaches_inventory(stack: Any) -> None:
    request_id = f"contract-{uuid.uuid4().hex}"
    response = call(stack, "GET", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id

    def inventory_request_line() -> dict[str, Any] | None:
        out = stack.compose("logs", "--no-color", "--no-log-prefix", "inventory-app").stdout
        text = out.decode() if isinstance(out, bytes) else str(out)
        for line in text.splitlines():
            if request_id in line:
                entry: dict[str, Any] = json.loads(line)
                if entry.get("message") == "request":
                    return entry
        return None

    # Inventory's own JSON request line carries the id the gateway was given.
    entry = eventually(inventory_request_line, timeout=15, what="the id in inventory's logs")
    assert entry["service"] == "inventory"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/movies", 200)


def test_request_id_is_generated_when_absent(stack: Any) -> None:
    response = call(stack, "GET")
    assert uuid.UUID(response.headers["X-Request-ID"])


def test_gateway_health_endpoints(stack: Any) -> None:
    base = stack.gateway_url
    assert requests.get(f"{base}/healthz", timeout=TIMEOUT).json() == {"status": "ok"}
    assert requests.get(f"{base}/readyz", timeout=TIMEOUT).status_code == 200
    version = requests.get(f"{base}/version", timeout=TIMEOUT).json()
    assert set(version) == {
        "service",
        "version",
        "git_sha",
        "lock_sha256",
        "notebook_cells_sha256",
    }
    assert version["service"] == "api-gateway"
    # The provenance baked in by `invoke build` (also the image's io.nbship.* labels).
    assert re.fullmatch(r"[0-9a-f]{64}", version["lock_sha256"])
    assert re.fullmatch(r"[0-9a-f]{64}", version["notebook_cells_sha256"])


# --- inventory down ----------------------------------------------------------------------------


def test_inventory_down_is_a_json_5xx_and_recovers(stack: Any) -> None:
    stack.compose("stop", "inventory-app")
    try:
        response = call(stack, "GET")
        body = assert_json_error(response, response.status_code)
        assert response.status_code in (502, 503, 504)
        assert "inventory" in body["error"]
    finally:
        stack.compose("start", "inventory-app")
        stack.wait_healthy("inventory-app")
        eventually(lambda: gateway_ready(stack), timeout=120, what="the gateway to be ready")
    assert call(stack, "GET").status_code == 200
