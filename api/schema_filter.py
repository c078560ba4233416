"""What Alembic's autogenerate compares: everything but the hand-made search index objects
(an FTS5 table and its triggers on SQLite, a generated tsvector column and its GIN index on
PostgreSQL), which the migrations create for one dialect each."""

from typing import Any

HAND_MADE = {
    "search_fts",
    "tsv",
    "ix_search_document_tsv",
    "tsv_names",
    "ix_search_document_tsv_names",
    "ix_search_document_match",
}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (name in HAND_MADE or (name or "").startswith("search_fts_"))
