"""Billing serves only health endpoints, and is ready only while it consumes."""

from __future__ import annotations

import importlib

import pytest
from flask import Flask
from gunicorn.config import Config

from billing import create_app
from nbship_common.settings import SettingsError


@pytest.mark.parametrize("name", ["DATABASE_URL", "RABBITMQ_URL"])
def test_create_app_names_a_missing_setting(
    billing_env: None, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(name)
    with pytest.raises(SettingsError, match=f"^{name} is required"):
        create_app()


def test_readyz_is_503_until_the_consumer_runs(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    details = response.get_json()["details"]
    assert set(details) == {"database", "consumer"}
    assert details["consumer"] == "ConsumerNotReady: not started"


def test_version_names_the_service(app: Flask) -> None:
    assert app.test_client().get("/version").get_json()["service"] == "billing"


def test_no_api_routes(app: Flask) -> None:
    response = app.test_client().post("/api/billing", json={})
    assert response.status_code == 404


def test_gunicorn_config_is_valid_with_one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    import billing.gunicorn_conf as conf

    conf = importlib.reload(conf)
    cfg = Config()
    # As gunicorn reads a python: config: every module attribute that names a setting.
    for name, value in vars(conf).items():
        if name in cfg.settings:
            cfg.set(name, value)
    assert cfg.workers == 1
    assert cfg.bind == ["0.0.0.0:8080"]
    assert callable(cfg.post_worker_init) and callable(cfg.worker_exit)
