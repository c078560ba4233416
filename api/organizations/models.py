"""Request and response bodies for organizations."""

from typing import Annotated

from pydantic import BaseModel, Field

from api.evidence import EvidenceIn, EvidenceRead
from api.initiatives.models import Alias
from api.organizations.tables import FOUNDED_MAX, FOUNDED_MIN, OrganizationKind
from api.records import Country, CountryQuery, Slug
from api.schemas import ListParams, PatchModel, WriteModel

# A JSON integer only: not "1956", not 1956.0.
FoundedYear = Annotated[int, Field(ge=FOUNDED_MIN, le=FOUNDED_MAX, strict=True)]


class OrganizationCreate(WriteModel):
    slug: Slug = Field(examples=["ministry-of-science-and-technology"])
    name: str = Field(min_length=1, max_length=200, examples=["Ministry of Science and Technology"])
    name_zh: str | None = Field(default=None, max_length=200, examples=["科学技术部"])
    aliases: list[Alias] = Field(default_factory=list, max_length=50, examples=[["MOST"]])
    kind: OrganizationKind
    country: Country | None = Field(default=None, examples=["CN"])
    city: str | None = Field(default=None, max_length=100, examples=["Beijing"])
    founded_year: FoundedYear | None = None
    description: str = Field(default="", max_length=20_000)
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=100)


class OrganizationUpdate(PatchModel):
    not_null = frozenset({"name", "aliases", "kind", "description", "evidence"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_zh: str | None = Field(default=None, max_length=200)
    aliases: list[Alias] | None = Field(default=None, max_length=50)
    kind: OrganizationKind | None = None
    country: Country | None = None
    city: str | None = Field(default=None, max_length=100)
    founded_year: FoundedYear | None = None
    description: str | None = Field(default=None, max_length=20_000)
    evidence: list[EvidenceIn] | None = Field(default=None, max_length=100)


class OrganizationRead(BaseModel):
    slug: str
    name: str
    name_zh: str | None
    aliases: list[str]
    kind: OrganizationKind
    country: str | None
    city: str | None
    founded_year: int | None
    description: str
    evidence: list[EvidenceRead]
    review_status: str
    version: int
    created_at: str = Field(description="RFC 3339, UTC")
    updated_at: str = Field(description="RFC 3339, UTC")


class OrganizationListParams(ListParams):
    kind: list[OrganizationKind] = Field(default_factory=list)
    country: list[CountryQuery] = Field(default_factory=list, description="ISO 3166-1 alpha-2.")
