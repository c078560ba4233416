"""Bulk data: streaming CSV/NDJSON lists, whole-database export, all-or-nothing import."""

import csv
import io
import json
import threading
from typing import Any

import pytest
from alembic import command

from api.auth.service import create_key
from api.auth.tables import Role
from api.cli import alembic_config
from api.config import Settings
from api.db import build_engine
from api.main import create_app
from tests.conftest import Api

NDJSON = {"Content-Type": "application/x-ndjson"}


def _export(api: Api) -> bytes:
    response = api.get("/v1/export", headers=api.auth(Role.editor))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response.content


def _initiative_line(slug: str, **changes: Any) -> bytes:
    record = {
        "slug": slug,
        "name": f"Bulk {slug}",
        "kind": "plan",
        "country": "CN",
        "start_year": 2020,
        "sectors": ["new-materials"],
        "evidence": [{"source": "lse-ideas-techno-nationalism-2021", "excerpt": "juguo-system"}],
        "review_status": "published",
        **changes,
    }
    return json.dumps({"resource": "initiatives", "record": record}).encode()


def test_export_import_export_is_byte_identical(api: Api, empty_database_url: str) -> None:
    """The round trip also moves data between SQLite and PostgreSQL (any pairing works)."""
    first = _export(api)
    assert first.count(b"\n") > 40
    command.upgrade(alembic_config(empty_database_url), "head")
    engine = build_engine(empty_database_url)
    key, _ = create_key(engine, "mover", Role.editor)
    engine.dispose()
    app = create_app(Settings(database_url=empty_database_url))
    with Api(app) as other:
        other.keys = {Role.editor: key}
        imported = other.post(
            "/v1/import", content=first, headers={**NDJSON, **other.auth(Role.editor)}
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["created"] == first.count(b"\n")
        assert _export(other) == first
        again = other.post(
            "/v1/import", content=first, headers={**NDJSON, **other.auth(Role.editor)}
        )
        assert again.json()["unchanged"] == first.count(b"\n")
        assert again.json()["created"] == again.json()["updated"] == 0
    app.state.engine.dispose()


def test_anonymous_export_holds_only_published_records(
    api: Api, contributor: dict[str, str]
) -> None:
    draft = {"slug": "a-draft", "name": "A draft", "kind": "plan", "country": "CN"}
    assert api.post("/v1/initiatives", json=draft, headers=contributor).status_code == 201
    public = api.get("/v1/export").content
    assert b'"a-draft"' not in public
    assert b'"a-draft"' in _export(api)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sector": "new-materials"},
        {"sector": ["new-materials", "semiconductors"], "country": "CN"},
        {"organization": "chinese-academy-of-sciences"},
        {"kind": "plan", "status": ["active", "completed"]},
        {"active_in": 2018},
        {"start_year_min": 2010, "start_year_max": 2020, "sort": "-start_year"},
        {"q": "china"},
    ],
)
def test_csv_and_ndjson_stream_every_match_of_the_list(api: Api, params: dict[str, Any]) -> None:
    expected = []
    cursor = None
    while True:
        page = api.get("/v1/initiatives", params={**params, "limit": 3, "cursor": cursor}).json()
        expected += [item["slug"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ndjson = api.get("/v1/initiatives", params={**params, "format": "ndjson"})
    assert ndjson.status_code == 200
    records = [json.loads(line) for line in ndjson.content.splitlines()]
    assert [r["slug"] for r in records] == expected
    as_csv = api.get("/v1/initiatives", params={**params, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    text = as_csv.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [row["slug"] for row in rows] == expected


def test_csv_keeps_chinese_and_joins_lists_as_documented(api: Api) -> None:
    text = api.get("/v1/initiatives", params={"format": "csv"}).content.decode("utf-8")
    rows = {row["slug"]: row for row in csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))}
    record = api.get("/v1/initiatives/made-in-china-2025").json()
    row = rows["made-in-china-2025"]
    assert row["name_zh"] == "中国制造2025"
    assert row["sectors"] == "; ".join(record["sectors"])
    assert row["organizations"] == "; ".join(
        f"{o['slug']}:{o['role']}" for o in record["organizations"]
    )
    assert row["evidence"] == "; ".join(f"{e['source']}#{e['excerpt']}" for e in record["evidence"])


def test_other_resources_stream_too(api: Api) -> None:
    for resource in ("sectors", "organizations", "sources"):
        total = api.get(f"/v1/{resource}").json()["total"]
        lines = api.get(f"/v1/{resource}", params={"format": "ndjson"}).content.splitlines()
        assert len(lines) == total


def test_a_bad_line_in_the_middle_writes_nothing(api: Api, editor: dict[str, str]) -> None:
    before = _export(api)
    body = b"\n".join(
        [
            _initiative_line("bulk-one"),
            _initiative_line("bulk-two", sectors=["no-such-sector"]),
            b"{broken json",
            _initiative_line("bulk-three", end_year=1999),
            _initiative_line("bulk-four", kind="wish"),
            _initiative_line("bulk-five"),
        ]
    )
    response = api.post("/v1/import", content=body, headers={**NDJSON, **editor})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    bad_lines = sorted({e["loc"][2] for e in response.json()["errors"]})
    assert bad_lines == [2, 3, 4, 5]
    assert "no-such-sector" in response.text
    assert _export(api) == before
    assert api.get("/v1/initiatives/bulk-one").status_code == 404


def test_import_rules(api: Api, editor: dict[str, str], contributor: dict[str, str]) -> None:
    line = _initiative_line("bulk-one")
    assert api.post("/v1/import", content=line, headers=NDJSON).status_code == 401
    assert (
        api.post("/v1/import", content=line, headers={**NDJSON, **contributor}).status_code == 403
    )
    wrong_type = api.post(
        "/v1/import", content=line, headers={"Content-Type": "text/plain", **editor}
    )
    assert wrong_type.status_code == 415
    twice = api.post("/v1/import", content=line + b"\n" + line, headers={**NDJSON, **editor})
    assert twice.status_code == 422
    assert "twice" in twice.text
    created = api.post("/v1/import", content=line, headers={**NDJSON, **editor})
    assert created.json()["created"] == 1
    history = api.get("/v1/initiatives/bulk-one/history").json()["items"]
    assert [h["action"] for h in history] == ["import"]
    assert history[0]["actor"] == "test-editor"
    found = (
        api.get("/v1/search", params={"q": "bulk"})
        if False
        else api.get("/v1/initiatives", params={"q": "bulk"})
    )
    assert [i["slug"] for i in found.json()["items"]] == ["bulk-one"]
    changed = api.post(
        "/v1/import",
        content=_initiative_line("bulk-one", name="Renamed"),
        headers={**NDJSON, **editor},
    )
    assert changed.json()["updated"] == 1
    record = api.get("/v1/initiatives/bulk-one").json()
    assert record["name"] == "Renamed"
    assert record["version"] == 2


def test_a_client_that_disconnects_mid_import_writes_nothing(api: Api) -> None:
    import asyncio

    app = api.app
    before = _export(api)
    body = b"\n".join(_initiative_line(f"cut-{i}") for i in range(200))
    messages = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"content-type", b"application/x-ndjson"),
        (b"authorization", f"Bearer {api.keys[Role.editor]}".encode()),
        (b"host", b"testserver"),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/import",
        "raw_path": b"/v1/import",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    assert _export(api) == before


def test_an_import_racing_a_patch_loses_no_update(api: Api, editor: dict[str, str]) -> None:
    """Whichever commits first, the other either applies on top of it or is refused."""
    current = api.get("/v1/initiatives/made-in-china-2025")
    etag = current.headers["etag"]
    record = current.json()
    bulk = [_initiative_line(f"race-{i}") for i in range(300)]
    mine = json.dumps(
        {"resource": "initiatives", "record": {**_strip(record), "summary": "From the import."}}
    ).encode()
    results: dict[str, Any] = {}

    def run_import() -> None:
        results["import"] = api.post(
            "/v1/import", content=b"\n".join([*bulk, mine]), headers={**NDJSON, **editor}
        )

    thread = threading.Thread(target=run_import)
    thread.start()
    patched = api.patch(
        "/v1/initiatives/made-in-china-2025",
        json={"summary": "From the patch."},
        headers={**editor, "If-Match": etag},
    )
    thread.join(timeout=120)
    imported = results["import"]
    final = api.get("/v1/initiatives/made-in-china-2025").json()
    history = api.get("/v1/initiatives/made-in-china-2025/history").json()["items"]
    summaries = [h["changes"].get("summary", {}).get("after") for h in history]
    if patched.status_code == 200:
        assert "From the patch." in summaries
    else:
        assert patched.status_code == 412
    if imported.status_code == 200:
        assert "From the import." in summaries
    else:
        assert imported.status_code == 422
    assert final["summary"] in {"From the patch.", "From the import."}
    assert final["version"] == record["version"] + len(
        [s for s in summaries[: len(history)] if s in {"From the patch.", "From the import."}]
    )


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in {"created_at", "updated_at", "version"}}
    out["evidence"] = [{"source": e["source"], "excerpt": e["excerpt"]} for e in record["evidence"]]
    out["organizations"] = [{"slug": o["slug"], "role": o["role"]} for o in record["organizations"]]
    out["related"] = [{"slug": r["slug"], "relation": r["relation"]} for r in record["related"]]
    return out
