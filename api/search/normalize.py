"""The one text normalizer of the search index, used when indexing and when querying.

``normalize()`` turns any text into space-separated tokens that SQLite FTS5 (unicode61) and
PostgreSQL (``to_tsvector('simple', ...)``) split the same way: NFKC, casefold, no diacritics;
each Han character is a token, followed after its run by the run's toneless pinyin; every other
run of letters and digits is one word. ü is written u everywhere (pinyin of 女 is ``nu``, like
the folded Latin ``Nǚ``); query words spelt with v (``nv``, ``lvse``) are mapped by
``split_pinyin``.
"""

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import NamedTuple, cast

from api.search.pinyin_table import SPELLINGS

# CJK ideographs (basic, extensions A-I, compatibility) and 〇. Written as a character-class body
# so it can also be subtracted from \w in _TOKEN_RE.
_HAN_CLASS = (
    "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002a6df\U0002a700-\U0002ebef\U0002f800-\U0002fa1f\U00030000-\U000323af"
)
# A Han character, if this Python's Unicode data knows it (unassigned code points separate).
_HAN = f"(?=\\w)[{_HAN_CLASS}]"
_HAN_RE = re.compile(_HAN)
# A token is a run of Han characters (split into characters later) or a run of other letters
# and digits; everything else (punctuation, symbols, spaces, control characters) separates.
_TOKEN_RE = re.compile(f"[^\\W_{_HAN_CLASS}]+|(?P<han>(?:{_HAN})+)")
# The same tokens for folded ASCII text (lower case letters and digits), several times faster:
# most indexed prose is English.
_ASCII_TOKEN_RE = re.compile("[a-z0-9]+")

# The combining-mark blocks that NFD produces for Latin and Greek letters.
_MARKS_CLASS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
# Marks on a Latin or Greek letter are the diacritics to strip. Marks in other scripts are left
# alone: they tell letters apart there (か/が, и/й).
_LATIN_MARKS = re.compile(f"(?<=[a-z\u00df-\u024f\u0370-\u03ff])[{_MARKS_CLASS}]+")
# Latin letters that have no Unicode decomposition, so stripping marks alone misses them.
_LATIN_EXTRA = {"đ": "d", "ð": "d", "ħ": "h", "ı": "i", "ł": "l", "ø": "o", "ŧ": "t", "æ": "ae"}
_LATIN_EXTRA |= {"œ": "oe", "þ": "th"}
_LATIN_EXTRA_RE = re.compile(f"[{''.join(_LATIN_EXTRA)}]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# For spans(): runs of ASCII that no combining mark follows (they fold by lower-casing), or one
# character with the combining marks that follow it (folded as one cluster).
_ASCII_RUN_OR_CLUSTER = re.compile(
    f"(?:[\\x00-\\x7f](?![{_MARKS_CLASS}]))+|.[{_MARKS_CLASS}]*", re.DOTALL
)

_MAX_SPLIT_LENGTH = 64  # longer "words" are never pinyin; skip the work
_MAX_SYLLABLE_LENGTH = 6  # shuang, zhuang, chuang


def fold(text: str) -> str:
    """NFKC, casefold and strip diacritics: ``Jǔguó`` → ``juguo``, ``Ｆｕｌｌ`` → ``full``."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded  # the common case: nothing left to strip
    stripped = _LATIN_MARKS.sub("", unicodedata.normalize("NFD", folded))
    stripped = _LATIN_EXTRA_RE.sub(lambda m: _LATIN_EXTRA[m.group()], stripped)
    return unicodedata.normalize("NFC", stripped)


def is_han(char: str) -> bool:
    """True if ``char`` (one folded character) is a Han ideograph, i.e. a token of its own."""
    return _HAN_RE.fullmatch(char) is not None


def has_han(text: str) -> bool:
    """True if ``text`` holds a Han ideograph anywhere."""
    return _HAN_RE.search(text) is not None


def _no_pinyin(chars: str) -> list[str]:
    # One empty syllable per character keeps the output aligned with the input characters.
    return [""] * len(chars)


@lru_cache(maxsize=4096)
def han_pinyin(run: str) -> tuple[str, ...]:
    """Toneless pinyin of a run of folded Han characters, one entry per character.

    The whole run goes to pypinyin at once so its phrase dictionary picks the reading in context
    (重庆 → chong qing). A character without a reading gets ``""``. Cached: the same names come
    back in record after record and snippet after snippet, and pypinyin is the slow part.
    """
    single = _single_readings()
    if all(char in single for char in run):
        # No character here has a second reading, so no phrase can choose another one (of
        # pypinyin's 10,480 phrases made only of such characters, one Japanese word differs).
        return tuple(single[char] for char in run)
    # Imported on first use: processes that never convert Chinese text (an export, a server
    # only reading) do without its 55 MB of dictionaries.
    from pypinyin import Style, lazy_pinyin

    # pypinyin accepts a list from an errors callback, though its stub says str.
    on_error = cast("Callable[[str], str]", _no_pinyin)
    # Style.TONE is pypinyin's own spelling, so it skips a conversion that costs half the time;
    # fold() strips the tone marks and the diaeresis (nǚ → nu) as Style.NORMAL would.
    syllables = lazy_pinyin(run, style=Style.TONE, errors=on_error)
    return tuple(_fold_syllable(syllable) for syllable in syllables)


@cache
def _single_readings() -> dict[str, str]:
    """Han character → its toneless syllable, for the characters that have only one."""
    from pypinyin.constants import PINYIN_DICT

    single = {}
    for code_point, value in PINYIN_DICT.items():
        readings = {_fold_syllable(reading) for reading in value.split(",")}
        if len(readings) == 1:
            single[chr(code_point)] = readings.pop()
    return single


@lru_cache(maxsize=4096)
def _fold_syllable(syllable: str) -> str:
    return fold(syllable)  # a few thousand tone-marked syllables cover every reading


def segments(text: str) -> list[str]:
    """Fold ``text`` and split it into words and runs of Han characters (no pinyin added).

    The query parser uses this: a run of Han characters typed together is searched as a phrase.
    """
    return [match.group() for match in _TOKEN_RE.finditer(fold(text))]


def normalize(text: str) -> str:
    """The indexed form of ``text``: ``举国体制 Jǔguó`` → ``举 国 体 制 ju guo ti zhi juguo``."""
    folded = fold(text)
    if folded.isascii():
        return " ".join(_ASCII_TOKEN_RE.findall(folded))
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(folded):
        run = match.group()
        if match.lastgroup == "han":
            tokens.extend(run)
            tokens.extend(syllable for syllable in han_pinyin(run) if syllable)
        else:
            tokens.append(run)
    return " ".join(tokens)


class Span(NamedTuple):  # a tuple, not a dataclass: texts make hundreds of these per snippet
    """One token of an original text: ``text[start:end]`` folds to ``token``."""

    start: int
    end: int
    token: str
    han: bool


def spans(text: str) -> list[Span]:
    """The tokens of ``text`` (Han characters one by one, no pinyin) with their positions.

    Folds character by character so each folded character can be traced back to the original;
    the snippet code uses this to mark matches in the text as written.
    """
    if text.isascii():  # no Han, and folding is lower-casing: positions do not move
        return [
            Span(m.start(), m.end(), m.group(), False) for m in _TOKEN_RE.finditer(text.lower())
        ]
    folded, starts, ends = _fold_with_origins(text)
    found: list[Span] = []
    for match in _TOKEN_RE.finditer(folded):
        start, end = match.start(), match.end()
        if match.lastgroup == "han":
            found.extend(
                Span(starts[start + offset], ends[start + offset], char, True)
                for offset, char in enumerate(match.group())
            )
        else:
            found.append(Span(starts[start], ends[end - 1], match.group(), False))
    return found


def _fold_with_origins(text: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """Fold ``text`` and give, for each folded character, the original span it came from."""
    folded = fold(text)
    if len(folded) == len(text) and all(
        len(_fold_char(char)) == 1 for char in set(_NON_ASCII.findall(text))
    ):
        # The usual case (curly quotes, Han, letters with accents): one character each, so the
        # positions are those of the text.
        return folded, range(len(text)), range(1, len(text) + 1)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _ASCII_RUN_OR_CLUSTER.finditer(text):
        chunk, start, end = match.group(), match.start(), match.end()
        if chunk.isascii():  # folds to itself in lower case, character for character
            pieces.append(chunk.lower())
            starts.extend(range(start, end))
            ends.extend(range(start + 1, end + 1))
        else:
            piece = _fold_char(chunk)
            pieces.append(piece)
            starts.extend([start] * len(piece))
            ends.extend([end] * len(piece))
    return "".join(pieces), starts, ends


@lru_cache(maxsize=8192)
def _fold_char(cluster: str) -> str:
    return fold(cluster)


# Every toneless spelling (ü syllables also in the v spelling: lv → lu) → its indexed syllable.
_ALL_SPELLINGS = SPELLINGS
# Every syllable the index can hold after a Han run, and every start of one.
_SYLLABLES = frozenset(_ALL_SPELLINGS.values())
_SYLLABLE_STARTS = frozenset(s[:end] for s in _SYLLABLES for end in range(1, len(s) + 1))
# For splitting words: syllables without a vowel (the interjections m, n, ng, hm, hng) are left
# out, as they would let consonant clusters in English words pass for pinyin.
_SPELLINGS = {
    spelling: canonical
    for spelling, canonical in _ALL_SPELLINGS.items()
    if re.search("[aeiou]", canonical)
}
_APOSTROPHE_VOWELS = frozenset("aeo")  # a syllable starting so needs one after another


@lru_cache(maxsize=8192)
def _best_split(word: str) -> tuple[str, ...] | None:
    # best[i]: the best split of word[:i] as (vowel-initial syllables after the first,
    # number of syllables, syllables). Fewest vowel-initial syllables first, as pinyin spelling
    # would need an apostrophe before them (xian is xian, not xi'an; fangan is fan gan);
    # then fewest syllables.
    best: list[tuple[int, int, tuple[str, ...]] | None] = [None] * (len(word) + 1)
    best[0] = (0, 0, ())
    for end in range(1, len(word) + 1):
        for length in range(min(_MAX_SYLLABLE_LENGTH, end), 0, -1):
            before = best[end - length]
            spelling = word[end - length : end]
            if before is None or spelling not in _SPELLINGS:
                continue
            apostrophe = 1 if before[1] and spelling[0] in _APOSTROPHE_VOWELS else 0
            candidate = (before[0] + apostrophe, before[1] + 1, (*before[2], _SPELLINGS[spelling]))
            current = best[end]
            if current is None or candidate[:2] < current[:2]:
                best[end] = candidate
    result = best[-1]
    return result[2] if result else None


def could_be_pinyin(token: str, prefix: bool = False) -> bool:
    """Whether a query token can match an indexed syllable (or, with ``prefix``, begin one)."""
    return token in (_SYLLABLE_STARTS if prefix else _SYLLABLES)


def split_pinyin(word: str) -> list[str] | None:
    """Split a Latin word into toneless pinyin syllables, or None if it is not pinyin.

    ``juguo`` → ``[ju, guo]``, ``shuangxunhuan`` → ``[shuang, xun, huan]``, ``xian`` →
    ``[xian]``. Syllables come back in the index spelling (``lvse`` → ``[lu, se]``).
    """
    if not word or len(word) > _MAX_SPLIT_LENGTH or not (word.isascii() and word.isalpha()):
        return None
    syllables = _best_split(word.lower())
    return list(syllables) if syllables else None
