"""GET /v1/search and the q filter of /v1/initiatives, through HTTP, on SQLite and PostgreSQL.

Expected records come from fixtures/*.yaml and seeds/*.yaml (read by the helpers), never from the
application's code: where a query has a simple exact meaning (a run of Chinese characters, an
English word prefix) the expected set is worked out from the fixture texts independently.
Tests that only read share one seeded database per kind; tests that write get their own.
"""

import html
import json
import re
import shutil
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from api.cli import app as cli
from api.config import Settings, get_settings
from api.main import create_app
from tests.api_helpers import (
    PROBLEM,
    SOURCE,
    assert_problem,
    create_published,
    delete,
    excerpt_quote,
    fixture,
    initiative,
    listed,
    ok,
    patch,
    read,
)
from tests.conftest import PG_ADMIN_URL, Api, Database, Template, _pg_admin

Key = tuple[str, str]  # (type, slug)
MARK = re.compile(r"<mark>(.*?)</mark>")
RESOURCES = {"initiative": "initiatives", "sector": "sectors", "organization": "organizations"}

# --- a seeded database per kind, shared by the tests that only read ---------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def reader(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, run_id: str
) -> Iterator[Api]:
    fixture_name = "sqlite_template" if request.param == "sqlite" else "pg_template"
    template: Template = request.getfixturevalue(fixture_name)
    pg_name = None
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("search") / "read.db"
        shutil.copyfile(make_url(template.url).database or "", path)
        url = f"sqlite:///{path}"
    else:
        pg_name = f"pt_test_{run_id}_search_{uuid.uuid4().hex[:8]}"
        with _pg_admin() as admin:
            admin.execute(
                f'CREATE DATABASE "{pg_name}" TEMPLATE "{make_url(template.url).database}"'
            )
        url = make_url(PG_ADMIN_URL).set(database=pg_name).render_as_string(hide_password=False)
    application = create_app(Settings(database_url=url))
    try:
        with Api(application, raise_server_exceptions=False) as client:
            client.keys = template.keys
            client.db = Database(request.param, url, template.keys, application.state.engine)
            yield client
    finally:
        application.state.engine.dispose()
        if pg_name:
            with _pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


# --- what the fixtures say -------------------------------------------------------------------


@cache
def records() -> dict[Key, dict[str, Any]]:
    """Every seeded record (all are published) by (type, slug)."""
    return {
        (kind, record["slug"]): record
        for kind, resource in RESOURCES.items()
        for record in fixture(resource)
    }


def texts(key: Key) -> list[str]:
    """Every searchable text of a record as written: names, aliases, prose, cited quotes."""
    record = records()[key]
    prose = record.get("summary") or record.get("description") or ""
    quotes = [excerpt_quote(e["excerpt"]) for e in record["evidence"]]
    return [record["name"], record.get("name_zh") or "", *record.get("aliases", []), prose, *quotes]


def folded(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def containing(han: str) -> set[Key]:
    """Records with this run of Chinese characters in any of their texts."""
    return {key for key in records() if any(han in t for t in texts(key))}


def with_word_starting(prefix: str) -> set[Key]:
    """Records with a word that begins with ``prefix`` (case and accents aside)."""
    pattern = re.compile(r"(?<![a-z0-9])" + re.escape(prefix))
    return {key for key in records() if any(pattern.search(folded(t)) for t in texts(key))}


def name_words(key: Key) -> list[str]:
    record = records()[key]
    names = [record["name"], record.get("name_zh") or "", *record.get("aliases", [])]
    return re.findall(r"[a-z0-9]+", folded(" ".join(names)))


def citing(excerpt: str) -> set[Key]:
    return {
        key
        for key, record in records().items()
        if any(e["excerpt"] == excerpt for e in record["evidence"])
    }


# --- calling the API -------------------------------------------------------------------------


def search(api: Api, q: str, **params: Any) -> dict[str, Any]:
    """One page of results (the envelope checked)."""
    resp = api.get("/v1/search", params={"q": q, **params})
    body: dict[str, Any] = ok(resp)
    assert set(body) == {"items", "total", "next_cursor", "facets"}
    assert set(body["facets"]) == {"type", "sector", "country", "kind"}
    for item in body["items"]:
        assert set(item) == {"type", "slug", "name", "name_zh", "snippet", "score"}
        assert isinstance(item["score"], float)
    return body


def walk(api: Api, q: str, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every hit by following next_cursor: (the hits, the pages)."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        resp = api.get(
            "/v1/search", params={"q": q, **params, **({"cursor": cursor} if cursor else {})}
        )
        body = ok(resp)
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in resp.headers
            break
        assert resp.headers["link"].endswith('rel="next"')
        assert len(pages) < 100, "the walk does not end"
    return [item for page in pages for item in page["items"]], pages


def found(api: Api, q: str, **params: Any) -> set[Key]:
    """Every hit of a query (one page of up to 200)."""
    body = search(api, q, limit=200, **params)
    assert body["next_cursor"] is None
    keys = [(item["type"], item["slug"]) for item in body["items"]]
    assert len(keys) == len(set(keys)) == body["total"]
    return set(keys)


def first(api: Api, q: str) -> Key:
    items = search(api, q, limit=5)["items"]
    assert items, f"nothing found for {q!r}"
    return items[0]["type"], items[0]["slug"]


def plain(snippet: str) -> str:
    """The snippet's text as a reader sees it."""
    return html.unescape(MARK.sub(r"\1", snippet))


# --- the queries people type (the "Why") ----------------------------------------------

JUGUO = ("initiative", "juguo-system")
DUAL = ("initiative", "dual-circulation-strategy")
MIC = ("initiative", "made-in-china-2025")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("Jǔguó", JUGUO),
        ("juguo", JUGUO),
        ("ju guo", JUGUO),
        ("举国体制", JUGUO),
        ("举国", JUGUO),
        ("dual circulation", DUAL),
        ("双循环", DUAL),
        ("shuang xunhuan", DUAL),
        ("shuangxunhuan", DUAL),
        ("made in china", MIC),
        ("semicond", ("sector", "semiconductors")),
    ],
)
def test_the_queries_people_type_find_the_expected_record_first(
    reader: Api, q: str, expected: Key
) -> None:
    assert first(reader, q) == expected


# --- folding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "same_as"),
    [
        ("JǓGUÓ", "juguo"),
        ("Jùguō", "juguo"),
        ("jǔguó tǐzhì", "juguo tizhi"),
        ("Shuāng Xúnhuán", "shuang xunhuan"),
        ("MERCANTILIST", "mercantilist"),
        ("mercántilist", "mercantilist"),
        ("ＷＴＯ", "wto"),  # full width
        ("Techno\u0301logy", "technology"),  # a combining accent
    ],
)
def test_case_accents_and_tones_do_not_matter(reader: Api, q: str, same_as: str) -> None:
    expected = found(reader, same_as)
    assert expected
    assert found(reader, q) == expected


# --- exact match sets, worked out from the fixtures --------------------------------------------


@pytest.mark.parametrize(
    "q", ["举", "国", "循", "举国", "制造", "科学", "双循环", "举国体制", "国内国际"]
)
def test_chinese_characters_match_as_written(reader: Api, q: str) -> None:
    expected = containing(q)
    assert expected
    assert found(reader, q) == expected


@pytest.mark.parametrize("q", ["semicond", "mercantil", "tariff", "olympic", "blueprint", "Beij"])
def test_english_words_match_every_word_they_begin(reader: Api, q: str) -> None:
    expected = with_word_starting(folded(q))
    assert expected
    assert found(reader, q) == expected


def with_word(word: str) -> set[Key]:
    """Records with this whole word (case and accents aside)."""
    pattern = re.compile(r"(?<![a-z0-9])" + re.escape(word) + r"(?![a-z0-9])")
    return {key for key in records() if any(pattern.search(folded(t)) for t in texts(key))}


@pytest.mark.parametrize("q", ["US", "ip", "the"])
def test_words_of_up_to_three_characters_match_whole_words_only(reader: Api, q: str) -> None:
    expected = with_word(folded(q))
    assert expected
    if q != "the":  # (every record with a word beginning "the" has "the" too)
        assert expected != with_word_starting(folded(q)), "pick a word that begins longer ones"
    assert found(reader, q) == expected
    assert ("sector", "5g") in found(reader, "5G")


def test_characters_that_are_never_adjacent_in_that_order_match_nothing(reader: Api) -> None:
    assert containing("制体") == set()
    body = search(reader, "制体")
    assert body["items"] == [] and body["total"] == 0 and body["next_cursor"] is None
    assert body["facets"] == {"type": {}, "sector": {}, "country": {}, "kind": {}}


@pytest.mark.parametrize(
    ("pinyin", "han"),
    [
        ("juguo", "举国"),
        ("ju guo", "举国"),
        ("juguo tizhi", "举国体制"),
        ("shuangxunhuan", "双循环"),
        ("shuang xunhuan", "双循环"),
        ("zhongguo zhizao", "中国制造"),
        ("zhongguozhizao", "中国制造"),
        ("guonei guoji", "国内国际"),
    ],
)
def test_pinyin_with_or_without_spaces_finds_the_characters(
    reader: Api, pinyin: str, han: str
) -> None:
    assert containing(han) <= found(reader, pinyin)


# --- query syntax ----------------------------------------------------------------------------


def test_several_words_must_all_match(reader: Api) -> None:
    both = found(reader, "china plan")
    assert both
    assert both == found(reader, "china") & found(reader, "plan")


def test_minus_excludes(reader: Api) -> None:
    assert found(reader, "china -plan") == found(reader, "china") - found(reader, "plan")
    assert DUAL not in found(reader, "strategy -circulation")
    assert JUGUO not in found(reader, 'system -"whole nation"')


def test_or_offers_alternatives(reader: Api) -> None:
    either = found(reader, "juguo OR 双循环")
    assert either == found(reader, "juguo") | found(reader, "双循环")
    assert {JUGUO, DUAL} <= either


def test_a_quoted_phrase_needs_its_words_in_that_order(reader: Api) -> None:
    assert DUAL in found(reader, '"dual circulation"')
    assert found(reader, '"circulation dual"') == set()
    assert JUGUO in found(reader, "“whole nation”")  # curly quotes from a phone keyboard
    assert found(reader, '"dual circulation"') <= found(reader, "dual circulation")


def test_a_phrase_does_not_run_from_one_field_into_the_next(reader: Api) -> None:
    # The name of Made in China 2025 ends with 2025 and its aliases begin with MIC2025; its
    # aliases end with 2025 and its summary begins "A ten-year ...". Not phrases of the record.
    assert MIC in found(reader, "2025 mic2025")
    assert found(reader, '"2025 mic2025"') == set()
    assert found(reader, '"2025 a ten year"') == set()
    assert MIC in found(reader, '"a ten year"')


# --- ranking and snippets --------------------------------------------------------------------


@pytest.mark.parametrize(
    "q", ["education", "tariffs", "communist", "circulation", "science", "whole nation", "mic"]
)
def test_a_record_named_so_comes_before_one_that_only_mentions_it(reader: Api, q: str) -> None:
    hits = search(reader, q, limit=200)["items"]
    named = [
        i
        for i, hit in enumerate(hits)
        if all(
            any(w.startswith(word) for w in name_words((hit["type"], hit["slug"])))
            for word in q.split()
        )
    ]
    assert named, f"no record is named {q!r}"
    assert named == list(range(len(named))), "a record named so comes after one that is not"


def test_scores_fall_from_the_first_hit_to_the_last(reader: Api) -> None:
    hits, _ = walk(reader, "china", limit=7)
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(score >= 0 for score in scores)


def test_the_snippet_marks_the_name_as_written(reader: Api) -> None:
    hit = search(reader, "juguo")["items"][0]
    assert hit["name"] == "Jǔguó system" and hit["name_zh"] == "举国体制"
    assert hit["snippet"] == "<mark>Jǔguó</mark> system"
    assert search(reader, "举国")["items"][0]["snippet"] == "<mark>举国</mark>体制"


def own_texts(key: Key) -> list[str]:
    """A record's texts other than the quotes it cites."""
    return texts(key)[: len(texts(key)) - len(records()[key]["evidence"])]


def test_the_snippet_comes_from_the_field_that_matched(reader: Api) -> None:
    # Only a quote speaks of the "backbone" of China's technology industry.
    quote = excerpt_quote("juguo-national-mobilisation")
    assert not any("backbone" in t for key in records() for t in own_texts(key))
    hits = search(reader, "backbone industry", limit=200)["items"]
    assert {(h["type"], h["slug"]) for h in hits} == citing("juguo-national-mobilisation")
    for hit in hits:
        assert (
            "the <mark>backbone</mark> of China’s technology <mark>industry</mark>"
            in hit["snippet"]
        )
        assert plain(hit["snippet"]).strip("…") in quote
    # Where the summary and a quote both match as well, the summary (weighing more) is shown.
    hit = next(h for h in search(reader, "olympic gold")["items"] if h["slug"] == JUGUO[1])
    assert "<mark>Olympic</mark> <mark>gold</mark>" in hit["snippet"]
    assert plain(hit["snippet"]).strip("…") in records()[JUGUO]["summary"]
    # An alias match shows the aliases.
    hit = search(reader, "whole nation")["items"][0]
    assert (hit["type"], hit["slug"]) == JUGUO
    assert "<mark>whole</mark>-<mark>nation</mark> system" in hit["snippet"]


def test_snippets_are_escaped_html_with_only_the_marks_as_tags(reader: Api) -> None:
    hit = next(h for h in search(reader, "tough on china")["items"] if "Biden" in h["name"])
    assert '"tough on China"' in hit["name"]
    snippet = hit["snippet"]
    assert "&quot;<mark>tough</mark> <mark>on</mark> <mark>China</mark>&quot;" in snippet
    assert "<" not in MARK.sub("", snippet) and '"' not in snippet
    assert plain(snippet) == hit["name"]
    for item in search(reader, "china", limit=200)["items"]:
        assert "<" not in MARK.sub("", item["snippet"])
        assert "<mark>" in item["snippet"]


# --- facets, narrowing and pages -------------------------------------------------------------


def expected_facets(keys: set[Key]) -> dict[str, Counter[str]]:
    facets: dict[str, Counter[str]] = {f: Counter() for f in ("type", "sector", "country", "kind")}
    for key in keys:
        record = records()[key]
        facets["type"][key[0]] += 1
        facets["kind"][record["kind"]] += 1
        if record.get("country"):
            facets["country"][record["country"]] += 1
        if key[0] == "initiative":
            facets["sector"].update(record["sectors"])
    return facets


@pytest.mark.parametrize("q", ["china", "technology", "国", "plan OR strategy"])
def test_facets_count_the_whole_result_set(reader: Api, q: str) -> None:
    hits, pages = walk(reader, q, limit=4)
    keys = {(h["type"], h["slug"]) for h in hits}
    assert len(keys) == len(hits) == pages[0]["total"]
    for page in pages:
        assert {f: Counter(v) for f, v in page["facets"].items()} == expected_facets(keys)
        assert page["total"] == pages[0]["total"]
    facets = pages[0]["facets"]
    for counts in facets.values():  # largest first
        assert list(counts.values()) == sorted(counts.values(), reverse=True)


def test_facet_counts_equal_what_the_filtered_lists_give(reader: Api) -> None:
    facets = search(reader, "china")["facets"]
    initiatives = listed(reader, "initiatives", q="china")
    assert facets["type"]["initiative"] == len(initiatives)
    assert facets["sector"]
    for sector, count in facets["sector"].items():
        assert len(listed(reader, "initiatives", q="china", sector=sector)) == count
    initiative_kinds = {r["kind"] for r in fixture("initiatives")}
    for kind, count in facets["kind"].items():
        if kind in initiative_kinds:
            assert len(listed(reader, "initiatives", q="china", kind=kind)) == count


@pytest.mark.parametrize(
    "params",
    [
        {"type": "initiative"},
        {"type": "sector,organization"},
        {"type": ["sector", "organization"]},
        {"type": ["organization", " initiative , sector"]},
    ],
)
def test_type_narrows_the_results_and_the_facets(reader: Api, params: dict[str, Any]) -> None:
    everything = found(reader, "china")
    raw = params["type"] if isinstance(params["type"], list) else [params["type"]]
    wanted = {t.strip() for value in raw for t in value.split(",")}
    narrowed = found(reader, "china", **params)
    assert narrowed == {key for key in everything if key[0] in wanted}
    body = search(reader, "china", **params)
    assert {f: Counter(v) for f, v in body["facets"].items()} == expected_facets(narrowed)
    assert body["total"] == len(narrowed)


@pytest.mark.parametrize("value", ["initiatives", "source", "initiative,bogus", "x" * 300])
def test_an_unknown_type_is_a_422_naming_type(reader: Api, value: str) -> None:
    assert_problem(
        reader.get("/v1/search", params={"q": "china", "type": value}), 422, loc=["query", "type"]
    )


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_pages_hold_every_hit_once_in_order(reader: Api, limit: int) -> None:
    everything = search(reader, "china", limit=200)["items"]
    hits, pages = walk(reader, "china", limit=limit)
    assert hits == everything
    assert all(len(page["items"]) == limit for page in pages[:-1])
    assert 0 < len(pages[-1]["items"]) <= limit


def test_the_link_header_leads_to_the_next_page(reader: Api) -> None:
    resp = reader.get("/v1/search", params={"q": "china", "limit": 3, "type": "initiative"})
    body = ok(resp)
    url = re.fullmatch(r"<([^>]+)>; rel=\"next\"", resp.headers["link"])
    assert url, resp.headers["link"]
    following = ok(reader.get(url.group(1)))
    again = ok(
        reader.get(
            "/v1/search",
            params={"q": "china", "limit": 3, "type": "initiative", "cursor": body["next_cursor"]},
        )
    )
    assert following == again
    assert {i["slug"] for i in following["items"]}.isdisjoint({i["slug"] for i in body["items"]})


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "e30", "eyJzIjogIngiLCAidiI6IFtdfQ", "%%%", "a" * 1999],
)
def test_a_cursor_that_is_not_ours_is_a_400(reader: Api, cursor: str) -> None:
    resp = reader.get("/v1/search", params={"q": "china", "cursor": cursor})
    assert_problem(resp, 400, loc=["query", "cursor"])


def test_a_cursor_from_another_search_is_a_400(reader: Api) -> None:
    cursor = search(reader, "china", limit=1)["next_cursor"]
    assert cursor
    for params in ({"q": "plan"}, {"q": "china", "type": "initiative"}):
        resp = reader.get("/v1/search", params={**params, "limit": 1, "cursor": cursor})
        assert_problem(resp, 400, loc=["query", "cursor"])


# --- bad and hostile input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({}, ["query", "q"]),
        ({"q": ""}, ["query", "q"]),
        ({"q": "  !!! "}, ["query", "q"]),
        ({"q": "-china"}, ["query", "q"]),
        ({"q": "x" * 10_240}, ["query", "q"]),
        ({"q": "china", "limit": 0}, ["query", "limit"]),
        ({"q": "china", "limit": 201}, ["query", "limit"]),
        ({"q": "china", "bogus": 1}, ["query", "bogus"]),
    ],
)
def test_bad_parameters_are_a_422_naming_them(
    reader: Api, params: dict[str, Any], loc: list[str]
) -> None:
    assert_problem(reader.get("/v1/search", params=params), 422, loc=loc)


HOSTILE = [
    '"',
    '"unbalanced phrase',
    'china "',
    "*",
    "**",
    "chin*",
    "*china",
    "NEAR(",
    "NEAR(china plan, 2)",
    "china NEAR plan",
    "AND",
    "OR",
    "NOT",
    "china AND",
    "NOT china",
    "china NOT plan",
    "(",
    ")",
    "(china OR plan",
    "names:china",
    "{names aliases}: china",
    "- names:china",
    "^china",
    "+china",
    "china:*",
    "'china':*A",
    "china & plan | !wto",
    "<->",
    "china <-> plan",
    "'",
    "'; DROP TABLE search_document; --",
    '"; DROP TABLE search_fts; --',
    "SELECT * FROM search_fts WHERE 1=1",
    "1' OR '1'='1",
    "\\",
    "china\\",
    "%",
    "_",
    "$1",
    "?",
    "--",
    "- -china",
    '-""',
    '"" china',
    "x" * 512,
    "china " * 60,
    "国" * 100,
    "OR " * 100,
    "china -plan " * 20,
    "😀",
    "😀 china 🇨🇳",
    "\x00",
    "china\x00plan",
    "\x01\x02\x1b[31m china",
    "\u200b\u200d\ufeff",
    "\u0301",
    "𠀀",
    "한국어 ひらがな русский",
    "ｆｕｌｌ－ｗｉｄｔｈ",
]


@pytest.mark.parametrize("q", HOSTILE)
@pytest.mark.parametrize("path", ["/v1/search", "/v1/initiatives"])
def test_any_input_gives_results_or_a_422_never_a_500(reader: Api, q: str, path: str) -> None:
    resp = reader.get(path, params={"q": q})
    assert resp.status_code in (200, 422), f"{resp.status_code}: {resp.text[:300]}"
    if resp.status_code == 422:
        assert_problem(resp, 422, loc=["query", "q"])
    else:
        assert resp.json()["total"] == len(resp.json()["items"]) or resp.json()["next_cursor"]


@pytest.mark.parametrize("raw", ["%FF%FE", "%C0%80", "%ED%A0%80", "%00", "china%F0%9F"])
def test_bytes_that_are_not_utf8_give_results_or_a_422(reader: Api, raw: str) -> None:
    for path in ("/v1/search", "/v1/initiatives"):
        resp = reader.get(f"{path}?q={raw}")
        assert resp.status_code in (200, 422), f"{resp.status_code}: {resp.text[:300]}"
        if resp.status_code == 422:
            assert resp.headers["content-type"].startswith(PROBLEM)


# --- q on the initiative list ----------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        {"country": "US"},
        {"kind": "policy"},
        {"kind": ["plan", "strategy"]},
        {"status": "active"},
        {"sector": "semiconductors"},
        {"organization": "government-of-china"},
        {"start_year_min": 2015},
        {"active_in": 2020},
    ],
)
def test_q_on_the_initiative_list_combines_with_every_filter(
    reader: Api, filters: dict[str, Any]
) -> None:
    with_q = set(listed(reader, "initiatives", q="china"))
    with_filters = set(listed(reader, "initiatives", **filters))
    both = listed(reader, "initiatives", q="china", **filters)
    assert both == sorted(with_q & with_filters)


def test_q_on_the_initiative_list_matches_what_search_finds(reader: Api) -> None:
    for q in ("juguo", "举国", "made in china", "semicond", "china -plan", '"dual circulation"'):
        expected = {slug for kind, slug in found(reader, q) if kind == "initiative"}
        assert set(listed(reader, "initiatives", q=q)) == expected


def test_q_on_the_initiative_list_keeps_its_sort_and_pages(reader: Api) -> None:
    everything = listed(reader, "initiatives", q="china", sort="-start_year")
    assert len(everything) > 3
    body = ok(
        reader.get("/v1/initiatives", params={"q": "china", "limit": 2, "sort": "-start_year"})
    )
    assert [i["slug"] for i in body["items"]] == everything[:2]
    assert body["total"] == len(everything)


@pytest.mark.parametrize("q", ["", "-china", "x" * 10_240, '""'])
def test_a_bad_q_on_the_initiative_list_is_a_422_naming_it(reader: Api, q: str) -> None:
    assert_problem(reader.get("/v1/initiatives", params={"q": q}), 422, loc=["query", "q"])


def test_search_is_documented(reader: Api) -> None:
    schema = ok(reader.get("/openapi.json"))
    operation = schema["paths"]["/v1/search"]["get"]
    assert operation["operationId"] == "search"
    assert operation["summary"]
    ok_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema["$ref"].endswith("/SearchPage")
    page = schema["components"]["schemas"]["SearchPage"]
    assert set(page["properties"]) == {"items", "total", "next_cursor", "facets"}
    assert page.get("examples")
    for status in ("400", "422"):
        assert PROBLEM in operation["responses"][status]["content"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "type", "limit", "cursor"}


# --- the index follows every write (each test on its own database) -----------------------------


def keys_of(api: Api, q: str) -> set[Key]:
    return found(api, q)


def test_create_publish_update_retract_and_delete(api: Api, editor: dict[str, str]) -> None:
    payload = initiative("zorblax-plan", name="Zorblax Plan", summary="Quuxification of widgets.")
    ok(api.post("/v1/initiatives", json=payload, headers=editor), 201)
    assert keys_of(api, "zorblax") == set(), "a draft is not searchable"
    drafts = listed(api, "initiatives", editor, q="zorblax", review_status="draft")
    assert drafts == ["zorblax-plan"], "editors find drafts with q"
    ok(api.post("/v1/initiatives/zorblax-plan/publish", headers=editor))
    assert first(api, "zorblax") == ("initiative", "zorblax-plan")
    assert ("initiative", "zorblax-plan") in keys_of(api, "quuxif")
    ok(patch(api, "initiatives", "zorblax-plan", {"name": "Frobnitz Plan"}, editor))
    assert keys_of(api, "zorblax") == set()
    hit = search(api, "frobnitz")["items"][0]
    assert hit["slug"] == "zorblax-plan" and hit["snippet"] == "<mark>Frobnitz</mark> Plan"
    ok(api.post("/v1/initiatives/zorblax-plan/retract", headers=editor))
    assert keys_of(api, "frobnitz") == set(), "a retracted record is not searchable"
    ok(api.post("/v1/initiatives/zorblax-plan/publish", headers=editor))
    assert keys_of(api, "frobnitz") == {("initiative", "zorblax-plan")}
    assert delete(api, "initiatives", "zorblax-plan", editor).status_code == 204
    assert keys_of(api, "frobnitz") == set()
    everything = ["draft", "published", "retracted"]
    assert listed(api, "initiatives", editor, q="frobnitz", review_status=everything) == []


def test_sectors_and_organizations_are_indexed_on_every_change(
    api: Api, editor: dict[str, str]
) -> None:
    ok(patch(api, "sectors", "semiconductors", {"name": "Microchips"}, editor))
    assert first(api, "microchips") == ("sector", "semiconductors")
    aliases = [
        *read(api, "organizations", "chinese-communist-party")[0]["aliases"],
        "Dangzhongyang",
    ]
    ok(patch(api, "organizations", "chinese-communist-party", {"aliases": aliases}, editor))
    assert first(api, "dangzhongyang") == ("organization", "chinese-communist-party")
    create_published(
        api,
        "sectors",
        {
            "slug": "quantum-computing",
            "name": "Quantum computing",
            "name_zh": "量子计算",
            "kind": "technology",
            "description": "Computers built on qubits.",
            "evidence": [{"source": SOURCE, "excerpt": "gpt-innovation-gap"}],
        },
        editor,
    )
    assert first(api, "量子") == ("sector", "quantum-computing")
    assert first(api, "liangzi jisuan") == ("sector", "quantum-computing")


def test_an_edited_excerpt_is_searchable_in_every_record_citing_it(
    api: Api, editor: dict[str, str]
) -> None:
    source, _ = read(api, "sources", SOURCE)
    excerpts = [
        {k: e[k] for k in ("id", "quote", "locator")}
        | ({"quote": e["quote"] + " Zyzzyva."} if e["id"] == "state-capital-for-gpts" else {})
        for e in source["excerpts"]
    ]
    ok(patch(api, "sources", SOURCE, {"excerpts": excerpts}, editor))
    expected = citing("state-capital-for-gpts")
    assert len(expected) >= 2
    hits = search(api, "zyzzyva", limit=200)["items"]
    assert {(h["type"], h["slug"]) for h in hits} == expected
    assert all("<mark>Zyzzyva</mark>" in h["snippet"] for h in hits)


def test_deleting_a_source_drops_its_quotes_from_the_records(
    api: Api, editor: dict[str, str]
) -> None:
    assert keys_of(api, "backbone") == citing("juguo-national-mobilisation")
    resp = delete(api, "sources", SOURCE, editor, detach="true")
    assert resp.status_code == 204
    assert keys_of(api, "backbone") == set()
    assert JUGUO in keys_of(api, "juguo"), "the record itself stays searchable"


def _cite_a_draft_source(api: Api, editor: dict[str, str]) -> None:
    source = {
        "slug": "draft-report",
        "title": "A report still in review",
        "excerpts": [{"id": "x1", "quote": "Xylophonic industrial policy, not yet published."}],
    }
    ok(api.post("/v1/sources", json=source, headers=editor), 201)
    citations = [
        {"source": SOURCE, "excerpt": "juguo-system"},
        {"source": "draft-report", "excerpt": "x1"},
    ]
    create_published(
        api, "initiatives", initiative("xylo-plan", name="Xylo Plan", evidence=citations), editor
    )


def test_quotes_are_searchable_while_their_source_is_published(
    api: Api, editor: dict[str, str]
) -> None:
    _cite_a_draft_source(api, editor)
    assert keys_of(api, "xylo") == {("initiative", "xylo-plan")}
    assert keys_of(api, "xylophonic") == set(), "a draft source's quotes are not searchable"
    ok(api.post("/v1/sources/draft-report/publish", headers=editor))
    hit = search(api, "xylophonic")["items"][0]
    assert hit["slug"] == "xylo-plan" and "<mark>Xylophonic</mark>" in hit["snippet"]
    ok(api.post("/v1/sources/draft-report/retract", headers=editor))
    assert keys_of(api, "xylophonic") == set()
    assert "Xylophonic" not in search(api, "xylo")["items"][0]["snippet"]


def test_an_import_is_indexed(api: Api, editor: dict[str, str]) -> None:
    lines = [
        {
            "resource": "initiatives",
            "record": initiative(
                "wombat-programme", name="Wombat Programme", review_status="published"
            ),
        },
        {
            "resource": "initiatives",
            "record": initiative("numbat-draft", name="Numbat Draft", review_status="draft"),
        },
    ]
    made_in_china, _ = read(api, "initiatives", "made-in-china-2025")
    made_in_china["summary"] += " Quokka."
    lines.append({"resource": "initiatives", "record": made_in_china})
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    resp = api.post(
        "/v1/import",
        content=body.encode(),
        headers={**editor, "Content-Type": "application/x-ndjson"},
    )
    ok(resp)
    assert first(api, "wombat") == ("initiative", "wombat-programme")
    assert keys_of(api, "numbat") == set()
    assert keys_of(api, "quokka") == {MIC}


QUERIES = ["juguo", "举国", "made in china", "china", "semicond", "olympic", "国"]


def test_reindex_rebuilds_the_index_from_scratch(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = {q: search(api, q, limit=200) for q in QUERIES}
    with api.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM search_document"))
    assert search(api, "juguo")["total"] == 0
    monkeypatch.setenv("TRACKER_DATABASE_URL", api.db.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["reindex"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    indexed = int(result.stdout.split(":")[1])
    assert indexed == len(records())
    for q, expected in before.items():
        assert search(api, q, limit=200) == expected
