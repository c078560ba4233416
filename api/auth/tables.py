"""Table: API keys (only a hash of each key is kept)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, String
from sqlmodel import Field, SQLModel

from api.records import in_list, utcnow


class Role(StrEnum):
    contributor = "contributor"
    editor = "editor"
    admin = "admin"


ROLE_RANK = {Role.contributor: 1, Role.editor: 2, Role.admin: 3}


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(in_list("role", Role), name="role"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(100), nullable=False, unique=True)
    role: str = Field(sa_type=String(16), nullable=False)
    prefix: str = Field(sa_type=String(16), nullable=False, unique=True)
    key_hash: str = Field(sa_type=String(64), nullable=False)
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        nullable=False,
    )
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
