"""Request and response pieces every resource shares: list parameters, patch rules."""

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.http import DEFAULT_LIMIT, MAX_LIMIT
from api.records import ReviewStatus


class ListParams(BaseModel):
    """Query parameters every list takes."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size.")
    cursor: str | None = Field(
        None, max_length=2000, description="The `next_cursor` of the previous page."
    )
    sort: str | None = Field(
        None,
        max_length=200,
        description="Comma-separated fields, `-` for descending, e.g. `-start_year,name`.",
    )
    review_status: list[ReviewStatus] = Field(
        default_factory=list,
        description="Editors only: list drafts or retracted records (default: published).",
    )
    format: Literal["json", "csv", "ndjson"] = Field(
        "json",
        description="json: one page in the list envelope; csv or ndjson: every match, streamed.",
    )


class WriteModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PatchModel(WriteModel):
    """A JSON merge patch: absent fields stay, null clears a nullable field."""

    not_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls.not_null:
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be null")
        return data
