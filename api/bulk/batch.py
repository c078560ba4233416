"""Fast path of an import: records that do not exist yet go in by the batch (a few
statements per few hundred records) instead of one at a time. They end up exactly as the
one-at-a-time path leaves them: same rows, links, search documents and revisions."""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from api.evidence import evidence_table, excerpt_table, source_table
from api.history.service import diff, revision_table
from api.history.tables import Action
from api.initiatives.service import RESOURCE as INITIATIVES
from api.initiatives.service import org_link, org_table, sector_link, sector_table
from api.records import utcnow
from api.resource import Resource, _db_values, _records
from api.search import index as search_index
from api.sources.service import RESOURCE as SOURCES

CHUNK = 500
Fail = Callable[[int, str], None]


def chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Lookups:
    """Slug -> id maps for what records link to, loaded once per import."""

    def __init__(self, conn: Connection) -> None:
        self.sectors: dict[str, int] = dict(
            conn.execute(select(sector_table.c.slug, sector_table.c.id)).all()
        )
        self.organizations: dict[str, int] = dict(
            conn.execute(select(org_table.c.slug, org_table.c.id)).all()
        )
        self.excerpts: dict[tuple[str, str], int] = {}
        self.load_excerpts(conn, None)

    def pretend(self, records: list[dict[str, Any]], res: Resource) -> None:
        """Make records that were checked but not written resolvable (id -1)."""
        for record in records:
            if res.name == "sectors":
                self.sectors.setdefault(record["slug"], -1)
            elif res.name == "organizations":
                self.organizations.setdefault(record["slug"], -1)
            elif res.name == "sources":
                for excerpt in record["excerpts"]:
                    self.excerpts.setdefault((record["slug"], excerpt["id"]), -1)

    def load_excerpts(self, conn: Connection, source_ids: list[int] | None) -> None:
        query = select(source_table.c.slug, excerpt_table.c.key, excerpt_table.c.id).join(
            source_table, source_table.c.id == excerpt_table.c.source_id
        )
        for part in chunks(source_ids) if source_ids is not None else [None]:
            q = query if part is None else query.where(source_table.c.id.in_(part))
            for slug, key, excerpt_id in conn.execute(q).all():
                self.excerpts[(slug, key)] = excerpt_id


def existing_ids(conn: Connection, res: Resource, slugs: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(slugs):
        found.update(conn.execute(select(res.c.slug, res.c.id).where(res.c.slug.in_(part))).all())
    return found


def existing_slugs(conn: Connection, res: Resource, slugs: list[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(slugs):
        found.update(conn.execute(select(res.c.slug).where(res.c.slug.in_(part))).scalars())
    return found


def _check_links(
    res: Resource, line: int, record: dict[str, Any], lookups: Lookups, fail: Fail
) -> bool:
    ok = True
    slug = record["slug"]

    def bad(field: str, n: int, msg: str) -> None:
        nonlocal ok
        ok = False
        fail(line, f"{slug}: {field}.{n}: {msg}")

    for n, item in enumerate(record.get("evidence") or []):
        if (item["source"], item["excerpt"]) not in lookups.excerpts:
            bad("evidence", n, f"source {item['source']!r} has no excerpt {item['excerpt']!r}")
    if len({(e["source"], e["excerpt"]) for e in record.get("evidence") or []}) != len(
        record.get("evidence") or []
    ):
        bad("evidence", 0, "an excerpt is cited twice")
    if res is INITIATIVES:
        for n, sector in enumerate(record["sectors"]):
            if sector not in lookups.sectors:
                bad("sectors", n, f"no sector has the slug {sector!r}")
        if len(set(record["sectors"])) != len(record["sectors"]):
            bad("sectors", 0, "a sector is listed twice")
        pairs = [(o["slug"], o["role"]) for o in record["organizations"]]
        for n, (org, _) in enumerate(pairs):
            if org not in lookups.organizations:
                bad("organizations", n, f"no organization has the slug {org!r}")
        if len(set(pairs)) != len(pairs):
            bad("organizations", 0, "an organization is listed twice with one role")
        start, end = record.get("start_year"), record.get("end_year")
        if start is not None and end is not None and start > end:
            bad("end_year", 0, f"end_year {end} is before start_year {start}")
    if res is SOURCES and len({e["id"] for e in record["excerpts"]}) != len(record["excerpts"]):
        bad("excerpts", 0, "an excerpt id is used twice")
    return ok


def _row(res: Resource, record: dict[str, Any], now: datetime) -> dict[str, Any]:
    scalars = _db_values(res, {c: record.get(c) for c in res.columns if c in record})
    created = record.get("created_at")
    updated = record.get("updated_at") or created
    return {
        "slug": record["slug"],
        **{c: scalars.get(c) for c in res.columns},
        "review_status": record["review_status"],
        "version": record["version"],
        "created_at": datetime.fromisoformat(created) if created else now,
        "updated_at": datetime.fromisoformat(updated) if updated else now,
    }


def insert_new(
    conn: Connection,
    res: Resource,
    batch: list[tuple[int, dict[str, Any]]],
    actor: str,
    lookups: Lookups,
    fail: Fail,
    with_revisions: bool = True,
    write: bool = True,
) -> dict[str, int]:
    """Insert records known not to exist; returns slug -> id (empty after any failure).

    Without revisions, the caller writes them (with write_import_revisions) once the
    records are complete: initiatives get their links to each other last."""
    checks = [_check_links(res, line, record, lookups, fail) for line, record in batch]
    if not all(checks) or not write:
        # Later lines may link to these records: let them resolve, so each line is judged
        # on its own faults (nothing is written once any line has failed).
        lookups.pretend([record for _, record in batch], res)
        return {}
    now = utcnow()
    records = [record for _, record in batch]
    rows = [_row(res, record, now) for record in records]
    # Plain executemany, then the ids by slug: RETURNING in a stated order makes SQLite
    # insert the rows one statement at a time.
    conn.execute(insert(res.table), rows)
    by_slug = existing_ids(conn, res, [record["slug"] for record in records])
    ids = [by_slug[record["slug"]] for record in records]
    _insert_links(conn, res, records, ids, lookups)
    if res.search_type:
        search_index.index_records(conn, res.search_type, ids)
    if with_revisions:
        write_import_revisions(conn, res, ids, actor)
    if res.name == "sectors":
        lookups.sectors.update(zip((r["slug"] for r in records), ids, strict=True))
    elif res.name == "organizations":
        lookups.organizations.update(zip((r["slug"] for r in records), ids, strict=True))
    elif res is SOURCES:
        lookups.load_excerpts(conn, ids)
    return dict(zip((r["slug"] for r in records), ids, strict=True))


def _insert_links(
    conn: Connection, res: Resource, records: list[dict[str, Any]], ids: list[int], lookups: Lookups
) -> None:
    evidence: list[dict[str, Any]] = []
    sectors: list[dict[str, Any]] = []
    orgs: list[dict[str, Any]] = []
    excerpts: list[dict[str, Any]] = []
    for record_id, record in zip(ids, records, strict=True):
        for position, item in enumerate(record.get("evidence") or []):
            excerpt_id = lookups.excerpts[(item["source"], item["excerpt"])]
            evidence.append(
                {
                    str(res.evidence_column): record_id,
                    "excerpt_id": excerpt_id,
                    "position": position,
                }
            )
        if res is INITIATIVES:
            sectors += [
                {"initiative_id": record_id, "sector_id": lookups.sectors[s]}
                for s in record["sectors"]
            ]
            orgs += [
                {
                    "initiative_id": record_id,
                    "organization_id": lookups.organizations[o["slug"]],
                    "role": o["role"],
                }
                for o in record["organizations"]
            ]
        if res is SOURCES:
            excerpts += [
                {
                    "source_id": record_id,
                    "key": e["id"],
                    "quote": e["quote"],
                    "locator": e.get("locator"),
                    "position": n,
                }
                for n, e in enumerate(record["excerpts"])
            ]
    for table, rows in (
        (excerpt_table, excerpts),
        (sector_link, sectors),
        (org_link, orgs),
        (evidence_table, evidence),
    ):
        if rows:
            conn.execute(insert(table), rows)


def write_import_revisions(conn: Connection, res: Resource, ids: list[int], actor: str) -> None:
    """One import revision per new record, holding the record as it now reads."""
    now = utcnow()
    for part in chunks(ids):
        rows = conn.execute(select(res.table).where(res.c.id.in_(part)).order_by(res.c.id)).all()
        revisions = [
            {
                "resource": res.name,
                "record_id": row.id,
                "slug": after["slug"],
                "version": after["version"],
                "action": Action.import_.value,
                "actor": actor,
                "at": now,
                "changes": diff(None, after),
                "snapshot": after,
            }
            for row, after in zip(rows, _records(conn, res, rows, False), strict=True)
        ]
        if revisions:
            conn.execute(insert(revision_table), revisions)
