"""/v1/sources through HTTP, on SQLite and PostgreSQL: every operation, sorting, the cursor walk,
excerpts and the records that cite them, rejected writes (and that they wrote nothing), and
deleting a cited source. Expected values come from seeds/*.yaml and fixtures/*.yaml."""

from typing import Any

import pytest

from tests.api_helpers import (
    SOURCE,
    assert_problem,
    by_slug,
    create_published,
    delete,
    fixture,
    history,
    listed,
    ok,
    patch,
    read,
    seed_source,
    seeded_fixtures,
    slugs,
    snapshot,
    walk,
)

seeded, seeded_editor, seeded_contributor = seeded_fixtures()
URL = "/v1/sources"


def citers(excerpt: str) -> list[str]:
    """Initiatives citing the excerpt (from the fixtures)."""
    return sorted(
        i["slug"]
        for i in fixture("initiatives")
        if excerpt in {e["excerpt"] for e in i["evidence"]}
    )


def source(slug: str, **fields: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": f"Report {slug}",
        "authors": ["A. Author"],
        "publisher": "A publisher",
        "published_on": "2024-01-31",
        "url": f"https://example.org/{slug}",
        "excerpts": [{"id": "first", "quote": "The first sentence.", "locator": "p. 1"}],
        **fields,
    }


# --- list, read, sort --------------------------------------------------------------------


def test_list_and_read_show_the_seeded_source_with_its_excerpts(seeded):
    seed = seed_source()
    body = ok(seeded.get(URL))
    assert body["total"] == 1
    assert slugs(body["items"]) == [SOURCE]
    resp = seeded.get(f"{URL}/{SOURCE}")
    record = ok(resp)
    assert resp.headers["etag"]
    assert body["items"][0] == record
    for field in ("title", "authors", "publisher", "published_on", "url"):
        assert record[field] == seed[field], field
    assert record["excerpts"] == [
        {"id": e["id"], "quote": e["quote"], "locator": e["locator"]} for e in seed["excerpts"]
    ]
    assert record["review_status"] == "published"
    assert_problem(seeded.get(f"{URL}/no-such-source"), 404)


@pytest.mark.parametrize("bad", ["name", "published_on", "-kind"])
def test_sort_by_a_field_not_allowed_is_a_422_naming_it(seeded, bad):
    resp = seeded.get(URL, params={"sort": bad})
    assert_problem(resp, 422, loc=["query", "sort"], mentions=[bad.lstrip("-")])


def test_sources_take_no_filters(seeded):
    body = assert_problem(seeded.get(URL, params={"kind": "report"}), 422)
    assert body["errors"][0]["loc"] == ["query", "kind"]


# --- rejected writes: each names the field, and nothing is written ------------------------

NEW = "rejected-source"
REJECTED_CREATES = [
    ("unknown-field", {"colour": "red"}, 422, ["body", "colour"]),
    ("missing-title", {"title": None}, 422, ["body", "title"]),
    ("bad-url", {"url": "ftp://example.org/x"}, 422, ["body", "url"]),
    ("bad-date", {"published_on": "2021-02-30"}, 422, ["body", "published_on"]),
    ("authors-not-a-list", {"authors": "A. Author"}, 422, ["body", "authors"]),
    (
        "empty-quote",
        {"excerpts": [{"id": "first", "quote": ""}]},
        422,
        ["body", "excerpts", 0, "quote"],
    ),
    (
        "bad-excerpt-id",
        {"excerpts": [{"id": "First One", "quote": "x"}]},
        422,
        ["body", "excerpts", 0, "id"],
    ),
    (
        "excerpt-id-twice",
        {"excerpts": [{"id": "first", "quote": "a"}, {"id": "first", "quote": "b"}]},
        422,
        ["body", "excerpts", 1],
    ),
    ("duplicate-slug", {"slug": SOURCE}, 409, ["body", "slug"]),
    ("body-over-1-mib", {"title": "x" * (1024 * 1024 + 1)}, 413, None),
]


@pytest.mark.parametrize(
    ("changes", "status", "loc"),
    [c[1:] for c in REJECTED_CREATES],
    ids=[c[0] for c in REJECTED_CREATES],
)
def test_rejected_create_writes_nothing(
    seeded, seeded_contributor, seeded_editor, changes, status, loc
):
    payload = {k: v for k, v in {**source(NEW), **changes}.items() if v is not None}
    before = snapshot(seeded, seeded_editor)
    assert_problem(seeded.post(URL, json=payload, headers=seeded_contributor), status, loc=loc)
    assert snapshot(seeded, seeded_editor) == before
    assert_problem(seeded.get(f"{URL}/{NEW}", headers=seeded_editor), 404)
    assert_problem(seeded.get(f"{URL}/{NEW}/history", headers=seeded_editor), 404)


def _without(excerpt: str) -> list[dict[str, Any]]:
    return [
        {"id": e["id"], "quote": e["quote"], "locator": e["locator"]}
        for e in seed_source()["excerpts"]
        if e["id"] != excerpt
    ]


REJECTED_PATCHES = [
    ("unknown-field", {"colour": "red"}, 422, ["body", "colour"]),
    ("slug", {"slug": "lse-2021"}, 422, ["body", "slug"]),
    ("null-title", {"title": None}, 422, None),
    ("null-excerpts", {"excerpts": None}, 422, None),
    ("bad-url", {"url": "not a url"}, 422, ["body", "url"]),
    # Made in China 2025 cites this excerpt, so it cannot go.
    (
        "drop-a-cited-excerpt",
        {"excerpts": _without("mic2025-and-predecessor")},
        422,
        ["body", "excerpts"],
    ),
    ("body-over-1-mib", {"publisher": "x" * (1024 * 1024 + 1)}, 413, None),
]


@pytest.mark.parametrize(
    ("body", "status", "loc"),
    [c[1:] for c in REJECTED_PATCHES],
    ids=[c[0] for c in REJECTED_PATCHES],
)
def test_rejected_patch_writes_nothing(
    seeded, seeded_contributor, seeded_editor, body, status, loc
):
    before = snapshot(seeded, seeded_editor)
    revisions = history(seeded, "sources", SOURCE)
    problem = assert_problem(
        patch(seeded, "sources", SOURCE, body, seeded_contributor), status, loc=loc
    )
    if status == 422:
        assert next(iter(body)) in str(problem)
    if body.get("excerpts"):
        assert "mic2025-and-predecessor" in problem["detail"]
    assert snapshot(seeded, seeded_editor) == before
    assert history(seeded, "sources", SOURCE) == revisions


# --- create, review, walk, update, delete ------------------------------------------------


def test_contributor_creates_a_draft_that_an_editor_publishes(api, contributor, editor):
    payload = source("state-council-2015", title="国务院关于印发《中国制造2025》的通知", url=None)
    resp = api.post(URL, json=payload, headers=contributor)
    record = ok(resp, 201)
    assert resp.headers["location"] == f"{URL}/state-council-2015"
    assert resp.headers["etag"]
    assert record["title"] == "国务院关于印发《中国制造2025》的通知"
    assert record["url"] is None
    assert record["published_on"] == "2024-01-31"
    assert record["excerpts"] == payload["excerpts"]
    assert (record["review_status"], record["version"]) == ("draft", 1)
    assert_problem(api.get(f"{URL}/state-council-2015"), 404)
    assert listed(api, "sources") == [SOURCE]
    assert_problem(api.post(f"{URL}/state-council-2015/publish", headers=contributor), 403)
    # Sources need no evidence of their own to be published.
    published = ok(api.post(f"{URL}/state-council-2015/publish", headers=editor))
    assert (published["review_status"], published["version"]) == ("published", 2)
    assert listed(api, "sources") == sorted([SOURCE, "state-council-2015"])


def test_cursor_walk_with_limit_7_and_sorting(api, editor):
    created = [f"report-{n:02d}" for n in range(9)]
    for n, slug in enumerate(created):
        create_published(api, "sources", source(slug, title=f"Title {8 - n}"), editor)
    everything = sorted([SOURCE, *created])
    items, pages = walk(api, "sources", {"limit": 7})
    assert slugs(items) == everything
    assert [len(p) for p in pages] == [7, 3]
    by_title = sorted(items, key=lambda s: s["title"])
    items, _ = walk(api, "sources", {"limit": 7, "sort": "title"})
    assert slugs(items) == slugs(by_title)
    assert slugs(items)[0] == SOURCE  # "Techno-..." sorts before "Title ..."
    assert slugs(items)[1:] == list(reversed(created))
    items, _ = walk(api, "sources", {"limit": 7, "sort": "-title"})
    assert slugs(items) == list(reversed(slugs(by_title)))


def test_patch_is_a_merge_patch_and_excerpt_changes_reach_the_citing_records(api, editor):
    before, etag = read(api, "sources", SOURCE)
    users = citers("mic2025-and-predecessor")
    assert users == [
        "made-in-china-2025",
        "national-medium-and-long-term-plan-for-science-and-technology",
    ]
    initiatives_before = {slug: read(api, "initiatives", slug)[0] for slug in users}
    untouched_before = read(api, "initiatives", "juguo-system")[0]
    excerpts = [dict(e) for e in before["excerpts"]]
    changed = next(e for e in excerpts if e["id"] == "mic2025-and-predecessor")
    changed["quote"] = "‘Made in China 2025’ (corrected) and its immediate predecessor."
    excerpts.append({"id": "a-new-excerpt", "quote": "A new sentence.", "locator": None})
    changes = {"publisher": None, "excerpts": excerpts}
    media_type = "application/merge-patch+json"
    resp = patch(api, "sources", SOURCE, changes, editor, media_type)
    after = ok(resp)
    assert after["publisher"] is None
    assert after["title"] == before["title"]
    assert after["excerpts"] == excerpts
    assert after["version"] == before["version"] + 1
    assert resp.headers["etag"] != etag
    for slug in users:
        record = read(api, "initiatives", slug)[0]
        quotes = {e["excerpt"]: e["quote"] for e in record["evidence"]}
        assert quotes["mic2025-and-predecessor"] == changed["quote"]
        assert record["version"] == initiatives_before[slug]["version"] + 1
    assert read(api, "initiatives", "juguo-system")[0] == untouched_before
    # A no-op patch writes nothing.
    revisions = history(api, "sources", SOURCE)
    assert ok(patch(api, "sources", SOURCE, {"excerpts": excerpts}, editor)) == after
    assert history(api, "sources", SOURCE) == revisions


def test_delete_an_uncited_source(api, editor, contributor):
    ok(api.post(URL, json=source("uncited-report"), headers=editor), 201)
    assert_problem(delete(api, "sources", "uncited-report", contributor), 403)
    assert delete(api, "sources", "uncited-report", editor).status_code == 204
    assert_problem(api.get(f"{URL}/uncited-report", headers=editor), 404)
    assert history(api, "sources", "uncited-report", editor)[0]["action"] == "delete"


def test_deleting_a_cited_source_is_refused_unless_detached(api, editor):
    before = snapshot(api, editor)
    assert_problem(delete(api, "sources", SOURCE, editor), 409)
    assert snapshot(api, editor) == before
    assert delete(api, "sources", SOURCE, editor, detach="true").status_code == 204
    assert_problem(api.get(f"{URL}/{SOURCE}"), 404)
    for resource in ("initiatives", "sectors", "organizations"):
        items, _ = walk(api, resource, {"limit": 200})
        assert len(items) == len(before[resource])
        for item in items:
            assert item["evidence"] == [], item["slug"]
            assert item["version"] == before[resource][item["slug"]]["version"] + 1
    mic = ok(api.get("/v1/initiatives/made-in-china-2025"))
    assert mic["name"] == by_slug("initiatives")["made-in-china-2025"]["name"]


def test_refused_source_delete_names_the_citing_records_by_slug(api, editor):
    problem = assert_problem(delete(api, "sources", SOURCE, editor), 409)
    assert "made-in-china-2025" in str(problem)
    assert "new-materials" in str(problem)
