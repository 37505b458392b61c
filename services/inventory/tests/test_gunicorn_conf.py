"""Inventory's gunicorn config is valid for gunicorn and listens on 8080 by default."""

from __future__ import annotations

import importlib

import pytest
from gunicorn.config import Config


def test_config_values_pass_gunicorn_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    import inventory.gunicorn_conf as conf

    conf = importlib.reload(conf)
    cfg = Config()
    # As gunicorn reads a python: config: every module attribute that names a setting.
    for name, value in vars(conf).items():
        if name in cfg.settings:
            cfg.set(name, value)
    assert cfg.bind == ["0.0.0.0:8080"]
    assert cfg.threads >= 1
    assert cfg.graceful_timeout < 10
