"""Request and response bodies for initiatives."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.evidence import EvidenceIn, EvidenceRead
from api.initiatives.tables import InitiativeKind, InitiativeStatus, OrganizationRole, Relation
from api.records import YEAR_MAX, YEAR_MIN, Country, CountryQuery, Slug
from api.schemas import ListParams, PatchModel, WriteModel

Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX)]
# In a JSON body a year is a JSON integer: not "2015", not 2015.0 (query strings are text, so
# the parameters take Year).
BodyYear = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX, strict=True)]
Alias = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class OrganizationLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: Slug
    role: OrganizationRole
    name: str | None = Field(default=None, description="Read-only; ignored when written.")


class RelatedLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: Slug
    relation: Relation = Field(description="How this initiative relates to the linked one.")
    name: str | None = Field(default=None, description="Read-only; ignored when written.")


class OrganizationLinkRead(BaseModel):
    slug: str
    role: OrganizationRole
    name: str


class RelatedRead(BaseModel):
    slug: str
    relation: Relation
    name: str


class InitiativeCreate(WriteModel):
    slug: Slug = Field(examples=["made-in-china-2025"])
    name: str = Field(min_length=1, max_length=300, examples=["Made in China 2025"])
    name_zh: str | None = Field(default=None, max_length=200, examples=["中国制造2025"])
    aliases: list[Alias] = Field(default_factory=list, max_length=50, examples=[["MIC2025"]])
    kind: InitiativeKind
    status: InitiativeStatus = InitiativeStatus.unknown
    country: Country = Field(examples=["CN"], description="ISO 3166-1 alpha-2")
    summary: str = Field(default="", max_length=20_000)
    start_year: BodyYear | None = Field(default=None, examples=[2015])
    end_year: BodyYear | None = Field(default=None, examples=[2025])
    sectors: list[Slug] = Field(default_factory=list, max_length=100)
    organizations: list[OrganizationLink] = Field(default_factory=list, max_length=200)
    related: list[RelatedLink] = Field(default_factory=list, max_length=200)
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=100)


class InitiativeUpdate(PatchModel):
    not_null = frozenset(
        {"name", "aliases", "kind", "status", "country", "summary", "sectors", "organizations"}
        | {"related", "evidence"}
    )

    name: str | None = Field(default=None, min_length=1, max_length=300)
    name_zh: str | None = Field(default=None, max_length=200)
    aliases: list[Alias] | None = Field(default=None, max_length=50)
    kind: InitiativeKind | None = None
    status: InitiativeStatus | None = None
    country: Country | None = None
    summary: str | None = Field(default=None, max_length=20_000)
    start_year: BodyYear | None = None
    end_year: BodyYear | None = None
    sectors: list[Slug] | None = Field(default=None, max_length=100)
    organizations: list[OrganizationLink] | None = Field(default=None, max_length=200)
    related: list[RelatedLink] | None = Field(default=None, max_length=200)
    evidence: list[EvidenceIn] | None = Field(default=None, max_length=100)


class InitiativeRead(BaseModel):
    slug: str
    name: str
    name_zh: str | None
    aliases: list[str]
    kind: InitiativeKind
    status: InitiativeStatus
    country: str
    summary: str
    start_year: int | None
    end_year: int | None
    sectors: list[str] = Field(description="Slugs of the sectors it targets.")
    organizations: list[OrganizationLinkRead]
    related: list[RelatedRead]
    evidence: list[EvidenceRead]
    review_status: str
    version: int
    created_at: str = Field(description="RFC 3339, UTC")
    updated_at: str = Field(description="RFC 3339, UTC")


class InitiativeListParams(ListParams):
    q: str | None = Field(None, max_length=512, description="Full-text query.")
    sector: list[Slug] = Field(default_factory=list, description="Sector slug; repeat for OR.")
    organization: list[Slug] = Field(default_factory=list, description="Organization slug.")
    country: list[CountryQuery] = Field(default_factory=list, description="ISO 3166-1 alpha-2.")
    kind: list[InitiativeKind] = Field(default_factory=list)
    status: list[InitiativeStatus] = Field(default_factory=list)
    active_in: Year | None = Field(None, description="A year the initiative was in force.")
    start_year_min: Year | None = None
    start_year_max: Year | None = None
