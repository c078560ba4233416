"""Tables: initiatives and the links from them to sectors, organizations and each other."""

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from api.records import YEAR_MAX, YEAR_MIN, RecordColumns, in_list, record_constraints


class InitiativeKind(StrEnum):
    plan = "plan"
    strategy = "strategy"
    policy = "policy"
    programme = "programme"
    system = "system"
    measure = "measure"
    regulation = "regulation"
    proposal = "proposal"


class InitiativeStatus(StrEnum):
    proposed = "proposed"
    active = "active"
    completed = "completed"
    superseded = "superseded"
    unknown = "unknown"


class OrganizationRole(StrEnum):
    lead = "lead"
    funder = "funder"
    implementer = "implementer"
    participant = "participant"
    target = "target"


class Relation(StrEnum):
    predecessor_of = "predecessor_of"
    successor_of = "successor_of"
    part_of = "part_of"
    has_part = "has_part"
    implements = "implements"
    implemented_by = "implemented_by"
    responds_to = "responds_to"
    responded_to_by = "responded_to_by"
    related_to = "related_to"


INVERSE_RELATION: dict[Relation, Relation] = {
    Relation.predecessor_of: Relation.successor_of,
    Relation.successor_of: Relation.predecessor_of,
    Relation.part_of: Relation.has_part,
    Relation.has_part: Relation.part_of,
    Relation.implements: Relation.implemented_by,
    Relation.implemented_by: Relation.implements,
    Relation.responds_to: Relation.responded_to_by,
    Relation.responded_to_by: Relation.responds_to,
    Relation.related_to: Relation.related_to,
}


class Initiative(RecordColumns, table=True):
    __tablename__ = "initiative"
    __table_args__ = (
        *record_constraints("initiative"),
        CheckConstraint(in_list("kind", InitiativeKind), name="kind"),
        CheckConstraint(in_list("status", InitiativeStatus), name="status"),
        CheckConstraint(
            f"start_year IS NULL OR start_year BETWEEN {YEAR_MIN} AND {YEAR_MAX}",
            name="start_year",
        ),
        CheckConstraint(
            f"end_year IS NULL OR end_year BETWEEN {YEAR_MIN} AND {YEAR_MAX}", name="end_year"
        ),
        CheckConstraint(
            "start_year IS NULL OR end_year IS NULL OR start_year <= end_year", name="year_order"
        ),
        Index("ix_initiative_start_year_slug", "start_year", "slug"),
    )

    name: str = Field(sa_type=String(300), nullable=False)
    name_zh: str | None = Field(default=None, sa_type=String(200))
    aliases: list[Any] = Field(default_factory=list, sa_type=JSON, nullable=False)
    kind: str = Field(sa_type=String(16), nullable=False, index=True)
    status: str = Field(sa_type=String(16), nullable=False, index=True)
    country: str = Field(sa_type=String(2), nullable=False, index=True)
    summary: str = Field(default="", sa_type=Text, nullable=False)
    start_year: int | None = Field(default=None)
    end_year: int | None = Field(default=None)


def _fk(target: str, ondelete: str) -> Any:
    return Field(
        sa_type=Integer,
        sa_column_args=[ForeignKey(target, ondelete=ondelete)],
        primary_key=True,
    )


class InitiativeSector(SQLModel, table=True):
    __tablename__ = "initiative_sector"
    __table_args__ = (Index("ix_initiative_sector_sector_id", "sector_id"),)

    initiative_id: int = _fk("initiative.id", "CASCADE")
    sector_id: int = _fk("sector.id", "RESTRICT")


class InitiativeOrganization(SQLModel, table=True):
    __tablename__ = "initiative_organization"
    __table_args__ = (
        CheckConstraint(in_list("role", OrganizationRole), name="role"),
        Index("ix_initiative_organization_organization_id", "organization_id"),
    )

    initiative_id: int = _fk("initiative.id", "CASCADE")
    organization_id: int = _fk("organization.id", "RESTRICT")
    role: str = Field(sa_type=String(16), primary_key=True)


class InitiativeRelation(SQLModel, table=True):
    """One row per direction: A predecessor_of B is stored with B successor_of A."""

    __tablename__ = "initiative_relation"
    __table_args__ = (
        CheckConstraint(in_list("relation", Relation), name="relation"),
        CheckConstraint("initiative_id <> related_id", name="not_self"),
        Index("ix_initiative_relation_related_id", "related_id"),
    )

    initiative_id: int = _fk("initiative.id", "CASCADE")
    related_id: int = _fk("initiative.id", "CASCADE")
    relation: str = Field(sa_type=String(20), nullable=False)


class Evidence(SQLModel, table=True):
    """Which excerpt backs which record: exactly one of the three record columns is set."""

    __tablename__ = "evidence"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN initiative_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN sector_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN organization_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_record",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: int | None = Field(
        default=None,
        sa_type=Integer,
        sa_column_args=[ForeignKey("initiative.id", ondelete="CASCADE")],
        index=True,
    )
    sector_id: int | None = Field(
        default=None,
        sa_type=Integer,
        sa_column_args=[ForeignKey("sector.id", ondelete="CASCADE")],
        index=True,
    )
    organization_id: int | None = Field(
        default=None,
        sa_type=Integer,
        sa_column_args=[ForeignKey("organization.id", ondelete="CASCADE")],
        index=True,
    )
    excerpt_id: int = Field(
        sa_type=Integer,
        sa_column_args=[ForeignKey("excerpt.id", ondelete="RESTRICT")],
        nullable=False,
        index=True,
    )
    position: int = Field(default=0, nullable=False)
