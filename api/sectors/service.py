"""Sectors: how they are listed, filtered, and what deleting one must respect."""

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, select

from api.errors import Conflict
from api.http import SortField
from api.initiatives.tables import Initiative, InitiativeSector
from api.resource import Resource, WriteContext, register
from api.sectors.models import SectorListParams
from api.sectors.tables import Sector

table = Sector.__table__  # type: ignore[attr-defined]
link_table = InitiativeSector.__table__  # type: ignore[attr-defined]
initiative_table = Initiative.__table__  # type: ignore[attr-defined]

SORT_FIELDS = {
    "slug": SortField("slug", table.c.slug),
    "name": SortField("name", table.c.name),
    "kind": SortField("kind", table.c.kind),
    "updated_at": SortField("updated_at", table.c.updated_at, datetime),
}


def _before_delete(conn: Connection, sector_id: int, detach: bool, ctx: WriteContext) -> None:
    users = conn.execute(
        select(initiative_table.c.id, initiative_table.c.slug)
        .join(link_table, link_table.c.initiative_id == initiative_table.c.id)
        .where(link_table.c.sector_id == sector_id)
        .order_by(initiative_table.c.slug)
    ).all()
    if users and not detach:
        slugs = [u.slug for u in users]
        raise Conflict(
            f"initiatives use this sector: {', '.join(slugs[:20])}; "
            "delete with ?detach=true to remove it from them",
            extra={"initiatives": slugs},
        )
    if users:
        conn.execute(delete(link_table).where(link_table.c.sector_id == sector_id))
        ctx.touched.update(("initiatives", u.id) for u in users)


RESOURCE = register(
    Resource(
        name="sectors",
        singular="sector",
        table=table,
        columns=("name", "name_zh", "kind", "description"),
        search_type="sector",
        evidence_column="sector_id",
        before_delete=_before_delete,
    )
)


def filters(params: SectorListParams, dialect: str) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if params.kind:
        where.append(table.c.kind.in_([k.value for k in params.kind]))
    return where
