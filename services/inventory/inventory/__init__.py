"""Inventory service: the movies catalogue over PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from inventory import db, routes
from inventory.settings import InventorySettings
from nbship_common.app import create_base_app


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Build the app; settings come from the environment, `config` overrides Flask config."""
    settings = InventorySettings.from_env()
    app = create_base_app(__name__, settings.common, config)
    db.init_app(app, settings)
    app.register_blueprint(routes.bp)
    return app
