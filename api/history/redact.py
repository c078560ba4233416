"""Revisions keep records whole, links to drafts included; anonymous readers get them with
the links to records that are not published taken out, as they get current records."""

from typing import Any

from sqlalchemy import Connection, Table, select

from api.initiatives.tables import Initiative
from api.organizations.tables import Organization
from api.records import ReviewStatus
from api.sectors.tables import Sector
from api.sources.tables import Source

# link field -> (table of the linked records, key of the slug in each item; None: a slug)
LINKS: dict[str, tuple[Table, str | None]] = {
    "sectors": (Sector.__table__, None),  # type: ignore[attr-defined]
    "organizations": (Organization.__table__, "slug"),  # type: ignore[attr-defined]
    "related": (Initiative.__table__, "slug"),  # type: ignore[attr-defined]
    "evidence": (Source.__table__, "source"),  # type: ignore[attr-defined]
}


def _slug(item: Any, key: str | None) -> Any:
    return item if key is None else item.get(key) if isinstance(item, dict) else None


def _published(conn: Connection, table: Table, slugs: set[str]) -> set[str]:
    if not slugs:
        return set()
    rows = conn.execute(
        select(table.c.slug).where(
            table.c.slug.in_(sorted(slugs)),
            table.c.review_status == ReviewStatus.published.value,
        )
    ).scalars()
    return set(rows)


def _visible(conn: Connection, lists: dict[str, list[list[Any]]]) -> dict[str, set[str]]:
    out = {}
    for field, values in lists.items():
        table, key = LINKS[field]
        slugs = {_slug(item, key) for items in values for item in items}
        out[field] = _published(conn, table, {s for s in slugs if isinstance(s, str)})
    return out


def redact_record(conn: Connection, record: dict[str, Any]) -> dict[str, Any]:
    lists = {f: [record[f]] for f in LINKS if isinstance(record.get(f), list)}
    visible = _visible(conn, lists)
    out = dict(record)
    for field in lists:
        key = LINKS[field][1]
        out[field] = [i for i in record[field] if _slug(i, key) in visible[field]]
    return out


def redact_changes(conn: Connection, changes: dict[str, Any]) -> dict[str, Any]:
    lists: dict[str, list[list[Any]]] = {}
    for field in LINKS:
        change = changes.get(field)
        if isinstance(change, dict):
            lists[field] = [v for v in change.values() if isinstance(v, list)]
    visible = _visible(conn, lists)
    out = dict(changes)
    for field in lists:
        key = LINKS[field][1]
        out[field] = {
            side: [i for i in value if _slug(i, key) in visible[field]]
            if isinstance(value, list)
            else value
            for side, value in changes[field].items()
        }
        if out[field].get("before") == out[field].get("after"):
            del out[field]
    return out
