"""Request and response bodies for sources."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.records import Slug, TextDate
from api.schemas import ListParams, PatchModel, WriteModel

Author = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class ExcerptIn(BaseModel):
    """A verbatim passage of the source, to be cited as evidence by its id."""

    model_config = ConfigDict(extra="forbid")
    id: Slug = Field(examples=["dual-circulation-introduction"])
    quote: str = Field(min_length=1, max_length=5000, description="Verbatim text of the source.")
    locator: str | None = Field(default=None, max_length=100, examples=["para 11"])


class ExcerptRead(BaseModel):
    id: str
    quote: str
    locator: str | None


class SourceCreate(WriteModel):
    slug: Slug = Field(examples=["lse-ideas-techno-nationalism-2021"])
    title: str = Field(min_length=1, max_length=500)
    authors: list[Author] = Field(default_factory=list, max_length=100)
    publisher: str | None = Field(default=None, max_length=300)
    published_on: TextDate | None = None
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    excerpts: list[ExcerptIn] = Field(default_factory=list, max_length=1000)


class SourceUpdate(PatchModel):
    not_null = frozenset({"title", "authors", "excerpts"})

    title: str | None = Field(default=None, min_length=1, max_length=500)
    authors: list[Author] | None = Field(default=None, max_length=100)
    publisher: str | None = Field(default=None, max_length=300)
    published_on: TextDate | None = None
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    excerpts: list[ExcerptIn] | None = Field(default=None, max_length=1000)


class SourceRead(BaseModel):
    slug: str
    title: str
    authors: list[str]
    publisher: str | None
    published_on: str | None = Field(description="ISO 8601 date")
    url: str | None
    excerpts: list[ExcerptRead]
    review_status: str
    version: int
    created_at: str = Field(description="RFC 3339, UTC")
    updated_at: str = Field(description="RFC 3339, UTC")


class SourceListParams(ListParams):
    pass
