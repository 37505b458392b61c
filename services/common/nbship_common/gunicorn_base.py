"""Gunicorn settings shared by the three services; each service's gunicorn_conf re-exports them.

Read once when gunicorn loads the config module (`--config python:<pkg>.gunicorn_conf`).
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

from nbship_common.logging import JsonFormatter
from nbship_common.settings import LOG_LEVELS, Env, threads_from_env

_env = Env()

# The gunicorn settings every service shares; each <pkg>/gunicorn_conf.py star-imports exactly
# these and adds its own bind and workers (gunicorn reads settings as module attributes).
__all__ = [
    "accesslog",
    "control_socket_disable",
    "errorlog",
    "graceful_timeout",
    "keepalive",
    "logconfig_dict",
    "logger_class",
    "loglevel",
    "reuse_port",
    "threads",
    "timeout",
    "worker_class",
    "worker_tmp_dir",
]


def bind_address(default_port: int) -> str:
    """Listen on every interface of the container, on PORT."""
    port = _env.integer("PORT", default_port, minimum=1, maximum=65535)
    return f"0.0.0.0:{port}"


def workers_from_env(default: int = 2) -> int:
    """Worker processes, from WEB_CONCURRENCY (the usual knob) or `default`.

    Two by default: while one worker is being replaced (crashed, or killed after `timeout`) the
    other keeps serving, and on the small hosts the stack targets (2 cores, shared with the
    databases and the broker) more processes would only compete for CPU; `threads` supplies the
    concurrency. Raise WEB_CONCURRENCY on a host with cores to spare.
    """
    return _env.integer("WEB_CONCURRENCY", default, minimum=1, maximum=64)


# gthread: each worker serves several requests at once on threads. inventory and billing wait on
# PostgreSQL, whose driver blocks outside Python, so threads overlap that waiting at a fraction
# of the memory of more processes, without the monkey-patching an async worker needs. The
# gateway, which waits only on sockets, overrides this with gevent (see its gunicorn_conf).
worker_class = "gthread"
threads = threads_from_env(_env)

# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new connections over
# the workers. On one shared socket the first idle worker accepted them all: the gateway's
# kept-alive connections to inventory were measured all landing on one of its two workers,
# leaving the other idle while the first was held to one core by the GIL.
reuse_port = True

# A request that takes 30 s is stuck (every upstream call has a shorter timeout): the worker
# is killed and replaced rather than holding its threads forever.
timeout = 30
# On SIGTERM, in-flight requests (and billing's consumer) get 8 s to finish: inside the 10 s
# Docker waits after SIGTERM before it sends SIGKILL.
graceful_timeout = 8
# Idle keep-alive connections (the gateway's pooled connections to inventory) are closed after
# 5 s; the gateway's client retries once on a connection closed under it.
keepalive = 5


class AppLogger(Logger):  # type: ignore[misc]  # gunicorn is untyped: Logger is Any
    """Gunicorn's logger without an access log: each app writes its own JSON request line."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Do nothing: with logconfig_dict set, gunicorn would build every request's log atoms
        (a dict of all headers and environ entries) only to drop them at the CRITICAL level."""


# Our JSON request line (method, path, status, duration_ms, request_id) replaces the access log.
logger_class = AppLogger
accesslog = None
errorlog = "-"
loglevel = _env.choice("LOG_LEVEL", "INFO", LOG_LEVELS).lower()

# The root filesystem is read-only: the worker heartbeat file goes to /dev/shm (a tmpfs in every
# container, which also avoids fchmod stalls on disk) and the control socket, which would be
# created under $HOME, is not wanted.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
control_socket_disable = True

# Gunicorn's own lines (boot, worker exits, timeouts) as JSON like everything else. Root has no
# handler here: the app installs its JSON handlers when create_app runs in the worker.
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["console"], "propagate": False},
        # AppLogger writes no access lines; should one slip through, it goes nowhere.
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    "formatters": {"json": {"()": JsonFormatter}},
}
