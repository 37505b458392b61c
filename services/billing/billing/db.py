"""The database resource: one engine per worker, shared by the consumer and readiness probe."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

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


def store_orders(engine: Engine, orders: Sequence[tuple[uuid.UUID, Order]]) -> set[uuid.UUID]:
    """Insert the orders in one transaction, once per message id; return the ids inserted.

    A message id already stored (a redelivery, or a copy earlier in `orders`) inserts nothing.
    """
    rows: dict[uuid.UUID, dict[str, object]] = {}
    for message_id, order in orders:
        # The first copy of an id wins; rows keep delivery order.
        rows.setdefault(
            message_id,
            {
                "message_id": message_id,
                "user_id": order.user_id,
                "number_of_items": order.number_of_items,
                "total_amount": order.total_amount,
            },
        )
    if not rows:
        return set()
    statement = (
        insert(OrderRecord)
        .values(list(rows.values()))
        .on_conflict_do_nothing(index_elements=[OrderRecord.message_id])
        # Only inserted rows come back (rowcount is not reliable with RETURNING).
        .returning(OrderRecord.message_id)
    )
    with engine.begin() as connection:
        return set(connection.execute(statement).scalars())
