"""The query language: parsing, errors, and the compiled expressions run on both index kinds."""

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.search.normalize import normalize
from api.search.query import (
    MAX_QUERY_LENGTH,
    MAX_TERMS,
    HighlightTerm,
    Query,
    QueryError,
    parse_query,
)

# --- parsing and compiling -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "fts5", "tsquery"),
    [
        ("juguo", '("juguo"* OR "ju guo")', "('juguo':* | ('ju' <-> 'guo'))"),
        ("Jǔguó", '("juguo"* OR "ju guo")', "('juguo':* | ('ju' <-> 'guo'))"),
        ("semicond", '"semicond"*', "'semicond':*"),
        ("举国", '"举 国"', "('举' <-> '国')"),
        ("国", '"国"', "'国'"),
        ('"dual circulation"', '"dual circulation"', "('dual' <-> 'circulation')"),
        ("dual -circulation", '("dual"*) NOT ("circulation"*)', "('dual':*) & !('circulation':*)"),
        ('a -"b c" -d', '("a") NOT ("b c" OR "d")', "('a') & !(('b' <-> 'c') | 'd')"),
        ("5g 4g OR 3g", '"5g" AND ("4g" OR "3g")', "'5g' & ('4g' | '3g')"),
        (
            "abcd bcde OR cdef",
            '"abcd"* AND ("bcde"* OR "cdef"*)',
            "'abcd':* & ('bcde':* | 'cdef':*)",
        ),
        ("the", '"the"', "'the'"),
        ("nv", '("nv" OR "nu")', "('nv' | 'nu')"),
        ("5G", '"5g"', "'5g'"),
        ("5GXY", '"5gxy"*', "'5gxy':*"),
        ("ai", '"ai"', "'ai'"),
    ],
)
def test_compile(q: str, fts5: str, tsquery: str) -> None:
    query = parse_query(q)
    assert query.to_fts5() == fts5
    assert query.to_tsquery() == tsquery


def test_han_in_a_quoted_phrase_is_cut_where_the_index_puts_pinyin() -> None:
    # Indexed: "举 国 体 制 ju guo ti zhi system"; the pinyin sits between 制 and system.
    query = parse_query('"the 举国体制 system"')
    assert query.to_fts5() == '("the 举 国 体 制" AND "system")'


def test_punctuation_inside_a_word_separates_like_a_space() -> None:
    assert parse_query("made-in-china").to_fts5() == f"({parse_query('made in china').to_fts5()})"


@pytest.mark.parametrize(
    ("q", "same_as"),
    [
        ("OR a", "a"),
        ("a OR", "a"),
        ("a OR OR b", "a OR b"),
        ("a OR -b", "a -b"),
        ("a OR ! b", "a OR b"),  # "!" is no term, so it does not stand between a and b
        ("a or b", "a or b"),
    ],
)
def test_or_only_joins_two_terms(q: str, same_as: str) -> None:
    assert parse_query(q) == parse_query(same_as)


def test_lower_case_or_is_a_word() -> None:
    assert parse_query("a or b").to_fts5() == '"a" AND "or" AND "b"'


def test_curly_and_full_width_quotes_make_phrases() -> None:
    assert parse_query("“dual circulation”") == parse_query('"dual circulation"')
    assert parse_query("＂dual circulation＂") == parse_query('"dual circulation"')


def test_highlight_terms_leave_out_exclusions() -> None:
    assert parse_query("juguo 举国 -semiconductor").highlight_terms == (
        HighlightTerm(("juguo",), prefix=True),
        HighlightTerm(("ju", "guo")),
        HighlightTerm(("举", "国")),
    )


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "no words"),
        ("  !!! 😀 ", "no words"),
        ('""', "no words"),
        ("-dual", "add at least one word"),
        ('-"dual circulation" -x', "add at least one word"),
        ("x" * (MAX_QUERY_LENGTH + 1), "at most 512 characters"),
        ("a " * (MAX_TERMS + 1), "at most 32"),
        ("国" * 65, "at most 64"),
    ],
)
def test_query_errors(q: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as caught:
        parse_query(q)
    assert isinstance(caught.value, ValueError)
    assert message in caught.value.message


# --- the expressions against real indexes ----------------------------------------------------

RECORDS = {
    "juguo": (
        "Jǔguó system",
        "举国体制; whole-nation system",
        "The state pools resources behind strategic technology goals.",
    ),
    "dual": (
        "Dual Circulation Strategy",
        "国内国际双循环",
        "Domestic demand leads while China stays open to foreign trade.",
    ),
    "mic": (
        "Made in China 2025",
        "中国制造2025",
        "An industrial plan for ten high-technology sectors.",
    ),
    "chips": (
        "Semiconductor self-reliance",
        "",
        "State funds invest in semiconductors and dual-use integrated circuits.",
    ),
}

EXPECTED = [
    ("Jǔguó", {"juguo"}),
    ("juguo", {"juguo"}),
    ("ju guo", {"juguo"}),
    ("JU GUO", {"juguo"}),
    ("举国体制", {"juguo"}),
    ("举国", {"juguo"}),
    ("双循环", {"dual"}),
    ("shuang xunhuan", {"dual"}),
    ("shuangxunhuan", {"dual"}),
    ("made in china", {"mic"}),
    ("made-in-china", {"mic"}),
    ("zhongguo zhizao", {"mic"}),
    ("2025", {"mic"}),
    ("semicond", {"chips"}),
    ('"dual circulation"', {"dual"}),
    ('"circulation dual"', set()),
    ("dual -circulation", {"chips"}),
    ("dual OR jǔguó", {"dual", "chips", "juguo"}),
    ("state -举国", {"chips"}),
    ('"举国体制 whole"', {"juguo"}),
    ("制体", set()),  # never adjacent in this order
    ("xyzzy", set()),
]

HOSTILE = [
    "",
    " ",
    '"',
    '""',
    '"""',
    '"unbalanced phrase',
    'a"b',
    "*",
    "**",
    "a*",
    "*a",
    "NEAR(",
    "NEAR(a b, 2)",
    "a NEAR b",
    "AND",
    "OR",
    "NOT",
    "a AND",
    "a NOT b",
    "NOT a",
    ":",
    "a:",
    "names:x",
    "body : x",
    "- names:x",
    "^a",
    "+a",
    "{a b}",
    "(",
    ")",
    "(a OR b)",
    "a ) OR ( b",
    "'",
    "''",
    "'a'",
    "a'b",
    "'; drop table x; --",
    '"; DROP TABLE search_fts; --',
    "SELECT * FROM search_fts",
    "&",
    "|",
    "!",
    "<->",
    "a & b",
    "a | !b",
    "'a':*",
    "a:*B",
    "\\",
    '\\"',
    "a\\",
    "%",
    "_",
    "$1",
    "?",
    "-",
    "--",
    "- -a",
    '-"',
    '-""',
    '-"a b" c',
    "😀",
    "😀 a 🇨🇳",
    "\x00",
    "a\x00b",
    "\x01\x02\x1b[31m",
    "\u200b\u200d\ufeff",
    "\ud800 lone surrogate",
    "\u0301",
    "e\u0301",
    "举",
    "𠀀",
    "\U0003134b",  # in a CJK block, unassigned
    "한국어 ひらがな русский",
    "ｆｕｌｌ－ｗｉｄｔｈ",
    "1e5",
    "0x1f",
    "a" * 512,
    "x" * 10_000,
    "a " * 200,
    "国" * 200,
    "OR " * 100,
    "a -b " * 20,
    # At the limits: as large as an accepted query gets.
    " ".join(["shuangxunhuan"] * MAX_TERMS),
    " OR ".join(["juguo"] * MAX_TERMS),
    "国" * 64,
    '"' + "x " * 64,
    " ".join(f"w{i} -v{i}" for i in range(MAX_TERMS // 2)),
]

# A hundred generated strings of the syntax's own characters and some troublemakers.
SYNTAX = st.text(alphabet=list(" \"'-*:()^+!&|<>\\aORNTDEjuguo举国😀\x00é"), max_size=40)


Search = Callable[[Query], set[str]]  # runs a query on an index, gives the keys found


def _matches(search: Search, q: str) -> set[str] | None:
    """The keys ``q`` finds, or None when it is a QueryError (the only acceptable failure)."""
    try:
        query = parse_query(q)
    except QueryError:
        return None
    return search(query)


@pytest.fixture(scope="module")
def sqlite_search() -> Iterator[Search]:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5("
        "names, aliases, body, tokenize='unicode61 remove_diacritics 2')"
    )
    keys = list(RECORDS)
    db.executemany(
        "INSERT INTO search_fts(rowid, names, aliases, body) VALUES (?, ?, ?, ?)",
        [(rowid, *map(normalize, RECORDS[key])) for rowid, key in enumerate(keys)],
    )

    def fts5(query: Query) -> set[str]:
        sql = "SELECT rowid FROM search_fts WHERE search_fts MATCH ?"
        rows = db.execute(sql, (query.to_fts5(),))
        return {keys[rowid] for (rowid,) in rows}

    yield fts5
    db.close()


PG_ADMIN = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
).replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="module")
def pg_search() -> Iterator[Search]:
    """A throwaway PostgreSQL database holding the records; dropped afterwards."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        reason = "PostgreSQL not reachable: " + " ".join(str(exc).split())[:100]
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs PostgreSQL: {reason}")
        pytest.skip(reason)
    name = f"pt_search_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            with psycopg.connect(PG_ADMIN, dbname=name, autocommit=True) as db:
                yield _load_pg(db)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _load_pg(db: psycopg.Connection) -> Search:
    # The same generated column as the search index of migration 0003 (a gap between fields).
    db.execute(
        """CREATE TABLE search_document (
            key text PRIMARY KEY, names text NOT NULL, aliases text NOT NULL, body text NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (ts_filter(
                setweight(to_tsvector('simple', names), 'A') || 'x:1'::tsvector
                || setweight(to_tsvector('simple', aliases), 'B') || 'x:1'::tsvector
                || setweight(to_tsvector('simple', body), 'C'),
                '{a,b,c}'
            )) STORED
        )"""
    )
    with db.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO search_document VALUES (%s, %s, %s, %s)",
            [(key, *map(normalize, fields)) for key, fields in RECORDS.items()],
        )

    def tsquery(query: Query) -> set[str]:
        rows = db.execute(
            "SELECT key FROM search_document WHERE tsv @@ to_tsquery('simple', %s)",
            (query.to_tsquery(),),
        )
        return {key for (key,) in rows}

    return tsquery


@pytest.fixture(params=["sqlite", "postgresql"])
def search(request: pytest.FixtureRequest) -> Search:
    """Each index kind in turn."""
    fixture = "sqlite_search" if request.param == "sqlite" else "pg_search"
    run: Search = request.getfixturevalue(fixture)
    return run


@pytest.mark.parametrize(("q", "expected"), EXPECTED)
def test_finds_the_expected_records(search: Search, q: str, expected: set[str]) -> None:
    assert _matches(search, q) == expected


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_input_compiles_or_is_a_query_error(search: Search, q: str) -> None:
    _matches(search, q)  # a database error would raise here


def test_generated_syntax_soup_never_breaks_the_index(search: Search) -> None:
    @settings(max_examples=100, deadline=None, database=None)
    @given(SYNTAX)
    def check(q: str) -> None:
        _matches(search, q)

    check()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_compiles_for_fts5(q: str) -> None:
    # Without a database: a compiled expression must still parse in FTS5.
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    try:
        expression = parse_query(q).to_fts5()
    except QueryError:
        return
    db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


def test_query_is_a_plain_value() -> None:
    assert isinstance(parse_query("a"), Query)
    assert parse_query("a") == parse_query("A")
    assert hash(parse_query("a b"))


def test_compile_for_a_column_filter_and_outside_it() -> None:
    query = parse_query("made china -plan")
    columns = ("names", "aliases")
    positive = '("made"* OR "ma de") AND ("china"* OR "chi na")'
    assert query.to_fts5(columns) == f'({{names aliases}} : ({positive})) NOT ("plan"*)'
    assert query.to_fts5(columns, outside=True) == (
        f'({positive}) NOT ({{names aliases}} : ({positive}) OR "plan"*)'
    )
    assert (
        query.to_tsquery_included()
        == "('made':* | ('ma' <-> 'de')) & ('china':* | ('chi' <-> 'na'))"
    )
    assert query.to_tsquery_excluded() == "'plan':*"
    assert parse_query("china").to_tsquery_excluded() is None


def test_highlight_groups_hold_each_word_with_its_pinyin() -> None:
    groups = parse_query("juguo 举国 -x").highlight_groups
    assert groups == (
        (HighlightTerm(("juguo",), prefix=True), HighlightTerm(("ju", "guo"))),
        (HighlightTerm(("举", "国")),),
    )
