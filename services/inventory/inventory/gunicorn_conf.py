"""Gunicorn settings for inventory: the shared base, on port 8080."""

from __future__ import annotations

from nbship_common.gunicorn_base import *  # noqa: F403 - the shared settings
from nbship_common.gunicorn_base import bind_address, workers_from_env

bind = bind_address(default_port=8080)
workers = workers_from_env(default=2)
