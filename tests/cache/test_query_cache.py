"""Kept results (api/cache) on SQLite and PostgreSQL: a repeated read is answered from the
cache, and every committed write, through this process or another, is seen by the very next
read: list totals and pages, single records, search pages and facets, embedded names."""

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from api.cache.generation import current_generation, peek_generation
from api.config import Settings
from api.main import create_app
from tests.api_helpers import create_published, initiative, ok, patch
from tests.conftest import Api

LIST = "/v1/initiatives"


@pytest.fixture
def other(api: Api) -> Iterator[Api]:
    """A second API process on the same database (its own engine, pool and cache)."""
    app = create_app(Settings(database_url=api.db.url))
    with Api(app, raise_server_exceptions=False) as client:
        client.keys = api.keys
        client.db = api.db
        yield client
    app.state.engine.dispose()


def cache_of(client: Api) -> object:
    return client.app.state.query_cache  # type: ignore[attr-defined]


def test_a_repeated_read_is_answered_from_the_cache(api: Api) -> None:
    cache = api.app.state.query_cache  # type: ignore[attr-defined]
    first = ok(api.get(LIST, params={"kind": "plan"}))
    hits = cache.hits
    again = ok(api.get(LIST, params={"kind": "plan"}))
    assert again == first
    assert cache.hits == hits + 1


def test_a_write_in_another_process_is_seen_at_once(api: Api, other: Api, editor) -> None:
    before = ok(api.get(LIST))
    record_before = ok(api.get("/v1/initiatives/made-in-china-2025"))
    found_before = ok(api.get("/v1/search", params={"q": "zebrafinch"}))
    assert found_before["total"] == 0

    create_published(other, "initiatives", initiative("zebrafinch-plan"), editor)
    resp = patch(
        other, "initiatives", "made-in-china-2025", {"summary": "Rewritten elsewhere."}, editor
    )
    ok(resp)

    after = ok(api.get(LIST))
    assert after["total"] == before["total"] + 1
    assert "zebrafinch-plan" in {i["slug"] for i in walk_all(api)}
    record_after = ok(api.get("/v1/initiatives/made-in-china-2025"))
    assert record_after["summary"] == "Rewritten elsewhere."
    assert record_after["version"] == record_before["version"] + 1
    found = ok(api.get("/v1/search", params={"q": "zebrafinch"}))
    assert [h["slug"] for h in found["items"]] == ["zebrafinch-plan"]
    assert found["total"] == 1 and found["facets"]["type"] == {"initiative": 1}


def walk_all(client: Api) -> list[dict[str, object]]:
    items, cursor = [], None
    while True:
        page = ok(client.get(LIST, params={"limit": 200, **({"cursor": cursor} if cursor else {})}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_renaming_an_initiative_shows_where_others_embed_its_name(api: Api, editor) -> None:
    # An initiative embeds its related initiatives' names: a change to another record must
    # not leave the embedding record stale.
    one = ok(api.get("/v1/initiatives/made-in-china-2025"))
    related = one["related"][0]["slug"]
    ok(patch(api, "initiatives", related, {"name": "A New Name"}, editor))
    again = ok(api.get("/v1/initiatives/made-in-china-2025"))
    assert {r["slug"]: r["name"] for r in again["related"]}[related] == "A New Name"


def test_a_refused_write_keeps_the_cache(api: Api, editor) -> None:
    ok(api.get(LIST))
    generation = peek_generation(api.app.state.engine)  # type: ignore[attr-defined]
    resp = api.post(LIST, json={"slug": "x"}, headers=editor)  # missing fields
    assert resp.status_code == 422
    assert peek_generation(api.app.state.engine) == generation  # type: ignore[attr-defined]
    hits = api.app.state.query_cache.hits  # type: ignore[attr-defined]
    ok(api.get(LIST))
    assert api.app.state.query_cache.hits == hits + 1  # type: ignore[attr-defined]


def test_every_committed_write_moves_the_generation_on(api: Api, editor) -> None:
    engine = api.app.state.engine  # type: ignore[attr-defined]
    start = peek_generation(engine)
    assert start is not None
    create_published(api, "initiatives", initiative("generation-plan"), editor)
    assert peek_generation(engine) == start + 2  # create, then publish
    with engine.connect() as conn:
        assert current_generation(conn) == start + 2


def test_editors_and_anonymous_readers_do_not_share_kept_pages(api: Api, editor) -> None:
    draft = initiative("unpublished-draft-plan")
    ok(api.post(LIST, json=draft, headers=editor), 201)
    anonymous = ok(api.get(LIST, params={"limit": 200}))
    drafts = ok(api.get(LIST, params={"limit": 200, "review_status": "draft"}, headers=editor))
    assert "unpublished-draft-plan" not in {i["slug"] for i in anonymous["items"]}
    assert "unpublished-draft-plan" in {i["slug"] for i in drafts["items"]}
    assert api.get("/v1/initiatives/unpublished-draft-plan").status_code == 404
    ok(api.get("/v1/initiatives/unpublished-draft-plan", headers=editor))
    assert api.get("/v1/initiatives/unpublished-draft-plan").status_code == 404


def test_the_cache_can_be_turned_off(api: Api, editor) -> None:
    app = create_app(Settings(database_url=api.db.url, query_cache_mb=0))
    with Api(app, raise_server_exceptions=False) as plain:
        first = ok(plain.get(LIST))
        create_published(plain, "initiatives", initiative("uncached-plan"), editor)
        assert ok(plain.get(LIST))["total"] == first["total"] + 1
        assert len(app.state.query_cache) == 0
    app.state.engine.dispose()


def test_lists_carry_an_etag_and_answer_304(api: Api, editor) -> None:
    resp = api.get(LIST, params={"limit": 3})
    etag = resp.headers["etag"]
    again = api.get(LIST, params={"limit": 3}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    search = api.get("/v1/search", params={"q": "china"})
    assert (
        api.get(
            "/v1/search", params={"q": "china"}, headers={"If-None-Match": search.headers["etag"]}
        ).status_code
        == 304
    )
    first = resp.json()["items"][0]["slug"]
    ok(patch(api, "initiatives", first, {"summary": "Changed."}, editor))
    changed = api.get(LIST, params={"limit": 3}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_sql_behind_the_apis_back_is_seen_after_a_write(api: Api, editor) -> None:
    # What the cache documents: edits outside the API are not seen until the next write.
    ok(api.get("/v1/initiatives/made-in-china-2025"))
    with api.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE initiative SET name = 'Edited By Hand' WHERE slug = :s"),
            {"s": "made-in-china-2025"},
        )
    create_published(api, "initiatives", initiative("any-later-write"), editor)
    assert ok(api.get("/v1/initiatives/made-in-china-2025"))["name"] == "Edited By Hand"


def test_cache_stays_within_its_bound(api: Api) -> None:
    app = create_app(Settings(database_url=api.db.url, query_cache_mb=0.05))
    with Api(app, raise_server_exceptions=False) as small:
        for limit in range(1, 60):
            ok(small.get(LIST, params={"limit": limit}))
        cache = app.state.query_cache
        assert 0 < cache.size_bytes <= cache.max_bytes
    app.state.engine.dispose()
