"""Table: ministries, agencies, academies, universities, labs, parks, governments, bodies."""

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String, Text
from sqlmodel import Field

from api.records import RecordColumns, in_list, record_constraints


class OrganizationKind(StrEnum):
    ministry = "ministry"
    agency = "agency"
    academy = "academy"
    university = "university"
    lab = "lab"
    park = "park"
    government = "government"
    international = "international"
    party = "party"
    company = "company"
    other = "other"


FOUNDED_MIN, FOUNDED_MAX = 1000, 2100


class Organization(RecordColumns, table=True):
    __tablename__ = "organization"
    __table_args__ = (
        *record_constraints("organization"),
        CheckConstraint(in_list("kind", OrganizationKind), name="kind"),
        CheckConstraint(
            f"founded_year IS NULL OR founded_year BETWEEN {FOUNDED_MIN} AND {FOUNDED_MAX}",
            name="founded_year",
        ),
    )

    name: str = Field(sa_type=String(200), nullable=False)
    name_zh: str | None = Field(default=None, sa_type=String(200))
    aliases: list[Any] = Field(default_factory=list, sa_type=JSON, nullable=False)
    kind: str = Field(sa_type=String(16), nullable=False, index=True)
    country: str | None = Field(default=None, sa_type=String(2), index=True)
    city: str | None = Field(default=None, sa_type=String(100))
    founded_year: int | None = Field(default=None)
    description: str = Field(default="", sa_type=Text, nullable=False)
