"""Table: one search document per searchable record, holding normalized text.

The full-text index over it is dialect-specific and made by the migrations (not by metadata):
SQLite: an external-content FTS5 table ``search_fts`` kept in step by triggers;
PostgreSQL: a generated ``tsv`` tsvector column with a GIN index.

Besides the text, a document carries what a search filters, orders and counts its matches by
(``published``, ``slug``, ``kind``, ``country``), so that the whole match set is read from this
table alone; ``index.index_record`` keeps them in step with the record.
"""

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint, false
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
    slug: str = Field(
        default="", sa_type=String(80), nullable=False, sa_column_kwargs={"server_default": ""}
    )
    published: bool = Field(
        default=False, nullable=False, sa_column_kwargs={"server_default": false()}
    )
    kind: str = Field(
        default="", sa_type=String(16), nullable=False, sa_column_kwargs={"server_default": ""}
    )
    country: str | None = Field(default=None, sa_type=String(2), nullable=True)
    names: str = Field(default="", sa_type=Text, nullable=False)
    aliases: str = Field(default="", sa_type=Text, nullable=False)
    body: str = Field(default="", sa_type=Text, nullable=False)
