"""Inventory's tables, as typed SQLAlchemy 2 models; Alembic migrations must match them."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from nbship_common.database import metadata

TITLE_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 10_000


class Base(DeclarativeBase):
    """Declarative base carrying the project's constraint naming convention."""

    metadata = metadata()


class Movie(Base):
    """A movie in the catalogue."""

    __tablename__ = "movies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text)

    def to_dict(self) -> dict[str, object]:
        """The movie as the API shows it."""
        return {"id": self.id, "title": self.title, "description": self.description}
