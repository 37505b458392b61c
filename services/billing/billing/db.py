"""The database resource: one engine per worker, shared by the consumer and readiness probe."""

from __future__ import annotations

import uuid

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert

from billing.models import OrderRecord
from billing.settings import BillingSettings
from nbship_common.database import make_engine, ping
from nbship_common.health import add_readiness_check
from nbship_common.orders import Order

_ENGINE = "billing_engine"


def init_app(app: Flask, settings: BillingSettings) -> Engine:
    """Create the engine (it connects lazily) and probe it from /readyz."""
    # The consumer thread and the probe are the only users: a small pool is plenty.
    engine = make_engine(settings.database_url, application_name="billing", pool_size=2)
    app.extensions[_ENGINE] = engine
    add_readiness_check(app, "database", lambda: ping(engine))
    return engine


def store_order(engine: Engine, message_id: uuid.UUID, order: Order) -> bool:
    """Insert the order once per message id; False when it was already stored."""
    statement = (
        insert(OrderRecord)
        .values(
            message_id=message_id,
            user_id=order.user_id,
            number_of_items=order.number_of_items,
            total_amount=order.total_amount,
        )
        .on_conflict_do_nothing(index_elements=[OrderRecord.message_id])
        # A row comes back only when one was inserted (rowcount is not reliable with RETURNING).
        .returning(OrderRecord.id)
    )
    with engine.begin() as connection:
        return connection.execute(statement).first() is not None
