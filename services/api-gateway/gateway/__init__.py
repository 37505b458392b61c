"""API gateway: the public entry point; proxies movies to inventory, queues billing orders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Build the app; settings come from the environment, `config` overrides Flask config."""
    # Imported here, as Flask's tutorial does: gunicorn's master imports this package for its
    # config (gateway.gunicorn_conf) before gevent patches the worker, and the app's modules
    # must be imported after that patch, in the worker, so that what they take from the
    # standard library (sockets, ssl, threading, queue) is gevent's.
    from gateway import billing, bodies, movies, openapi, publisher, upstream
    from gateway.settings import GatewaySettings
    from nbship_common.app import create_base_app

    settings = GatewaySettings.from_env()
    app = create_base_app(__name__, settings.common, config, log_file=settings.log_file)
    client = upstream.init_app(app, settings.inventory_url)
    publisher.init_app(app, settings.rabbitmq_url, settings.billing_queue)
    # Movies pass through to inventory in front of Flask (see gateway.movies); billing, health,
    # /version and /openapi.json are Flask's.
    app.wsgi_app = movies.PassThrough(app.wsgi_app, client)  # type: ignore[method-assign]
    # In front of both: each body is read whole, within one size and one time limit, before
    # either side sees it (see gateway.bodies).
    app.wsgi_app = bodies.WholeBody(  # type: ignore[method-assign]
        app.wsgi_app, timeout=settings.common.body_timeout
    )
    app.register_blueprint(billing.bp)
    openapi.init_app(app)
    return app
