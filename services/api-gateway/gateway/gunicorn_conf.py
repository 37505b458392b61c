"""Gunicorn settings for the gateway: the shared base, on port 3000."""

from __future__ import annotations

from nbship_common.gunicorn_base import *  # noqa: F403 - the shared settings
from nbship_common.gunicorn_base import bind_address, workers_from_env

bind = bind_address(default_port=3000)
workers = workers_from_env(default=2)
