"""/v1/sectors through HTTP, on SQLite and PostgreSQL: every operation, the kind filter, sorting,
the cursor walk, rejected writes (and that they wrote nothing), and deleting a sector that
initiatives use. Expected values come from fixtures/sectors.yaml and fixtures/initiatives.yaml."""

import pytest

from tests.api_helpers import (
    assert_problem,
    by_slug,
    delete,
    evidence,
    excerpt_quote,
    fixture,
    history,
    listed,
    ok,
    patch,
    read,
    seeded_fixtures,
    slugs,
    snapshot,
    walk,
)

seeded, seeded_editor, seeded_contributor = seeded_fixtures()
URL = "/v1/sectors"
SECTORS = fixture("sectors")
ALL = sorted(s["slug"] for s in SECTORS)
SOURCE_TITLE = "Techno-nationalism: China’s bid for global technological leadership"


def users_of(sector: str) -> list[str]:
    """Initiatives that list the sector, by slug (from the fixtures)."""
    return sorted(i["slug"] for i in fixture("initiatives") if sector in i["sectors"])


def sector(slug: str, **fields: object) -> dict[str, object]:
    return {
        "slug": slug,
        "name": f"Sector {slug}",
        "kind": "technology",
        "evidence": evidence("gpt-innovation-gap"),
        **fields,
    }


# --- list and read -----------------------------------------------------------------------


def test_list_shows_every_seeded_sector_in_slug_order(seeded):
    body = ok(seeded.get(URL))
    assert body["total"] == len(SECTORS) == 16
    assert slugs(body["items"]) == ALL
    assert body["next_cursor"] is None
    assert {i["slug"]: i["name"] for i in body["items"]} == {s["slug"]: s["name"] for s in SECTORS}


def test_read_embeds_evidence_with_quotes_and_source_title(seeded):
    resp = seeded.get(f"{URL}/general-purpose-technologies")
    record = ok(resp)
    fx = by_slug("sectors")["general-purpose-technologies"]
    assert resp.headers["etag"]
    assert record["name"] == fx["name"]
    assert record["name_zh"] is None
    assert record["kind"] == "technology"
    assert record["description"] == fx["description"]
    assert [(e["source"], e["excerpt"]) for e in record["evidence"]] == [
        (e["source"], e["excerpt"]) for e in fx["evidence"]
    ]
    assert [e["quote"] for e in record["evidence"]] == [
        excerpt_quote("gpt-innovation-gap"),
        excerpt_quote("gpt-technology-race"),
    ]
    assert {e["source_title"] for e in record["evidence"]} == {SOURCE_TITLE}
    assert record["review_status"] == "published"
    assert record["version"] == 1
    assert ok(seeded.get(f"{URL}/new-materials"))["name_zh"] == "新材料"


def test_unknown_sector_is_a_404_problem(seeded, seeded_editor):
    assert_problem(seeded.get(f"{URL}/no-such-sector"), 404)
    assert_problem(seeded.get(f"{URL}/no-such-sector/history"), 404)
    headers = {**seeded_editor, "If-Match": "*"}
    assert_problem(seeded.patch(f"{URL}/no-such-sector", json={}, headers=headers), 404)
    assert_problem(seeded.delete(f"{URL}/no-such-sector", headers=headers), 404)


def test_filter_by_kind_one_and_repeated(seeded):
    industries = sorted(s["slug"] for s in SECTORS if s["kind"] == "industry")
    technologies = sorted(s["slug"] for s in SECTORS if s["kind"] == "technology")
    assert len(industries) == 11
    assert listed(seeded, "sectors", kind="industry") == industries
    assert listed(seeded, "sectors", kind="technology") == technologies
    assert listed(seeded, "sectors", kind=["industry", "technology"]) == ALL
    body = assert_problem(seeded.get(URL, params={"kind": "service"}), 422)
    assert body["errors"][0]["loc"][:2] == ["query", "kind"]


@pytest.mark.parametrize(
    ("sort", "key", "descending"),
    [
        ("name", lambda s: s["name"], False),
        ("-name", lambda s: s["name"], True),
        ("-slug", lambda s: s["slug"], True),
        ("kind", lambda s: (s["kind"], s["slug"]), False),
    ],
)
def test_sort_orders_by_the_field(seeded, sort, key, descending):
    expected = slugs(sorted(SECTORS, key=key, reverse=descending))
    assert listed(seeded, "sectors", sort=sort) == expected


def test_sort_by_descending_kind_keeps_slug_ascending_within_a_kind(seeded):
    got = listed(seeded, "sectors", sort="-kind")
    technologies = sorted(s["slug"] for s in SECTORS if s["kind"] == "technology")
    assert got[: len(technologies)] == technologies
    assert got[len(technologies) :] == sorted(s["slug"] for s in SECTORS if s["kind"] == "industry")


@pytest.mark.parametrize("bad", ["start_year", "-country", "name,popularity"])
def test_sort_by_a_field_not_allowed_is_a_422_naming_it(seeded, bad):
    wrong = bad.split(",")[-1].lstrip("-")
    resp = seeded.get(URL, params={"sort": bad})
    assert_problem(resp, 422, loc=["query", "sort"], mentions=[wrong])


@pytest.mark.parametrize("sort", ["slug", "-name", "kind", "-kind,name", "updated_at"])
def test_cursor_walk_with_limit_7_returns_every_sector_once_in_order(seeded, sort):
    everything = listed(seeded, "sectors", sort=sort)
    items, pages = walk(seeded, "sectors", {"sort": sort, "limit": 7})
    assert slugs(items) == everything
    assert [len(p) for p in pages] == [7, 7, 2]


# --- rejected writes: each names the field, and nothing is written ------------------------

NEW = "rejected-sector"
TOO_BIG = "x" * (1024 * 1024 + 1)
REJECTED_CREATES = [
    ("unknown-field", {"colour": "red"}, 422, ["body", "colour"]),
    ("review-status", {"review_status": "published"}, 422, ["body", "review_status"]),
    ("bad-kind", {"kind": "service"}, 422, ["body", "kind"]),
    ("missing-name", {"name": None}, 422, ["body", "name"]),
    ("empty-name", {"name": "   "}, 422, ["body", "name"]),
    ("bad-slug", {"slug": "-bad-"}, 422, ["body", "slug"]),
    (
        "unknown-excerpt",
        {"evidence": evidence("gpt-innovation-gap", "no-such-excerpt")},
        422,
        ["body", "evidence", 1],
    ),
    (
        "unknown-source",
        {"evidence": [{"source": "no-such-source", "excerpt": "gpt-innovation-gap"}]},
        422,
        ["body", "evidence", 0],
    ),
    (
        "same-excerpt-twice",
        {"evidence": evidence("gpt-innovation-gap", "gpt-innovation-gap")},
        422,
        ["body", "evidence", 1],
    ),
    ("duplicate-slug", {"slug": "new-materials"}, 409, ["body", "slug"]),
    ("body-over-1-mib", {"description": TOO_BIG}, 413, None),
]


@pytest.mark.parametrize(
    ("changes", "status", "loc"),
    [c[1:] for c in REJECTED_CREATES],
    ids=[c[0] for c in REJECTED_CREATES],
)
def test_rejected_create_writes_nothing(
    seeded, seeded_contributor, seeded_editor, changes, status, loc
):
    payload = {k: v for k, v in {**sector(NEW), **changes}.items() if v is not None}
    before = snapshot(seeded, seeded_editor)
    assert_problem(seeded.post(URL, json=payload, headers=seeded_contributor), status, loc=loc)
    assert snapshot(seeded, seeded_editor) == before
    assert_problem(seeded.get(f"{URL}/{NEW}", headers=seeded_editor), 404)
    assert_problem(seeded.get(f"{URL}/{NEW}/history", headers=seeded_editor), 404)


REJECTED_PATCHES = [
    ("unknown-field", {"colour": "red"}, 422, ["body", "colour"]),
    ("slug", {"slug": "materials"}, 422, ["body", "slug"]),
    ("version", {"version": 9}, 422, ["body", "version"]),
    ("bad-kind", {"kind": "service"}, 422, ["body", "kind"]),
    ("null-name", {"name": None}, 422, None),
    ("null-kind", {"kind": None}, 422, None),
    ("null-evidence", {"evidence": None}, 422, None),
    (
        "unknown-excerpt",
        {"evidence": evidence("no-such-excerpt")},
        422,
        ["body", "evidence", 0],
    ),
    ("body-over-1-mib", {"description": TOO_BIG}, 413, None),
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
    revisions = history(seeded, "sectors", "new-materials")
    resp = patch(seeded, "sectors", "new-materials", body, seeded_contributor)
    problem = assert_problem(resp, status, loc=loc)
    if status == 422:
        assert next(iter(body)) in str(problem)
    assert snapshot(seeded, seeded_editor) == before
    assert history(seeded, "sectors", "new-materials") == revisions


# --- create, review, update, delete ------------------------------------------------------


def test_contributor_creates_a_draft_that_an_editor_publishes(api, contributor, editor):
    payload = sector("quantum-computing", name="Quantum computing", name_zh="量子计算")
    resp = api.post(URL, json=payload, headers=contributor)
    record = ok(resp, 201)
    assert resp.headers["location"] == f"{URL}/quantum-computing"
    assert resp.headers["etag"]
    assert record["name_zh"] == "量子计算"
    assert record["description"] == ""
    assert record["evidence"][0]["quote"] == excerpt_quote("gpt-innovation-gap")
    assert (record["review_status"], record["version"]) == ("draft", 1)
    assert ok(api.get(resp.headers["location"], headers=contributor)) == record
    # Invisible to anonymous readers until an editor publishes it.
    assert_problem(api.get(f"{URL}/quantum-computing"), 404)
    assert listed(api, "sectors") == ALL
    assert listed(api, "sectors", editor, review_status="draft") == ["quantum-computing"]
    assert_problem(api.post(f"{URL}/quantum-computing/publish", headers=contributor), 403)
    published = ok(api.post(f"{URL}/quantum-computing/publish", headers=editor))
    assert (published["review_status"], published["version"]) == ("published", 2)
    assert ok(api.get(f"{URL}/quantum-computing"))["review_status"] == "published"
    assert "quantum-computing" in listed(api, "sectors", kind="technology")
    # Without evidence it cannot be published.
    ok(api.post(URL, json=sector("unsourced", evidence=[]), headers=editor), 201)
    assert_problem(api.post(f"{URL}/unsourced/publish", headers=editor), 409)


def test_patch_is_a_merge_patch_and_bumps_the_version(api, contributor):
    before, etag = read(api, "sectors", "new-materials")
    changes = {
        "name_zh": None,
        "description": "Materials, newly described.",
        "evidence": evidence("ten-priority-sectors", "dual-use-applications"),
    }
    resp = patch(
        api, "sectors", "new-materials", changes, contributor, "application/merge-patch+json"
    )
    after = ok(resp)
    assert after["name_zh"] is None
    assert after["description"] == "Materials, newly described."
    assert [e["excerpt"] for e in after["evidence"]] == [
        "ten-priority-sectors",
        "dual-use-applications",
    ]
    assert (after["name"], after["kind"]) == (before["name"], before["kind"])
    assert after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]
    assert after["created_at"] == before["created_at"]
    assert resp.headers["etag"] != etag
    assert read(api, "sectors", "new-materials") == (after, resp.headers["etag"])
    again = ok(patch(api, "sectors", "new-materials", {"name_zh": "新材料"}, contributor))
    assert again["name_zh"] == "新材料"
    assert again["version"] == after["version"] + 1
    # A patch that changes nothing writes nothing.
    revisions = history(api, "sectors", "new-materials")
    same = {"name": again["name"], "kind": again["kind"], "evidence": changes["evidence"]}
    for body in (same, {}):
        resp = patch(api, "sectors", "new-materials", body, contributor)
        assert ok(resp) == again
    assert history(api, "sectors", "new-materials") == revisions
    assert [r["action"] for r in revisions[:2]] == ["update", "update"]


def test_delete_an_unused_sector(api, editor, contributor):
    assert users_of("military-technology") == []
    assert_problem(delete(api, "sectors", "military-technology", contributor), 403)
    resp = delete(api, "sectors", "military-technology", editor)
    assert resp.status_code == 204
    assert resp.content == b""
    assert_problem(api.get(f"{URL}/military-technology"), 404)
    assert listed(api, "sectors") == [s for s in ALL if s != "military-technology"]
    assert history(api, "sectors", "military-technology", editor)[0]["action"] == "delete"
    assert_problem(api.post(URL, json=sector("military-technology"), headers=editor), 409)


def test_deleting_a_sector_that_initiatives_use_is_refused_naming_them(api, editor):
    users = users_of("new-materials")
    assert users == ["made-in-china-2025", "thirteenth-five-year-plan"]
    before = snapshot(api, editor)
    resp = delete(api, "sectors", "new-materials", editor)
    problem = assert_problem(resp, 409, mentions=users)
    assert problem["initiatives"] == users
    assert snapshot(api, editor) == before
    # Deleting with detach takes it off those initiatives.
    resp = delete(api, "sectors", "new-materials", editor, detach="true")
    assert resp.status_code == 204
    assert_problem(api.get(f"{URL}/new-materials"), 404)
    for slug in users:
        record = ok(api.get(f"/v1/initiatives/{slug}"))
        assert "new-materials" not in record["sectors"]
        assert record["sectors"] == sorted(
            s for s in by_slug("initiatives")[slug]["sectors"] if s != "new-materials"
        )
        assert record["version"] == before["initiatives"][slug]["version"] + 1
        assert set(history(api, "initiatives", slug, editor)[0]["changes"]) == {"sectors"}
    assert listed(api, "initiatives", sector="new-materials") == []
    assert listed(api, "initiatives", editor, sector="new-materials") == []
    # Initiatives that did not use it are untouched.
    after = snapshot(api, editor)
    for slug, record in before["initiatives"].items():
        if slug not in users:
            assert after["initiatives"][slug] == record, slug
