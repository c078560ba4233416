"""Request and response pieces every resource shares: list parameters, patch rules."""

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

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


def _has_nul(value: Any) -> bool:
    """Whether a string anywhere in the value holds NUL (iterative: input may nest deeply)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class WriteModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no record has a use for one.
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


def _drop_null_from_schema(schema: dict[str, Any], cls: type) -> None:
    """Fields that cannot be null are optional in a patch but never null: say so."""
    for name in getattr(cls, "not_null", ()):
        prop = schema.get("properties", {}).get(name)
        if not prop or "anyOf" not in prop:
            continue
        options = [o for o in prop.pop("anyOf") if o.get("type") != "null"]
        prop.pop("default", None)
        if len(options) == 1:
            prop.update(options[0])
        else:
            prop["anyOf"] = options


class PatchModel(WriteModel):
    """A JSON merge patch: absent fields stay as they are; null clears a nullable field.

    Fields in ``not_null`` cannot be cleared: their schema has no null, and a null for one
    is refused naming that field."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_drop_null_from_schema
    )
    not_null: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name in cls.not_null:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value
