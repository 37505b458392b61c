"""Fixtures for the shared code: a minimal app built the way every service builds its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from nbship_common.app import create_base_app
from nbship_common.settings import CommonSettings

SETTINGS = CommonSettings(
    service="demo", env="test", version="1.2.3", git_sha="abc123", log_level="INFO", port=8080
)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """Where the demo app also writes its JSON lines, so tests can read them back."""
    return tmp_path / "demo.log"


@pytest.fixture
def app(log_file: Path) -> Iterator[Flask]:
    """A base app with one route that works and one that has a bug."""
    app = create_base_app("demo", SETTINGS, {"TESTING": True}, log_file=log_file)

    @app.get("/ok")
    def ok() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/bug")
    def bug() -> dict[str, str]:
        raise RuntimeError("deliberate bug")

    @app.post("/echo")
    def echo() -> dict[str, object]:
        from nbship_common.validation import read_json_object

        return read_json_object()

    yield app
