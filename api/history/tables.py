"""Table: one revision per change of any record, written in the change's own transaction."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Index, String
from sqlmodel import Field, SQLModel

from api.records import in_list, utcnow


class Action(StrEnum):
    create = "create"
    update = "update"
    publish = "publish"
    retract = "retract"
    delete = "delete"
    restore = "restore"
    import_ = "import"


class Revision(SQLModel, table=True):
    __tablename__ = "revision"
    __table_args__ = (
        CheckConstraint(in_list("action", Action), name="action"),
        Index("ix_revision_resource_slug_id", "resource", "slug", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key: a revision outlives the record it describes.
    resource: str = Field(sa_type=String(20), nullable=False)
    record_id: int = Field(nullable=False)
    slug: str = Field(sa_type=String(80), nullable=False)
    version: int = Field(nullable=False)
    action: str = Field(sa_type=String(16), nullable=False)
    actor: str = Field(sa_type=String(100), nullable=False)
    at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        nullable=False,
    )
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    snapshot: dict[str, Any] | None = Field(default=None, sa_type=JSON)
