"""Request and response bodies for sectors."""

from pydantic import BaseModel, Field

from api.evidence import EvidenceIn, EvidenceRead
from api.records import Slug
from api.schemas import ListParams, PatchModel, WriteModel
from api.sectors.tables import SectorKind


class SectorFields(WriteModel):
    name: str = Field(min_length=1, max_length=200, examples=["New materials"])
    name_zh: str | None = Field(default=None, max_length=200, examples=["新材料"])
    kind: SectorKind
    description: str = Field(default="", max_length=20_000)
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=100)


class SectorCreate(SectorFields):
    slug: Slug = Field(examples=["new-materials"])


class SectorUpdate(PatchModel):
    not_null = frozenset({"name", "kind", "description", "evidence"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_zh: str | None = Field(default=None, max_length=200)
    kind: SectorKind | None = None
    description: str | None = Field(default=None, max_length=20_000)
    evidence: list[EvidenceIn] | None = Field(default=None, max_length=100)


class SectorRead(BaseModel):
    slug: str
    name: str
    name_zh: str | None
    kind: SectorKind
    description: str
    evidence: list[EvidenceRead]
    review_status: str
    version: int
    created_at: str = Field(description="RFC 3339, UTC")
    updated_at: str = Field(description="RFC 3339, UTC")


class SectorListParams(ListParams):
    kind: list[SectorKind] = Field(default_factory=list)
