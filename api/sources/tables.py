"""Tables: the documents the data comes from, and their verbatim excerpts."""

from datetime import date
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.records import RecordColumns, record_constraints


class Source(RecordColumns, table=True):
    __tablename__ = "source"
    __table_args__ = (*record_constraints("source"),)

    title: str = Field(sa_type=String(500), nullable=False)
    authors: list[Any] = Field(default_factory=list, sa_type=JSON, nullable=False)
    publisher: str | None = Field(default=None, sa_type=String(300))
    published_on: date | None = Field(default=None)
    url: str | None = Field(default=None, sa_type=String(2000))


class Excerpt(SQLModel, table=True):
    __tablename__ = "excerpt"
    __table_args__ = (UniqueConstraint("source_id", "key", name="uq_excerpt_source_key"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(
        sa_type=Integer,
        sa_column_args=[ForeignKey("source.id", ondelete="CASCADE")],
        nullable=False,
    )
    key: str = Field(sa_type=String(80), nullable=False)
    quote: str = Field(sa_type=Text, nullable=False)
    locator: str | None = Field(default=None, sa_type=String(100))
    position: int = Field(default=0, nullable=False)
