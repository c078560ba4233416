"""Whole-database export and all-or-nothing import, in the export's own NDJSON format."""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import Connection, delete, insert, or_, select

from api.bulk.batch import (
    CHUNK,
    Lookups,
    chunks,
    existing_ids,
    existing_slugs,
    insert_new,
    write_import_revisions,
)
from api.errors import ApiError, ValidationFailed
from api.http import SortField, parse_sort
from api.initiatives.models import InitiativeCreate
from api.initiatives.service import RESOURCE as INITIATIVES
from api.initiatives.service import relation_table
from api.initiatives.tables import INVERSE_RELATION, Relation
from api.organizations.models import OrganizationCreate
from api.organizations.service import RESOURCE as ORGANIZATIONS
from api.records import ReviewStatus, TextDateTime
from api.resource import (
    REGISTRY,
    Resource,
    WriteContext,
    iter_records,
    touch_records,
    upsert_record,
)
from api.sectors.models import SectorCreate
from api.sectors.service import RESOURCE as SECTORS
from api.sources.models import SourceCreate
from api.sources.service import RESOURCE as SOURCES

# Export order is import order: every record only needs what came before it (initiatives
# also link each other; those links go in once all of them exist).
ORDER: list[Resource] = [SOURCES, SECTORS, ORGANIZATIONS, INITIATIVES]
MAX_ERRORS = 1000
ANALYZE_AFTER = 5000  # new records in one import


class RecordMeta(BaseModel):
    """What an exported record carries beyond its create body."""

    model_config = ConfigDict(extra="forbid")
    review_status: ReviewStatus = ReviewStatus.draft
    version: int = Field(1, ge=1, le=2**31 - 1)
    created_at: TextDateTime | None = None
    updated_at: TextDateTime | None = None


def _import_model(name: str, base: type[BaseModel]) -> type[BaseModel]:
    return create_model(f"{name}Import", __base__=(base, RecordMeta))


IMPORT_MODELS: dict[str, type[BaseModel]] = {
    "sources": _import_model("Source", SourceCreate),
    "sectors": _import_model("Sector", SectorCreate),
    "organizations": _import_model("Organization", OrganizationCreate),
    "initiatives": _import_model("Initiative", InitiativeCreate),
}
META = set(RecordMeta.model_fields)


# --- export ------------------------------------------------------------------------------


def export_lines(
    conn: Connection, public_only: bool, resources: Iterable[str] | None = None
) -> Iterator[bytes]:
    wanted = set(resources or REGISTRY)
    for res in ORDER:
        if res.name not in wanted:
            continue
        keys = parse_sort("slug", {"slug": SortField("slug", res.c.slug)}, "slug")
        where = [res.c.review_status == ReviewStatus.published.value] if public_only else []
        for record in iter_records(conn, res, where, keys, public_only):
            yield orjson.dumps({"resource": res.name, "record": record}) + b"\n"


# --- import ------------------------------------------------------------------------------


@dataclass
class ImportReport:
    lines: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # "initiatives created": n
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, line: int, msg: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"loc": ["body", "line", line], "msg": msg})

    def summary(self) -> dict[str, Any]:
        totals: Counter[str] = Counter()
        by_resource: dict[str, dict[str, int]] = defaultdict(dict)
        for key, n in sorted(self.counts.items()):
            resource, outcome = key.split(" ")
            totals[outcome] += n
            by_resource[resource][outcome] = n
        return {
            "lines": self.lines,
            "created": totals["created"],
            "updated": totals["updated"],
            "unchanged": totals["unchanged"],
            "resources": dict(by_resource),
        }


def parse_line(raw: bytes, line_no: int, report: ImportReport) -> tuple[str, dict[str, Any]] | None:
    """One NDJSON line as (resource name, validated record), or None after noting why not."""
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        report.fail(line_no, f"not valid JSON: {exc}")
        return None
    if not isinstance(item, dict) or set(item) != {"resource", "record"}:
        report.fail(line_no, 'expected {"resource": ..., "record": {...}}')
        return None
    name = item["resource"]
    model = IMPORT_MODELS.get(name) if isinstance(name, str) else None
    if model is None:
        report.fail(line_no, f"unknown resource {name!r}; use one of {', '.join(IMPORT_MODELS)}")
        return None
    try:
        record = model.model_validate(item["record"]).model_dump(mode="json")
    except ValidationError as exc:
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"])
            report.fail(line_no, f"{loc}: {err['msg']}" if loc else str(err["msg"]))
        return None
    return name, record


def _apply(
    conn: Connection, res: Resource, record: dict[str, Any], actor: str, report: ImportReport
) -> str:
    payload = {k: v for k, v in record.items() if k not in META}
    created = record.get("created_at")
    updated = record.get("updated_at")
    timestamps = (
        (datetime.fromisoformat(created), datetime.fromisoformat(updated or created))
        if created
        else None
    )
    outcome = upsert_record(
        conn,
        res,
        payload,
        actor,
        ReviewStatus(record["review_status"]),
        imported=True,
        version=record["version"],
        timestamps=timestamps,
    )
    report.counts[f"{res.name} {outcome}"] += 1
    return outcome


def import_lines(
    conn: Connection,
    lines: Iterable[bytes],
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Apply every line in the caller's transaction; if the report has errors, the caller
    must roll back (nothing is applied after the first bad line, but every line is checked).

    New records go in by the batch; records that exist are compared and updated one by one.
    """
    report = ImportReport()
    if conn.dialect.name == "postgresql":
        # The tables grow by the batch inside this one transaction. A statement prepared
        # while they were small keeps its plan (a scan) once psycopg has prepared it, and each
        # lookup by slug then reads every row written so far: plan every statement afresh.
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    relations: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    outcomes: dict[str, str] = {}
    lookups = Lookups(conn)
    seen: set[tuple[str, str]] = set()
    pending: list[tuple[int, dict[str, Any]]] = []
    pending_res: Resource | None = None

    def flush() -> None:
        nonlocal pending
        if pending and pending_res is not None:
            _flush(conn, pending_res, pending, actor, lookups, outcomes, report)
        pending = []

    for line_no, raw in enumerate(lines, 1):
        report.lines = line_no
        if progress and line_no % 1000 == 0:
            progress(line_no)
        if not raw.strip():
            continue
        parsed = parse_line(raw, line_no, report)
        if parsed is None:
            continue
        name, record = parsed
        if (name, record["slug"]) in seen:
            report.fail(line_no, f"{record['slug']}: appears twice in this import")
            continue
        seen.add((name, record["slug"]))
        res = REGISTRY[name]
        if res is INITIATIVES:
            relations[record["slug"]] = (line_no, record.pop("related"))
        if res is not pending_res or len(pending) >= CHUNK:
            flush()
            pending_res = res
        pending.append((line_no, record))
    flush()
    new_records = sum(n for key, n in report.counts.items() if key.endswith(" created"))
    if not report.errors and new_records >= ANALYZE_AFTER and conn.dialect.name == "postgresql":
        # The planner still thinks these tables are as small as before the import; with the
        # statistics of what this transaction wrote, the link queries below use the indexes.
        conn.exec_driver_sql(
            "ANALYZE initiative, initiative_sector, initiative_organization, "
            "initiative_relation, evidence, search_document"
        )
    if not report.errors and relations:
        _apply_relations(conn, relations, outcomes, actor, report)
    if not report.errors:
        prefix = f"{INITIATIVES.name}/"
        created = [k.removeprefix(prefix) for k, v in outcomes.items() if v == "created"]
        ids = existing_ids(conn, INITIATIVES, [s for s in created if f"{prefix}{s}" in outcomes])
        write_import_revisions(conn, INITIATIVES, sorted(ids.values()), actor)
    return report


def _flush(
    conn: Connection,
    res: Resource,
    batch: list[tuple[int, dict[str, Any]]],
    actor: str,
    lookups: Lookups,
    outcomes: dict[str, str],
    report: ImportReport,
) -> None:
    existing = existing_slugs(conn, res, [record["slug"] for _, record in batch])
    new = [(line, record) for line, record in batch if record["slug"] not in existing]
    if new:
        # Initiatives' revisions wait until their links to each other are in.
        deferred = res is INITIATIVES
        write = not report.errors
        for slug in insert_new(conn, res, new, actor, lookups, report.fail, not deferred, write):
            outcomes[f"{res.name}/{slug}"] = "created"
            report.counts[f"{res.name} created"] += 1
    for line_no, record in batch:
        if record["slug"] not in existing or report.errors:
            continue
        try:
            outcomes[f"{res.name}/{record['slug']}"] = _apply(conn, res, record, actor, report)
        except ApiError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors or []
            )
            report.fail(line_no, f"{record['slug']}: {detail or exc.detail}")


def _apply_relations(
    conn: Connection,
    relations: dict[str, tuple[int, list[dict[str, Any]]]],
    outcomes: dict[str, str],
    actor: str,
    report: ImportReport,
) -> None:
    """Links between imported initiatives, written once all exist, both directions.

    Each line states an initiative's whole set of relations. Initiatives this import created
    have no links yet, so theirs go in by the batch; the others are replaced one by one."""
    table = INITIATIVES.table
    slugs = set(relations) | {link["slug"] for _, links in relations.values() for link in links}
    ids: dict[str, int] = {}
    for part in chunks(sorted(slugs)):
        ids.update(
            conn.execute(select(table.c.slug, table.c.id).where(table.c.slug.in_(part))).all()
        )
    wanted: dict[int, dict[int, str]] = {}
    for slug, (line_no, links) in relations.items():
        mine = wanted.setdefault(ids[slug], {})
        for n, link in enumerate(links):
            other = ids.get(link["slug"])
            if other is None:
                report.fail(
                    line_no, f"{slug}: related.{n}: no initiative has the slug {link['slug']!r}"
                )
            elif other == ids[slug]:
                report.fail(line_no, f"{slug}: related.{n}: an initiative cannot relate to itself")
            else:
                mine[other] = link["relation"]
    if report.errors:
        return
    created = {ids[s] for s in relations if outcomes.get(f"initiatives/{s}") == "created"}
    changed = _replace_relations(conn, {i: w for i, w in wanted.items() if i not in created})
    changed |= _add_relations(conn, {i: w for i, w in wanted.items() if i in created})
    slug_of = {v: k for k, v in ids.items()}
    ctx = WriteContext(actor)
    for record_id in changed - created:
        ctx.touched.add(("initiatives", record_id))
        key = f"initiatives/{slug_of.get(record_id)}"
        if outcomes.get(key) == "unchanged":
            report.counts["initiatives unchanged"] -= 1
            report.counts["initiatives updated"] += 1
            outcomes[key] = "updated"
    touch_records(conn, ctx)


def _pairs(record_id: int, links: dict[int, str]) -> dict[tuple[int, int], str]:
    out = {}
    for other, relation in links.items():
        out[(record_id, other)] = relation
        out[(other, record_id)] = INVERSE_RELATION[Relation(relation)].value
    return out


def _replace_relations(conn: Connection, wanted: dict[int, dict[int, str]]) -> set[int]:
    """Initiatives that existed before: replace each one's relations if they differ."""
    changed: set[int] = set()
    for record_id, links in wanted.items():
        current: dict[int, str] = dict(
            conn.execute(
                select(relation_table.c.related_id, relation_table.c.relation).where(
                    relation_table.c.initiative_id == record_id
                )
            ).all()
        )
        if current == links:
            continue
        conn.execute(
            delete(relation_table).where(
                or_(
                    relation_table.c.initiative_id == record_id,
                    relation_table.c.related_id == record_id,
                )
            )
        )
        pairs = _pairs(record_id, links)
        if pairs:
            conn.execute(
                insert(relation_table),
                [
                    {"initiative_id": a, "related_id": b, "relation": r}
                    for (a, b), r in pairs.items()
                ],
            )
        changed.add(record_id)
        changed.update(set(current) ^ set(links))
        changed.update(o for o in set(current) & set(links) if current[o] != links[o])
    return changed


def _add_relations(conn: Connection, wanted: dict[int, dict[int, str]]) -> set[int]:
    """Initiatives this import created: every pair at once, minus those already written."""
    pairs: dict[tuple[int, int], str] = {}
    for record_id, links in wanted.items():
        pairs.update(_pairs(record_id, links))
    if not pairs:
        return set()
    present: set[tuple[int, int]] = set()
    for part in chunks(sorted(wanted)):
        present.update(
            conn.execute(
                select(relation_table.c.initiative_id, relation_table.c.related_id).where(
                    or_(
                        relation_table.c.initiative_id.in_(part),
                        relation_table.c.related_id.in_(part),
                    )
                )
            ).all()
        )
    rows = [
        {"initiative_id": a, "related_id": b, "relation": r}
        for (a, b), r in pairs.items()
        if (a, b) not in present
    ]
    for part in chunks(rows, 5000):
        conn.execute(insert(relation_table), part)
    return {a for a, _ in pairs} | {b for _, b in pairs}


def raise_if_failed(report: ImportReport) -> None:
    if report.errors:
        lines = sorted({e["loc"][2] for e in report.errors})
        shown = ", ".join(map(str, lines[:20])) + (" …" if len(lines) > 20 else "")
        raise ValidationFailed(
            f"{len(lines)} bad line(s), nothing was imported: line {shown}",
            report.errors,
            extra={"lines": report.lines},
        )
