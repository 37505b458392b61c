"""Gunicorn settings for the gateway: the shared base, on port 3000, on gevent's worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbship_common.gunicorn_base import *  # noqa: F403 - the shared settings
from nbship_common.gunicorn_base import bind_address, workers_from_env

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

bind = bind_address(default_port=3000)
# One process: its event loop serves every connection, and a second process on two cores shared
# with inventory, two databases and a broker measured more CPU per request, not less (context
# switches between two loops doing the same work). If it dies, gunicorn's master keeps the listening
# socket, so clients wait in the backlog while it starts another. Raise WEB_CONCURRENCY on a
# host with cores to spare.
workers = workers_from_env(default=1)

# The gateway only waits: on inventory for movies, on the broker's confirm for orders. On
# gevent's worker each request is a greenlet, so a thousand can wait at once in one thread, and
# none pays for the GIL hand-offs that made a proxied request on gthread cost as much CPU as
# inventory spent answering it. gunicorn monkey-patches the worker before it loads the app.
# inventory and billing stay on gthread: their database driver blocks outside Python.
worker_class = "gevent"
# Open client connections per worker; beyond them new clients wait in the listen backlog.
worker_connections = 1000


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Close the broker connection when the worker exits, so the broker sees a clean goodbye."""
    # Imported here, not at the top: the master reads this file before gevent patches the
    # worker, and the app's modules must be imported after the patch (see create_app).
    from gateway.publisher import publisher_of

    publisher = publisher_of(getattr(worker, "wsgi", None))
    if publisher is not None:
        publisher.close()
