"""The HTTP behaviour every resource shares, on SQLite and PostgreSQL: the list envelope, limits,
the Link header, cursors, ETag / If-None-Match, If-Match (428, 412, racing clients), problem+json
for every kind of error (404 route, 405, 422, 413, 500), CORS, and UTF-8 bodies."""

import base64
import re
import threading
from typing import Any

import orjson
import pytest

from api import resource as service
from tests.api_helpers import (
    RESOURCES,
    SOURCE,
    assert_problem,
    by_slug,
    history,
    initiative,
    listed,
    ok,
    patch,
    read,
    seeded_fixtures,
    slugs,
    snapshot,
)

seeded, seeded_editor, seeded_contributor = seeded_fixtures()
ORIGIN = "https://app.example.org"  # the frontend origin the test settings allow
# One seeded record of each resource.
ONE = {
    "initiatives": "made-in-china-2025",
    "sectors": "new-materials",
    "organizations": "ministry-of-science-and-technology",
    "sources": SOURCE,
}
TOTALS = {
    "initiatives": len(by_slug("initiatives")),
    "sectors": len(by_slug("sectors")),
    "organizations": len(by_slug("organizations")),
    "sources": 1,
}


def cursor_of(data: Any) -> str:
    """A cursor made by hand, in the shape the API's own cursors have (base64url JSON)."""
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def next_link(resp: Any) -> str | None:
    link = resp.headers.get("link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


# --- the list envelope, limits, the Link header -------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_following_link_headers_walks_every_record_once(seeded, resource):
    everything = listed(seeded, resource)
    assert len(everything) == TOTALS[resource]
    url: str | None = f"/v1/{resource}?limit=5"
    seen: list[str] = []
    while url:
        resp = seeded.get(url)
        body = ok(resp)
        assert body["total"] == TOTALS[resource]
        assert len(body["items"]) <= 5
        seen += slugs(body["items"])
        url = next_link(resp)
        assert (url is None) == (body["next_cursor"] is None)
        if url:
            assert f"cursor={body['next_cursor']}" in url
    assert seen == everything


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
def test_limit_out_of_range_is_a_422(seeded, limit):
    resp = seeded.get("/v1/initiatives", params={"limit": limit})
    assert_problem(resp, 422, loc=["query", "limit"])


def test_limit_defaults_to_20_and_goes_up_to_200(api, editor):
    for n in range(6):
        payload = {"slug": f"extra-sector-{n}", "name": f"Extra {n}", "kind": "industry"}
        ok(api.post("/v1/sectors", json=payload, headers=editor), 201)
    params = {"review_status": ["draft", "published"]}
    resp = api.get("/v1/sectors", params=params, headers=editor)
    body = ok(resp)
    assert body["total"] == TOTALS["sectors"] + 6 == 22
    assert len(body["items"]) == 20
    assert body["next_cursor"]
    assert next_link(resp)
    body = ok(api.get("/v1/sectors", params={**params, "limit": 200}, headers=editor))
    assert len(body["items"]) == 22
    assert body["next_cursor"] is None


@pytest.mark.parametrize("resource", RESOURCES)
def test_every_list_sorts_both_ways_and_refuses_unknown_fields(seeded, resource):
    ascending = listed(seeded, resource, sort="slug")
    assert ascending == sorted(ascending)
    assert listed(seeded, resource, sort="-slug") == list(reversed(ascending))
    assert listed(seeded, resource, sort="updated_at,slug") != []
    resp = seeded.get(f"/v1/{resource}", params={"sort": "-shoe_size"})
    body = assert_problem(resp, 422, loc=["query", "sort"], mentions=["shoe_size"])
    # The problem says which fields can be used.
    assert "slug" in body["errors"][0]["msg"]


def test_unknown_query_parameter_is_a_422_naming_it(seeded):
    resp = seeded.get("/v1/sectors", params={"colour": "red"})
    assert_problem(resp, 422, loc=["query", "colour"])


# --- cursors -----------------------------------------------------------------------------

GARBAGE_CURSORS = [
    "garbage",
    "!!!not-base64!!!",
    "é",
    base64.urlsafe_b64encode(b"not json").decode(),
    cursor_of(["slug", ["a"]]),
    cursor_of({"s": "slug"}),
    cursor_of({"s": "slug", "v": "a"}),
    cursor_of({"s": "slug", "v": ["a", "b"]}),
    cursor_of({"s": "slug", "v": [7]}),
    cursor_of({"s": "name,slug", "v": ["Made in China 2025", "made-in-china-2025"]}),
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
def test_garbage_cursor_is_a_400_problem(seeded, cursor):
    resp = seeded.get("/v1/initiatives", params={"cursor": cursor})
    assert_problem(resp, 400, loc=["query", "cursor"])


@pytest.mark.parametrize(
    ("sort", "values"),
    [
        ("start_year", ["2015", "made-in-china-2025"]),
        ("start_year", [True, "made-in-china-2025"]),
        ("created_at", ["yesterday", "made-in-china-2025"]),
        ("created_at", [12, "made-in-china-2025"]),
    ],
)
def test_cursor_with_values_of_the_wrong_type_is_a_400_problem(seeded, sort, values):
    cursor = cursor_of({"s": f"{sort},slug", "v": values})
    resp = seeded.get("/v1/initiatives", params={"sort": sort, "cursor": cursor})
    assert_problem(resp, 400, loc=["query", "cursor"])


def test_cursor_from_another_sort_or_resource_page_is_refused(seeded):
    first = ok(seeded.get("/v1/initiatives", params={"sort": "-start_year", "limit": 3}))
    cursor = first["next_cursor"]
    assert cursor
    for params in ({}, {"sort": "start_year"}, {"sort": "-start_year,name"}):
        resp = seeded.get("/v1/initiatives", params={**params, "cursor": cursor})
        assert_problem(resp, 400, loc=["query", "cursor"])
    assert_problem(seeded.get("/v1/sectors", params={"cursor": cursor}), 400)
    # The same cursor with its own sort goes on where the first page ended.
    rest = ok(seeded.get("/v1/initiatives", params={"sort": "-start_year", "cursor": cursor}))
    assert len(first["items"]) + len(rest["items"]) == TOTALS["initiatives"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_garbage_cursor_on_every_list_and_history(seeded, resource):
    assert_problem(seeded.get(f"/v1/{resource}", params={"cursor": "xyz"}), 400)
    resp = seeded.get(f"/v1/{resource}/{ONE[resource]}/history", params={"cursor": "xyz"})
    assert_problem(resp, 400)


@pytest.mark.parametrize(
    ("sort", "values"),
    [
        ("start_year", [2**64 - 1, "made-in-china-2025"]),
        ("start_year", [2**40, "made-in-china-2025"]),
        ("slug", ["made\u0000in-china"]),
    ],
    ids=["int-over-64-bits", "int-over-32-bits", "nul-in-text"],
)
def test_tampered_cursor_with_values_out_of_range_is_a_400_not_a_500(seeded, sort, values):
    cursor = cursor_of({"s": sort if sort == "slug" else f"{sort},slug", "v": values})
    resp = seeded.get("/v1/initiatives", params={"sort": sort, "cursor": cursor})
    assert_problem(resp, 400, loc=["query", "cursor"])


# --- ETag and If-None-Match --------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_if_none_match_gives_304_for_the_current_etag_only(seeded, resource):
    url = f"/v1/{resource}/{ONE[resource]}"
    resp = seeded.get(url)
    assert resp.status_code == 200
    etag = resp.headers["etag"]
    assert re.fullmatch(r'"[^"]+"', etag), etag
    assert seeded.get(url).headers["etag"] == etag  # stable while nothing changes
    for header in (etag, f"W/{etag}", "*", f'"stale", {etag}'):
        resp = seeded.get(url, headers={"If-None-Match": header})
        assert resp.status_code == 304, header
        assert resp.content == b""
        assert resp.headers["etag"] == etag
    for header in ('"0-000000000000"', '"stale"'):
        resp = seeded.get(url, headers={"If-None-Match": header})
        assert resp.status_code == 200
        assert resp.json()["slug"] == ONE[resource]


def test_etag_changes_with_the_record_and_old_one_no_longer_matches(api, editor):
    url = "/v1/initiatives/juguo-system"
    old = api.get(url).headers["etag"]
    changed = patch(api, "initiatives", "juguo-system", {"summary": "New summary."}, editor)
    assert changed.status_code == 200
    new = changed.headers["etag"]
    assert new != old
    assert api.get(url).headers["etag"] == new
    assert api.get(url, headers={"If-None-Match": old}).status_code == 200
    assert api.get(url, headers={"If-None-Match": new}).status_code == 304


# --- If-Match: 428, 412 ------------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_writes_without_if_match_get_428_and_stale_ones_412(seeded, seeded_editor, resource):
    url = f"/v1/{resource}/{ONE[resource]}"
    record, etag = read(seeded, resource, ONE[resource])
    change = {"name_zh": "改"} if resource != "sources" else {"title": "Changed"}
    before = snapshot(seeded, seeded_editor)
    revisions = history(seeded, resource, ONE[resource])
    assert_problem(seeded.patch(url, json=change, headers=seeded_editor), 428)
    assert_problem(seeded.delete(url, headers=seeded_editor), 428)
    stale = f'"{record["version"] - 1}-000000000000"'
    for if_match in (stale, f"W/{stale}", '"999-000000000000"', "nonsense"):
        headers = {**seeded_editor, "If-Match": if_match}
        assert_problem(seeded.patch(url, json=change, headers=headers), 412)
        assert_problem(seeded.delete(url, headers=headers), 412)
        assert_problem(seeded.post(f"{url}/retract", headers=headers), 412)
    assert snapshot(seeded, seeded_editor) == before
    assert history(seeded, resource, ONE[resource]) == revisions
    assert read(seeded, resource, ONE[resource]) == (record, etag)


def test_two_clients_patching_the_same_version_one_wins_one_gets_412(api, editor, contributor):
    url = "/v1/initiatives/juguo-system"
    record, etag = read(api, "initiatives", "juguo-system")
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def client(name: str, headers: dict[str, str]) -> None:
        barrier.wait()
        results[name] = api.patch(
            url, json={"summary": f"Written by {name}."}, headers={**headers, "If-Match": etag}
        )

    threads = [
        threading.Thread(target=client, args=("editor", editor)),
        threading.Thread(target=client, args=("contributor", contributor)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 412], {k: (r.status_code, r.text[:200]) for k, r in results.items()}
    winner = next(name for name, r in results.items() if r.status_code == 200)
    loser = next(name for name, r in results.items() if r.status_code == 412)
    assert_problem(results[loser], 412)
    after, new_etag = read(api, "initiatives", "juguo-system")
    assert after["summary"] == f"Written by {winner}."
    assert after["version"] == record["version"] + 1
    top = history(api, "initiatives", "juguo-system")[0]
    assert top["changes"]["summary"]["after"] == f"Written by {winner}."
    # The loser reads again and reapplies; a delete with the first ETag is refused too.
    assert_problem(api.delete(url, headers={**editor, "If-Match": etag}), 412)
    headers = {**editor, "If-Match": new_etag}
    resp = api.patch(url, json={"summary": f"Written by {loser}."}, headers=headers)
    assert ok(resp)["version"] == record["version"] + 2
    # If-Match: * means "whatever the version".
    resp = api.patch(url, json={"summary": "Any version."}, headers={**editor, "If-Match": "*"})
    assert ok(resp)["summary"] == "Any version."


# --- problem+json for every error --------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/nope", "/v2/initiatives", "/v1/initiatives/a/b/c"])
def test_unknown_route_is_a_404_problem(seeded, path):
    assert_problem(seeded.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/initiatives/made-in-china-2025"),
        ("DELETE", "/v1/initiatives"),
        ("PATCH", "/v1/sectors"),
        ("POST", "/v1/organizations/caltech"),
    ],
)
def test_wrong_method_is_a_405_problem_with_allow(seeded, seeded_editor, method, path):
    resp = seeded.request(method, path, headers=seeded_editor, json={})
    assert_problem(resp, 405)
    assert "GET" in resp.headers["allow"]


def test_malformed_json_and_wrong_body_types_are_422_problems(seeded, seeded_editor):
    before = snapshot(seeded, seeded_editor)
    headers = {**seeded_editor, "Content-Type": "application/json"}
    for content in (b'{"slug": "x-y", ', b"[1, 2]", b'"a string"', b"", '{"slug": "中"}'.encode()):
        resp = seeded.post("/v1/sectors", content=content, headers=headers)
        body = assert_problem(resp, 422)
        assert body["errors"], content
        assert all(e["loc"][0] == "body" for e in body["errors"]), content
    assert snapshot(seeded, seeded_editor) == before


def test_bodies_over_1_mib_get_413_and_nothing_is_written(seeded, seeded_editor):
    before = snapshot(seeded, seeded_editor)
    big = {"slug": "big-sector", "name": "Big", "kind": "industry", "description": "x" * 2**20}
    resp = seeded.post("/v1/sectors", json=big, headers=seeded_editor)
    assert_problem(resp, 413)

    def chunks():  # no Content-Length: the size is counted as it streams in
        yield b'{"slug": "big-sector", "name": "Big", "kind": "industry", "description": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    headers = {**seeded_editor, "Content-Type": "application/json"}
    resp = seeded.post("/v1/sectors", content=chunks(), headers=headers)
    assert_problem(resp, 413)
    _, etag = read(seeded, "sectors", "new-materials")
    resp = seeded.patch(
        "/v1/sectors/new-materials",
        json={"description": big["description"]},
        headers={**headers, "If-Match": etag},
    )
    assert_problem(resp, 413)
    assert snapshot(seeded, seeded_editor) == before
    assert_problem(seeded.get("/v1/sectors/big-sector", headers=seeded_editor), 404)
    # Just under the limit the body is read and judged on its content (too long a field).
    near = {**big, "description": "x" * (2**20 - 200)}
    assert_problem(seeded.post("/v1/sectors", json=near, headers=seeded_editor), 422)


def test_auth_errors_are_problems(seeded, seeded_contributor):
    resp = seeded.post("/v1/sectors", json={})
    assert_problem(resp, 401)
    assert resp.headers["www-authenticate"].lower().startswith("bearer")
    resp = seeded.post("/v1/sectors", json={}, headers={"Authorization": "Basic abc"})
    assert_problem(resp, 401)
    resp = seeded.delete(
        "/v1/sectors/new-materials", headers={**seeded_contributor, "If-Match": "*"}
    )
    assert_problem(resp, 403)
    assert ok(seeded.get("/v1/sectors/new-materials"))["slug"] == "new-materials"


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("secret detail from /srv/app/internal.py")


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("read_record", "/v1/initiatives/made-in-china-2025"),
        ("list_records", "/v1/sectors"),
    ],
)
def test_unexpected_errors_are_500_problems_without_internals(seeded, monkeypatch, target, path):
    monkeypatch.setattr(service, target, _boom)
    seeded.app.state.query_cache.clear()  # computed afresh, not served from an earlier test
    resp = seeded.get(path)
    body = assert_problem(resp, 500)
    text = resp.text
    for leak in ("Traceback", "RuntimeError", "secret detail", "internal.py", 'File "'):
        assert leak not in text, leak
    assert set(body) <= {"type", "title", "status", "detail", "instance"}


def test_a_write_that_fails_half_way_is_rolled_back(seeded, seeded_editor, monkeypatch):
    before = snapshot(seeded, seeded_editor)
    # The revision is written after the record and its links: fail there.
    monkeypatch.setattr(service, "record_revision", _boom)
    payload = initiative("half-written", related=[{"slug": "juguo-system", "relation": "part_of"}])
    assert_problem(seeded.post("/v1/initiatives", json=payload, headers=seeded_editor), 500)
    change = {"summary": "Half-written.", "sectors": ["5g"]}
    resp = patch(seeded, "initiatives", "made-in-china-2025", change, seeded_editor)
    assert_problem(resp, 500)
    monkeypatch.undo()
    assert snapshot(seeded, seeded_editor) == before
    assert_problem(seeded.get("/v1/initiatives/half-written", headers=seeded_editor), 404)


def test_a_500_can_be_read_by_the_frontend(seeded, monkeypatch):
    monkeypatch.setattr(service, "read_record", _boom)
    resp = seeded.get("/v1/initiatives/made-in-china-2025", headers={"Origin": ORIGIN})
    assert_problem(resp, 500)
    assert resp.headers.get("access-control-allow-origin") == ORIGIN


# --- CORS --------------------------------------------------------------------------------


def test_cors_preflight_allows_the_configured_origin_to_write(seeded):
    resp = seeded.options(
        "/v1/initiatives/made-in-china-2025",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    methods = {m.strip() for m in resp.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in resp.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "if-match", "if-none-match"} <= allowed
    assert int(resp.headers["access-control-max-age"]) > 0


def test_cors_exposes_etag_link_location_and_request_id(seeded):
    resp = seeded.get("/v1/initiatives", params={"limit": 2}, headers={"Origin": ORIGIN})
    ok(resp)
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip().lower() for h in resp.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "link", "location", "x-request-id"} <= exposed
    assert "origin" in resp.headers["vary"].lower()
    resp = seeded.get("/v1/initiatives/juguo-system", headers={"Origin": ORIGIN})
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    assert resp.headers["etag"]
    # Errors carry CORS headers too, so the frontend can read the problem.
    resp = seeded.get("/v1/initiatives/no-such", headers={"Origin": ORIGIN})
    assert_problem(resp, 404)
    assert resp.headers["access-control-allow-origin"] == ORIGIN


def test_cors_ignores_other_origins(seeded):
    resp = seeded.get("/v1/initiatives/juguo-system", headers={"Origin": "https://evil.example"})
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers
    resp = seeded.options(
        "/v1/initiatives",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in resp.headers


def test_refused_preflight_is_a_problem(seeded):
    resp = seeded.options(
        "/v1/initiatives",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status_code >= 400
    assert_problem(resp, resp.status_code)


# --- UTF-8 bodies, Chinese characters unescaped ------------------------------------------


def test_chinese_characters_are_sent_unescaped(seeded):
    for path, text in (
        ("/v1/initiatives/made-in-china-2025", "中国制造2025"),
        ("/v1/initiatives?limit=200", "举国体制"),
        ("/v1/sectors/new-materials", "新材料"),
        ("/v1/organizations?kind=ministry", "科学技术部"),
        (f"/v1/sources/{SOURCE}", "国内国际双循环"),
    ):
        resp = seeded.get(path)
        ok(resp)
        assert text.encode("utf-8") in resp.content, path
        assert b"\\u" not in resp.content, path
        content_type = resp.headers["content-type"].lower()
        assert content_type.startswith("application/json")
        assert "charset" not in content_type or "charset=utf-8" in content_type
    resp = seeded.get("/v1/initiatives/中国制造")
    assert_problem(resp, 404)
    assert "中国制造".encode() in resp.content
    assert b"\\u" not in resp.content


def test_chinese_text_round_trips_through_a_write(api, editor):
    payload = initiative("quantum-plan", name="Quantum plan", name_zh="量子信息科学国家战略")
    resp = api.post("/v1/initiatives", json=payload, headers=editor)
    assert "量子信息科学国家战略".encode() in resp.content
    assert ok(resp, 201)["name_zh"] == "量子信息科学国家战略"
    resp = patch(api, "initiatives", "quantum-plan", {"aliases": ["量子战略"]}, editor)
    assert "量子战略".encode() in resp.content
    record = ok(api.get("/v1/initiatives/quantum-plan", headers=editor))
    assert (record["name_zh"], record["aliases"]) == ("量子信息科学国家战略", ["量子战略"])
