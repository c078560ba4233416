"""Table: priority industries and general-purpose technologies."""

from enum import StrEnum

from sqlalchemy import CheckConstraint, String, Text
from sqlmodel import Field

from api.records import RecordColumns, in_list, record_constraints


class SectorKind(StrEnum):
    industry = "industry"
    technology = "technology"


class Sector(RecordColumns, table=True):
    __tablename__ = "sector"
    __table_args__ = (
        *record_constraints("sector"),
        CheckConstraint(in_list("kind", SectorKind), name="kind"),
    )

    name: str = Field(sa_type=String(200), nullable=False)
    name_zh: str | None = Field(default=None, sa_type=String(200))
    kind: str = Field(sa_type=String(16), nullable=False, index=True)
    description: str = Field(default="", sa_type=Text, nullable=False)
