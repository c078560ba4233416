"""The one place where search SQL differs by dialect: FTS5 on SQLite, tsvector on PostgreSQL."""

from typing import Any

from sqlalchemy import Select, column, select, table, text

from api.errors import invalid
from api.search.query import Query, QueryError, parse_query
from api.search.tables import SearchDocument

doc = SearchDocument.__table__  # type: ignore[attr-defined]
fts = table("search_fts", column("rowid"))


def _parse(q: str) -> Query:
    """The parsed query; a query that cannot be searched is a 422 naming ``q``."""
    try:
        return parse_query(q)
    except QueryError as exc:
        raise invalid(["query", "q"], str(exc)) from exc


def matching_ids(dialect: str, entity_type: str, q: str) -> Select[Any]:
    """Ids of the records of one type that match the query (raises QueryError on bad input)."""
    query = _parse(q)
    if dialect == "sqlite":
        matched = select(fts.c.rowid).where(
            text("search_fts MATCH :fts_query").bindparams(fts_query=query.to_fts5())
        )
        return select(doc.c.entity_id).where(
            doc.c.entity_type == entity_type, doc.c.id.in_(matched)
        )
    matches = text("search_document.tsv @@ to_tsquery('simple', :ts_query)").bindparams(
        ts_query=query.to_tsquery()
    )
    return select(doc.c.entity_id).where(doc.c.entity_type == entity_type, matches)
