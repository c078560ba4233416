"""Evidence: which verbatim excerpts back a record. Shared by initiatives, sectors and
organizations (sources hold the excerpts themselves)."""

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, Connection, Select, bindparam, delete, insert, select, tuple_

from api.errors import field_error
from api.initiatives.tables import Evidence
from api.plans import unindexed
from api.records import Slug
from api.sources.tables import Excerpt, Source

evidence_table = Evidence.__table__  # type: ignore[attr-defined]
excerpt_table = Excerpt.__table__  # type: ignore[attr-defined]
source_table = Source.__table__  # type: ignore[attr-defined]


class EvidenceIn(BaseModel):
    """A citation: the source's slug and the id of one of its excerpts."""

    model_config = ConfigDict(extra="forbid")
    source: Slug
    excerpt: Slug
    quote: str | None = Field(default=None, description="Read-only; ignored when written.")
    locator: str | None = Field(default=None, description="Read-only; ignored when written.")
    source_title: str | None = Field(default=None, description="Read-only; ignored when written.")


class EvidenceRead(BaseModel):
    source: str = Field(description="Slug of the source document.")
    excerpt: str = Field(description="Id of the excerpt within the source.")
    quote: str = Field(description="The excerpt, verbatim.")
    locator: str | None = Field(description="Where in the source, e.g. 'para 11'.")
    source_title: str


def resolve_evidence(
    conn: Connection, items: list[dict[str, Any]], loc: str = "evidence"
) -> tuple[list[int], list[dict[str, Any]]]:
    """Excerpt ids for the citations, and a field error for each one that names nothing."""
    if not items:
        return [], []
    pairs = {(i["source"], i["excerpt"]) for i in items}
    rows = conn.execute(
        select(source_table.c.slug, excerpt_table.c.key, excerpt_table.c.id)
        .join(source_table, source_table.c.id == excerpt_table.c.source_id)
        .where(tuple_(source_table.c.slug, excerpt_table.c.key).in_(list(pairs)))
    ).all()
    found = {(r.slug, r.key): r.id for r in rows}
    ids, errors, seen = [], [], set()
    for n, item in enumerate(items):
        key = (item["source"], item["excerpt"])
        if key not in found:
            msg = f"source {key[0]!r} has no excerpt {key[1]!r}"
            errors.append(field_error(["body", loc, n], msg))
        elif key in seen:
            errors.append(field_error(["body", loc, n], "this excerpt is cited twice"))
        else:
            seen.add(key)
            ids.append(found[key])
    return ids, errors


def replace_evidence(conn: Connection, column: str, record_id: int, excerpt_ids: list[int]) -> None:
    col: Column[int] = evidence_table.c[column]
    conn.execute(delete(evidence_table).where(col == record_id))
    if excerpt_ids:
        conn.execute(
            insert(evidence_table),
            [
                {column: record_id, "excerpt_id": x, "position": i}
                for i, x in enumerate(excerpt_ids)
            ],
        )


def _evidence_statement(column: str, public_only: bool) -> Select[Any]:
    col: Column[int] = evidence_table.c[column]
    statement = (
        select(
            col.label("owner"),
            source_table.c.slug,
            source_table.c.title,
            excerpt_table.c.key,
            excerpt_table.c.quote,
            excerpt_table.c.locator,
        )
        .select_from(
            evidence_table.join(
                excerpt_table, excerpt_table.c.id == evidence_table.c.excerpt_id
            ).join(source_table, source_table.c.id == excerpt_table.c.source_id)
        )
        .where(col.in_(bindparam("ids", expanding=True)))
        .order_by(col, evidence_table.c.position)
    )
    if public_only:
        statement = statement.where(unindexed(source_table.c.review_status) == "published")
    return statement


# Built once: evidence is embedded in every read and list page.
EVIDENCE_BY_OWNER = {
    (column, public_only): _evidence_statement(column, public_only)
    for column in ("initiative_id", "sector_id", "organization_id")
    for public_only in (False, True)
}


def load_evidence(
    conn: Connection, column: str, ids: list[int], public_only: bool = False
) -> dict[int, list[dict[str, Any]]]:
    """Citations per record; anonymous readers see none from unpublished sources."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in conn.execute(EVIDENCE_BY_OWNER[(column, public_only)], {"ids": ids}):
        out[r.owner].append(
            {
                "source": r.slug,
                "excerpt": r.key,
                "quote": r.quote,
                "locator": r.locator,
                "source_title": r.title,
            }
        )
    return out
