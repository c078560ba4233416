"""/v1/organizations through HTTP, on SQLite and PostgreSQL: every operation, the kind and country
filters, sorting, the cursor walk, rejected writes (and that they wrote nothing), and deleting an
organization that initiatives name. Expected values come from fixtures/organizations.yaml and
fixtures/initiatives.yaml."""

from collections.abc import Callable
from typing import Any

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
URL = "/v1/organizations"
ORGANIZATIONS = fixture("organizations")
ALL = sorted(o["slug"] for o in ORGANIZATIONS)


def expect(predicate: Callable[[dict[str, Any]], bool]) -> list[str]:
    found = sorted(o["slug"] for o in ORGANIZATIONS if predicate(o))
    assert found
    return found


def users_of(org: str) -> list[str]:
    """Initiatives that name the organization, in any role (from the fixtures)."""
    return sorted(
        i["slug"] for i in fixture("initiatives") if org in {o["slug"] for o in i["organizations"]}
    )


def organization(slug: str, **fields: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": f"Organization {slug}",
        "kind": "agency",
        "country": "CN",
        "evidence": evidence("thirteenth-fyp-rd-spending"),
        **fields,
    }


# --- list, read, filters, sorting --------------------------------------------------------


def test_list_shows_every_seeded_organization_in_slug_order(seeded):
    body = ok(seeded.get(URL))
    assert body["total"] == len(ORGANIZATIONS) == 12
    assert slugs(body["items"]) == ALL
    assert body["next_cursor"] is None


def test_read_shows_every_field_and_the_evidence(seeded):
    resp = seeded.get(f"{URL}/chinese-communist-party")
    record = ok(resp)
    fx = by_slug("organizations")["chinese-communist-party"]
    assert resp.headers["etag"]
    for field in ("name", "name_zh", "aliases", "kind", "country", "city", "founded_year"):
        assert record[field] == fx[field], field
    assert record["description"] == fx["description"]
    assert [e["excerpt"] for e in record["evidence"]] == [e["excerpt"] for e in fx["evidence"]]
    assert record["evidence"][0]["quote"] == excerpt_quote(fx["evidence"][0]["excerpt"])
    assert record["review_status"] == "published"
    wto = ok(seeded.get(f"{URL}/world-trade-organization"))
    assert wto["country"] is None
    assert wto["founded_year"] == 1995
    assert_problem(seeded.get(f"{URL}/no-such-organization"), 404)


def test_filter_by_kind_one_and_repeated(seeded):
    assert listed(seeded, "organizations", kind="university") == expect(
        lambda o: o["kind"] == "university"
    )
    assert listed(seeded, "organizations", kind=["government", "party"]) == expect(
        lambda o: o["kind"] in ("government", "party")
    )
    assert listed(seeded, "organizations", kind="company") == []
    body = assert_problem(seeded.get(URL, params={"kind": "club"}), 422)
    assert body["errors"][0]["loc"][:2] == ["query", "kind"]


def test_filter_by_country_one_repeated_any_case_and_with_kind(seeded):
    us = expect(lambda o: o["country"] == "US")
    cn = expect(lambda o: o["country"] == "CN")
    assert listed(seeded, "organizations", country="US") == us
    assert listed(seeded, "organizations", country="us") == us
    # Organizations without a country (the WTO) match no country.
    assert listed(seeded, "organizations", country=["CN", "US"]) == sorted(cn + us)
    assert "world-trade-organization" not in sorted(cn + us)
    assert listed(seeded, "organizations", country="US", kind="university") == expect(
        lambda o: o["country"] == "US" and o["kind"] == "university"
    )
    assert listed(seeded, "organizations", country="US", kind="lab") == []
    body = assert_problem(seeded.get(URL, params={"country": "USA"}), 422)
    assert body["errors"][0]["loc"][:2] == ["query", "country"]


@pytest.mark.parametrize(
    ("sort", "key", "descending"),
    [
        ("name", lambda o: o["name"], False),
        ("-name", lambda o: o["name"], True),
        ("-slug", lambda o: o["slug"], True),
        ("kind", lambda o: (o["kind"], o["slug"]), False),
    ],
)
def test_sort_orders_by_the_field(seeded, sort, key, descending):
    expected = slugs(sorted(ORGANIZATIONS, key=key, reverse=descending))
    assert listed(seeded, "organizations", sort=sort) == expected


@pytest.mark.parametrize("bad", ["founded_year", "country", "-city"])
def test_sort_by_a_field_not_allowed_is_a_422_naming_it(seeded, bad):
    resp = seeded.get(URL, params={"sort": bad})
    assert_problem(resp, 422, loc=["query", "sort"], mentions=[bad.lstrip("-")])


@pytest.mark.parametrize("sort", ["slug", "-name", "kind,-slug"])
def test_cursor_walk_with_limit_7_returns_every_organization_once_in_order(seeded, sort):
    everything = listed(seeded, "organizations", sort=sort)
    items, pages = walk(seeded, "organizations", {"sort": sort, "limit": 7})
    assert slugs(items) == everything
    assert [len(p) for p in pages] == [7, 5]


def test_cursor_walk_with_a_filter(seeded):
    cn = expect(lambda o: o["country"] == "CN")
    items, pages = walk(seeded, "organizations", {"country": "CN", "limit": 7})
    assert slugs(items) == cn
    assert len(pages) == 2


# --- rejected writes: each names the field, and nothing is written ------------------------

NEW = "rejected-organization"
REJECTED_CREATES = [
    ("unknown-field", {"colour": "red"}, 422, ["body", "colour"]),
    ("bad-kind", {"kind": "club"}, 422, ["body", "kind"]),
    ("bad-country", {"country": "cn"}, 422, ["body", "country"]),
    ("founded-too-early", {"founded_year": 999}, 422, ["body", "founded_year"]),
    ("founded-too-late", {"founded_year": 2101}, 422, ["body", "founded_year"]),
    ("aliases-not-a-list", {"aliases": "MOST"}, 422, ["body", "aliases"]),
    ("unknown-excerpt", {"evidence": evidence("no-such-excerpt")}, 422, ["body", "evidence", 0]),
    ("duplicate-slug", {"slug": "caltech"}, 409, ["body", "slug"]),
    ("body-over-1-mib", {"description": "x" * (1024 * 1024 + 1)}, 413, None),
]


@pytest.mark.parametrize(
    ("changes", "status", "loc"),
    [c[1:] for c in REJECTED_CREATES],
    ids=[c[0] for c in REJECTED_CREATES],
)
def test_rejected_create_writes_nothing(
    seeded, seeded_contributor, seeded_editor, changes, status, loc
):
    payload = {**organization(NEW), **changes}
    before = snapshot(seeded, seeded_editor)
    assert_problem(seeded.post(URL, json=payload, headers=seeded_contributor), status, loc=loc)
    assert snapshot(seeded, seeded_editor) == before
    assert_problem(seeded.get(f"{URL}/{NEW}", headers=seeded_editor), 404)
    assert_problem(seeded.get(f"{URL}/{NEW}/history", headers=seeded_editor), 404)


REJECTED_PATCHES = [
    ("unknown-field", {"colour": "red"}, 422, ["body", "colour"]),
    ("slug", {"slug": "most"}, 422, ["body", "slug"]),
    ("bad-kind", {"kind": "club"}, 422, ["body", "kind"]),
    ("null-name", {"name": None}, 422, None),
    ("null-aliases", {"aliases": None}, 422, None),
    ("founded-too-late", {"founded_year": 3000}, 422, ["body", "founded_year"]),
    ("unknown-excerpt", {"evidence": evidence("no-such-excerpt")}, 422, ["body", "evidence", 0]),
    ("body-over-1-mib", {"description": "x" * (1024 * 1024 + 1)}, 413, None),
]


@pytest.mark.parametrize(
    ("body", "status", "loc"),
    [c[1:] for c in REJECTED_PATCHES],
    ids=[c[0] for c in REJECTED_PATCHES],
)
def test_rejected_patch_writes_nothing(
    seeded, seeded_contributor, seeded_editor, body, status, loc
):
    slug = "ministry-of-science-and-technology"
    before = snapshot(seeded, seeded_editor)
    revisions = history(seeded, "organizations", slug)
    problem = assert_problem(
        patch(seeded, "organizations", slug, body, seeded_contributor), status, loc=loc
    )
    if status == 422:
        assert next(iter(body)) in str(problem)
    assert snapshot(seeded, seeded_editor) == before
    assert history(seeded, "organizations", slug) == revisions


# --- create, review, update, delete ------------------------------------------------------


def test_contributor_creates_a_draft_that_an_editor_publishes(api, contributor, editor):
    payload = organization(
        "national-development-and-reform-commission",
        name="National Development and Reform Commission",
        name_zh="国家发展和改革委员会",
        aliases=["NDRC", "  发改委  "],
        kind="ministry",
        city="Beijing",
        founded_year=1952,
    )
    resp = api.post(URL, json=payload, headers=contributor)
    record = ok(resp, 201)
    slug = "national-development-and-reform-commission"
    assert resp.headers["location"] == f"{URL}/{slug}"
    assert resp.headers["etag"]
    assert record["aliases"] == ["NDRC", "发改委"]
    assert (record["city"], record["founded_year"], record["country"]) == ("Beijing", 1952, "CN")
    assert (record["review_status"], record["version"]) == ("draft", 1)
    assert_problem(api.get(f"{URL}/{slug}"), 404)
    assert slug not in listed(api, "organizations", kind="ministry")
    assert_problem(api.post(f"{URL}/{slug}/publish", headers=contributor), 403)
    published = ok(api.post(f"{URL}/{slug}/publish", headers=editor))
    assert (published["review_status"], published["version"]) == ("published", 2)
    assert slug in listed(api, "organizations", kind="ministry")
    assert ok(api.get(f"{URL}/{slug}")) == published


def test_patch_is_a_merge_patch_bumps_the_version_and_shows_in_initiatives(api, contributor):
    before, etag = read(api, "organizations", "nyu-shanghai")
    changes = {"city": None, "founded_year": 2011, "aliases": ["NYUSH"]}
    media_type = "application/merge-patch+json"
    resp = patch(api, "organizations", "nyu-shanghai", changes, contributor, media_type)
    after = ok(resp)
    assert after["city"] is None
    assert (after["founded_year"], after["aliases"]) == (2011, ["NYUSH"])
    assert (after["name"], after["country"]) == (before["name"], before["country"])
    assert after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]
    assert resp.headers["etag"] != etag
    # A no-op patch writes nothing.
    revisions = history(api, "organizations", "nyu-shanghai")
    resp = patch(api, "organizations", "nyu-shanghai", {"founded_year": 2011}, contributor)
    assert ok(resp) == after
    assert history(api, "organizations", "nyu-shanghai") == revisions
    # Renaming shows in the initiatives that name it.
    ok(patch(api, "organizations", "nyu-shanghai", {"name": "NYU Shanghai campus"}, contributor))
    reform = ok(api.get("/v1/initiatives/higher-education-revamp"))
    names = {o["slug"]: o["name"] for o in reform["organizations"]}
    assert names["nyu-shanghai"] == "NYU Shanghai campus"


def test_delete_an_unused_organization(api, editor, contributor):
    assert users_of("caltech") == []
    assert_problem(delete(api, "organizations", "caltech", contributor), 403)
    assert delete(api, "organizations", "caltech", editor).status_code == 204
    assert_problem(api.get(f"{URL}/caltech"), 404)
    assert listed(api, "organizations") == [s for s in ALL if s != "caltech"]
    assert history(api, "organizations", "caltech", editor)[0]["action"] == "delete"


def test_deleting_an_organization_that_initiatives_name_is_refused_naming_them(api, editor):
    users = users_of("us-government")
    assert users == ["biden-tough-on-china-policy", "us-tariffs-on-chinese-exports"]
    before = snapshot(api, editor)
    problem = assert_problem(
        delete(api, "organizations", "us-government", editor), 409, mentions=users
    )
    assert problem["initiatives"] == users
    assert snapshot(api, editor) == before
    resp = delete(api, "organizations", "us-government", editor, detach="true")
    assert resp.status_code == 204
    for slug in users:
        record = ok(api.get(f"/v1/initiatives/{slug}"))
        assert [o["slug"] for o in record["organizations"]] == ["government-of-china"]
        assert record["version"] == before["initiatives"][slug]["version"] + 1
    assert listed(api, "initiatives", organization="us-government") == []
    after = snapshot(api, editor)
    for slug, record in before["initiatives"].items():
        if slug not in users:
            assert after["initiatives"][slug] == record, slug
