"""API gateway: the public entry point; proxies movies to inventory, queues billing orders."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from gateway import billing, movies, openapi, publisher, upstream
from gateway.settings import GatewaySettings
from nbship_common.app import create_base_app


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Build the app; settings come from the environment, `config` overrides Flask config."""
    settings = GatewaySettings.from_env()
    app = create_base_app(__name__, settings.common, config, log_file=settings.log_file)
    upstream.init_app(app, settings.inventory_url, pool_size=settings.common.threads)
    publisher.init_app(app, settings.rabbitmq_url, settings.billing_queue)
    app.register_blueprint(movies.bp)
    app.register_blueprint(billing.bp)
    openapi.init_app(app)
    return app
