"""The gateway's gunicorn config is valid for gunicorn and follows the shared base."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config


def test_config_values_pass_gunicorn_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "3123")
    import gateway.gunicorn_conf as conf

    conf = importlib.reload(conf)
    cfg = Config()
    # As gunicorn reads a python: config: every module attribute that names a setting.
    for name, value in vars(conf).items():
        if name in cfg.settings:
            cfg.set(name, value)
    assert cfg.bind == ["0.0.0.0:3123"]
    assert cfg.worker_class_str == "gevent"
    assert cfg.workers == 1
    assert cfg.accesslog is None
    assert cfg.control_socket_disable is True
    assert cfg.reuse_port is True


def test_worker_exit_finds_the_publisher_and_is_harmless_in_the_master(app: Any) -> None:
    from gateway import gunicorn_conf
    from gateway.publisher import BillingPublisher, publisher_of

    assert isinstance(publisher_of(app), BillingPublisher)
    assert publisher_of(SimpleNamespace()) is None
    arbiter: Any = None
    # gunicorn also calls worker_exit in the master, whose worker object never loaded the app.
    gunicorn_conf.worker_exit(arbiter, SimpleNamespace())
    gunicorn_conf.worker_exit(arbiter, SimpleNamespace(wsgi=app))
