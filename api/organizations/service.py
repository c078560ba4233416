"""Organizations: how they are listed, filtered, and what deleting one must respect."""

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select

from api.http import SortField
from api.initiatives.service import detach_or_refuse
from api.initiatives.tables import InitiativeOrganization
from api.organizations.models import OrganizationListParams
from api.organizations.tables import Organization
from api.resource import Resource, WriteContext, register

table = Organization.__table__  # type: ignore[attr-defined]
link_table = InitiativeOrganization.__table__  # type: ignore[attr-defined]

SORT_FIELDS = {
    "slug": SortField("slug", table.c.slug),
    "name": SortField("name", table.c.name),
    "kind": SortField("kind", table.c.kind),
    "updated_at": SortField("updated_at", table.c.updated_at, datetime),
}


def _before_delete(conn: Connection, org_id: int, detach: bool, ctx: WriteContext) -> None:
    detach_or_refuse(conn, link_table, "organization_id", org_id, detach, ctx, "organization")


def _users(conn: Connection, org_id: int) -> set[tuple[str, int]]:
    rows = conn.execute(
        select(link_table.c.initiative_id).where(link_table.c.organization_id == org_id)
    ).scalars()
    return {("initiatives", initiative_id) for initiative_id in rows}


RESOURCE = register(
    Resource(
        name="organizations",
        singular="organization",
        table=table,
        columns=(
            "name",
            "name_zh",
            "aliases",
            "kind",
            "country",
            "city",
            "founded_year",
            "description",
        ),
        search_type="organization",
        evidence_column="organization_id",
        before_delete=_before_delete,
        shown_by_others=("name",),
        dependents=_users,
    )
)


def filters(params: OrganizationListParams, dialect: str) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if params.kind:
        where.append(table.c.kind.in_([k.value for k in params.kind]))
    if params.country:
        where.append(table.c.country.in_([c.upper() for c in params.country]))
    return where
