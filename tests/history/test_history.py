"""The researchers' write path: roles, the review workflow, revision history, `as_of` reads,
delete and restore, and that a failed write leaves neither a change nor a revision.

Every test runs on SQLite and on PostgreSQL (the `api` fixture), each on its own seeded copy.
"""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from api import resource as resource_service
from api.auth.tables import Role
from api.history.tables import Revision
from api.tables import metadata

SOURCE = "lse-ideas-techno-nationalism-2021"
EVIDENCE = [{"source": SOURCE, "excerpt": "two-pronged-approach"}]
RESOURCES = ("initiatives", "sectors", "organizations", "sources")
SEEDED = {
    "initiatives": "made-in-china-2025",
    "sectors": "5g",
    "organizations": "caltech",
    "sources": SOURCE,
}
META = ("version", "created_at", "updated_at")
REVISION_FIELDS = {"id", "version", "action", "actor", "at", "changes"}
revisions = Revision.__table__


# --- helpers ---------------------------------------------------------------------------------


def create_body(resource: str, slug: str, **fields: Any) -> dict[str, Any]:
    """A valid create body; records that can cite evidence cite one excerpt (so they can be
    published)."""
    body: dict[str, Any] = {
        "initiatives": {"name": f"Initiative {slug}", "kind": "programme", "country": "CN"},
        "sectors": {"name": f"Sector {slug}", "kind": "technology"},
        "organizations": {"name": f"Org {slug}", "kind": "lab"},
        "sources": {"title": f"Source {slug}"},
    }[resource]
    if resource != "sources":
        body["evidence"] = EVIDENCE
    return {"slug": slug, **body, **fields}


def patch_body(resource: str) -> dict[str, Any]:
    return {"title": "A corrected title"} if resource == "sources" else {"name": "A corrected name"}


def if_match(etag: str) -> dict[str, str]:
    return {"If-Match": etag}


def read(api, resource: str, slug: str, role: Role | None = Role.editor) -> Any:
    return api.get(f"/v1/{resource}/{slug}", headers=api.auth(role))


def history(api, resource: str, slug: str, role: Role | None = Role.editor) -> list[dict]:
    response = api.get(f"/v1/{resource}/{slug}/history?limit=200", headers=api.auth(role))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    assert page["total"] == len(page["items"])
    return page["items"]


def revision_total(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(revisions)).scalar_one()


def database_state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the rate-limit counters, in primary-key order."""
    state = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name.startswith("rate_limit"):
                continue
            query = select(table).order_by(*table.primary_key.columns)
            state[table.name] = [tuple(row) for row in conn.execute(query)]
    return state


def listed(api, resource: str, role: Role | None = None, query: str = "") -> list[str]:
    response = api.get(f"/v1/{resource}?limit=200{query}", headers=api.auth(role))
    assert response.status_code == 200, response.text
    return [item["slug"] for item in response.json()["items"]]


def without_meta(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in META}


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, value
    return parsed


def midpoint(a: str, b: str) -> str:
    t1, t2 = parse_time(a), parse_time(b)
    assert t1 < t2, (a, b)
    return (t1 + (t2 - t1) / 2).isoformat()


def as_of(api, resource: str, slug: str, when: str, role: Role | None = Role.editor) -> Any:
    return api.get(f"/v1/{resource}/{slug}", params={"as_of": when}, headers=api.auth(role))


# --- each role against each write operation --------------------------------------------------


@pytest.mark.parametrize("role", [Role.contributor, Role.editor, Role.admin])
def test_each_role_against_each_write_operation(api, role):
    for resource in RESOURCES:
        check_role_against_write_operations(api, role, resource)


def check_role_against_write_operations(api, role: Role, resource: str) -> None:
    me, editor = api.auth(role), api.auth(Role.editor)
    slug = f"roles-{resource}"
    may_review = role is not Role.contributor

    created = api.post(f"/v1/{resource}", json=create_body(resource, slug), headers=me)
    assert created.status_code == 201, created.text
    assert created.json()["review_status"] == "draft"  # whoever creates it
    assert created.json()["version"] == 1
    assert created.headers["location"] == f"/v1/{resource}/{slug}"
    assert created.headers["etag"]

    updated = api.patch(
        f"/v1/{resource}/{slug}",
        json=patch_body(resource),
        headers={**me, **if_match(created.headers["etag"])},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    assert updated.headers["etag"] != created.headers["etag"]

    def attempt(method: str, path: str, ok: int, headers: dict[str, str] | None = None) -> Any:
        before = database_state(api.db.engine)
        response = api.request(method, path, headers={**me, **(headers or {})})
        if may_review:
            assert response.status_code == ok, (method, path, response.text)
        else:
            assert response.status_code == 403, (method, path, response.text)
            assert database_state(api.db.engine) == before, (method, path)
        return response

    path = f"/v1/{resource}/{slug}"
    published = attempt("POST", f"{path}/publish", 200)
    retracted = attempt("POST", f"{path}/retract", 200)
    if may_review:
        assert published.json()["review_status"] == "published"
        assert retracted.json()["review_status"] == "retracted"
    attempt("DELETE", path, 204, if_match(read(api, resource, slug).headers["etag"]))
    if not may_review:  # let an editor delete it, to try restoring it
        assert read(api, resource, slug).json()["review_status"] == "draft"
        gone = api.delete(path, headers={**editor, "If-Match": "*"})
        assert gone.status_code == 204
    assert read(api, resource, slug).status_code == 404
    restored = attempt("POST", f"{path}/restore", 200)

    actions = [(r["action"], r["actor"]) for r in history(api, resource, slug)]
    mine = f"test-{role.value}"
    if may_review:
        assert restored.json()["slug"] == slug
        assert read(api, resource, slug).status_code == 200
        verbs = ["restore", "delete", "retract", "publish", "update", "create"]
        assert actions == [(verb, mine) for verb in verbs], resource
    else:
        assert read(api, resource, slug).status_code == 404
        assert actions == [
            ("delete", "test-editor"),
            ("update", "test-contributor"),
            ("create", "test-contributor"),
        ], resource


# --- the review queue and what anonymous readers see -----------------------------------------


def test_review_queue_is_for_editors(api, contributor, editor, admin):
    # fixtures are seeded as published: the queues start empty
    for resource in RESOURCES:
        unpublished = api.get(
            f"/v1/{resource}?review_status=draft&review_status=retracted", headers=editor
        )
        assert unpublished.status_code == 200
        assert unpublished.json()["total"] == 0, resource
        assert listed(api, resource, None) == listed(api, resource, Role.editor)

    for n in range(3):
        body = create_body("initiatives", f"queued-{n}")
        assert api.post("/v1/initiatives", json=body, headers=contributor).status_code == 201
    assert api.post("/v1/initiatives/juguo-system/retract", headers=editor).status_code == 200

    queue = api.get("/v1/initiatives?review_status=draft", headers=editor)
    assert queue.status_code == 200
    assert [i["slug"] for i in queue.json()["items"]] == ["queued-0", "queued-1", "queued-2"]
    assert queue.json()["total"] == 3
    assert {i["review_status"] for i in queue.json()["items"]} == {"draft"}
    assert api.get("/v1/initiatives?review_status=draft", headers=admin).json()["total"] == 3

    retracted = api.get("/v1/initiatives?review_status=retracted", headers=editor).json()
    assert [i["slug"] for i in retracted["items"]] == ["juguo-system"]
    both = api.get("/v1/initiatives?review_status=draft&review_status=retracted", headers=editor)
    assert both.json()["total"] == 4

    # the queue takes the other filters and pages like any list
    paged = api.get("/v1/initiatives?review_status=draft&limit=2&country=CN", headers=editor)
    assert [i["slug"] for i in paged.json()["items"]] == ["queued-0", "queued-1"]
    assert paged.json()["next_cursor"]

    for headers in (contributor, {}):
        refused = api.get("/v1/initiatives?review_status=draft", headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert api.get("/v1/initiatives?review_status=bogus", headers=editor).status_code == 422

    draft_sector = create_body("sectors", "queued-sector")
    assert api.post("/v1/sectors", json=draft_sector, headers=contributor).status_code == 201
    sectors = api.get("/v1/sectors?review_status=draft", headers=editor).json()
    assert [i["slug"] for i in sectors["items"]] == ["queued-sector"]
    assert api.get("/v1/sectors?review_status=draft", headers=contributor).status_code == 403


def test_anonymous_readers_see_published_records_only(api, contributor, editor):
    draft = create_body(
        "initiatives",
        "hidden-draft",
        sectors=["5g"],
        organizations=[{"slug": "government-of-china", "role": "lead"}],
        related=[{"slug": "made-in-china-2025", "relation": "implements"}],
    )
    assert api.post("/v1/initiatives", json=draft, headers=contributor).status_code == 201
    assert api.post("/v1/initiatives/juguo-system/retract", headers=editor).status_code == 200
    draft_org = create_body("organizations", "hidden-org")
    assert api.post("/v1/organizations", json=draft_org, headers=contributor).status_code == 201
    hidden = {"hidden-draft", "juguo-system"}

    for role in (None, Role.contributor):  # lists show published records to non-editors
        slugs = listed(api, "initiatives", role)
        assert not hidden & set(slugs)
        assert len(slugs) == 12
        assert "hidden-org" not in listed(api, "organizations", role)
        filtered = listed(api, "initiatives", role, "&sector=5g&organization=government-of-china")
        assert not hidden & set(filtered)
    assert hidden <= set(
        listed(api, "initiatives", Role.editor, "&review_status=draft&review_status=retracted")
    )

    for slug in hidden:
        assert read(api, "initiatives", slug, None).status_code == 404
        assert api.get(f"/v1/initiatives/{slug}/history").status_code == 404
    assert read(api, "organizations", "hidden-org", None).status_code == 404

    # published records do not show links to unpublished ones to anonymous readers
    anonymous_view = read(api, "initiatives", "made-in-china-2025", None).json()
    assert "hidden-draft" not in [r["slug"] for r in anonymous_view["related"]]
    editor_view = read(api, "initiatives", "made-in-china-2025").json()
    assert {"slug": "hidden-draft", "relation": "implemented_by"} in [
        {"slug": r["slug"], "relation": r["relation"]} for r in editor_view["related"]
    ]
    for item in api.get("/v1/initiatives?limit=200").json()["items"]:
        assert not hidden & {r["slug"] for r in item["related"]}, item["slug"]

    # anyone with a key can read a draft by its slug (to correct it)
    assert read(api, "initiatives", "hidden-draft", Role.contributor).status_code == 200
    assert read(api, "initiatives", "juguo-system", Role.editor).status_code == 200


def test_anonymous_readers_see_no_evidence_from_unpublished_sources(api, editor):
    retracted = api.post(f"/v1/sources/{SOURCE}/retract", headers=editor)
    assert retracted.status_code == 200
    assert read(api, "sources", SOURCE, None).status_code == 404
    record = read(api, "initiatives", "made-in-china-2025", None).json()
    assert [e["source"] for e in record["evidence"]] == []
    listing = api.get("/v1/initiatives?limit=200").json()["items"]
    assert not [e for item in listing for e in item["evidence"] if e["source"] == SOURCE]


def test_anonymous_history_and_as_of_do_not_reveal_drafts(api, contributor):
    draft = create_body(
        "initiatives",
        "secret-draft",
        name="Secret unreviewed plan",
        related=[{"slug": "made-in-china-2025", "relation": "implements"}],
    )
    assert api.post("/v1/initiatives", json=draft, headers=contributor).status_code == 201
    now = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    for response in (
        api.get("/v1/initiatives/made-in-china-2025/history"),
        as_of(api, "initiatives", "made-in-china-2025", now, None),
    ):
        assert response.status_code == 200
        assert "secret-draft" not in response.text
        assert "Secret unreviewed plan" not in response.text


# --- publish, retract, delete, restore -------------------------------------------------------


def test_publish_retract_delete_restore_round_trip(api, contributor, editor):
    body = create_body(
        "initiatives",
        "round-trip",
        name="Round trip programme",
        sectors=["semiconductors", "5g"],
        organizations=[{"slug": "ministry-of-science-and-technology", "role": "lead"}],
        related=[{"slug": "made-in-china-2025", "relation": "implements"}],
        start_year=2020,
        end_year=2024,
    )
    created = api.post("/v1/initiatives", json=body, headers=contributor)
    assert created.status_code == 201, created.text
    assert read(api, "initiatives", "round-trip", None).status_code == 404
    path = "/v1/initiatives/round-trip"

    published = api.post(f"{path}/publish", headers=editor)
    assert published.status_code == 200
    assert published.json()["review_status"] == "published"
    assert published.json()["version"] == 2
    assert read(api, "initiatives", "round-trip", None).json()["name"] == "Round trip programme"
    assert "round-trip" in listed(api, "initiatives")

    again = api.post(f"{path}/publish", headers=editor)  # publishing twice changes nothing
    assert again.status_code == 200
    assert again.json()["version"] == 2
    assert len(history(api, "initiatives", "round-trip")) == 2

    retracted = api.post(f"{path}/retract", headers=editor)
    assert retracted.json()["review_status"] == "retracted"
    assert read(api, "initiatives", "round-trip", None).status_code == 404
    assert "round-trip" not in listed(api, "initiatives")
    assert api.post(f"{path}/publish", headers=editor).json()["version"] == 4

    before_delete = read(api, "initiatives", "round-trip").json()
    deleted = api.delete(
        path, headers={**editor, **if_match(read(api, "initiatives", "round-trip").headers["etag"])}
    )
    assert deleted.status_code == 204
    assert deleted.content == b""
    for role in (None, Role.contributor, Role.editor):
        assert read(api, "initiatives", "round-trip", role).status_code == 404
    assert "round-trip" not in listed(api, "initiatives", Role.editor)
    partner = read(api, "initiatives", "made-in-china-2025").json()
    assert "round-trip" not in [r["slug"] for r in partner["related"]]

    # the history outlives the record
    kept = history(api, "initiatives", "round-trip")
    assert [r["action"] for r in kept] == ["delete", "publish", "retract", "publish", "create"]
    assert kept[0]["version"] == 5
    assert kept[0]["actor"] == "test-editor"
    assert kept[0]["changes"]["name"] == {"before": "Round trip programme", "after": None}
    assert kept[0]["changes"]["review_status"] == {"before": "published", "after": None}

    # the slug is never reused: a new record cannot take it
    state = database_state(api.db.engine)
    reuse = api.post("/v1/initiatives", json=body, headers=editor)
    assert reuse.status_code == 409
    assert "restore" in reuse.json()["detail"]
    assert database_state(api.db.engine) == state

    restored = api.post(f"{path}/restore", headers=editor)
    assert restored.status_code == 200, restored.text
    assert restored.headers["location"] == path
    assert restored.headers["etag"]
    record = restored.json()
    assert without_meta(record) == without_meta(before_delete)
    assert record["version"] == 6
    assert read(api, "initiatives", "round-trip", None).json() == record
    assert record["sectors"] == ["5g", "semiconductors"]
    assert [o["slug"] for o in record["organizations"]] == ["ministry-of-science-and-technology"]
    partner = read(api, "initiatives", "made-in-china-2025").json()
    assert {"slug": "round-trip", "relation": "implemented_by"} in [
        {"slug": r["slug"], "relation": r["relation"]} for r in partner["related"]
    ]
    actions = [(r["action"], r["version"]) for r in history(api, "initiatives", "round-trip")]
    assert actions == [
        ("restore", 6),
        ("delete", 5),
        ("publish", 4),
        ("retract", 3),
        ("publish", 2),
        ("create", 1),
    ]

    assert api.post(f"{path}/restore", headers=editor).status_code == 409  # it exists
    assert api.post(f"{path}/retract", headers=editor).status_code == 200  # and works as before


def test_deleting_a_seeded_record_keeps_its_history_and_restore_brings_back_its_links(api, editor):
    slug = "biden-tough-on-china-policy"
    before = read(api, "initiatives", slug).json()
    old_history = history(api, "initiatives", slug)
    neighbours = [r["slug"] for r in before["related"]]
    assert neighbours == ["innovation-mercantilist-policies", "us-tariffs-on-chinese-exports"]
    neighbour_versions = {n: read(api, "initiatives", n).json()["version"] for n in neighbours}

    gone = api.delete(f"/v1/initiatives/{slug}", headers={**editor, "If-Match": "*"})
    assert gone.status_code == 204
    after_delete = history(api, "initiatives", slug)
    assert after_delete[1:] == old_history
    assert after_delete[0]["action"] == "delete"
    for n in neighbours:  # the other side of each relation went too, as an attributed change
        record = read(api, "initiatives", n).json()
        assert slug not in [r["slug"] for r in record["related"]]
        assert record["version"] == neighbour_versions[n] + 1
        latest = history(api, "initiatives", n)[0]
        assert latest["actor"] == "test-editor"
        assert "related" in latest["changes"]

    restored = api.post(f"/v1/initiatives/{slug}/restore", headers=editor)
    assert restored.status_code == 200, restored.text
    assert without_meta(restored.json()) == without_meta(before)
    assert history(api, "initiatives", slug)[2:] == old_history
    for n in neighbours:
        record = read(api, "initiatives", n).json()
        assert slug in [r["slug"] for r in record["related"]]
        assert record["version"] == neighbour_versions[n] + 2


def test_restore_drops_links_to_records_that_are_gone(api, contributor, editor):
    any_version = {**editor, "If-Match": "*"}
    for resource, slug in (("organizations", "short-lived-lab"), ("initiatives", "partner-plan")):
        body = create_body(resource, slug)
        assert api.post(f"/v1/{resource}", json=body, headers=contributor).status_code == 201
    body = create_body(
        "initiatives",
        "orphan-plan",
        sectors=["5g"],
        organizations=[
            {"slug": "short-lived-lab", "role": "lead"},
            {"slug": "government-of-china", "role": "funder"},
        ],
        related=[{"slug": "partner-plan", "relation": "part_of"}],
    )
    assert api.post("/v1/initiatives", json=body, headers=contributor).status_code == 201
    for path in (
        "/v1/initiatives/orphan-plan",
        "/v1/initiatives/partner-plan",
        "/v1/organizations/short-lived-lab",
    ):
        assert api.delete(path, headers=any_version).status_code == 204, path

    restored = api.post("/v1/initiatives/orphan-plan/restore", headers=editor)
    assert restored.status_code == 200, restored.text
    record = restored.json()
    assert record["sectors"] == ["5g"]
    assert [(o["slug"], o["role"]) for o in record["organizations"]] == [
        ("government-of-china", "funder")
    ]
    assert record["related"] == []
    assert record["review_status"] == "draft"


def test_restore_drops_citations_of_excerpts_that_are_gone(api, contributor, editor):
    any_version = {**editor, "If-Match": "*"}
    excerpts = [{"id": "kept", "quote": "Kept."}, {"id": "dropped", "quote": "Dropped."}]
    source = {"slug": "short-lived-source", "title": "Notes", "excerpts": excerpts}
    assert api.post("/v1/sources", json=source, headers=contributor).status_code == 201
    evidence = [{"source": "short-lived-source", "excerpt": e["id"]} for e in excerpts]
    body = create_body("initiatives", "cites-notes", evidence=evidence)
    assert api.post("/v1/initiatives", json=body, headers=contributor).status_code == 201
    assert api.delete("/v1/initiatives/cites-notes", headers=any_version).status_code == 204
    trimmed = api.patch(
        "/v1/sources/short-lived-source", json={"excerpts": excerpts[:1]}, headers=any_version
    )
    assert trimmed.status_code == 200, trimmed.text  # nothing cites "dropped" any more

    restored = api.post("/v1/initiatives/cites-notes/restore", headers=editor)
    assert restored.status_code == 200, restored.text
    assert [e["excerpt"] for e in restored.json()["evidence"]] == ["kept"]


def test_restore_keeps_created_at(api, editor):
    before = read(api, "initiatives", "juguo-system").json()
    gone = api.delete("/v1/initiatives/juguo-system", headers={**editor, "If-Match": "*"})
    assert gone.status_code == 204
    restored = api.post("/v1/initiatives/juguo-system/restore", headers=editor)
    assert restored.status_code == 200
    assert restored.json()["created_at"] == before["created_at"]


def test_a_deleted_records_slug_cannot_be_taken(api, contributor, editor):
    for resource in RESOURCES:
        slug = f"taken-{resource}"
        body = create_body(resource, slug)
        assert api.post(f"/v1/{resource}", json=body, headers=contributor).status_code == 201
        path = f"/v1/{resource}/{slug}"
        assert api.delete(path, headers={**editor, "If-Match": "*"}).status_code == 204
        state = database_state(api.db.engine)
        for headers in (contributor, editor):
            response = api.post(f"/v1/{resource}", json=body, headers=headers)
            assert response.status_code == 409, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
        assert database_state(api.db.engine) == state, resource
        assert api.post(f"{path}/restore", headers=editor).status_code == 200
        assert api.post(f"{path}/restore", headers=editor).status_code == 409  # it exists
        never = api.post(f"/v1/{resource}/never-was/restore", headers=editor)
        assert never.status_code == 404, resource


# --- history contents ------------------------------------------------------------------------


def test_history_after_a_sequence_of_edits(api, contributor, editor):
    path = "/v1/initiatives/edited-plan"
    body = create_body("initiatives", "edited-plan", name="Draft name", start_year=2020)
    created = api.post("/v1/initiatives", json=body, headers=contributor)
    etag = created.headers["etag"]

    def patch(changes: dict, headers: dict) -> Any:
        nonlocal etag
        response = api.patch(path, json=changes, headers={**headers, **if_match(etag)})
        assert response.status_code == 200, response.text
        etag = response.headers["etag"]
        return response

    patch({"name": "Corrected name"}, contributor)
    patch({"summary": "A summary.", "start_year": 2021, "aliases": ["EP"]}, contributor)
    assert api.post(f"{path}/publish", headers=editor).status_code == 200
    etag = read(api, "initiatives", "edited-plan").headers["etag"]
    final = patch({"end_year": 2030, "sectors": ["5g"]}, editor).json()
    assert final["version"] == 5

    items = history(api, "initiatives", "edited-plan", None)  # published: anyone may read it
    assert [(r["version"], r["action"], r["actor"]) for r in items] == [
        (5, "update", "test-editor"),
        (4, "publish", "test-editor"),
        (3, "update", "test-contributor"),
        (2, "update", "test-contributor"),
        (1, "create", "test-contributor"),
    ]
    for item in items:
        assert set(item) == REVISION_FIELDS
        assert item["at"].endswith("Z")  # RFC 3339, UTC
        assert not set(item["changes"]) & set(META)
    assert items[0]["changes"] == {
        "end_year": {"before": None, "after": 2030},
        "sectors": {"before": [], "after": ["5g"]},
    }
    assert items[1]["changes"] == {"review_status": {"before": "draft", "after": "published"}}
    assert items[2]["changes"] == {
        "aliases": {"before": [], "after": ["EP"]},
        "start_year": {"before": 2020, "after": 2021},
        "summary": {"before": "", "after": "A summary."},
    }
    assert items[3]["changes"] == {"name": {"before": "Draft name", "after": "Corrected name"}}
    creation = items[4]["changes"]
    assert creation["name"] == {"before": None, "after": "Draft name"}
    assert creation["review_status"] == {"before": None, "after": "draft"}
    assert creation["slug"] == {"before": None, "after": "edited-plan"}
    assert creation["evidence"]["after"][0]["excerpt"] == "two-pronged-approach"

    ids = [r["id"] for r in items]
    times = [parse_time(r["at"]) for r in items]
    assert ids == sorted(ids, reverse=True)
    assert times == sorted(times, reverse=True)
    assert len(set(times)) == len(times)
    assert items[0]["at"] == final["updated_at"]
    assert items[-1]["at"] == final["created_at"]

    # a patch that changes nothing makes no version and no revision
    same = api.patch(path, json={"end_year": 2030}, headers={**editor, **if_match(etag)})
    assert same.status_code == 200
    assert same.json()["version"] == 5
    assert len(history(api, "initiatives", "edited-plan")) == 5

    # pages, newest first, with a Link header
    first = api.get(f"{path}/history?limit=2")
    assert first.json()["total"] == 5
    assert 'rel="next"' in first.headers["link"]
    pages = first.json()["items"]
    cursor = first.json()["next_cursor"]
    while cursor:
        page = api.get(f"{path}/history", params={"limit": 2, "cursor": cursor}).json()
        pages += page["items"]
        cursor = page["next_cursor"]
    assert pages == items


def test_history_of_drafts_and_unknown_records(api, contributor):
    body = create_body("sectors", "draft-sector")
    assert api.post("/v1/sectors", json=body, headers=contributor).status_code == 201
    assert api.get("/v1/sectors/draft-sector/history").status_code == 404
    for role in (Role.contributor, Role.editor):
        assert len(history(api, "sectors", "draft-sector", role)) == 1
    for role in (None, Role.editor):
        response = api.get("/v1/sectors/no-such-sector/history", headers=api.auth(role))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.get("/v1/sectors/5g/history?limit=0").status_code == 422
    assert api.get("/v1/sectors/5g/history?cursor=garbage").status_code == 400


def test_every_resource_keeps_history(api, contributor, editor):
    for resource in RESOURCES:
        slug = SEEDED[resource]
        seeded = history(api, resource, slug, None)
        assert seeded[-1]["action"] == "create"
        assert seeded[0]["version"] == read(api, resource, slug).json()["version"]

        response = api.patch(
            f"/v1/{resource}/{slug}",
            json=patch_body(resource),
            headers={**contributor, **if_match(read(api, resource, slug).headers["etag"])},
        )
        assert response.status_code == 200
        items = history(api, resource, slug, None)
        assert items[1:] == seeded
        field, value = next(iter(patch_body(resource).items()))
        assert items[0]["actor"] == "test-contributor"
        assert items[0]["action"] == "update"
        assert items[0]["changes"][field]["after"] == value
        assert items[0]["version"] == response.json()["version"]


# --- as_of -----------------------------------------------------------------------------------


def test_as_of_returns_the_record_as_it_was(api, contributor, editor):
    path = "/v1/initiatives/timeline-plan"
    states = []  # (response body, ETag) after each write
    created = api.post(
        "/v1/initiatives",
        json=create_body("initiatives", "timeline-plan", name="First name"),
        headers=contributor,
    )
    states.append(created)
    states.append(
        api.patch(
            path,
            json={"name": "Second name"},
            headers={**contributor, **if_match(created.headers["etag"])},
        )
    )
    states.append(api.post(f"{path}/publish", headers=editor))
    states.append(
        api.patch(
            path,
            json={"name": "Third name", "status": "active"},
            headers={**editor, **if_match(states[-1].headers["etag"])},
        )
    )
    assert [s.status_code for s in states] == [201, 200, 200, 200]
    assert api.delete(path, headers={**editor, "If-Match": "*"}).status_code == 204

    times = [r["at"] for r in reversed(history(api, "initiatives", "timeline-plan"))]
    assert len(times) == 5  # create, update, publish, update, delete
    first = parse_time(times[0])

    def expect(when: str, index: int | None, role: Role | None = Role.editor) -> None:
        response = as_of(api, "initiatives", "timeline-plan", when, role)
        if index is None:
            assert response.status_code == 404, (when, response.text)
            return
        assert response.status_code == 200, (when, response.text)
        assert response.json() == states[index].json(), when
        assert response.headers["etag"] == states[index].headers["etag"]

    expect((first - timedelta(seconds=1)).isoformat(), None)  # before it existed
    for index in range(4):
        expect(times[index], index)  # at the very moment of a change: the change counts
        expect(midpoint(times[index], times[index + 1]), index)
    expect(times[4], None)  # deleted then
    expect(datetime.now(UTC).isoformat(), None)

    # the same instants, written with other offsets and as RFC 3339 with Z
    between = parse_time(midpoint(times[1], times[2]))
    beijing = between.astimezone(timezone(timedelta(hours=8))).isoformat()
    new_york = between.astimezone(timezone(timedelta(hours=-5))).isoformat()
    zulu = between.isoformat().replace("+00:00", "Z")
    for when in (beijing, new_york, zulu):
        expect(when, 1)
    assert as_of(api, "initiatives", "timeline-plan", beijing).json()["name"] == "Second name"

    # anonymous readers see it as of the times it was published, and only those
    expect(midpoint(times[0], times[1]), None, None)
    expect(midpoint(times[1], times[2]), None, None)
    expect(midpoint(times[2], times[3]), 2, None)
    expect(midpoint(times[3], times[4]), 3, None)


def test_as_of_now_is_the_current_record(api, editor):
    now = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    for resource in RESOURCES:
        for slug in listed(api, resource, Role.editor):
            current = read(api, resource, slug)
            then = as_of(api, resource, slug, now)
            assert then.status_code == 200, (resource, slug)
            assert then.json() == current.json(), (resource, slug)

    for bad in ("yesterday", "2025-13-01T00:00:00Z", ""):
        response = as_of(api, "initiatives", "made-in-china-2025", bad)
        assert response.status_code == 422, bad
        assert response.headers["content-type"].startswith("application/problem+json")
    old = as_of(api, "initiatives", "made-in-china-2025", "1999-01-01T00:00:00Z")
    assert old.status_code == 404
    assert as_of(api, "initiatives", "no-such-plan", "2030-01-01T00:00:00Z").status_code == 404


def test_a_change_that_shows_in_other_records_is_in_their_history(api, editor):
    citer = "biden-tough-on-china-policy"
    cases = [
        ("organizations", "us-government", {"name": "US government (renamed)"}, "organizations"),
        ("initiatives", "us-tariffs-on-chinese-exports", {"name": "Tariffs (new)"}, "related"),
        ("sources", SOURCE, {"title": "Techno-nationalism (renamed)"}, "evidence"),
    ]
    failures = []
    for resource, slug, change, field in cases:
        before = read(api, "initiatives", citer).json()
        response = api.patch(
            f"/v1/{resource}/{slug}", json=change, headers={**editor, "If-Match": "*"}
        )
        assert response.status_code == 200, response.text
        after = read(api, "initiatives", citer).json()
        assert after[field] != before[field]  # the citing record shows the change...
        if after["version"] != before["version"] + 1:  # ...so it is a new version of it
            failures.append(f"{resource} {slug}: {citer} stayed at version {before['version']}")
        now = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        if as_of(api, "initiatives", citer, now).json() != after:
            failures.append(f"{resource} {slug}: {citer} as_of now is not the current record")
    assert not failures, "\n".join(failures)


# --- a failed write leaves neither a change nor a revision -----------------------------------

MADE = "/v1/initiatives/made-in-china-2025"
CURRENT = "current"  # placeholder: the record's current ETag
STALE = '"1-000000000000"'
ANY = "*"
C, E = Role.contributor, Role.editor
NEW = "/v1/initiatives"
FAILED_WRITES = [
    # (what, method, path, body, If-Match, role, status)
    ("422 out of range", "PATCH", MADE, {"start_year": 1800}, CURRENT, C, 422),
    ("422 null name", "PATCH", MADE, {"name": None}, CURRENT, C, 422),
    ("422 unknown field", "PATCH", MADE, {"colour": "red"}, CURRENT, E, 422),
    (
        "422 self-publish",
        "PATCH",
        "/v1/initiatives/unsourced",
        {"review_status": "published"},
        ANY,
        C,
        422,
    ),
    ("422 bad link", "PATCH", MADE, {"sectors": ["5g", "no-such-sector"]}, CURRENT, E, 422),
    ("422 years", "PATCH", MADE, {"start_year": 2030, "end_year": 2020}, CURRENT, E, 422),
    (
        "422 bad evidence",
        "PATCH",
        MADE,
        {"name": "New", "evidence": [{"source": SOURCE, "excerpt": "nope"}]},
        CURRENT,
        E,
        422,
    ),
    (
        "422 related to itself",
        "PATCH",
        MADE,
        {"related": [{"slug": "made-in-china-2025", "relation": "part_of"}]},
        CURRENT,
        E,
        422,
    ),
    ("412 stale patch", "PATCH", MADE, {"name": "New"}, STALE, C, 412),
    ("412 stale delete", "DELETE", MADE, None, STALE, E, 412),
    ("412 stale retract", "POST", MADE + "/retract", None, STALE, E, 412),
    ("412 junk If-Match", "PATCH", MADE, {"name": "New"}, '"garbage"', E, 412),
    ("428 patch", "PATCH", MADE, {"name": "New"}, None, C, 428),
    ("428 delete", "DELETE", MADE, None, None, E, 428),
    ("403 delete", "DELETE", MADE, None, CURRENT, C, 403),
    ("403 retract", "POST", MADE + "/retract", None, None, C, 403),
    ("403 publish", "POST", "/v1/initiatives/unsourced/publish", None, None, C, 403),
    ("401 anonymous", "PATCH", MADE, {"name": "New"}, CURRENT, None, 401),
    ("409 sector in use", "DELETE", "/v1/sectors/5g", None, ANY, E, 409),
    ("409 no evidence", "POST", "/v1/initiatives/unsourced/publish", None, None, E, 409),
    ("409 slug taken", "POST", NEW, create_body("initiatives", "made-in-china-2025"), None, C, 409),
    (
        "422 create link",
        "POST",
        NEW,
        create_body("initiatives", "new-plan", organizations=[{"slug": "nobody", "role": "lead"}]),
        None,
        C,
        422,
    ),
    (
        "422 create field",
        "POST",
        NEW,
        create_body("initiatives", "new-plan", country="China"),
        None,
        C,
        422,
    ),
    ("413 too large", "PATCH", MADE, {"summary": "x" * (1024 * 1024 + 1)}, ANY, E, 413),
]


def test_a_failed_write_leaves_no_change_and_no_revision(api, contributor):
    draft = create_body("initiatives", "unsourced", evidence=[])
    assert api.post("/v1/initiatives", json=draft, headers=contributor).status_code == 201
    watched = [("initiatives", "made-in-china-2025"), ("initiatives", "unsourced")]
    watched.append(("sectors", "5g"))
    records = {w: read(api, *w) for w in watched}
    histories = {w: len(history(api, *w)) for w in watched}
    state = database_state(api.db.engine)
    failures = []

    for what, method, path, body, etag, role, status in FAILED_WRITES:
        headers = api.auth(role)
        if etag is not None:
            current = records[("initiatives", "made-in-china-2025")].headers["etag"]
            headers["If-Match"] = current if etag == CURRENT else etag
        response = api.request(method, path, json=body, headers=headers)
        if response.status_code != status:
            failures.append(f"{what}: {response.status_code}, expected {status}: {response.text}")
            continue
        if not response.headers["content-type"].startswith("application/problem+json"):
            failures.append(f"{what}: not problem+json")
        if status == 422 and not response.json().get("errors"):
            failures.append(f"{what}: a 422 without its errors list")
        for w in watched:
            if read(api, *w).json() != records[w].json():
                failures.append(f"{what}: {w} changed")
            if read(api, *w).headers["etag"] != records[w].headers["etag"]:
                failures.append(f"{what}: the ETag of {w} changed")
            if len(history(api, *w)) != histories[w]:
                failures.append(f"{what}: {w} got a revision")
        if database_state(api.db.engine) != state:
            failures.append(f"{what}: the database changed")
    assert not failures, "\n".join(failures)

    # a failed create burns no slug
    retry = api.post(NEW, json=create_body("initiatives", "new-plan"), headers=contributor)
    assert retry.status_code == 201, retry.text


def test_a_change_is_not_kept_without_its_revision(api, contributor, editor, monkeypatch):
    """If writing the revision fails, the change it describes is rolled back with it."""

    def revision_store_down(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("revision store down")

    any_version = {"If-Match": "*"}
    gone = create_body("initiatives", "to-restore")
    assert api.post("/v1/initiatives", json=gone, headers=contributor).status_code == 201
    assert (
        api.delete("/v1/initiatives/to-restore", headers={**editor, **any_version}).status_code
        == 204
    )
    state = database_state(api.db.engine)
    monkeypatch.setattr(resource_service, "record_revision", revision_store_down)
    attempts = [
        ("POST", "/v1/initiatives", create_body("initiatives", "unrecorded"), contributor),
        ("PATCH", MADE, {"name": "Unrecorded"}, {**contributor, **any_version}),
        ("POST", MADE + "/retract", None, editor),
        ("DELETE", MADE, None, {**editor, **any_version}),
        ("POST", "/v1/initiatives/to-restore/restore", None, editor),
    ]
    for method, path, body, headers in attempts:
        response = api.request(method, path, json=body, headers=headers)
        assert response.status_code == 500, (method, path, response.text)
        assert database_state(api.db.engine) == state, (method, path)
    monkeypatch.undo()
    assert read(api, "initiatives", "made-in-china-2025", None).status_code == 200
    assert read(api, "initiatives", "unrecorded").status_code == 404


def test_a_revision_is_not_kept_without_its_change(api, contributor, editor, monkeypatch):
    """If the write fails after its revision was written, the revision goes too."""

    real_record_revision = resource_service.record_revision

    def fail_late(*args: Any, **kwargs: Any) -> None:
        real_record_revision(*args, **kwargs)
        raise RuntimeError("failed after the revision was written")

    state = database_state(api.db.engine)
    total = revision_total(api.db.engine)
    monkeypatch.setattr(resource_service, "record_revision", fail_late)
    body = create_body(
        "initiatives",
        "late-failure",
        related=[{"slug": "made-in-china-2025", "relation": "implements"}],
    )
    assert api.post("/v1/initiatives", json=body, headers=contributor).status_code == 500
    patched = api.patch(MADE, json={"name": "Late"}, headers={**editor, "If-Match": "*"})
    assert patched.status_code == 500
    deleted = api.delete(MADE, headers={**editor, "If-Match": "*"})
    assert deleted.status_code == 500
    assert api.post(MADE + "/retract", headers=editor).status_code == 500
    assert revision_total(api.db.engine) == total
    assert database_state(api.db.engine) == state
    monkeypatch.undo()
    # nothing was burned: the slug is still free
    assert api.post("/v1/initiatives", json=body, headers=contributor).status_code == 201
