"""The normalizer: one token stream for the index and the queries."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.search.normalize import fold, is_han, normalize, segments, spans, split_pinyin

TOKEN = re.compile(r"[^\W_]+")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jǔguó", "juguo"),
        ("举国体制", "举 国 体 制 ju guo ti zhi"),
        ("Jǔguó system (举国体制)", "juguo system 举 国 体 制 ju guo ti zhi"),
        ("国内国际双循环", "国 内 国 际 双 循 环 guo nei guo ji shuang xun huan"),
        ("中国制造2025", "中 国 制 造 zhong guo zhi zao 2025"),
        ("Made-in-China 2025", "made in china 2025"),
        ("5G", "5g"),
        ("ＦＵＬＬ－ｗｉｄｔｈ", "full width"),  # NFKC
        ("Straße STRASSE", "strasse strasse"),  # casefold
        ("Łódź, Ærø, Việt Nam, e\u0301cole", "lodz aero viet nam ecole"),
        ("重庆银行", "重 庆 银 行 chong qing yin hang"),  # pinyin of the run, read in context
        ("女 Nǚ", "女 nu nu"),  # ü is u on both sides
        ("a\x00b\tc\u200bd😀e", "a b c d e"),
        ("snake_case", "snake case"),
        ("", ""),
        ("  ¡!  ", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_scripts_other_than_latin_keep_their_marks() -> None:
    # Marks tell letters apart in kana and Cyrillic; only Latin and Greek lose them.
    assert normalize("ひらがな Ёж Ἀθῆναι") == "ひらがな ёж αθηναι"


def test_segments_keep_han_runs_together_and_add_no_pinyin() -> None:
    assert segments("Jǔguó 举国体制, 5G") == ["juguo", "举国体制", "5g"]


def test_fold() -> None:
    assert fold("Jǔguó ＡＩ") == "juguo ai"
    assert is_han("举")
    assert not is_han("a")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_normalized_text_is_single_spaced_word_tokens(text: str) -> None:
    normalized = normalize(text)
    assert normalized == normalized.strip()
    assert "  " not in normalized
    for token in normalized.split(" ") if normalized else []:
        assert TOKEN.fullmatch(token), token
        assert len(token) == 1 or not any(is_han(char) for char in token), token


@pytest.mark.parametrize(
    ("word", "syllables"),
    [
        ("juguo", ["ju", "guo"]),
        ("Juguo", ["ju", "guo"]),
        ("shuangxunhuan", ["shuang", "xun", "huan"]),
        ("zhongguo", ["zhong", "guo"]),
        ("xian", ["xian"]),  # not xi'an: pinyin writes an apostrophe for that
        ("fangan", ["fan", "gan"]),
        ("tiananmen", ["tian", "an", "men"]),
        ("lvse", ["lu", "se"]),  # keyboard v for ü, given back in the index spelling
        ("nv", ["nu"]),
        ("semicond", None),
        ("dual", None),
        ("ng", None),  # interjections without a vowel are left out
        ("5g", None),
        ("", None),
        ("jǔguó", None),  # only folded words are split
        ("a" * 100, None),
    ],
)
def test_split_pinyin(word: str, syllables: list[str] | None) -> None:
    assert split_pinyin(word) == syllables


def test_every_indexed_syllable_splits_to_itself() -> None:
    # The syllable table comes from pypinyin's own data, so whatever the index writes is known.
    text = "举国体制国内国际双循环中国制造重庆银行女绿略嗯儿二饿哦安爱"
    for syllable in normalize(text).split(" "):
        if syllable.isascii() and any(vowel in syllable for vowel in "aeiou"):
            assert split_pinyin(syllable) == [syllable]


def test_spans_point_back_into_the_original_text() -> None:
    text = "Jǔguó 举国，e\u0301cole ﬁne “Ｘ”"
    found = list(spans(text))
    assert [span.token for span in found] == ["juguo", "举", "国", "ecole", "fine", "x"]
    assert [text[span.start : span.end] for span in found] == [
        "Jǔguó",
        "举",
        "国",
        "e\u0301cole",
        "ﬁne",
        "Ｘ",
    ]
    assert [span.han for span in found] == [False, True, True, False, False, False]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_spans_agree_with_segments(text: str) -> None:
    # Folding character by character (for offsets) gives the tokens of the whole-text fold,
    # except where NFKC composes across characters (Hangul jamo), which random text may hit.
    pieces = segments(text)
    tokens = [span.token for span in spans(text)]
    expected = [char for piece in pieces for char in (piece if is_han(piece[0]) else [piece])]
    if tokens != expected:
        assert fold(text) != "".join(fold(char) for char in text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=120))
def test_ascii_text_is_its_lower_case_letter_and_digit_runs(text: str) -> None:
    assert normalize(text) == " ".join(re.findall("[a-z0-9]+", text.lower()))
