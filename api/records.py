"""What every curated record shares: review status, version and timestamps, and the enums."""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BeforeValidator, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, DateTime, Index, Integer, MetaData, String
from sqlmodel import Field, SQLModel

# Every table module imports this one, so the convention is in place before any table is made.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(min_length=2, max_length=80, pattern=SLUG_PATTERN)]


def _not_a_number(value: object) -> object:
    # Dates and times are ISO 8601 / RFC 3339 strings; pydantic would take a number as Unix time.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("give a date or time as an ISO 8601 string, not a number")
    return value


TextDate = Annotated[date, BeforeValidator(_not_a_number)]
TextDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]

ISO_COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)


def _iso_country(code: str) -> str:
    code = code.upper()
    if code not in ISO_COUNTRIES:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


Country = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    AfterValidator(_iso_country),
    PydanticField(description="ISO 3166-1 alpha-2, e.g. CN"),
]
# In a query, either case is fine: ?country=cn
CountryQuery = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2}$"), AfterValidator(_iso_country)
]
YEAR_MIN, YEAR_MAX = 1900, 2100


class ReviewStatus(StrEnum):
    draft = "draft"
    published = "published"
    retracted = "retracted"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


def in_list(column: str, values: type[StrEnum]) -> str:
    """SQL for a CHECK constraint that keeps an enum column to its values."""
    quoted = ", ".join(f"'{v.value}'" for v in values)
    return f"{column} IN ({quoted})"


def record_constraints(table: str) -> tuple[Any, ...]:
    """What every curated table has besides its columns: the review states, and the index
    that serves a list of one review state in slug order (the default list page) straight
    from the index, stopping after one page, whatever statistics the planner has."""
    return (
        CheckConstraint(in_list("review_status", ReviewStatus), name="review_status"),
        Index(f"ix_{table}_review_status_slug", "review_status", "slug"),
    )


class RecordColumns(SQLModel):
    """Columns of every curated table (initiatives, sectors, organizations, sources)."""

    id: int | None = Field(default=None, sa_column_kwargs={"autoincrement": True}, primary_key=True)
    slug: str = Field(sa_type=String(80), nullable=False, unique=True)
    review_status: str = Field(
        default=ReviewStatus.draft.value,
        sa_type=String(16),
        nullable=False,
    )
    version: int = Field(default=1, sa_type=Integer, nullable=False)
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        nullable=False,
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        nullable=False,
    )


__all__ = ["Column", "RecordColumns"]
