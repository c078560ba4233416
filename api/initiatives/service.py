"""Initiatives: their links to sectors, organizations and each other, and their filters."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)

from api.errors import Conflict, field_error
from api.http import SortField
from api.initiatives.models import InitiativeListParams
from api.initiatives.tables import (
    INVERSE_RELATION,
    Initiative,
    InitiativeOrganization,
    InitiativeRelation,
    InitiativeSector,
    Relation,
)
from api.organizations.tables import Organization
from api.plans import unindexed
from api.records import ReviewStatus
from api.resource import Errors, Record, Resource, WriteContext, register
from api.search.backends import matching_ids
from api.sectors.tables import Sector

table = Initiative.__table__  # type: ignore[attr-defined]
sector_link = InitiativeSector.__table__  # type: ignore[attr-defined]
org_link = InitiativeOrganization.__table__  # type: ignore[attr-defined]
relation_table = InitiativeRelation.__table__  # type: ignore[attr-defined]
sector_table = Sector.__table__  # type: ignore[attr-defined]
org_table = Organization.__table__  # type: ignore[attr-defined]
PUBLISHED = ReviewStatus.published.value
NO_YEAR = 10_000  # missing years sort after every real one, either way round

SORT_FIELDS = {
    "slug": SortField("slug", table.c.slug),
    "name": SortField("name", table.c.name),
    "kind": SortField("kind", table.c.kind),
    "status": SortField("status", table.c.status),
    "country": SortField("country", table.c.country),
    "start_year": SortField(
        "start_year",
        func.coalesce(table.c.start_year, NO_YEAR),
        int,
        func.coalesce(table.c.start_year, -NO_YEAR),
    ),
    "end_year": SortField(
        "end_year",
        func.coalesce(table.c.end_year, NO_YEAR),
        int,
        func.coalesce(table.c.end_year, -NO_YEAR),
    ),
    "created_at": SortField("created_at", table.c.created_at, datetime),
    "updated_at": SortField("updated_at", table.c.updated_at, datetime),
}


# --- embedding ---------------------------------------------------------------------------


def _embed_statements(public_only: bool) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """The three link queries, built once: they run on every read and list page."""
    ids: BindParameter[list[int]] = bindparam("ids", expanding=True)
    sectors = (
        select(sector_link.c.initiative_id, sector_table.c.slug)
        .join(sector_table, sector_table.c.id == sector_link.c.sector_id)
        .where(sector_link.c.initiative_id.in_(ids))
        .order_by(sector_table.c.slug)
    )
    orgs = (
        select(org_link.c.initiative_id, org_table.c.slug, org_table.c.name, org_link.c.role)
        .join(org_table, org_table.c.id == org_link.c.organization_id)
        .where(org_link.c.initiative_id.in_(ids))
        .order_by(org_table.c.slug, org_link.c.role)
    )
    related = (
        select(
            relation_table.c.initiative_id, table.c.slug, table.c.name, relation_table.c.relation
        )
        .join(table, table.c.id == relation_table.c.related_id)
        .where(relation_table.c.initiative_id.in_(ids))
        .order_by(table.c.slug)
    )
    if public_only:
        # Filters, not ways in: each query starts from the page's ids (api/plans.py).
        sectors = sectors.where(unindexed(sector_table.c.review_status) == PUBLISHED)
        orgs = orgs.where(unindexed(org_table.c.review_status) == PUBLISHED)
        related = related.where(unindexed(table.c.review_status) == PUBLISHED)
    return sectors, orgs, related


EMBED = {public_only: _embed_statements(public_only) for public_only in (False, True)}


def _embed(conn: Connection, ids: list[int], public_only: bool) -> dict[int, Record]:
    out: dict[int, Record] = {i: {"sectors": [], "organizations": [], "related": []} for i in ids}
    sectors, orgs, related = EMBED[public_only]
    params = {"ids": ids}
    for r in conn.execute(sectors, params):
        out[r.initiative_id]["sectors"].append(r.slug)
    for r in conn.execute(orgs, params):
        out[r.initiative_id]["organizations"].append(
            {"slug": r.slug, "role": r.role, "name": r.name}
        )
    for r in conn.execute(related, params):
        out[r.initiative_id]["related"].append(
            {"slug": r.slug, "relation": r.relation, "name": r.name}
        )
    return out


def _links_write_form(record: Record) -> Record:
    return {
        "sectors": sorted(record["sectors"]),
        "organizations": sorted(
            ({"slug": o["slug"], "role": o["role"]} for o in record["organizations"]),
            key=lambda o: (o["slug"], o["role"]),
        ),
        "related": sorted(
            ({"slug": r["slug"], "relation": r["relation"]} for r in record["related"]),
            key=lambda r: (r["slug"], r["relation"]),
        ),
    }


# --- validating and writing links ---------------------------------------------------------


def _ids_by_slug(conn: Connection, tbl: Any, slugs: set[str]) -> dict[str, int]:
    if not slugs:
        return {}
    rows = conn.execute(select(tbl.c.slug, tbl.c.id).where(tbl.c.slug.in_(slugs)))
    return {r.slug: r.id for r in rows}


def _resolve(conn: Connection, payload: Record, record_id: int | None) -> tuple[Record, Errors]:
    errors: Errors = []
    resolved: Record = {}
    if "sectors" in payload:
        found = _ids_by_slug(conn, sector_table, set(payload["sectors"]))
        ids: list[int] = []
        for n, slug in enumerate(payload["sectors"]):
            if slug not in found:
                errors.append(
                    field_error(["body", "sectors", n], f"no sector has the slug {slug!r}")
                )
            elif found[slug] in ids:
                errors.append(field_error(["body", "sectors", n], f"{slug!r} is listed twice"))
            else:
                ids.append(found[slug])
        resolved["sectors"] = ids
    if "organizations" in payload:
        items = payload["organizations"]
        found = _ids_by_slug(conn, org_table, {o["slug"] for o in items})
        pairs: list[tuple[int, str]] = []
        for n, item in enumerate(items):
            slug, role = item["slug"], item["role"]
            if slug not in found:
                msg = f"no organization has the slug {slug!r}"
                errors.append(field_error(["body", "organizations", n], msg))
            elif (found[slug], role) in pairs:
                msg = f"{slug!r} is listed twice as {role}"
                errors.append(field_error(["body", "organizations", n], msg))
            else:
                pairs.append((found[slug], role))
        resolved["organizations"] = pairs
    if "related" in payload:
        items = payload["related"]
        found = _ids_by_slug(conn, table, {r["slug"] for r in items})
        relations: dict[int, str] = {}
        for n, item in enumerate(items):
            slug = item["slug"]
            target = found.get(slug)
            if (target is not None and target == record_id) or slug == payload.get("slug"):
                msg = "an initiative cannot be related to itself"
                errors.append(field_error(["body", "related", n], msg))
            elif target is None:
                msg = f"no initiative has the slug {slug!r}"
                errors.append(field_error(["body", "related", n], msg))
            elif target in relations:
                msg = f"{slug!r} is related twice; give one relation per initiative"
                errors.append(field_error(["body", "related", n], msg))
            else:
                relations[target] = item["relation"]
        resolved["related"] = relations
    return resolved, errors


def _current_relations(conn: Connection, record_id: int) -> dict[int, str]:
    rows = conn.execute(
        select(relation_table.c.related_id, relation_table.c.relation).where(
            relation_table.c.initiative_id == record_id
        )
    )
    return {r.related_id: r.relation for r in rows}


def _write(conn: Connection, record_id: int, resolved: Record, ctx: WriteContext) -> None:
    if "sectors" in resolved:
        conn.execute(delete(sector_link).where(sector_link.c.initiative_id == record_id))
        if resolved["sectors"]:
            conn.execute(
                insert(sector_link),
                [{"initiative_id": record_id, "sector_id": s} for s in resolved["sectors"]],
            )
    if "organizations" in resolved:
        conn.execute(delete(org_link).where(org_link.c.initiative_id == record_id))
        if resolved["organizations"]:
            conn.execute(
                insert(org_link),
                [
                    {"initiative_id": record_id, "organization_id": o, "role": role}
                    for o, role in resolved["organizations"]
                ],
            )
    if "related" in resolved:
        _write_relations(conn, record_id, resolved["related"], ctx)


def _write_relations(
    conn: Connection, record_id: int, wanted: dict[int, str], ctx: WriteContext
) -> None:
    """Replace every relation involving the record, both directions at once."""
    current = _current_relations(conn, record_id)
    conn.execute(
        delete(relation_table).where(
            or_(
                relation_table.c.initiative_id == record_id,
                relation_table.c.related_id == record_id,
            )
        )
    )
    rows = []
    for other, relation in wanted.items():
        inverse = INVERSE_RELATION[Relation(relation)].value
        rows.append({"initiative_id": record_id, "related_id": other, "relation": relation})
        rows.append({"initiative_id": other, "related_id": record_id, "relation": inverse})
    if rows:
        conn.execute(insert(relation_table), rows)
    for other in set(current) | set(wanted):
        if current.get(other) != wanted.get(other):
            ctx.touched.add(("initiatives", other))


def _check(scalars: Record) -> Errors:
    start, end = scalars.get("start_year"), scalars.get("end_year")
    if start is not None and end is not None and start > end:
        return [field_error(["body", "end_year"], f"end_year {end} is before start_year {start}")]
    return []


def detach_or_refuse(
    conn: Connection,
    link: Any,
    column: str,
    record_id: int,
    detach: bool,
    ctx: WriteContext,
    noun: str,
) -> None:
    """Before a sector or organization goes: refuse (409 naming the initiatives that use it),
    or with ``detach`` unlink it from them, whose representation then changes."""
    users = conn.execute(
        select(table.c.id, table.c.slug)
        .join(link, link.c.initiative_id == table.c.id)
        .where(link.c[column] == record_id)
        .distinct()
        .order_by(table.c.slug)
    ).all()
    if users and not detach:
        slugs = [u.slug for u in users]
        raise Conflict(
            f"initiatives use this {noun}: {', '.join(slugs[:20])}; "
            "delete with ?detach=true to remove it from them",
            extra={"initiatives": slugs},
        )
    if users:
        conn.execute(delete(link).where(link.c[column] == record_id))
        ctx.touched.update(("initiatives", u.id) for u in users)


def _partners(conn: Connection, record_id: int) -> set[tuple[str, int]]:
    return {("initiatives", other) for other in _current_relations(conn, record_id)}


def _before_delete(conn: Connection, record_id: int, detach: bool, ctx: WriteContext) -> None:
    ctx.touched |= _partners(conn, record_id)


RESOURCE = register(
    Resource(
        name="initiatives",
        singular="initiative",
        table=table,
        columns=(
            "name",
            "name_zh",
            "aliases",
            "kind",
            "status",
            "country",
            "summary",
            "start_year",
            "end_year",
        ),
        link_fields=("sectors", "organizations", "related"),
        search_type="initiative",
        evidence_column="initiative_id",
        embed=_embed,
        resolve=_resolve,
        write=_write,
        check=_check,
        before_delete=_before_delete,
        links_write_form=_links_write_form,
        shown_by_others=("name",),
        dependents=_partners,
    )
)


# --- filters -----------------------------------------------------------------------------


def filters(params: InitiativeListParams, dialect: str) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if params.sector:
        where.append(
            table.c.id.in_(
                select(sector_link.c.initiative_id)
                .join(sector_table, sector_table.c.id == sector_link.c.sector_id)
                .where(sector_table.c.slug.in_(params.sector))
            )
        )
    if params.organization:
        where.append(
            table.c.id.in_(
                select(org_link.c.initiative_id)
                .join(org_table, org_table.c.id == org_link.c.organization_id)
                .where(org_table.c.slug.in_(params.organization))
            )
        )
    if params.country:
        where.append(table.c.country.in_([c.upper() for c in params.country]))
    if params.kind:
        where.append(table.c.kind.in_([k.value for k in params.kind]))
    if params.status:
        where.append(table.c.status.in_([s.value for s in params.status]))
    if params.active_in is not None:
        year = params.active_in
        where.append(
            and_(
                table.c.start_year <= year,
                or_(table.c.end_year.is_(None), table.c.end_year >= year),
            )
        )
    if params.start_year_min is not None:
        where.append(table.c.start_year >= params.start_year_min)
    if params.start_year_max is not None:
        where.append(table.c.start_year <= params.start_year_max)
    if params.q is not None:
        where.append(table.c.id.in_(matching_ids(dialect, "initiative", params.q)))
    return where
