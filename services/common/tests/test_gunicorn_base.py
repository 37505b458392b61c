"""The gunicorn settings every service shares."""

from __future__ import annotations

from gunicorn.config import Config

from nbship_common.gunicorn_base import AppLogger


def test_gunicorn_builds_no_access_log_entries() -> None:
    # The apps log their own JSON request line; gunicorn's logger must not do the work twice.
    cfg = Config()
    cfg.set("logger_class", AppLogger)
    cfg.set("logconfig_dict", {"version": 1})
    logger = cfg.logger_class(cfg)
    assert isinstance(logger, AppLogger)
    built = []
    logger.atoms = lambda *args: built.append(args)  # type: ignore[method-assign]
    logger.access(object(), object(), {}, 0.001)
    assert built == []
