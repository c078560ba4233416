"""write generation and review-state list indexes

The write generation is one counter that every write transaction moves on as it commits; the
API keys its caches of totals, facets and search results on it (api/cache).

The single-column review_status indexes become (review_status, slug): a list of published
records in slug order (every default list page) then reads one page from the index and stops,
where SQLite without statistics used to pick the old index, read every published row and sort.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 20:10:50.567580
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("initiative", "organization", "sector", "source")


def upgrade() -> None:
    generation = op.create_table(
        "write_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_write_generation_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_generation")),
    )
    op.bulk_insert(generation, [{"id": 1, "value": 0}])
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_review_status"), table_name=table)
        op.create_index(f"ix_{table}_review_status_slug", table, ["review_status", "slug"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_review_status_slug", table_name=table)
        op.create_index(op.f(f"ix_{table}_review_status"), table, ["review_status"])
    op.drop_table("write_generation")
