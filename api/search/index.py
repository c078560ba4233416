"""Keeping search documents in step with the records: called inside every write transaction.

``index_record`` (one record) and ``index_records`` (a batch) rebuild documents from the records
as they are in the transaction; ``index_citing`` those of the records citing a source;
``reindex_all`` every document from scratch, by the batch. The full-text index follows the
documents by trigger (SQLite) or as generated columns (PostgreSQL).

A document holds a record's names, aliases and prose, and the quotes it cites from published
sources only (readers without a key are not shown the others), and what searches filter and
count by: slug, published, kind, country. ``build_document`` makes one from a record's fields,
for bulk loaders that write rows directly.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, text, update

from api.initiatives.tables import Evidence, Initiative
from api.organizations.tables import Organization
from api.records import ReviewStatus
from api.search.normalize import normalize
from api.search.tables import SearchDocument
from api.sectors.tables import Sector
from api.sources.tables import Excerpt, Source

doc_table = SearchDocument.__table__  # type: ignore[attr-defined]
evidence_table = Evidence.__table__  # type: ignore[attr-defined]
excerpt_table = Excerpt.__table__  # type: ignore[attr-defined]
source_table = Source.__table__  # type: ignore[attr-defined]
BATCH = 2000  # records read, normalized and written at a time by reindex_all
PUBLISHED = ReviewStatus.published.value


@dataclass(frozen=True)
class Entity:
    """A searchable kind of record: where its text is."""

    table: Table
    evidence_column: str
    prose: str  # the column holding its summary or description
    has_aliases: bool
    has_country: bool


ENTITIES: dict[str, Entity] = {
    "initiative": Entity(Initiative.__table__, "initiative_id", "summary", True, True),  # type: ignore[attr-defined]
    "sector": Entity(Sector.__table__, "sector_id", "description", False, False),  # type: ignore[attr-defined]
    "organization": Entity(Organization.__table__, "organization_id", "description", True, True),  # type: ignore[attr-defined]
}


def document_text(
    entity_type: str, record: Mapping[str, Any], quotes: Sequence[str]
) -> dict[str, str]:
    """The original (not normalized) text of each indexed column of one record."""
    entity = ENTITIES[entity_type]
    aliases = (record.get("aliases") or []) if entity.has_aliases else []
    return {
        "names": " ".join(x for x in (record["name"], record.get("name_zh")) if x),
        "aliases": " ; ".join(str(a) for a in aliases),
        "body": "\n".join([record.get(entity.prose) or "", *quotes]),
    }


def build_document(
    entity_type: str,
    entity_id: int,
    record: Mapping[str, Any],
    quotes: Sequence[str],
    normalized_quotes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The search_document row of one record (a mapping of its columns) citing ``quotes``.

    ``normalized_quotes``, when given, are ``quotes`` already normalized (a batch normalizes
    each excerpt once, however many records cite it).
    """
    entity = ENTITIES[entity_type]
    original = document_text(entity_type, record, ())
    if normalized_quotes is None:
        normalized_quotes = [normalize(q) for q in quotes]
    # Normalizing parts apart and joining them gives the same tokens as normalizing the text
    # joined by new lines: a new line separates tokens and Han runs alike.
    body = [normalize(original["body"]), *normalized_quotes]
    return {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "slug": record["slug"],
        "published": record["review_status"] == PUBLISHED,
        "kind": record["kind"],
        "country": record.get("country") if entity.has_country else None,
        "names": normalize(original["names"]),
        "aliases": normalize(original["aliases"]),
        "body": " ".join(part for part in body if part),
    }


def _quotes(conn: Connection, entity: Entity, ids: Sequence[int]) -> dict[int, list[int]]:
    """Record id -> the ids of the excerpts it cites, in citation order."""
    column = evidence_table.c[entity.evidence_column]
    rows = conn.execute(
        select(column, evidence_table.c.excerpt_id)
        .where(column.in_(ids))
        .order_by(column, evidence_table.c.position)
    )
    cited: dict[int, list[int]] = {}
    for record_id, excerpt_id in rows:
        cited.setdefault(record_id, []).append(excerpt_id)
    return cited


class _ExcerptCache:
    """Excerpt id -> (quote, normalized quote) for the excerpts of published sources (readers
    without a key are not shown the others, so search must not find them), loaded on demand:
    an excerpt is cited by many records, and normalizing it once per run saves a reindex time.
    """

    def __init__(self) -> None:
        self._texts: dict[int, tuple[str, str] | None] = {}

    def get(self, conn: Connection, excerpt_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        wanted = set(excerpt_ids)
        missing = wanted - self._texts.keys()
        if missing:
            rows = conn.execute(
                select(excerpt_table.c.id, excerpt_table.c.quote, source_table.c.review_status)
                .join(source_table, source_table.c.id == excerpt_table.c.source_id)
                .where(excerpt_table.c.id.in_(sorted(missing)))
            )
            for excerpt_id, quote, status in rows:
                self._texts[excerpt_id] = (quote, normalize(quote)) if status == PUBLISHED else None
        return {i: text for i in wanted if (text := self._texts.get(i)) is not None}


def _documents(
    conn: Connection,
    entity_type: str,
    rows: Sequence[Any],
    cache: _ExcerptCache,
) -> list[dict[str, Any]]:
    entity = ENTITIES[entity_type]
    cited = _quotes(conn, entity, [row.id for row in rows])
    texts = cache.get(conn, (e for ids in cited.values() for e in ids))
    documents = []
    for row in rows:
        excerpts = [texts[e] for e in cited.get(row.id, []) if e in texts]
        documents.append(
            build_document(
                entity_type,
                row.id,
                row._mapping,
                [quote for quote, _ in excerpts],
                [normalized for _, normalized in excerpts],
            )
        )
    return documents


def index_records(conn: Connection, entity_type: str, ids: Sequence[int]) -> None:
    """Bring the documents of these records up to date (a record that is gone loses its own)."""
    if not ids:
        return
    entity = ENTITIES[entity_type]
    rows = conn.execute(select(entity.table).where(entity.table.c.id.in_(ids))).all()
    documents = _documents(conn, entity_type, rows, _ExcerptCache())
    found = {document["entity_id"] for document in documents}
    existing = set(
        conn.execute(
            select(doc_table.c.entity_id).where(
                doc_table.c.entity_type == entity_type, doc_table.c.entity_id.in_(ids)
            )
        ).scalars()
    )
    gone = [i for i in ids if i not in found]
    if gone:
        _delete(conn, entity_type, gone)
    new = [d for d in documents if d["entity_id"] not in existing]
    if new:
        conn.execute(insert(doc_table), new)
    for document in documents:
        if document["entity_id"] in existing:
            conn.execute(
                update(doc_table)
                .where(
                    doc_table.c.entity_type == entity_type,
                    doc_table.c.entity_id == document["entity_id"],
                )
                .values(**document)
            )


def index_citing(conn: Connection, source_id: int) -> None:
    """Bring up to date the documents of every record citing the source (call it when the
    source is published or retracted: its quotes are searchable only while it is published)."""
    cited = select(excerpt_table.c.id).where(excerpt_table.c.source_id == source_id)
    for entity_type, entity in ENTITIES.items():
        column = evidence_table.c[entity.evidence_column]
        ids = conn.execute(
            select(column)
            .distinct()
            .where(column.is_not(None), evidence_table.c.excerpt_id.in_(cited))
        ).scalars()
        index_records(conn, entity_type, list(ids))


def index_record(conn: Connection, entity_type: str, entity_id: int) -> None:
    """Bring one record's document up to date (or remove it if the record is gone)."""
    index_records(conn, entity_type, [entity_id])


def remove_record(conn: Connection, entity_type: str, entity_id: int) -> None:
    _delete(conn, entity_type, [entity_id])


def _delete(conn: Connection, entity_type: str, ids: Sequence[int]) -> None:
    conn.execute(
        delete(doc_table).where(
            doc_table.c.entity_type == entity_type, doc_table.c.entity_id.in_(ids)
        )
    )


def reindex_all(conn: Connection, batch: int = BATCH) -> int:
    """Rebuild every search document from the records; returns how many were written."""
    sqlite = conn.dialect.name == "sqlite"
    triggers = _drop_sqlite_triggers(conn) if sqlite else []
    conn.execute(delete(doc_table))
    cache = _ExcerptCache()
    count = 0
    for entity_type, entity in ENTITIES.items():
        last = 0
        while True:
            rows = conn.execute(
                select(entity.table)
                .where(entity.table.c.id > last)
                .order_by(entity.table.c.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            conn.execute(insert(doc_table), _documents(conn, entity_type, rows, cache))
            count += len(rows)
            last = rows[-1].id
    if sqlite:
        # One bulk build of the FTS5 index from the documents instead of a trigger per row.
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('rebuild')"))
        for statement in triggers:
            conn.execute(text(statement))
    return count


def _drop_sqlite_triggers(conn: Connection) -> list[str]:
    """Drop the triggers that keep FTS5 in step, giving back the SQL to make them again.

    Safe inside the write transaction: SQLite's DDL is transactional, and no other writer can
    run until it ends.
    """
    rows = conn.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'search_document' ORDER BY name"
        )
    ).all()
    for name, _ in rows:
        conn.execute(text(f'DROP TRIGGER "{name}"'))
    return [sql for _, sql in rows]
