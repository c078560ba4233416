"""Organizations: how they are listed, filtered, and what deleting one must respect."""

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, select

from api.errors import Conflict
from api.http import SortField
from api.initiatives.tables import Initiative, InitiativeOrganization
from api.organizations.models import OrganizationListParams
from api.organizations.tables import Organization
from api.resource import Resource, WriteContext, register

table = Organization.__table__  # type: ignore[attr-defined]
link_table = InitiativeOrganization.__table__  # type: ignore[attr-defined]
initiative_table = Initiative.__table__  # type: ignore[attr-defined]

SORT_FIELDS = {
    "slug": SortField("slug", table.c.slug),
    "name": SortField("name", table.c.name),
    "kind": SortField("kind", table.c.kind),
    "updated_at": SortField("updated_at", table.c.updated_at, datetime),
}


def _before_delete(conn: Connection, org_id: int, detach: bool, ctx: WriteContext) -> None:
    users = conn.execute(
        select(initiative_table.c.id, initiative_table.c.slug)
        .join(link_table, link_table.c.initiative_id == initiative_table.c.id)
        .where(link_table.c.organization_id == org_id)
        .distinct()
        .order_by(initiative_table.c.slug)
    ).all()
    if users and not detach:
        slugs = [u.slug for u in users]
        raise Conflict(
            f"initiatives name this organization: {', '.join(slugs[:20])}; "
            "delete with ?detach=true to remove it from them",
            extra={"initiatives": slugs},
        )
    if users:
        conn.execute(delete(link_table).where(link_table.c.organization_id == org_id))
        ctx.touched.update(("initiatives", u.id) for u in users)


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
