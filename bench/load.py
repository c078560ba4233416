"""Load a generated NDJSON dataset into a policy-tracker database (SQLite or PostgreSQL).

Two ways in:

- ``--via import``: ``policy-tracker import FILE``, the project's own all-or-nothing import
  (what the "import 100k" workload measures);
- ``--via bulk`` (default): the documented faster path the harness uses to build the large
  databases the read workloads run on. Sources, sectors and organizations (a few hundred lines)
  go through the project's own import code (``api.bulk.service.import_lines``); initiatives go
  in with batched multi-row INSERTs of exactly the rows ``create_record`` writes (the record,
  its sector, organization and relation links in both directions, its evidence), then builds
  their search documents with the project's own indexer, a transaction per batch. It writes no
  revisions, so ``/history`` of a bulk-loaded initiative is empty; nothing the list, read,
  search and export workloads touch differs.

Usage: python bench/load.py URL FILE [--via bulk|import]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 5000


def schema_stamp(data: Path) -> str:
    """What a cached database depends on: the migrations and the dataset file."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    stat = data.stat()
    digest.update(f"{data.name}:{stat.st_size}".encode())
    return digest.hexdigest()[:16]


def sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def migrate(url: str) -> None:
    env = {**os.environ, "TRACKER_DATABASE_URL": url}
    subprocess.run(
        [str(ROOT / ".venv/bin/policy-tracker"), "migrate"],
        check=True,
        env=env,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )


def via_import(url: str, path: Path, timeout: float | None = None) -> float:
    """Wall time of ``policy-tracker import`` (the database must be migrated and empty);
    past ``timeout`` the import is killed and TimeoutExpired raised."""
    env = {**os.environ, "TRACKER_DATABASE_URL": url}
    started = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv/bin/policy-tracker"), "import", str(path)],
        check=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        timeout=timeout,
    )
    return time.perf_counter() - started


def _split(path: Path) -> tuple[list[bytes], Iterator[dict[str, Any]]]:
    """The small resources' raw lines, and an iterator over the initiative records."""
    fh = path.open("rb")
    head: list[bytes] = []
    first: bytes | None = None
    for raw in fh:
        if raw.startswith(b'{"resource": "initiatives"'):
            first = raw
            break
        head.append(raw)

    def rest() -> Iterator[dict[str, Any]]:
        try:
            if first is not None:
                yield json.loads(first)["record"]
            for raw in fh:
                yield json.loads(raw)["record"]
        finally:
            fh.close()

    return head, rest()


def via_bulk(url: str, path: Path, batch: int = BATCH) -> float:
    from sqlalchemy import func, insert, select, text

    from api.bulk.service import import_lines
    from api.db import build_engine, write_transaction
    from api.initiatives.service import org_link, relation_table, sector_link
    from api.initiatives.service import table as initiative_table
    from api.initiatives.tables import INVERSE_RELATION, Relation
    from api.organizations.service import table as org_table
    from api.records import utcnow
    from api.search import index as search_index
    from api.search.index import evidence_table, excerpt_table, index_record
    from api.sectors.service import table as sector_table
    from api.sources.service import table as source_table

    index_records = getattr(search_index, "index_records", None)
    started = time.perf_counter()
    engine = build_engine(url)
    head, initiatives = _split(path)
    with write_transaction(engine) as conn:
        report = import_lines(conn, head, "bench-load")
        if report.errors:
            raise SystemExit(f"import of sources/sectors/organizations failed: {report.errors[:3]}")
        sectors = dict(conn.execute(select(sector_table.c.slug, sector_table.c.id)).all())
        orgs = dict(conn.execute(select(org_table.c.slug, org_table.c.id)).all())
        excerpts = {
            (r.slug, r.key): r.id
            for r in conn.execute(
                select(source_table.c.slug, excerpt_table.c.key, excerpt_table.c.id).join(
                    source_table, source_table.c.id == excerpt_table.c.source_id
                )
            )
        }
        next_id = (conn.execute(select(func.max(initiative_table.c.id))).scalar() or 0) + 1
    ids: dict[str, int] = {}
    now = utcnow()
    done = 0

    def flush(rows: dict[str, list[dict[str, Any]]]) -> None:
        with write_transaction(engine) as conn:
            conn.execute(insert(initiative_table), rows["initiative"])
            for name, table in (
                ("sector", sector_link),
                ("org", org_link),
                ("relation", relation_table),
                ("evidence", evidence_table),
            ):
                if rows[name]:
                    conn.execute(insert(table), rows[name])
            # The project's own indexer builds the search documents (whatever their shape).
            batch_ids = [r["id"] for r in rows["initiative"]]
            if index_records is not None:
                index_records(conn, "initiative", batch_ids)
            else:
                for rid in batch_ids:
                    index_record(conn, "initiative", rid)

    def empty() -> dict[str, list[dict[str, Any]]]:
        return {k: [] for k in ("initiative", "sector", "org", "relation", "evidence")}

    rows = empty()
    for rec in initiatives:
        rid = next_id
        next_id += 1
        ids[rec["slug"]] = rid
        rows["initiative"].append(
            {
                "id": rid,
                "slug": rec["slug"],
                "name": rec["name"],
                "name_zh": rec.get("name_zh"),
                "aliases": rec.get("aliases", []),
                "kind": rec["kind"],
                "status": rec.get("status", "unknown"),
                "country": rec["country"],
                "summary": rec.get("summary", ""),
                "start_year": rec.get("start_year"),
                "end_year": rec.get("end_year"),
                "review_status": rec.get("review_status", "published"),
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        rows["sector"] += [{"initiative_id": rid, "sector_id": sectors[s]} for s in rec["sectors"]]
        rows["org"] += [
            {"initiative_id": rid, "organization_id": orgs[o["slug"]], "role": o["role"]}
            for o in rec["organizations"]
        ]
        for link in rec.get("related", []):
            other = ids[link["slug"]]  # the generator only links to earlier initiatives
            rows["relation"].append(
                {"initiative_id": rid, "related_id": other, "relation": link["relation"]}
            )
            rows["relation"].append(
                {
                    "initiative_id": other,
                    "related_id": rid,
                    "relation": INVERSE_RELATION[Relation(link["relation"])].value,
                }
            )
        for pos, ev in enumerate(rec["evidence"]):
            rows["evidence"].append(
                {
                    "initiative_id": rid,
                    "excerpt_id": excerpts[(ev["source"], ev["excerpt"])],
                    "position": pos,
                }
            )
        if len(rows["initiative"]) >= batch:
            flush(rows)
            done += len(rows["initiative"])
            rows = empty()
            if done % 100_000 == 0:
                rate = done / (time.perf_counter() - started)
                print(f"  {done:,} initiatives ({rate:,.0f}/s)", file=sys.stderr)
    if rows["initiative"]:
        flush(rows)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('initiative', 'id'), "
                    "(SELECT max(id) FROM initiative))"
                )
            )
            conn.commit()
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="SQLAlchemy URL of the target database")
    parser.add_argument("file", type=Path)
    parser.add_argument("--via", choices=("bulk", "import"), default="bulk")
    parser.add_argument("--no-migrate", action="store_true")
    args = parser.parse_args()
    if not args.no_migrate:
        migrate(args.url)
    seconds = (
        via_bulk(args.url, args.file) if args.via == "bulk" else via_import(args.url, args.file)
    )
    db = sqlite_path(args.url)
    if db is not None:
        db.with_suffix(".stamp").write_text(schema_stamp(args.file))
    print(f"loaded {args.file.name} via {args.via} in {seconds:.1f}s")


if __name__ == "__main__":
    main()
