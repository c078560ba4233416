"""Helpers for the HTTP tests: the fixture files as data, problem+json checks, cursor walks and
snapshots of everything a client can see (to prove a rejected write changed nothing).

Expected values come from fixtures/*.yaml and seeds/*.yaml, never from the application's code.
"""

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from httpx import Response
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from api.auth.tables import Role
from api.config import Settings
from api.main import create_app

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(  # as in conftest.py
    "TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SOURCE = "lse-ideas-techno-nationalism-2021"
PROBLEM = "application/problem+json"
RESOURCES = ("initiatives", "sectors", "organizations", "sources")
ALL_REVIEW_STATES = ["draft", "published", "retracted"]
# How the other side of a relation shows it (the fixtures write one side only).
INVERSE = {
    "predecessor_of": "successor_of",
    "successor_of": "predecessor_of",
    "part_of": "has_part",
    "has_part": "part_of",
    "implements": "implemented_by",
    "implemented_by": "implements",
    "responds_to": "responded_to_by",
    "responded_to_by": "responds_to",
    "related_to": "related_to",
}

Record = dict[str, Any]


# --- a seeded database shared by the tests of one module ----------------------------------


class SharedApi(TestClient):
    """Like conftest's ``Api``, over one database that a whole test module shares."""

    keys: dict[Role, str]

    def auth(self, role: Role | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role else {}


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seeded_fixtures() -> tuple[Any, Any, Any]:
    """Fixtures ``seeded`` (a client, module scope, on SQLite and PostgreSQL), and
    ``seeded_editor`` / ``seeded_contributor`` (its headers).

    For tests that only read, or whose writes must all be refused (each such test checks that
    nothing was written): a private copy of the database per test costs a second or more on
    PostgreSQL, so those tests share one copy per module. Tests that change data use ``api``.
    Assign the three in a test module: ``seeded, seeded_editor, seeded_contributor = ...``.
    """

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
    def seeded(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, run_id: str
    ) -> Iterator[SharedApi]:
        drop = None
        if request.param == "sqlite":
            template = request.getfixturevalue("sqlite_template")
            target = tmp_path_factory.mktemp("seeded") / "seeded.db"
            shutil.copyfile(make_url(template.url).database or "", target)
            url = f"sqlite:///{target}"
        else:
            template = request.getfixturevalue("pg_template")
            name = f"pt_test_{run_id}_seeded_{uuid.uuid4().hex[:8]}"
            admin = _libpq(PG_ADMIN_URL)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE "{make_url(template.url).database}"'
                )
            url = make_url(template.url).set(database=name).render_as_string(hide_password=False)
            drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        settings = Settings(
            database_url=url,
            cors_origins=["https://app.example.org"],
            write_rate_limit=0,
            auth_failure_limit=0,
        )
        app = create_app(settings)
        try:
            with SharedApi(app, raise_server_exceptions=False) as client:
                client.keys = template.keys
                yield client
        finally:
            app.state.engine.dispose()
            if drop:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(drop)

    @pytest.fixture
    def seeded_editor(seeded: SharedApi) -> dict[str, str]:
        return seeded.auth(Role.editor)

    @pytest.fixture
    def seeded_contributor(seeded: SharedApi) -> dict[str, str]:
        return seeded.auth(Role.contributor)

    return seeded, seeded_editor, seeded_contributor


@cache
def _fixture(name: str) -> tuple[Record, ...]:
    with (REPO / "fixtures" / f"{name}.yaml").open(encoding="utf-8") as fh:
        return tuple(yaml.safe_load(fh))


def fixture(name: str) -> list[Record]:
    """The records of fixtures/{name}.yaml (initiatives, sectors, organizations)."""
    return [dict(r) for r in _fixture(name)]


def by_slug(name: str) -> dict[str, Record]:
    return {r["slug"]: r for r in fixture(name)}


@cache
def seed_source() -> Record:
    with (REPO / "seeds" / f"{SOURCE}.yaml").open(encoding="utf-8") as fh:
        data: Record = yaml.safe_load(fh)
    return data


def excerpt_quote(excerpt: str) -> str:
    return next(str(e["quote"]) for e in seed_source()["excerpts"] if e["id"] == excerpt)


def expected_related(slug: str) -> list[dict[str, str]]:
    """An initiative's relations as the API should show them: its own plus the inverses."""
    links: dict[str, str] = {}
    for item in fixture("initiatives"):
        for link in item["related"]:
            if item["slug"] == slug:
                links[link["slug"]] = link["relation"]
            elif link["slug"] == slug:
                links[item["slug"]] = INVERSE[link["relation"]]
    return [{"slug": s, "relation": r} for s, r in sorted(links.items())]


def evidence(*excerpts: str) -> list[dict[str, str]]:
    """Citations of the seeded source's excerpts, as a write takes them."""
    return [{"source": SOURCE, "excerpt": e} for e in excerpts or ("juguo-system",)]


def slugs(items: Iterable[Record]) -> list[str]:
    return [item["slug"] for item in items]


def assert_problem(
    resp: Response,
    status: int,
    *,
    loc: list[Any] | None = None,
    mentions: Iterable[str] = (),
) -> Record:
    """An RFC 9457 problem with this status; ``loc`` must be one of the named bad fields."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:500]}"
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers["content-type"]
    body: Record = resp.json()
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if loc is not None:
        locs = [list(e["loc"]) for e in body.get("errors") or []]
        assert loc in locs, f"{loc} not among {locs}"
    for word in mentions:
        assert word in resp.text, f"{word!r} not in {resp.text[:500]}"
    return body


def ok(resp: Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:500]}"
    return resp.json() if resp.content else None


def listed(
    api: TestClient, resource: str, headers: dict[str, str] | None = None, **params: Any
) -> list[str]:
    """Slugs of one page of up to 200 records; the page must hold every match."""
    body = ok(api.get(f"/v1/{resource}", params={"limit": 200, **params}, headers=headers))
    assert body["total"] == len(body["items"])
    assert body["next_cursor"] is None
    return slugs(body["items"])


def walk(
    api: TestClient,
    resource: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    between_pages: Callable[[int], None] | None = None,
) -> tuple[list[Record], list[list[Record]]]:
    """Every page by following next_cursor: (all items, the pages)."""
    params = dict(params or {})
    pages: list[list[Record]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = api.get(f"/v1/{resource}", params=query, headers=headers)
        body = ok(resp)
        assert set(body) == {"items", "total", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in resp.headers
            break
        assert 'rel="next"' in resp.headers["link"]
        assert len(pages) < 100, "the walk does not end"
        if between_pages:
            between_pages(len(pages))
    return [item for page in pages for item in page], pages


def snapshot(api: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Record]]:
    """Every record of every resource in every review state, as an editor sees it."""
    out = {}
    for resource in RESOURCES:
        items, _ = walk(
            api,
            resource,
            {"limit": 200, "review_status": ALL_REVIEW_STATES},
            headers,
        )
        out[resource] = {item["slug"]: item for item in items}
    return out


def history(
    api: TestClient, resource: str, slug: str, headers: dict[str, str] | None = None
) -> list[Record]:
    body = ok(api.get(f"/v1/{resource}/{slug}/history", params={"limit": 200}, headers=headers))
    items: list[Record] = body["items"]
    return items


def read(
    api: TestClient, resource: str, slug: str, headers: dict[str, str] | None = None
) -> tuple[Record, str]:
    """A record and its ETag."""
    resp = api.get(f"/v1/{resource}/{slug}", headers=headers)
    body = ok(resp)
    return body, resp.headers["etag"]


def patch(
    api: TestClient,
    resource: str,
    slug: str,
    body: Any,
    headers: dict[str, str],
    content_type: str = "application/json",
) -> Response:
    """A PATCH with the current ETag as If-Match."""
    _, etag = read(api, resource, slug, headers)
    return api.patch(
        f"/v1/{resource}/{slug}",
        content=body if isinstance(body, bytes) else _json(body),
        headers={**headers, "If-Match": etag, "Content-Type": content_type},
    )


def delete(
    api: TestClient, resource: str, slug: str, headers: dict[str, str], **params: Any
) -> Response:
    _, etag = read(api, resource, slug, headers)
    return api.delete(
        f"/v1/{resource}/{slug}", params=params, headers={**headers, "If-Match": etag}
    )


def create_published(
    api: TestClient, resource: str, payload: Record, editor: dict[str, str]
) -> Record:
    ok(api.post(f"/v1/{resource}", json=payload, headers=editor), 201)
    record: Record = ok(api.post(f"/v1/{resource}/{payload['slug']}/publish", headers=editor))
    assert record["review_status"] == "published"
    return record


def initiative(slug: str, **fields: Any) -> Record:
    """A valid initiative payload that can be published."""
    return {
        "slug": slug,
        "name": f"Initiative {slug}",
        "kind": "plan",
        "country": "CN",
        "evidence": evidence(),
        **fields,
    }


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
