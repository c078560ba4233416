"""Sources: their excerpts, and the records that cite them."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, insert, select, update

from api.errors import Conflict, field_error
from api.http import SortField
from api.initiatives.tables import Evidence
from api.resource import REGISTRY, Errors, Record, Resource, WriteContext, register
from api.sources.models import SourceListParams
from api.sources.tables import Excerpt, Source

table = Source.__table__  # type: ignore[attr-defined]
excerpt_table = Excerpt.__table__  # type: ignore[attr-defined]
evidence_table = Evidence.__table__  # type: ignore[attr-defined]
# evidence column -> the resource whose records it points at
CITERS = {
    "initiative_id": "initiatives",
    "sector_id": "sectors",
    "organization_id": "organizations",
}

SORT_FIELDS = {
    "slug": SortField("slug", table.c.slug),
    "title": SortField("title", table.c.title),
    "updated_at": SortField("updated_at", table.c.updated_at, datetime),
}


def _embed(conn: Connection, ids: list[int], public_only: bool) -> dict[int, Record]:
    out: dict[int, Record] = {i: {"excerpts": []} for i in ids}
    rows = conn.execute(
        select(excerpt_table)
        .where(excerpt_table.c.source_id.in_(ids))
        .order_by(excerpt_table.c.source_id, excerpt_table.c.position, excerpt_table.c.id)
    )
    for r in rows:
        out[r.source_id]["excerpts"].append({"id": r.key, "quote": r.quote, "locator": r.locator})
    return out


def _links_write_form(record: Record) -> Record:
    return {"excerpts": [dict(e) for e in record["excerpts"]]}


def _citers(conn: Connection, excerpt_ids: list[int]) -> set[tuple[str, int]]:
    """(resource, id) of every record citing any of these excerpts."""
    if not excerpt_ids:
        return set()
    rows = conn.execute(
        select(*(evidence_table.c[c] for c in CITERS)).where(
            evidence_table.c.excerpt_id.in_(excerpt_ids)
        )
    )
    found = set()
    for row in rows:
        for column, resource in CITERS.items():
            value = getattr(row, column)
            if value is not None:
                found.add((resource, value))
    return found


def _citer_names(conn: Connection, citers: set[tuple[str, int]]) -> list[str]:
    """Citing records as resource/slug, the way URLs name them."""
    names = []
    for resource in sorted({r for r, _ in citers}):
        owner = REGISTRY[resource].table
        ids = [i for r, i in citers if r == resource]
        slugs = conn.execute(select(owner.c.slug).where(owner.c.id.in_(ids))).scalars()
        names += [f"{resource}/{slug}" for slug in sorted(slugs)]
    return names


def _existing(conn: Connection, source_id: int) -> dict[str, Any]:
    rows = conn.execute(select(excerpt_table).where(excerpt_table.c.source_id == source_id))
    return {r.key: r for r in rows}


def _resolve(conn: Connection, payload: Record, record_id: int | None) -> tuple[Record, Errors]:
    errors: Errors = []
    if "excerpts" not in payload:
        return {}, errors
    items = payload["excerpts"]
    seen: set[str] = set()
    for n, item in enumerate(items):
        if item["id"] in seen:
            errors.append(field_error(["body", "excerpts", n], f"id {item['id']!r} is used twice"))
        seen.add(item["id"])
    if record_id is not None:
        for key, row in _existing(conn, record_id).items():
            if key not in seen and _citers(conn, [row.id]):
                msg = f"excerpt {key!r} is cited as evidence and cannot be removed"
                errors.append(field_error(["body", "excerpts"], msg))
    return {"excerpts": items}, errors


def _write(conn: Connection, source_id: int, resolved: Record, ctx: WriteContext) -> None:
    if "excerpts" not in resolved:
        return
    existing = _existing(conn, source_id)
    wanted = {item["id"] for item in resolved["excerpts"]}
    gone = [row.id for key, row in existing.items() if key not in wanted]
    if gone:
        conn.execute(delete(excerpt_table).where(excerpt_table.c.id.in_(gone)))
    changed = []
    for position, item in enumerate(resolved["excerpts"]):
        values = {"quote": item["quote"], "locator": item.get("locator"), "position": position}
        row = existing.get(item["id"])
        if row is None:
            conn.execute(
                insert(excerpt_table).values(source_id=source_id, key=item["id"], **values)
            )
        elif (row.quote, row.locator, row.position) != tuple(values.values()):
            conn.execute(update(excerpt_table).where(excerpt_table.c.id == row.id).values(**values))
            if (row.quote, row.locator) != (values["quote"], values["locator"]):
                changed.append(row.id)
    ctx.touched.update(_citers(conn, changed))


def _before_delete(conn: Connection, source_id: int, detach: bool, ctx: WriteContext) -> None:
    excerpt_ids = [row.id for row in _existing(conn, source_id).values()]
    citers = _citers(conn, excerpt_ids)
    if citers and not detach:
        names = _citer_names(conn, citers)
        shown = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
        raise Conflict(
            f"{len(names)} records cite this source ({shown}); delete with ?detach=true to "
            "drop those citations",
            extra={"cited_by": names},
        )
    if citers:
        conn.execute(delete(evidence_table).where(evidence_table.c.excerpt_id.in_(excerpt_ids)))
        ctx.touched.update(citers)


def _citing_records(conn: Connection, source_id: int) -> set[tuple[str, int]]:
    return _citers(conn, [row.id for row in _existing(conn, source_id).values()])


RESOURCE = register(
    Resource(
        name="sources",
        singular="source",
        table=table,
        columns=("title", "authors", "publisher", "published_on", "url"),
        link_fields=("excerpts",),
        embed=_embed,
        resolve=_resolve,
        write=_write,
        before_delete=_before_delete,
        links_write_form=_links_write_form,
        shown_by_others=("title",),
        dependents=_citing_records,
    )
)


def filters(params: SourceListParams, dialect: str) -> list[ColumnElement[bool]]:
    return []
