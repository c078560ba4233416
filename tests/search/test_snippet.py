"""Snippets: the original text around the first match, matches marked, the rest escaped."""

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.search.query import parse_query
from api.search.snippet import ELLIPSIS, best_snippet, make_snippet

JUGUO = (
    "The Jǔguó system (举国体制, “whole-nation system”) pools state resources "
    "<b>behind</b> strategic goals such as semiconductors & AI."
)
DUAL = "Under the dual circulation strategy (国内国际双循环), demand at home leads. " * 4
MARK = re.compile(r"</?mark>")


def snippet(text: str, q: str, width: int = 160) -> str:
    return make_snippet(text, parse_query(q), width)


def plain(result: str) -> str:
    return html.unescape(MARK.sub("", result))


@pytest.mark.parametrize(
    ("q", "marked"),
    [
        ("juguo", ["Jǔguó", "举国"]),
        ("ju guo", ["举国"]),  # two-letter words match whole words only: ju is not juguo
        ("JǓGUÓ", ["Jǔguó", "举国"]),
        ("举国", ["举国"]),
        ("举国体制", ["举国体制"]),
        ("tizhi", ["体制"]),
        ("semicond", ["semiconductors"]),
        ('"whole nation"', ["whole-nation"]),
        ("ai", ["AI"]),
        ("state -semiconductors", ["state"]),
    ],
)
def test_marks_matches_as_written(q: str, marked: list[str]) -> None:
    assert re.findall("<mark>(.*?)</mark>", snippet(JUGUO, q)) == marked


def test_escapes_the_text_but_not_the_marks() -> None:
    result = snippet(JUGUO, "semicond")
    assert "&lt;b&gt;behind&lt;/b&gt;" in result
    assert "&amp; AI." in result
    assert "<b>" not in result


def test_cuts_a_window_around_the_first_match_on_word_boundaries() -> None:
    result = snippet(DUAL, "shuangxunhuan", width=60)
    assert result.startswith(ELLIPSIS)
    assert result.endswith(ELLIPSIS)
    assert "国内国际<mark>双循环</mark>" in result
    visible = plain(result).strip(ELLIPSIS)
    assert len(visible) <= 60
    assert visible in DUAL
    words = DUAL.split()
    assert visible.split()[0] in words  # no word cut in half at either end
    assert visible.split()[-1] in words


def test_the_first_match_is_shown_even_far_into_the_text() -> None:
    text = "Filler words here. " * 40 + "The Jǔguó system."
    result = snippet(text, "juguo", width=50)
    assert "<mark>Jǔguó</mark>" in result
    assert result.startswith(ELLIPSIS)
    assert not result.endswith(ELLIPSIS)


def test_text_without_a_match_gives_its_start() -> None:
    result = snippet(DUAL, "xyzzy", width=40)
    assert "<mark>" not in result
    assert result.endswith(ELLIPSIS)
    assert DUAL.startswith(plain(result).removesuffix(ELLIPSIS))


def test_short_text_is_whole() -> None:
    assert snippet("Made in China 2025", "china") == "Made in <mark>China</mark> 2025"
    assert snippet("", "china") == ""


def test_touching_marks_merge_and_blanks_collapse() -> None:
    assert snippet("中国\n\n\t制造\x00 plan", "zhong guo") == "<mark>中国</mark> 制造 plan"
    assert snippet("a \ud800 b", "b") == "a <mark>b</mark>"


def test_chinese_text_without_spaces_is_cut_between_characters() -> None:
    text = "国内国际双循环" * 20 + "举国体制" + "国内国际双循环" * 20
    result = snippet(text, "举国", width=30)
    assert "<mark>举国</mark>" in result
    assert len(plain(result).strip(ELLIPSIS)) <= 30


def test_a_giant_word_is_cut() -> None:
    result = snippet("b " + "a" * 300 + " c", "aa", width=50)
    assert len(plain(result).strip(ELLIPSIS)) <= 50


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["a", "juguo", "举国", "e", '"x y"', "1"]))
def test_any_text_gives_escaped_html(text: str, q: str) -> None:
    result = make_snippet(text, parse_query(q), 60)
    assert "<" not in MARK.sub("", result)
    assert len(plain(result).strip(ELLIPSIS)) <= 60


def best(texts: list[str], q: str) -> str:
    return best_snippet(texts, parse_query(q), 160)


def test_the_best_text_matches_the_most_words() -> None:
    texts = ["Made in China 2025", "", "A plan for China", "made in China, this plan"]
    assert best(texts, "china plan") == "A <mark>plan</mark> for <mark>China</mark>"
    assert (
        best(texts, "made in china") == "<mark>Made</mark> <mark>in</mark> <mark>China</mark> 2025"
    )


def test_a_word_found_as_written_and_by_pinyin_counts_once() -> None:
    # The name matches juguo once; a longer text with Jǔguó and 举国 is no better.
    texts = ["Jǔguó system", "the Jǔguó system (举国体制)"]
    assert best(texts, "juguo") == "<mark>Jǔguó</mark> system"


def test_without_a_match_the_first_text_that_is_not_empty_is_shown() -> None:
    assert best(["", "Some text", "Other"], "xyzzy") == "Some text"
    assert best(["", ""], "xyzzy") == ""
