"""Shared helpers for the fuzzing and hostile-input tests (tests/test_fuzz.py, test_hostile.py).

The app under attack is the real one from ``create_app`` over a test database, with the rate
limits off: these tests send thousands of requests and hundreds of bad keys from one address,
and a 429 would only hide what the request would otherwise have done (rate limiting has its
own tests).
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from api.auth.tables import Role
from api.config import Settings
from api.db import build_engine
from api.errors import PROBLEM_MEDIA_TYPE
from api.main import create_app
from api.resource import REGISTRY
from api.tables import metadata
from tests.conftest import PG_ADMIN_URL, Database, Template, _copy_sqlite, _pg_admin

RESOURCES = ("initiatives", "sectors", "organizations", "sources")
ROLES: tuple[Role | None, ...] = (None, Role.contributor, Role.editor, Role.admin)


def role_id(role: Role | None) -> str:
    return role.value if role else "anonymous"


def fuzz_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        cors_origins=["https://app.example.org"],
        auth_failure_limit=0,
        write_rate_limit=0,
        seed_on_start=False,
    )


@contextmanager
def app_over(database_url: str) -> Iterator[FastAPI]:
    app = create_app(fuzz_settings(database_url))
    try:
        yield app
    finally:
        app.state.engine.dispose()


@contextmanager
def shared_database(request: pytest.FixtureRequest, kind: str, run_id: str) -> Iterator[Database]:
    """A private seeded copy of the session's template, like ``database``, for a fixture of
    wider scope (one database for many tests: creating one on PostgreSQL takes seconds)."""
    fixture = {"sqlite": "sqlite_template", "postgresql": "pg_template"}[kind]
    template: Template = request.getfixturevalue(fixture)
    if kind == "sqlite":
        directory = request.getfixturevalue("tmp_path_factory").mktemp("fuzz")
        url = _copy_sqlite(template, Path(directory))
        cleanup = None
    else:
        name = f"pt_test_{run_id}_{uuid.uuid4().hex[:8]}"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(template.url).database}"')
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        cleanup = name
    engine = build_engine(url)
    try:
        yield Database(kind, url, template.keys, engine)
    finally:
        engine.dispose()
        if cleanup:
            with _pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{cleanup}" WITH (FORCE)')


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def known_slugs(engine: Engine) -> dict[str, list[str]]:
    """Every slug of every resource (any review state), for path parameters that hit."""
    out = {}
    with engine.connect() as conn:
        for name in RESOURCES:
            table = REGISTRY[name].table
            out[name] = list(conn.execute(select(table.c.slug).order_by(table.c.slug)).scalars())
    return out


def export_snapshot(client: TestClient, editor_key: str) -> list[dict[str, Any]]:
    """``GET /v1/export`` as an editor: every record of every resource, drafts included."""
    response = client.get("/v1/export", headers=bearer(editor_key))
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.content.splitlines() if line.strip()]


def database_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order (the strictest "nothing changed")."""
    state = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "rate_limit_window":
                continue
            query = select(table).order_by(*table.primary_key.columns)
            state[table.name] = [tuple(row) for row in conn.execute(query)]
    return state


def problem_violation(response: Any, statuses: tuple[int, ...] = ()) -> str | None:
    """None when ``response`` is a 4xx RFC 9457 problem (with a status in ``statuses`` when
    given, and ``errors`` on a 422); otherwise one line saying what is wrong with it."""
    status = response.status_code
    request = response.request
    url = str(request.url)
    where = f"{request.method} {url[:200]}{'...' if len(url) > 200 else ''} -> {status}"
    if not 400 <= status < 500 or (statuses and status not in statuses):
        wanted = f" (wanted {'/'.join(map(str, statuses))})" if statuses else " (wanted a 4xx)"
        return f"{where}{wanted}: {response.text[:200]!r}"
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    if content_type != PROBLEM_MEDIA_TYPE:
        return f"{where}: content-type {content_type!r}, not {PROBLEM_MEDIA_TYPE}"
    try:
        body = response.json()
    except ValueError:
        return f"{where}: the body is not JSON: {response.text[:200]!r}"
    if not isinstance(body, dict):
        return f"{where}: the problem is not an object: {body!r}"[:300]
    for name, kind in (("type", str), ("title", str), ("status", int), ("detail", str)):
        if not isinstance(body.get(name), kind):
            return f"{where}: the problem has no {name}: {body!r}"[:300]
    if body["status"] != status:
        return f"{where}: the problem says status {body['status']}"
    if status == 422:
        errors = body.get("errors")
        if not isinstance(errors, list) or not errors:
            return f"{where}: a 422 without errors: {body!r}"[:300]
        for error in errors:
            if not isinstance(error.get("loc"), list) or not isinstance(error.get("msg"), str):
                return f"{where}: a malformed entry in errors: {error!r}"[:300]
    return None


def assert_problem(response: Any, *statuses: int) -> dict[str, Any]:
    """Assert a 4xx RFC 9457 problem (one of ``statuses`` when given); returns its body."""
    violation = problem_violation(response, statuses)
    assert violation is None, violation
    body: dict[str, Any] = response.json()
    return body
