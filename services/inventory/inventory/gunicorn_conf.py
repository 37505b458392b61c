"""Gunicorn settings for inventory: the shared base, on port 8080."""

from __future__ import annotations

from nbship_common.gunicorn_base import (
    accesslog,
    bind_address,
    control_socket_disable,
    errorlog,
    graceful_timeout,
    keepalive,
    logconfig_dict,
    loglevel,
    threads,
    timeout,
    worker_class,
    worker_tmp_dir,
    workers_from_env,
)

__all__ = [
    "accesslog",
    "bind",
    "control_socket_disable",
    "errorlog",
    "graceful_timeout",
    "keepalive",
    "logconfig_dict",
    "loglevel",
    "threads",
    "timeout",
    "worker_class",
    "worker_tmp_dir",
    "workers",
]

bind = bind_address(default_port=8080)
workers = workers_from_env(default=2)
