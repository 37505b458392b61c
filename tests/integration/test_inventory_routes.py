"""inventory's routes through Flask's test client, on a real PostgreSQL: the image the stack
runs, migrated by inventory's own Alembic migrations. Faster to read and to debug than the
contract tests through the gateway, and nothing between the client and the routes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from polling import eventually

from nbship.paths import ROOT

pytestmark = pytest.mark.integration

V1 = "0.1.0"
INVENTORY = ROOT / "services" / "inventory"
PYTHONPATH = os.pathsep.join(str(ROOT / "services" / name) for name in ("common", "inventory"))


@pytest.fixture(scope="module")
def database_url(pipeline: Any) -> Iterator[str]:
    """A PostgreSQL container of the stack's own image on a loopback port, at inventory's
    newest migration; removed afterwards."""
    name = f"nbship-routes-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    subprocess.run(
        ["docker", "run", "--detach", "--name", name, "--publish", "127.0.0.1::5432",
         "--env", "POSTGRES_USER=inventory", "--env", f"POSTGRES_PASSWORD={password}",
         "--env", "POSTGRES_DB=movies_db", f"nbship/postgres:{V1}"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        eventually(
            lambda: (
                subprocess.run(
                    ["docker", "exec", name, "pg_isready", "-U", "inventory", "-d", "movies_db"],
                    capture_output=True,
                ).returncode
                == 0
            ),
            timeout=60,
            what="PostgreSQL accepting connections",
        )
        port = (
            subprocess.run(
                ["docker", "port", name, "5432/tcp"], check=True, capture_output=True, text=True
            )
            .stdout.split(":")[-1]
            .strip()
        )
        url = f"postgresql+psycopg://inventory:{password}@127.0.0.1:{port}/movies_db"
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": PYTHONPATH, "NBSHIP_ENV": "test"}
        # pg_isready answers during the image's init restart: the migration step waits itself.
        migrated = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(INVENTORY / "alembic.ini"), "upgrade",
             "head"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert migrated.returncode == 0, migrated.stderr
        yield url
    finally:
        subprocess.run(["docker", "rm", "--force", "--volumes", name], capture_output=True)


@pytest.fixture
def client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    """The app as gunicorn builds it, on an empty movies table."""
    from inventory import create_app

    monkeypatch.setenv("NBSHIP_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", database_url)
    app: Flask = create_app({"TESTING": True})
    try:
        with app.test_client() as test_client:
            assert test_client.delete("/api/movies").status_code == 200
            yield test_client
    finally:
        # Its pooled connections, closed as a gunicorn worker's are when it exits.
        app.extensions["inventory_sessions"].kw["bind"].dispose()


def _create(client: FlaskClient, title: str, description: str = "d") -> dict[str, Any]:
    response = client.post("/api/movies", json={"title": title, "description": description})
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    assert response.headers["Location"] == f"/api/movies/{created['id']}"
    return created


def test_a_movie_is_created_read_listed_updated_and_deleted(client: FlaskClient) -> None:
    movie = _create(client, "  The   Third Man ", "Vienna, 1949 ")
    assert (movie["title"], movie["description"]) == ("The Third Man", "Vienna, 1949")
    assert client.get(f"/api/movies/{movie['id']}").get_json() == movie
    assert client.get("/api/movies").get_json() == {"movies": [movie]}

    changed = client.put(f"/api/movies/{movie['id']}", json={"description": "Carol Reed"})
    assert changed.status_code == 200
    assert changed.get_json() == {**movie, "description": "Carol Reed"}

    gone = client.delete(f"/api/movies/{movie['id']}")
    assert gone.get_json()["description"] == "Carol Reed"
    missing = client.get(f"/api/movies/{movie['id']}")
    assert missing.status_code == 404
    assert client.put(f"/api/movies/{movie['id']}", json={"title": "x"}).status_code == 404


def test_title_search_ignores_case_and_spacing_and_treats_wildcards_literally(
    client: FlaskClient,
) -> None:
    wanted = _create(client, "The Third Man")
    _create(client, "Third Man Walking")
    _create(client, "100% Man")
    found = client.get("/api/movies", query_string={"title": "the   THIRD man"}).get_json()
    assert found == {"movies": [wanted]}
    # % and _ are characters to match, not SQL wildcards.
    percent = client.get("/api/movies", query_string={"title": "0%"}).get_json()
    assert [m["title"] for m in percent["movies"]] == ["100% Man"]
    assert client.get("/api/movies", query_string={"title": "_"}).get_json() == {"movies": []}


def test_paging_by_limit_offset_and_after_id(client: FlaskClient) -> None:
    ids = [_create(client, f"Movie {n}")["id"] for n in range(5)]
    page = client.get("/api/movies", query_string={"limit": 2, "offset": 1}).get_json()
    assert [m["id"] for m in page["movies"]] == ids[1:3]
    after = client.get("/api/movies", query_string={"after_id": ids[2]}).get_json()
    assert [m["id"] for m in after["movies"]] == ids[3:]
    assert client.delete("/api/movies").get_json() == {"deleted": 5}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/api/movies", {"description": "no title"}, 400, "title"),
        ("post", "/api/movies", {"title": "t", "description": "d", "year": 1949}, 400, "year"),
        ("post", "/api/movies", {"title": "", "description": "d"}, 400, "title"),
        ("post", "/api/movies", {"title": 7, "description": "d"}, 400, "title"),
        ("put", "/api/movies/1", {}, 400, "body"),
        ("get", "/api/movies?limit=0", None, 400, "limit"),
        ("get", "/api/movies?limit=1001", None, 400, "limit"),
        ("get", "/api/movies?offset=-1", None, 400, "offset"),
        ("get", f"/api/movies/{2**31}", None, 404, "id"),
    ],
)
def test_bad_requests_name_the_field_at_fault(
    client: FlaskClient, method: str, path: str, body: Any, status: int, field: str
) -> None:
    response = getattr(client, method)(path, json=body)
    assert response.status_code == status, response.get_json()
    assert field in response.get_json().get("details", {}), response.get_json()


def test_a_body_that_is_not_json_is_refused_and_nothing_is_stored(client: FlaskClient) -> None:
    response = client.post(
        "/api/movies", data='{"title": "t", "description":', content_type="application/json"
    )
    assert response.status_code == 400
    assert client.get("/api/movies").get_json() == {"movies": []}
