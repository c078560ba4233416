"""Table: one search document per searchable record, holding normalized text.

The full-text index over it is dialect-specific and made by the migrations (not by metadata):
SQLite: an external-content FTS5 table ``search_fts`` kept in step by triggers;
PostgreSQL: a generated ``tsv`` tsvector column with a GIN index.
"""

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class SearchDocument(SQLModel, table=True):
    __tablename__ = "search_document"
    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", name="uq_search_document_entity"),
        CheckConstraint(
            "entity_type IN ('initiative', 'sector', 'organization')", name="entity_type"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    entity_type: str = Field(sa_type=String(16), nullable=False)
    entity_id: int = Field(nullable=False)
    names: str = Field(default="", sa_type=Text, nullable=False)
    aliases: str = Field(default="", sa_type=Text, nullable=False)
    body: str = Field(default="", sa_type=Text, nullable=False)
