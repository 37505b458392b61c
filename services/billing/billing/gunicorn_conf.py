"""Gunicorn settings for billing: the shared base, one worker, and the consumer's hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.consumer import consumer_of
from nbship_common.gunicorn_base import *  # noqa: F403 - the shared settings
from nbship_common.gunicorn_base import bind_address

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

bind = bind_address(default_port=8080)
# One worker, so one consumer: ordering and prefetch stay predictable, and the HTTP side only
# answers probes.
workers = 1


def post_worker_init(worker: Worker) -> None:
    """Start consuming once the worker has loaded the app (after fork, so no shared sockets)."""
    consumer = consumer_of(worker.wsgi)
    if consumer is not None:
        consumer.start()


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Stop consuming when the worker exits (SIGTERM, SIGQUIT or a restart)."""
    consumer = consumer_of(getattr(worker, "wsgi", None))
    if consumer is not None:
        consumer.stop()
