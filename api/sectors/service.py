"""Sectors: how they are listed, filtered, and what deleting one must respect."""

from datetime import datetime

from sqlalchemy import ColumnElement, Connection

from api.http import SortField
from api.initiatives.service import detach_or_refuse
from api.initiatives.tables import InitiativeSector
from api.resource import Resource, WriteContext, register
from api.sectors.models import SectorListParams
from api.sectors.tables import Sector

table = Sector.__table__  # type: ignore[attr-defined]
link_table = InitiativeSector.__table__  # type: ignore[attr-defined]

SORT_FIELDS = {
    "slug": SortField("slug", table.c.slug),
    "name": SortField("name", table.c.name),
    "kind": SortField("kind", table.c.kind),
    "updated_at": SortField("updated_at", table.c.updated_at, datetime),
}


def _before_delete(conn: Connection, sector_id: int, detach: bool, ctx: WriteContext) -> None:
    detach_or_refuse(conn, link_table, "sector_id", sector_id, detach, ctx, "sector")


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
