"""Billing service: stores the orders queued by the gateway; serves only health endpoints."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from billing import consumer, db
from billing.settings import BillingSettings
from nbship_common.app import create_base_app


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Build the app and its (not yet started) consumer; gunicorn_conf starts it per worker."""
    settings = BillingSettings.from_env()
    app = create_base_app(__name__, settings.common, config)
    engine = db.init_app(app, settings)
    consumer.init_app(app, settings, engine)
    return app
