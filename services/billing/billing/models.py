"""Billing's tables, as typed SQLAlchemy 2 models; Alembic migrations must match them."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Numeric, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from nbship_common.database import metadata


class Base(DeclarativeBase):
    """Declarative base carrying the project's constraint naming convention."""

    metadata = metadata()


class OrderRecord(Base):
    """An order taken from the billing queue; `message_id` makes redelivery harmless."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    user_id: Mapped[int]
    number_of_items: Mapped[int]
    total_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
