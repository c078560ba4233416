"""The ceiling: a minimal async FastAPI app over raw ``sqlite3`` on the project's own database.

It serves the same list page as ``GET /v1/initiatives?cursor=...`` (keyset on slug, published
records only, a count on every request, response model validation) without any of the
project's features (embedded links, evidence, auth, problem+json, ETags, middleware), and a
single-row read. What this stack can do on this machine; the project should stay close.

Run: TRACKER_BENCH_DB=path.db uvicorn bench.ceiling:app --port 8101
Endpoints: ``/page?after=<slug>&limit=20`` and ``/row/<slug>``.
"""

import os
import sqlite3
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel


class Item(BaseModel):
    slug: str
    name: str
    name_zh: str | None
    kind: str
    status: str
    country: str
    summary: str
    start_year: int | None
    end_year: int | None


class Page(BaseModel):
    items: list[Item]
    total: int
    next_cursor: str | None


COLUMNS = "slug, name, name_zh, kind, status, country, summary, start_year, end_year"
FIELDS = COLUMNS.split(", ")

app = FastAPI()
_conn = sqlite3.connect(
    f"file:{os.environ.get('TRACKER_BENCH_DB', 'bench/work/db/sqlite-10000.db')}?mode=ro",
    uri=True,
    check_same_thread=False,
)


@app.get("/page", response_model=Page)
async def page(
    after: Annotated[str, Query()] = "", limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> dict[str, object]:
    total = _conn.execute(
        "SELECT count(*) FROM initiative WHERE review_status = 'published'"
    ).fetchone()[0]
    rows = _conn.execute(
        # Unary + keeps SQLite off the review_status index, so the page walks the slug index
        # and stops after limit + 1 rows (the plan a composite index would give).
        f"SELECT {COLUMNS} FROM initiative WHERE +review_status = 'published' AND slug > ? "
        "ORDER BY slug LIMIT ?",
        (after, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    items = [dict(zip(FIELDS, r, strict=True)) for r in rows[:limit]]
    return {"items": items, "total": total, "next_cursor": items[-1]["slug"] if more else None}


@app.get("/row/{slug}", response_model=Item)
async def row(slug: str) -> dict[str, object]:
    found = _conn.execute(
        f"SELECT {COLUMNS} FROM initiative WHERE slug = ? AND review_status = 'published'",
        (slug,),
    ).fetchone()
    if found is None:
        raise HTTPException(404)
    return dict(zip(FIELDS, found, strict=True))
