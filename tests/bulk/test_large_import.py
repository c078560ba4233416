"""A 100,000-record import, through HTTP and through the CLI, on both databases.

The record count can be lowered with BULK_TEST_RECORDS for a quick local run."""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.auth.tables import Role
from api.cli import app as cli
from api.config import get_settings
from api.tables import Initiative, Revision
from tests.conftest import Api, Database

RECORDS = int(os.environ.get("BULK_TEST_RECORDS", "100000"))


def _lines(prefix: str) -> Iterator[bytes]:
    for i in range(RECORDS):
        record = {
            "slug": f"{prefix}-{i:06d}",
            "name": f"Synthetic programme {i} for advanced semiconductors",
            "name_zh": "半导体产业计划",
            "aliases": [f"SP{i}"],
            "kind": "programme",
            "status": "active",
            "country": "CN" if i % 3 else "US",
            "summary": "A generated programme on chips, materials and research funding.",
            "start_year": 2000 + i % 25,
            "sectors": ["semiconductors"] if i % 2 else ["new-materials"],
            "organizations": [{"slug": "chinese-academy-of-sciences", "role": "funder"}],
            "related": [{"slug": f"{prefix}-{i - 1:06d}", "relation": "successor_of"}]
            if i % 10
            else [],
            "evidence": [
                {"source": "lse-ideas-techno-nationalism-2021", "excerpt": "juguo-system"}
            ],
            "review_status": "published",
        }
        yield json.dumps({"resource": "initiatives", "record": record}).encode() + b"\n"


def _counts(database: Database, prefix: str) -> tuple[int, int]:
    with database.engine.connect() as conn:
        made = conn.execute(
            select(func.count()).select_from(Initiative).where(Initiative.slug.like(f"{prefix}-%"))  # type: ignore[attr-defined]
        ).scalar_one()
        revisions = conn.execute(
            select(func.count()).select_from(Revision).where(Revision.slug.like(f"{prefix}-%"))  # type: ignore[attr-defined]
        ).scalar_one()
    return made, revisions


def test_a_large_import_over_http(api: Api) -> None:
    response = api.post(
        "/v1/import",
        content=_lines("http"),
        headers={"Content-Type": "application/x-ndjson", **api.auth(Role.editor)},
        timeout=1800,
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json()["created"] == RECORDS
    assert _counts(api.db, "http") == (RECORDS, RECORDS)
    last = api.get(f"/v1/initiatives/http-{RECORDS - 1:06d}").json()
    assert last["related"][0]["slug"] == f"http-{RECORDS - 2:06d}"
    found = api.get("/v1/initiatives", params={"q": "semiconductors", "country": "US"})
    assert found.json()["total"] >= RECORDS // 3


def test_a_large_import_from_the_cli(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "large.ndjson"
    with source.open("wb") as out:
        out.writelines(_lines("cli"))
    monkeypatch.setenv("TRACKER_DATABASE_URL", database.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["import", str(source)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.stderr
    assert f"created: {RECORDS}" in result.stdout
    assert _counts(database, "cli") == (RECORDS, RECORDS)
