"""Keeping search documents in step with the records: called inside every write transaction."""

from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from api.initiatives.tables import Evidence, Initiative
from api.organizations.tables import Organization
from api.search.normalize import normalize
from api.search.tables import SearchDocument
from api.sectors.tables import Sector
from api.sources.tables import Excerpt

doc_table = SearchDocument.__table__  # type: ignore[attr-defined]
evidence_table = Evidence.__table__  # type: ignore[attr-defined]
excerpt_table = Excerpt.__table__  # type: ignore[attr-defined]

# entity type -> (table, evidence column, the column holding its prose)
ENTITIES: dict[str, tuple[Table, str, str]] = {
    "initiative": (Initiative.__table__, "initiative_id", "summary"),  # type: ignore[attr-defined]
    "sector": (Sector.__table__, "sector_id", "description"),  # type: ignore[attr-defined]
    "organization": (Organization.__table__, "organization_id", "description"),  # type: ignore[attr-defined]
}


def document_text(conn: Connection, entity_type: str, entity_id: int) -> dict[str, str] | None:
    """The original (not normalized) text of each indexed field of one record."""
    table, evidence_column, prose = ENTITIES[entity_type]
    row = conn.execute(select(table).where(table.c.id == entity_id)).first()
    if row is None:
        return None
    quotes = conn.execute(
        select(excerpt_table.c.quote)
        .join(evidence_table, evidence_table.c.excerpt_id == excerpt_table.c.id)
        .where(evidence_table.c[evidence_column] == entity_id)
        .order_by(evidence_table.c.position)
    ).scalars()
    aliases: list[Any] = getattr(row, "aliases", None) or []
    return {
        "names": " ".join(x for x in (row.name, row.name_zh) if x),
        "aliases": " ; ".join(str(a) for a in aliases),
        "body": "\n".join([getattr(row, prose) or "", *quotes]),
    }


def index_record(conn: Connection, entity_type: str, entity_id: int) -> None:
    text = document_text(conn, entity_type, entity_id)
    if text is None:
        remove_record(conn, entity_type, entity_id)
        return
    values = {k: normalize(v) for k, v in text.items()}
    where = (doc_table.c.entity_type == entity_type) & (doc_table.c.entity_id == entity_id)
    result = conn.execute(update(doc_table).where(where).values(**values))
    if result.rowcount == 0:
        conn.execute(
            insert(doc_table).values(entity_type=entity_type, entity_id=entity_id, **values)
        )


def remove_record(conn: Connection, entity_type: str, entity_id: int) -> None:
    conn.execute(
        delete(doc_table).where(
            doc_table.c.entity_type == entity_type, doc_table.c.entity_id == entity_id
        )
    )


def reindex_all(conn: Connection) -> int:
    """Rebuild every search document from the records; returns how many were written."""
    conn.execute(delete(doc_table))
    count = 0
    for entity_type, (table, _, _) in ENTITIES.items():
        for entity_id in conn.execute(select(table.c.id).order_by(table.c.id)).scalars().all():
            index_record(conn, entity_type, entity_id)
            count += 1
    return count
