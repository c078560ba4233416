"""Whole-database export and all-or-nothing import, in the export's own NDJSON format."""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import Connection, delete, desc, insert, or_, select, update

from api.errors import ApiError, ValidationFailed
from api.history.service import diff, revision_table
from api.http import SortField, parse_sort
from api.initiatives.models import InitiativeCreate
from api.initiatives.service import RESOURCE as INITIATIVES
from api.initiatives.service import relation_table
from api.initiatives.tables import INVERSE_RELATION, Relation
from api.organizations.models import OrganizationCreate
from api.organizations.service import RESOURCE as ORGANIZATIONS
from api.records import ReviewStatus
from api.resource import (
    REGISTRY,
    Resource,
    WriteContext,
    iter_records,
    read_by_id,
    touch_records,
    upsert_record,
)
from api.search import index as search_index
from api.sectors.models import SectorCreate
from api.sectors.service import RESOURCE as SECTORS
from api.sources.models import SourceCreate
from api.sources.service import RESOURCE as SOURCES

# Export order is import order: every record only needs what came before it (initiatives
# also link each other; those links go in once all of them exist).
ORDER: list[Resource] = [SOURCES, SECTORS, ORGANIZATIONS, INITIATIVES]
MAX_ERRORS = 1000


class RecordMeta(BaseModel):
    """What an exported record carries beyond its create body."""

    model_config = ConfigDict(extra="forbid")
    review_status: ReviewStatus = ReviewStatus.draft
    version: int = Field(1, ge=1, le=2**31 - 1)
    created_at: datetime | None = None
    updated_at: datetime | None = None


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
    must roll back (nothing is applied after the first bad line, but every line is checked)."""
    report = ImportReport()
    relations: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    outcomes: dict[str, str] = {}
    for line_no, raw in enumerate(lines, 1):
        report.lines = line_no
        if progress and line_no % 1000 == 0:
            progress(line_no)
        if not raw.strip():
            continue
        parsed = parse_line(raw, line_no, report)
        if parsed is None or report.errors:
            continue
        name, record = parsed
        res = REGISTRY[name]
        if res is INITIATIVES:
            relations[record["slug"]] = (line_no, record.pop("related"))
        try:
            outcomes[f"{name}/{record['slug']}"] = _apply(conn, res, record, actor, report)
        except ApiError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors or []
            )
            report.fail(line_no, f"{record['slug']}: {detail or exc.detail}")
    if not report.errors and relations:
        _apply_relations(conn, relations, outcomes, actor, report)
    return report


def _apply_relations(
    conn: Connection,
    relations: dict[str, tuple[int, list[dict[str, Any]]]],
    outcomes: dict[str, str],
    actor: str,
    report: ImportReport,
) -> None:
    """Links between imported initiatives, written once all exist, both directions."""
    table = INITIATIVES.table
    slugs = set(relations) | {link["slug"] for _, links in relations.values() for link in links}
    ids: dict[str, int] = {}
    chunk = sorted(slugs)
    for start in range(0, len(chunk), 500):
        rows = conn.execute(
            select(table.c.slug, table.c.id).where(table.c.slug.in_(chunk[start : start + 500]))
        )
        ids.update({r.slug: r.id for r in rows})
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
    changed: set[int] = set()
    for record_id, wanted_links in wanted.items():
        current = {
            r.related_id: r.relation
            for r in conn.execute(
                select(relation_table).where(relation_table.c.initiative_id == record_id)
            )
        }
        if current == wanted_links:
            continue
        conn.execute(
            delete(relation_table).where(
                or_(
                    relation_table.c.initiative_id == record_id,
                    relation_table.c.related_id == record_id,
                )
            )
        )
        pairs: list[dict[str, Any]] = []
        for other, relation in wanted_links.items():
            inverse = INVERSE_RELATION[Relation(relation)].value
            pairs.append({"initiative_id": record_id, "related_id": other, "relation": relation})
            pairs.append({"initiative_id": other, "related_id": record_id, "relation": inverse})
        if pairs:
            conn.execute(insert(relation_table), pairs)
        changed.add(record_id)
        changed.update(set(current) ^ set(wanted_links))
        changed.update(o for o in set(current) & set(wanted_links) if current[o] != wanted_links[o])
    _settle(conn, changed, ids, outcomes, actor, report)


def _settle(
    conn: Connection,
    changed: set[int],
    ids: dict[str, int],
    outcomes: dict[str, str],
    actor: str,
    report: ImportReport,
) -> None:
    """Records created by this import take their links into their import revision; the others
    whose links changed get a new version and revision."""
    slug_of = {v: k for k, v in ids.items()}
    ctx = WriteContext(actor)
    for record_id in changed:
        slug = slug_of.get(record_id)
        if slug is not None and outcomes.get(f"initiatives/{slug}") == "created":
            after = read_by_id(conn, INITIATIVES, record_id)
            last = conn.execute(
                select(revision_table.c.id)
                .where(
                    revision_table.c.resource == "initiatives",
                    revision_table.c.record_id == record_id,
                )
                .order_by(desc(revision_table.c.id))
                .limit(1)
            ).scalar_one()
            conn.execute(
                update(revision_table)
                .where(revision_table.c.id == last)
                .values(snapshot=after, changes=diff(None, after))
            )
            search_index.index_record(conn, "initiative", record_id)
        else:
            ctx.touched.add(("initiatives", record_id))
            if slug is not None and outcomes.get(f"initiatives/{slug}") == "unchanged":
                report.counts["initiatives unchanged"] -= 1
                report.counts["initiatives updated"] += 1
                outcomes[f"initiatives/{slug}"] = "updated"
    touch_records(conn, ctx)


def raise_if_failed(report: ImportReport) -> None:
    if report.errors:
        lines = sorted({e["loc"][2] for e in report.errors})
        shown = ", ".join(map(str, lines[:20])) + (" …" if len(lines) > 20 else "")
        raise ValidationFailed(
            f"{len(lines)} bad line(s), nothing was imported: line {shown}",
            report.errors,
            extra={"lines": report.lines},
        )
