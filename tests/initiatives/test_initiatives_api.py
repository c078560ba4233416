"""/v1/initiatives through HTTP, on SQLite and PostgreSQL: every operation, every filter, sorting,
the cursor walk, every rejected write (and that it wrote nothing), symmetric relations,
versions and review states. Expected slugs are computed from fixtures/initiatives.yaml."""

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api_helpers import (
    INVERSE,
    Record,
    assert_problem,
    by_slug,
    create_published,
    delete,
    evidence,
    excerpt_quote,
    expected_related,
    fixture,
    history,
    initiative,
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
URL = "/v1/initiatives"
INITIATIVES = fixture("initiatives")
ALL = sorted(i["slug"] for i in INITIATIVES)
ORG_NAMES = {slug: o["name"] for slug, o in by_slug("organizations").items()}
INITIATIVE_NAMES = {i["slug"]: i["name"] for i in INITIATIVES}
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
# The relations the contract names; each must show its inverse on the other initiative.
CONTRACT_RELATIONS = [
    "predecessor_of",
    "successor_of",
    "part_of",
    "has_part",
    "implements",
    "responds_to",
    "related_to",
]


def expect(predicate: Callable[[Record], bool]) -> list[str]:
    """Slugs of the fixture initiatives that match, in the default (slug) order."""
    found = sorted(i["slug"] for i in INITIATIVES if predicate(i))
    assert found, "a filter case that matches nothing proves little"
    return found


def active_in(year: int) -> Callable[[Record], bool]:
    def match(i: Record) -> bool:
        start, end = i["start_year"], i["end_year"]
        return start is not None and start <= year and (end is None or end >= year)

    return match


def expected_order(sort: str, extra: tuple[Record, ...] = ()) -> list[str]:
    """The fixture initiatives (and ``extra``) in ``sort`` order: slug breaks ties, missing
    years go last."""
    keys = [(t.lstrip("-"), t.startswith("-")) for t in sort.split(",")]
    if "slug" not in [name for name, _ in keys]:
        keys.append(("slug", False))
    items = [*INITIATIVES, *extra]
    for name, descending in reversed(keys):  # stable sorts, least significant key first
        if name in ("start_year", "end_year"):

            def key(i: Record, name: str = name, descending: bool = descending) -> Any:
                value = i[name]
                missing = value is None
                return (not missing, value or 0) if descending else (missing, value or 0)

            items.sort(key=key, reverse=descending)
        else:
            items.sort(key=lambda i, name=name: i[name], reverse=descending)
    return slugs(items)


def as_written(record: Record) -> list[dict[str, str]]:
    return [{"slug": r["slug"], "relation": r["relation"]} for r in record["related"]]


# --- list and read -----------------------------------------------------------------------


def test_list_shows_every_seeded_initiative_in_slug_order(seeded):
    resp = seeded.get(URL)
    body = ok(resp)
    assert set(body) == {"items", "total", "next_cursor"}
    assert body["total"] == len(INITIATIVES)
    assert slugs(body["items"]) == ALL
    assert body["next_cursor"] is None
    assert "link" not in resp.headers
    assert resp.headers["content-type"].startswith("application/json")
    mic = next(i for i in body["items"] if i["slug"] == "made-in-china-2025")
    assert mic["sectors"] == sorted(by_slug("initiatives")["made-in-china-2025"]["sectors"])


def test_read_embeds_sectors_organizations_relations_and_evidence(seeded):
    resp = seeded.get(f"{URL}/made-in-china-2025")
    record = ok(resp)
    fx = by_slug("initiatives")["made-in-china-2025"]
    assert resp.headers["etag"].startswith('"')
    for field in ("name", "name_zh", "aliases", "kind", "status", "country", "summary"):
        assert record[field] == fx[field], field
    assert (record["start_year"], record["end_year"]) == (2015, 2025)
    assert record["sectors"] == sorted(fx["sectors"])
    assert record["organizations"] == [
        {"slug": "government-of-china", "role": "lead", "name": ORG_NAMES["government-of-china"]}
    ]
    # The fixture writes "predecessor_of" on the plan 2006-2020; this side shows the inverse.
    assert as_written(record) == expected_related("made-in-china-2025")
    predecessor = "national-medium-and-long-term-plan-for-science-and-technology"
    assert {"slug": predecessor, "relation": "successor_of"} in as_written(record)
    assert all(r["name"] == INITIATIVE_NAMES[r["slug"]] for r in record["related"])
    assert record["evidence"] == [
        {
            "source": "lse-ideas-techno-nationalism-2021",
            "excerpt": "mic2025-and-predecessor",
            "quote": excerpt_quote("mic2025-and-predecessor"),
            "locator": "para 13",
            "source_title": "Techno-nationalism: China’s bid for global technological leadership",
        }
    ]
    assert record["review_status"] == "published"
    assert isinstance(record["version"], int)
    assert record["version"] >= 1
    assert RFC3339_UTC.match(record["created_at"])
    assert RFC3339_UTC.match(record["updated_at"])


def test_every_seeded_initiative_shows_its_relations_from_both_sides(seeded):
    items, _ = walk(seeded, "initiatives", {"limit": 200})
    for item in items:
        assert as_written(item) == expected_related(item["slug"]), item["slug"]


def test_unknown_slug_is_a_404_problem(seeded, seeded_editor):
    assert_problem(seeded.get(f"{URL}/no-such-initiative"), 404, mentions=["no-such-initiative"])
    assert_problem(seeded.get(f"{URL}/no-such-initiative/history"), 404)
    resp = seeded.patch(
        f"{URL}/no-such-initiative", json={}, headers={**seeded_editor, "If-Match": "*"}
    )
    assert_problem(resp, 404)
    resp = seeded.delete(f"{URL}/no-such-initiative", headers={**seeded_editor, "If-Match": "*"})
    assert_problem(resp, 404)


# --- filters -----------------------------------------------------------------------------


def test_filter_by_sector_one_and_repeated(seeded):
    five_g = expect(lambda i: "5g" in i["sectors"])
    materials = expect(lambda i: "new-materials" in i["sectors"])
    assert listed(seeded, "initiatives", sector="5g") == five_g
    assert listed(seeded, "initiatives", sector="new-materials") == materials
    both = listed(seeded, "initiatives", sector=["5g", "new-materials"])
    assert both == sorted(set(five_g) | set(materials))
    assert len(both) > max(len(five_g), len(materials))
    assert listed(seeded, "initiatives", sector="no-such-sector") == []


def test_filter_by_organization_one_and_repeated(seeded):
    def names(org: str) -> Callable[[Record], bool]:
        return lambda i: org in {o["slug"] for o in i["organizations"]}

    us = expect(names("us-government"))
    ccp = expect(names("chinese-communist-party"))
    assert listed(seeded, "initiatives", organization="us-government") == us
    assert listed(seeded, "initiatives", organization="chinese-communist-party") == ccp
    repeated = listed(
        seeded, "initiatives", organization=["us-government", "chinese-communist-party"]
    )
    assert repeated == sorted(set(us) | set(ccp))


def test_filter_by_organization_lists_an_initiative_once_whatever_its_roles(api, editor):
    roles = [
        {"slug": "us-government", "role": "lead"},
        {"slug": "us-government", "role": "funder"},
        {"slug": "government-of-china", "role": "target"},
    ]
    ok(patch(api, "initiatives", "us-tariffs-on-chinese-exports", {"organizations": roles}, editor))
    assert listed(api, "initiatives", organization="us-government") == expect(
        lambda i: "us-government" in {o["slug"] for o in i["organizations"]}
    )
    both = listed(api, "initiatives", organization=["us-government", "government-of-china"])
    assert both.count("us-tariffs-on-chinese-exports") == 1


def test_filter_by_country_one_repeated_and_any_case(seeded):
    cn = expect(lambda i: i["country"] == "CN")
    us = expect(lambda i: i["country"] == "US")
    assert listed(seeded, "initiatives", country="CN") == cn
    assert listed(seeded, "initiatives", country="US") == us
    assert listed(seeded, "initiatives", country="us") == us
    assert listed(seeded, "initiatives", country=["CN", "US"]) == ALL
    assert listed(seeded, "initiatives", country="JP") == []


def test_filter_by_kind_one_and_repeated(seeded):
    plans = expect(lambda i: i["kind"] == "plan")
    measures = expect(lambda i: i["kind"] == "measure")
    assert listed(seeded, "initiatives", kind="plan") == plans
    assert listed(seeded, "initiatives", kind=["plan", "measure"]) == sorted(plans + measures)
    assert listed(seeded, "initiatives", kind="regulation") == expect(
        lambda i: i["kind"] == "regulation"
    )


def test_filter_by_status_one_and_repeated(seeded):
    active = expect(lambda i: i["status"] == "active")
    proposed = expect(lambda i: i["status"] == "proposed")
    completed = expect(lambda i: i["status"] == "completed")
    assert listed(seeded, "initiatives", status="active") == active
    assert listed(seeded, "initiatives", status=["proposed", "completed"]) == sorted(
        proposed + completed
    )


@pytest.mark.parametrize("year", [2006, 2015, 2016, 2020, 2021, 2025, 2026])
def test_filter_active_in_a_year_counts_both_ends(seeded, year):
    # 2015: the plan of 2006-2020 and Made in China 2025 (starting that year) are in force.
    # 2020: the last year of three plans and the first of two initiatives.
    assert listed(seeded, "initiatives", active_in=year) == expect(active_in(year))


def test_filter_start_year_min_max_and_range(seeded):
    def started(lo: int | None, hi: int | None) -> Callable[[Record], bool]:
        def match(i: Record) -> bool:
            start = i["start_year"]
            return start is not None and (lo is None or start >= lo) and (hi is None or start <= hi)

        return match

    assert listed(seeded, "initiatives", start_year_min=2016) == expect(started(2016, None))
    assert listed(seeded, "initiatives", start_year_max=2016) == expect(started(None, 2016))
    assert listed(seeded, "initiatives", start_year_min=2016, start_year_max=2018) == expect(
        started(2016, 2018)
    )
    assert listed(seeded, "initiatives", start_year_min=2020, start_year_max=2020) == expect(
        started(2020, 2020)
    )


def test_different_filters_combine_with_and_repeated_ones_with_or(seeded):
    assert listed(seeded, "initiatives", country="US", kind="measure") == expect(
        lambda i: i["country"] == "US" and i["kind"] == "measure"
    )
    assert listed(seeded, "initiatives", sector="new-materials", start_year_min=2016) == expect(
        lambda i: "new-materials" in i["sectors"] and (i["start_year"] or 0) >= 2016
    )
    got = listed(
        seeded,
        "initiatives",
        kind=["plan", "measure"],
        country="CN",
        active_in=2018,
        organization="government-of-china",
    )
    assert got == expect(
        lambda i: (
            i["kind"] in ("plan", "measure")
            and i["country"] == "CN"
            and active_in(2018)(i)
            and "government-of-china" in {o["slug"] for o in i["organizations"]}
        )
    )
    assert listed(seeded, "initiatives", country="US", sector="new-materials") == []


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("kind", "manifesto"),
        ("status", "finished"),
        ("country", "CHN"),
        ("active_in", "1800"),
        ("start_year_min", "soon"),
        ("start_year_max", "2200"),
        ("sector", "Not A Slug"),
        ("colour", "red"),
    ],
)
def test_bad_filter_value_is_a_422_naming_the_parameter(seeded, param, value):
    body = assert_problem(seeded.get(URL, params={param: value}), 422)
    assert any(e["loc"][:2] == ["query", param] for e in body["errors"]), body["errors"]


def test_review_status_filter_is_for_editors_only(api, editor, contributor):
    ok(api.post(URL, json=initiative("a-draft-one"), headers=contributor), 201)
    assert listed(api, "initiatives", editor, review_status="draft") == ["a-draft-one"]
    assert_problem(api.get(URL, params={"review_status": "draft"}), 403)
    assert_problem(api.get(URL, params={"review_status": "draft"}, headers=contributor), 403)


# --- sorting and the cursor walk ---------------------------------------------------------

SORTS = [
    "slug",
    "-slug",
    "name",
    "-name",
    "kind",
    "status,-slug",
    "country,-start_year",
    "start_year",
    "-start_year",
    "end_year",
    "-end_year",
    "-start_year,name",
]


@pytest.mark.parametrize("sort", SORTS)
def test_sort_orders_by_the_fields_with_slug_breaking_ties(seeded, sort):
    assert listed(seeded, "initiatives", sort=sort) == expected_order(sort)


def test_missing_years_sort_last_both_ways(seeded):
    no_start = sorted(i["slug"] for i in INITIATIVES if i["start_year"] is None)
    assert no_start
    for sort in ("start_year", "-start_year"):
        got = listed(seeded, "initiatives", sort=sort)
        assert got[-len(no_start) :] == no_start, sort
        years = [by_slug("initiatives")[s]["start_year"] for s in got[: -len(no_start)]]
        assert years == sorted(years, reverse=sort.startswith("-")), sort


def test_sort_by_timestamps(api, editor):
    # A change moves a record to the end of an updated_at sort.
    ok(patch(api, "initiatives", "juguo-system", {"summary": "changed"}, editor))
    items, _ = walk(api, "initiatives", {"sort": "updated_at", "limit": 200})
    assert slugs(items)[-1] == "juguo-system"
    assert [i["updated_at"] for i in items] == sorted(i["updated_at"] for i in items)
    items, _ = walk(api, "initiatives", {"sort": "-created_at", "limit": 200})
    keys = [(i["created_at"], i["slug"]) for i in items]
    by_slug_first = sorted(keys, key=lambda k: k[1])
    assert keys == sorted(by_slug_first, key=lambda k: k[0], reverse=True)


@pytest.mark.parametrize("bad", ["popularity", "-popularity", "name,budget", "sectors"])
def test_sort_by_a_field_not_allowed_is_a_422_naming_it(seeded, bad):
    wrong = bad.split(",")[-1].lstrip("-")
    assert_problem(
        seeded.get(URL, params={"sort": bad}), 422, loc=["query", "sort"], mentions=[wrong]
    )


def test_sort_naming_a_field_twice_is_a_422(seeded):
    assert_problem(seeded.get(URL, params={"sort": "name,-name"}), 422, loc=["query", "sort"])


@pytest.mark.parametrize(
    "sort", ["slug", "-slug", "name", "-start_year", "end_year,-name", "created_at", "-updated_at"]
)
def test_cursor_walk_with_limit_7_returns_every_record_once_in_order(seeded, sort):
    everything = listed(seeded, "initiatives", sort=sort)
    items, pages = walk(seeded, "initiatives", {"sort": sort, "limit": 7})
    assert slugs(items) == everything
    assert [len(p) for p in pages] == [7, len(everything) - 7]
    if "_at" not in sort:
        assert slugs(items) == expected_order(sort)


def test_cursor_walk_stays_exact_when_records_are_inserted_between_pages(api, editor):
    # Page 1 (by slug) ends at "like-minded-nations-coalition".
    def insert(page: int) -> None:
        if page == 1:
            for slug in ("aaa-inserted-early", "lz-inserted-next", "zzz-inserted-late"):
                create_published(api, "initiatives", initiative(slug), editor)

    items, pages = walk(api, "initiatives", {"limit": 7}, between_pages=insert)
    got = slugs(items)
    assert slugs(pages[0]) == ALL[:7]
    assert slugs(pages[0])[-1] == "like-minded-nations-coalition"
    assert got == sorted([*ALL, "lz-inserted-next", "zzz-inserted-late"])
    assert len(got) == len(set(got))
    # The one that sorts before the cursor is not seen (no page repeats or shifts for it).
    assert "aaa-inserted-early" not in got


def test_cursor_walk_by_descending_year_with_inserts_keeps_missing_years_last(api, editor):
    inserted = {"in-2099": 2099, "in-2010": 2010, "aaa-no-year": None}

    def insert(page: int) -> None:
        if page == 1:
            for slug, year in inserted.items():
                create_published(api, "initiatives", initiative(slug, start_year=year), editor)

    items, pages = walk(
        api, "initiatives", {"sort": "-start_year", "limit": 7}, between_pages=insert
    )
    # Page 1 ends at 2015; 2099 sorts before that, 2010 and the missing year after it.
    assert pages[0][-1]["start_year"] == 2015
    after_cursor = tuple(
        {"slug": s, "start_year": y} for s, y in inserted.items() if s != "in-2099"
    )
    assert slugs(items) == expected_order("-start_year", after_cursor)
    assert slugs(items)[-1] == "technological-self-sufficiency-strategy"  # no year, last slug


def test_link_header_leads_to_the_next_page_keeping_the_filters(seeded):
    resp = seeded.get(URL, params={"limit": 2, "country": ["CN", "US"], "kind": "plan"})
    first = ok(resp)
    link = resp.headers["link"]
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    following = ok(seeded.get(match.group(1)))
    by_cursor = ok(
        seeded.get(
            URL,
            params={
                "limit": 2,
                "country": ["CN", "US"],
                "kind": "plan",
                "cursor": first["next_cursor"],
            },
        )
    )
    assert following == by_cursor
    assert slugs(first["items"]) + slugs(following["items"]) == expect(
        lambda i: i["kind"] == "plan"
    )


# --- create ------------------------------------------------------------------------------


def test_create_returns_201_with_location_etag_and_a_draft(api, contributor):
    # A refused attempt first: it must not use up the slug.
    bad = initiative("new-quantum-plan", sectors=["5g", "no-such-sector"])
    assert_problem(api.post(URL, json=bad, headers=contributor), 422)
    payload = initiative(
        "new-quantum-plan",
        name="  New quantum plan  ",
        name_zh="量子计划",
        aliases=["NQP"],
        start_year=2021,
        end_year=2030,
        sectors=["semiconductors", "5g"],
        organizations=[{"slug": "ministry-of-science-and-technology", "role": "lead"}],
        related=[{"slug": "made-in-china-2025", "relation": "successor_of"}],
    )
    resp = api.post(URL, json=payload, headers=contributor)
    record = ok(resp, 201)
    assert resp.headers["location"] == f"{URL}/new-quantum-plan"
    assert record["name"] == "New quantum plan"
    assert record["name_zh"] == "量子计划"
    assert record["aliases"] == ["NQP"]
    assert record["status"] == "unknown"
    assert record["summary"] == ""
    assert record["sectors"] == ["5g", "semiconductors"]
    assert record["organizations"] == [
        {
            "slug": "ministry-of-science-and-technology",
            "role": "lead",
            "name": ORG_NAMES["ministry-of-science-and-technology"],
        }
    ]
    assert as_written(record) == [{"slug": "made-in-china-2025", "relation": "successor_of"}]
    assert record["evidence"][0]["quote"] == excerpt_quote("juguo-system")
    assert record["review_status"] == "draft"
    assert record["version"] == 1
    assert record["created_at"] == record["updated_at"]
    revisions = history(api, "initiatives", "new-quantum-plan", contributor)
    assert [(r["action"], r["version"]) for r in revisions] == [("create", 1)]
    # The Location and ETag are usable as they are.
    again = api.get(resp.headers["location"], headers=contributor)
    assert ok(again) == record
    assert again.headers["etag"] == resp.headers["etag"]
    resp = api.patch(
        resp.headers["location"],
        json={"summary": "Quantum."},
        headers={**contributor, "If-Match": resp.headers["etag"]},
    )
    assert ok(resp)["version"] == 2


def test_contributor_draft_is_invisible_to_anonymous_readers_until_published(
    api, contributor, editor
):
    before = listed(api, "initiatives")
    ok(api.post(URL, json=initiative("drafted-plan"), headers=contributor), 201)
    assert_problem(api.get(f"{URL}/drafted-plan"), 404)
    assert_problem(api.get(f"{URL}/drafted-plan/history"), 404)
    assert listed(api, "initiatives") == before
    assert listed(api, "initiatives", kind="plan") == expect(lambda i: i["kind"] == "plan")
    # The people who work on it can read it.
    assert ok(api.get(f"{URL}/drafted-plan", headers=contributor))["review_status"] == "draft"
    assert "drafted-plan" in listed(api, "initiatives", editor, review_status="draft")
    # Only an editor publishes.
    assert_problem(api.post(f"{URL}/drafted-plan/publish", headers=contributor), 403)
    assert_problem(api.post(f"{URL}/drafted-plan/publish"), 401)
    assert_problem(api.get(f"{URL}/drafted-plan"), 404)
    published = ok(api.post(f"{URL}/drafted-plan/publish", headers=editor))
    assert published["review_status"] == "published"
    assert published["version"] == 2
    assert ok(api.get(f"{URL}/drafted-plan"))["review_status"] == "published"
    assert listed(api, "initiatives") == sorted([*before, "drafted-plan"])
    assert [h["action"] for h in history(api, "initiatives", "drafted-plan")] == [
        "publish",
        "create",
    ]


def test_retracted_initiative_disappears_for_anonymous_readers(api, editor):
    # Publishing needs evidence.
    payload = {**initiative("unsourced-plan"), "evidence": []}
    ok(api.post(URL, json=payload, headers=editor), 201)
    assert_problem(api.post(f"{URL}/unsourced-plan/publish", headers=editor), 409)
    assert_problem(api.get(f"{URL}/unsourced-plan"), 404)
    retracted = ok(api.post(f"{URL}/juguo-system/retract", headers=editor))
    assert retracted["review_status"] == "retracted"
    assert_problem(api.get(f"{URL}/juguo-system"), 404)
    assert "juguo-system" not in listed(api, "initiatives")
    assert listed(api, "initiatives", editor, review_status="retracted") == ["juguo-system"]
    # Published initiatives that relate to it no longer show it to anonymous readers.
    strategy = ok(api.get(f"{URL}/technological-self-sufficiency-strategy"))
    assert "juguo-system" not in slugs(strategy["related"])


def test_writes_need_a_valid_key(seeded):
    before = read(seeded, "initiatives", "juguo-system")
    payload = initiative("keyless-plan")
    assert_problem(seeded.post(URL, json=payload), 401)
    assert_problem(seeded.post(URL, json=payload, headers={"Authorization": "Bearer pt_x_y"}), 401)
    assert_problem(seeded.patch(f"{URL}/juguo-system", json={}, headers={"If-Match": "*"}), 401)
    assert_problem(seeded.delete(f"{URL}/juguo-system", headers={"If-Match": "*"}), 401)
    assert read(seeded, "initiatives", "juguo-system") == before
    assert_problem(seeded.get(f"{URL}/keyless-plan"), 404)


# --- update ------------------------------------------------------------------------------


def test_patch_is_a_json_merge_patch_in_either_media_type(api, contributor):
    before, before_etag = read(api, "initiatives", "made-in-china-2025", contributor)
    changes = {
        "name_zh": None,
        "summary": "Rewritten summary.",
        "sectors": ["new-materials", "power-equipment"],
        "organizations": [
            {"slug": "government-of-china", "role": "lead"},
            {"slug": "ministry-of-science-and-technology", "role": "implementer"},
        ],
    }
    merge_patch = "application/merge-patch+json"
    resp = patch(api, "initiatives", "made-in-china-2025", changes, contributor, merge_patch)
    after = ok(resp)
    assert after["name_zh"] is None  # null clears a nullable field
    assert after["summary"] == "Rewritten summary."
    assert after["sectors"] == ["new-materials", "power-equipment"]  # lists are replaced
    assert [o["slug"] for o in after["organizations"]] == [
        "government-of-china",
        "ministry-of-science-and-technology",
    ]
    # Fields the patch leaves out stay as they were.
    for field in ("name", "aliases", "kind", "status", "start_year", "end_year", "related"):
        assert after[field] == before[field], field
    assert after["evidence"] == before["evidence"]
    assert after["version"] == before["version"] + 1
    assert resp.headers["etag"] != before_etag
    assert ok(api.get(f"{URL}/made-in-china-2025")) == after
    assert api.get(f"{URL}/made-in-china-2025").headers["etag"] == resp.headers["etag"]
    # The initiative is now found by its new sectors only.
    assert "made-in-china-2025" in listed(api, "initiatives", sector="power-equipment")
    assert "made-in-china-2025" not in listed(api, "initiatives", sector="manufacturing")
    # Plain application/json is a merge patch too.
    changes = {"name_zh": "中国制造", "aliases": []}
    again = ok(patch(api, "initiatives", "made-in-china-2025", changes, contributor))
    assert (again["name_zh"], again["aliases"]) == ("中国制造", [])
    assert again["sectors"] == after["sectors"]
    assert again["summary"] == after["summary"]
    assert again["version"] == after["version"] + 1


def test_every_change_bumps_version_and_updated_at(api, editor):
    record, etag = read(api, "initiatives", "dual-circulation-strategy")
    created = record["created_at"]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("patch", {"status": "completed"}),
        ("patch", {"end_year": 2035}),
        ("patch", {"aliases": ["DCS"]}),
        ("retract", {}),
        ("publish", {}),
    ]
    for action, body in steps:
        previous, previous_etag = record, etag
        if action == "patch":
            resp = patch(api, "initiatives", "dual-circulation-strategy", body, editor)
        else:
            resp = api.post(f"{URL}/dual-circulation-strategy/{action}", headers=editor)
        record, etag = ok(resp), resp.headers["etag"]
        assert record["version"] == previous["version"] + 1, action
        assert record["updated_at"] > previous["updated_at"], action
        assert etag != previous_etag
        assert record["created_at"] == created
    revisions = history(api, "initiatives", "dual-circulation-strategy")
    assert [r["version"] for r in revisions][:5] == list(
        range(record["version"], record["version"] - 5, -1)
    )
    assert revisions[0]["action"] == "publish"
    aliases = by_slug("initiatives")["dual-circulation-strategy"]["aliases"]
    assert revisions[2]["changes"] == {"aliases": {"before": aliases, "after": ["DCS"]}}


def test_a_patch_that_changes_nothing_writes_nothing(api, editor):
    before, etag = read(api, "initiatives", "made-in-china-2025")
    revisions = history(api, "initiatives", "made-in-china-2025")
    fx = by_slug("initiatives")["made-in-china-2025"]
    same = {
        "name": fx["name"],
        "status": fx["status"],
        "sectors": list(reversed(fx["sectors"])),  # the same set, another order
        "related": as_written(before),
    }
    for body in (same, {}):
        resp = patch(api, "initiatives", "made-in-china-2025", body, editor)
        assert ok(resp) == before
        assert resp.headers["etag"] == etag
    assert read(api, "initiatives", "made-in-china-2025") == (before, etag)
    assert history(api, "initiatives", "made-in-china-2025") == revisions


def test_patch_years_are_checked_against_the_stored_other_year(api, editor):
    # Made in China 2025 ends in 2025: a start after that is refused, naming end_year.
    resp = patch(api, "initiatives", "made-in-china-2025", {"start_year": 2026}, editor)
    assert_problem(resp, 422, loc=["body", "end_year"])
    # Moving both together is fine.
    resp = patch(
        api, "initiatives", "made-in-china-2025", {"start_year": 2026, "end_year": 2030}, editor
    )
    assert (ok(resp)["start_year"], ok(resp)["end_year"]) == (2026, 2030)


# --- rejected writes: each names the field, and nothing is written ------------------------

NEW = "rejected-plan"
TOO_BIG_SUMMARY = "x" * (1024 * 1024 + 1)

REJECTED_CREATES = [
    ("unknown-field", {"colour": "red"}, 422, ["body", "colour"]),
    (
        "review-status-is-not-writable",
        {"review_status": "published"},
        422,
        ["body", "review_status"],
    ),
    ("version-is-not-writable", {"version": 7}, 422, ["body", "version"]),
    ("bad-kind", {"kind": "manifesto"}, 422, ["body", "kind"]),
    ("bad-status", {"status": "finished"}, 422, ["body", "status"]),
    ("bad-country", {"country": "China"}, 422, ["body", "country"]),
    (
        "bad-role",
        {"organizations": [{"slug": "government-of-china", "role": "boss"}]},
        422,
        ["body", "organizations", 0, "role"],
    ),
    (
        "bad-relation",
        {"related": [{"slug": "juguo-system", "relation": "cousin_of"}]},
        422,
        ["body", "related", 0, "relation"],
    ),
    ("start-after-end", {"start_year": 2030, "end_year": 2020}, 422, ["body", "end_year"]),
    ("year-out-of-range", {"start_year": 1899}, 422, ["body", "start_year"]),
    ("bad-slug", {"slug": "Not_A_Slug"}, 422, ["body", "slug"]),
    ("missing-name", {"name": None}, 422, ["body", "name"]),
    (
        "unknown-sector",
        {"sectors": ["5g", "no-such-sector"]},
        422,
        ["body", "sectors", 1],
    ),
    (
        "unknown-organization",
        {
            "organizations": [
                {"slug": "government-of-china", "role": "lead"},
                {"slug": "no-such-organization", "role": "funder"},
            ]
        },
        422,
        ["body", "organizations", 1],
    ),
    (
        "unknown-related-initiative",
        {
            "related": [
                {"slug": "juguo-system", "relation": "part_of"},
                {"slug": "no-such-initiative", "relation": "related_to"},
            ]
        },
        422,
        ["body", "related", 1],
    ),
    (
        "related-to-itself",
        {"related": [{"slug": NEW, "relation": "related_to"}]},
        422,
        ["body", "related", 0],
    ),
    (
        "unknown-excerpt",
        {"evidence": [{"source": "lse-ideas-techno-nationalism-2021", "excerpt": "no-such"}]},
        422,
        ["body", "evidence", 0],
    ),
    ("duplicate-slug", {"slug": "made-in-china-2025"}, 409, ["body", "slug"]),
    ("body-over-1-mib", {"summary": TOO_BIG_SUMMARY}, 413, None),
]


@pytest.mark.parametrize(
    ("changes", "status", "loc"),
    [c[1:] for c in REJECTED_CREATES],
    ids=[c[0] for c in REJECTED_CREATES],
)
def test_rejected_create_writes_nothing(
    seeded, seeded_contributor, seeded_editor, changes, status, loc
):
    payload = {
        **initiative(NEW),
        "sectors": ["5g"],
        "organizations": [{"slug": "government-of-china", "role": "lead"}],
        "related": [{"slug": "juguo-system", "relation": "part_of"}],
    }
    payload = {k: v for k, v in {**payload, **changes}.items() if v is not None}
    before = snapshot(seeded, seeded_editor)
    mic_history = history(seeded, "initiatives", "made-in-china-2025", seeded_editor)
    resp = seeded.post(URL, json=payload, headers=seeded_contributor)
    assert_problem(resp, status, loc=loc)
    assert snapshot(seeded, seeded_editor) == before
    assert history(seeded, "initiatives", "made-in-china-2025", seeded_editor) == mic_history
    if payload["slug"] == NEW:
        assert_problem(seeded.get(f"{URL}/{NEW}", headers=seeded_editor), 404)
        assert_problem(seeded.get(f"{URL}/{NEW}/history", headers=seeded_editor), 404)


TARGET = "made-in-china-2025"
REJECTED_PATCHES = [
    ("unknown-field", {"colour": "red"}, 422, ["body", "colour"]),
    ("slug-is-not-writable", {"slug": "mic-2025"}, 422, ["body", "slug"]),
    ("review-status-is-not-writable", {"review_status": "draft"}, 422, ["body", "review_status"]),
    ("bad-status", {"status": "finished"}, 422, ["body", "status"]),
    ("start-after-stored-end", {"start_year": 2030}, 422, ["body", "end_year"]),
    ("end-before-stored-start", {"end_year": 2010}, 422, ["body", "end_year"]),
    (
        "unknown-sector",
        {"sectors": ["manufacturing", "no-such-sector"]},
        422,
        ["body", "sectors", 1],
    ),
    (
        "unknown-organization",
        {
            "organizations": [
                {"slug": "government-of-china", "role": "lead"},
                {"slug": "no-such-organization", "role": "funder"},
            ]
        },
        422,
        ["body", "organizations", 1],
    ),
    (
        "unknown-related-initiative",
        {
            "related": [
                {"slug": "juguo-system", "relation": "related_to"},
                {"slug": "no-such-initiative", "relation": "related_to"},
            ]
        },
        422,
        ["body", "related", 1],
    ),
    (
        "related-to-itself",
        {"related": [{"slug": TARGET, "relation": "related_to"}]},
        422,
        ["body", "related", 0],
    ),
    ("null-name", {"name": None}, 422, None),
    ("null-kind", {"kind": None}, 422, None),
    ("null-sectors", {"sectors": None}, 422, None),
    ("not-an-object", [{"name": "x"}], 422, ["body"]),
    ("body-over-1-mib", {"summary": TOO_BIG_SUMMARY}, 413, None),
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
    revisions = history(seeded, "initiatives", TARGET, seeded_editor)
    resp = patch(seeded, "initiatives", TARGET, body, seeded_contributor)
    problem = assert_problem(resp, status, loc=loc)
    if isinstance(body, dict) and status == 422:
        for field in body:
            assert field in problem["detail"] or field in str(problem["errors"]), field
    if "itself" in str(body):
        assert "itself" in problem["detail"]
    assert snapshot(seeded, seeded_editor) == before
    assert history(seeded, "initiatives", TARGET, seeded_editor) == revisions


def test_null_for_a_required_field_names_that_field_in_loc(seeded, seeded_editor):
    resp = patch(seeded, "initiatives", TARGET, {"name": None}, seeded_editor)
    assert_problem(resp, 422, loc=["body", "name"])


def test_create_related_to_itself_says_so(seeded, seeded_editor):
    payload = initiative(NEW, related=[{"slug": NEW, "relation": "related_to"}])
    problem = assert_problem(seeded.post(URL, json=payload, headers=seeded_editor), 422)
    assert "itself" in problem["errors"][0]["msg"]


# --- symmetric relations -----------------------------------------------------------------

A, B, C = "dual-circulation-strategy", "juguo-system", "technological-self-sufficiency-strategy"


def test_writing_a_relation_shows_the_inverse_on_the_other_side(api, contributor):
    a_before, _ = read(api, "initiatives", A)
    kept = as_written(a_before)  # A's relation to C stays throughout
    assert kept == [{"slug": C, "relation": "related_to"}]
    b_links = as_written(read(api, "initiatives", B)[0])
    c_before, _ = read(api, "initiatives", C)
    for relation in CONTRACT_RELATIONS:
        b_before, _ = read(api, "initiatives", B)
        resp = patch(
            api,
            "initiatives",
            A,
            {"related": [*kept, {"slug": B, "relation": relation}]},
            contributor,
        )
        assert {"slug": B, "relation": relation} in as_written(ok(resp))
        b_after, _ = read(api, "initiatives", B)
        assert as_written(b_after) == sorted(
            [*b_links, {"slug": A, "relation": INVERSE[relation]}], key=lambda r: r["slug"]
        ), relation
        shown = next(r for r in b_after["related"] if r["slug"] == A)
        assert shown["name"] == a_before["name"]
        assert b_after["version"] == b_before["version"] + 1, relation
        assert b_after["updated_at"] > b_before["updated_at"]
    # C's link to A never changed, so C was not touched.
    assert read(api, "initiatives", C)[0] == c_before
    # Removing the relation on A removes both sides.
    b_before, _ = read(api, "initiatives", B)
    ok(patch(api, "initiatives", A, {"related": kept}, contributor))
    b_after, _ = read(api, "initiatives", B)
    assert as_written(b_after) == b_links
    assert b_after["version"] == b_before["version"] + 1
    top = history(api, "initiatives", B)[0]
    assert top["action"] == "update"
    assert set(top["changes"]) == {"related"}


def test_writing_the_other_side_replaces_the_pair(api, editor):
    ok(
        patch(
            api, "initiatives", A, {"related": [{"slug": B, "relation": "predecessor_of"}]}, editor
        )
    )
    # B now states the pair differently; A follows.
    b_links = as_written(read(api, "initiatives", B)[0])
    assert {"slug": A, "relation": "successor_of"} in b_links
    b_links = [r for r in b_links if r["slug"] != A] + [{"slug": A, "relation": "implements"}]
    ok(patch(api, "initiatives", B, {"related": b_links}, editor))
    assert as_written(read(api, "initiatives", A)[0]) == [{"slug": B, "relation": "implemented_by"}]
    # B drops it: A's side goes too.
    ok(patch(api, "initiatives", B, {"related": [r for r in b_links if r["slug"] != A]}, editor))
    assert read(api, "initiatives", A)[0]["related"] == []


def test_creating_with_a_relation_updates_the_other_initiative(api, editor):
    b_before, _ = read(api, "initiatives", B)
    payload = initiative("juguo-successor", related=[{"slug": B, "relation": "successor_of"}])
    ok(api.post(URL, json=payload, headers=editor), 201)
    b_after, _ = read(api, "initiatives", B, editor)
    assert {"slug": "juguo-successor", "relation": "predecessor_of"} in as_written(b_after)
    assert b_after["version"] == b_before["version"] + 1
    # The draft is not shown to anonymous readers of the published side.
    assert "juguo-successor" not in slugs(read(api, "initiatives", B)[0]["related"])


def test_deleting_an_initiative_removes_it_from_the_related_ones(api, editor):
    partners = [r["slug"] for r in expected_related(B)]
    before = {slug: read(api, "initiatives", slug)[0] for slug in partners}
    assert delete(api, "initiatives", B, editor).status_code == 204
    for slug in partners:
        after = read(api, "initiatives", slug)[0]
        assert B not in slugs(after["related"]), slug
        assert after["version"] == before[slug]["version"] + 1, slug


def test_anonymous_readers_see_nothing_of_drafts_linked_to_published_records(
    api, contributor, editor
):
    related = [{"slug": B, "relation": "part_of"}]
    payload = initiative("secret-draft-plan", name="Secret draft plan", related=related)
    ok(api.post(URL, json=payload, headers=contributor), 201)
    now = datetime.now(UTC).isoformat()
    # Editors see the link everywhere...
    for path, params in (
        (f"{URL}/{B}", {}),
        (f"{URL}/{B}/history", {}),
        (f"{URL}/{B}", {"as_of": now}),
    ):
        assert "secret-draft-plan" in str(ok(api.get(path, params=params, headers=editor)))
    # ...anonymous readers nowhere: not in the record, its history or its past states.
    for path, params in (
        (f"{URL}/{B}", {}),
        (f"{URL}/{B}/history", {}),
        (f"{URL}/{B}", {"as_of": now}),
        (URL, {}),
    ):
        resp = api.get(path, params=params)
        assert resp.status_code == 200, path
        assert "secret-draft-plan" not in resp.text, path
        assert "Secret draft plan" not in resp.text, path


# --- delete, history, restore ------------------------------------------------------------


def test_delete_removes_the_record_keeps_its_history_and_its_slug(api, editor, contributor):
    assert_problem(delete(api, "initiatives", "juguo-system", contributor), 403)
    assert ok(api.get(f"{URL}/juguo-system"))["slug"] == "juguo-system"
    resp = delete(api, "initiatives", "juguo-system", editor)
    assert resp.status_code == 204
    assert resp.content == b""
    assert_problem(api.get(f"{URL}/juguo-system"), 404)
    assert_problem(api.get(f"{URL}/juguo-system", headers=editor), 404)
    assert listed(api, "initiatives") == [s for s in ALL if s != "juguo-system"]
    users = expect(lambda i: "general-purpose-technologies" in i["sectors"])
    assert "juguo-system" in users
    assert listed(api, "initiatives", sector="general-purpose-technologies") == [
        s for s in users if s != "juguo-system"
    ]
    revisions = history(api, "initiatives", "juguo-system", editor)
    assert revisions[0]["action"] == "delete"
    # A slug is never reused, except by bringing the record back.
    resp = api.post(URL, json=initiative("juguo-system"), headers=editor)
    assert_problem(resp, 409, loc=["body", "slug"])
    restored = ok(api.post(f"{URL}/juguo-system/restore", headers=editor))
    assert restored["name"] == by_slug("initiatives")["juguo-system"]["name"]
    assert restored["review_status"] == "published"
    assert restored["version"] == revisions[0]["version"] + 1
    assert as_written(restored) == expected_related("juguo-system")
    assert ok(api.get(f"{URL}/juguo-system"))["sectors"] == ["general-purpose-technologies"]


def test_history_lists_revisions_newest_first_and_pages(api, editor):
    for n in range(3):
        ok(patch(api, "initiatives", "juguo-system", {"summary": f"Summary {n}."}, editor))
    revisions = history(api, "initiatives", "juguo-system")
    assert [r["action"] for r in revisions[:3]] == ["update"] * 3
    assert revisions[0]["changes"]["summary"] == {"before": "Summary 1.", "after": "Summary 2."}
    assert revisions[0]["actor"] == "test-editor"
    assert [r["version"] for r in revisions] == sorted(
        (r["version"] for r in revisions), reverse=True
    )
    first = ok(api.get(f"{URL}/juguo-system/history", params={"limit": 2}))
    assert first["total"] == len(revisions)
    rest = ok(
        api.get(
            f"{URL}/juguo-system/history", params={"limit": 200, "cursor": first["next_cursor"]}
        )
    )
    assert first["items"] + rest["items"] == revisions


def test_patch_replaces_evidence_in_the_order_given(api, editor):
    record, _ = read(api, "initiatives", "juguo-system")
    assert [e["excerpt"] for e in record["evidence"]] == [
        e["excerpt"] for e in by_slug("initiatives")["juguo-system"]["evidence"]
    ]
    resp = patch(
        api,
        "initiatives",
        "juguo-system",
        {"evidence": evidence("juguo-labs-and-parks", "juguo-system")},
        editor,
    )
    after = ok(resp)
    assert [e["excerpt"] for e in after["evidence"]] == ["juguo-labs-and-parks", "juguo-system"]
    assert after["evidence"][0]["quote"] == excerpt_quote("juguo-labs-and-parks")
