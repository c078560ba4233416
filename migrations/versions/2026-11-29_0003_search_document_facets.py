"""search document facets

Search documents carry what a search filters, orders and counts by (published, slug, kind,
country), filled here from the records.

PostgreSQL: the tsvector leaves a gap between the names, aliases and body columns, so a phrase
cannot run from one column into the next (as it cannot in an FTS5 index); a second, small
tsvector of the names and aliases alone (GIN-indexed too) finds the first ranking tier without
reading the large one; and the rows are made narrow (the text and the large tsvector go to
TOAST) so that counting a large match set reads few pages.

SQLite: a covering index lets a search read its whole match set without touching the wide
text rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# entity type (also its table's name) -> whether the table has a country column
ENTITIES = {"initiative": True, "sector": False, "organization": True}

# A D-weighted filler lexeme goes between the columns and ts_filter drops it again, leaving its
# position empty; every real lexeme is weighted A, B or C, so none is ever dropped.
GAP = "'x:1'::tsvector"
TSV_WITH_GAPS = f"""ts_filter(
        setweight(to_tsvector('simple', names), 'A') || {GAP}
        || setweight(to_tsvector('simple', aliases), 'B') || {GAP}
        || setweight(to_tsvector('simple', body), 'C'),
        '{{a,b,c}}'
    )"""
TSV_NAMES = f"""ts_filter(
        setweight(to_tsvector('simple', names), 'A') || {GAP}
        || setweight(to_tsvector('simple', aliases), 'B'),
        '{{a,b}}'
    )"""
TSV_WITHOUT_GAPS = """setweight(to_tsvector('simple', names), 'A')
        || setweight(to_tsvector('simple', aliases), 'B')
        || setweight(to_tsvector('simple', body), 'C')"""

# Everything a search reads per match, so SQLite answers from the index (see the module text).
SQLITE_MATCH_INDEX = (
    "CREATE INDEX ix_search_document_match ON search_document "
    "(id, published, entity_type, kind, country, entity_id, slug)"
)


def upgrade() -> None:
    op.add_column(
        "search_document",
        sa.Column("slug", sa.String(length=80), server_default="", nullable=False),
    )
    op.add_column(
        "search_document",
        sa.Column("published", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "search_document",
        sa.Column("kind", sa.String(length=16), server_default="", nullable=False),
    )
    op.add_column("search_document", sa.Column("country", sa.String(length=2), nullable=True))
    for table, has_country in ENTITIES.items():
        country = ", country = e.country" if has_country else ""
        op.execute(
            f"""UPDATE search_document
            SET slug = e.slug, published = (e.review_status = 'published'), kind = e.kind{country}
            FROM {table} AS e
            WHERE search_document.entity_type = '{table}'
            AND e.id = search_document.entity_id"""
        )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_MATCH_INDEX)
        return
    # Before the table is rewritten below, so that the rewrite already moves the wide values.
    op.execute("ALTER TABLE search_document SET (toast_tuple_target = 512)")
    _replace_tsv(TSV_WITH_GAPS)
    op.execute(
        f"ALTER TABLE search_document ADD COLUMN tsv_names tsvector GENERATED ALWAYS AS "
        f"({TSV_NAMES}) STORED"
    )
    # Kept in the row (compressed if need be): ranking the first tier reads it for every hit.
    op.execute("ALTER TABLE search_document ALTER COLUMN tsv_names SET STORAGE MAIN")
    op.execute("CREATE INDEX ix_search_document_tsv_names ON search_document USING gin (tsv_names)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_search_document_match")
    else:
        op.execute("DROP INDEX IF EXISTS ix_search_document_tsv_names")
        op.execute("ALTER TABLE search_document DROP COLUMN IF EXISTS tsv_names")
        op.execute("ALTER TABLE search_document RESET (toast_tuple_target)")
        _replace_tsv(TSV_WITHOUT_GAPS)
    for column in ("country", "kind", "published", "slug"):
        op.drop_column("search_document", column)


def _replace_tsv(expression: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_search_document_tsv")
    op.execute("ALTER TABLE search_document DROP COLUMN IF EXISTS tsv")
    op.execute(
        f"ALTER TABLE search_document ADD COLUMN tsv tsvector GENERATED ALWAYS AS ({expression}) "
        "STORED"
    )
    op.execute("CREATE INDEX ix_search_document_tsv ON search_document USING gin (tsv)")
