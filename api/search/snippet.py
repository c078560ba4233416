"""Search result snippets: a short window of the original text with the query's terms marked.

Matching works on the text as written, token by token (``normalize.spans``), with the same rules
as the index: case and accents do not matter, Han characters match as written or by their
pinyin (so ``juguo`` and ``ju guo`` mark 举国), and a Latin word matches any word it begins.
"""

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from api.search.normalize import Span, could_be_pinyin, fold, han_pinyin, has_han, spans
from api.search.query import HighlightTerm, Query

ELLIPSIS = "…"
_SLACK = 20  # characters a cut may move to fall on a space
# New lines, tabs, control characters and lone surrogates (which no JSON encoder takes) → a space.
_BLANKS = re.compile(r"[\s\x00-\x1f\x7f\ud800-\udfff]+")


def make_snippet(text: str, query: Query, width: int = 160) -> str:
    """About ``width`` characters of ``text`` around its first match, as HTML.

    Matches are wrapped in ``<mark>``; the rest is escaped. Cuts fall between words and show
    "…". Without a match (the record matched on another field) the text's start is returned.
    """
    tokens = spans(text)
    patterns = [_Pattern.of(term) for term in query.highlight_terms]
    matches = [(start, end) for start, end, _ in _find_matches(tokens, patterns)]
    return _snippet(text, tokens, matches, width)


def best_snippet(texts: Sequence[str], query: Query, width: int = 160) -> str:
    """The snippet of the text, among several fields of a record, that matches best.

    Best is the text where the most of the query's words and phrases are found (a word counts
    once, whether found as written or by its pinyin); on a tie, the first, so give the texts
    in order of weight (name, aliases, summary, quotes). Without any match, the snippet is the
    start of the first text that is not empty.
    """
    groups = query.highlight_groups
    patterns = [_Pattern.of(term, group) for group, terms in enumerate(groups) for term in terms]
    best: tuple[int, str, list[Span], list[tuple[int, int]]] | None = None
    for text in texts:
        if not text or not _may_match(text, patterns):
            continue
        tokens = spans(text)
        found = _find_matches(tokens, patterns)
        words = len({group for _, _, group in found})
        if best is None or words > best[0]:
            best = (words, text, tokens, [(start, end) for start, end, _ in found])
            if words == len(groups):
                break  # nothing later can do better
    if best is None:
        text = next((t for t in texts if t), "")
        return _snippet(text, spans(text), [], width)
    _, text, tokens, matches = best
    return _snippet(text, tokens, matches, width)


def _may_match(text: str, patterns: Sequence["_Pattern"]) -> bool:
    """A quick test that rules out most texts without a match, before the costly one: a match
    needs the first token of a pattern in the folded text, or a Han character to match by
    pinyin."""
    folded = fold(text)
    han: bool | None = None
    for pattern in patterns:
        if pattern.tokens[0] in folded:
            return True
        if pattern.by_pinyin[0]:
            if han is None:
                han = has_han(folded)
            if han:
                return True
    return False


def _snippet(text: str, tokens: Sequence[Span], matches: list[tuple[int, int]], width: int) -> str:
    if matches:
        start, end = _window(text, tokens, matches[0], width)
    else:
        start, end = _window(text, tokens, (0, 0), width)
    inside = [(max(s, start), min(e, end)) for s, e in matches if s < end and e > start]
    body = _render(text, start, end, inside)
    return (ELLIPSIS if start > 0 else "") + body + (ELLIPSIS if end < len(text) else "")


# --- matching --------------------------------------------------------------------------------


class _Pinyin:
    """The pinyin of each Han token, worked out on first use (most texts never need it)."""

    def __init__(self, tokens: Sequence[Span]) -> None:
        self._tokens = tokens
        self._syllables: list[str] | None = None

    def __getitem__(self, index: int) -> str:
        if self._syllables is None:
            self._syllables = self._compute()
        return self._syllables[index]

    def _compute(self) -> list[str]:
        syllables = [""] * len(self._tokens)
        run: list[int] = []  # indexes of the Han tokens of the current run
        for index, token in enumerate([*self._tokens, None]):
            if (
                token is not None
                and token.han
                and (not run or self._tokens[run[-1]].end == token.start)
            ):
                run.append(index)
                continue
            if run:  # a whole run at once, as the index does: pypinyin reads words in context
                pinyin = han_pinyin("".join(self._tokens[i].token for i in run))
                for position, syllable in zip(run, pinyin, strict=False):  # aligned; never raise
                    syllables[position] = syllable
            run = [index] if token is not None and token.han else []
        return syllables


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A highlight term made ready for matching token by token."""

    tokens: tuple[str, ...]
    prefix: bool
    by_pinyin: tuple[bool, ...]  # whether each token may match a Han character by its pinyin
    group: int  # which word or phrase of the query it spells

    @classmethod
    def of(cls, term: HighlightTerm, group: int = 0) -> "_Pattern":
        last = len(term.tokens) - 1
        by_pinyin = tuple(
            could_be_pinyin(token, term.prefix and offset == last)
            for offset, token in enumerate(term.tokens)
        )
        return cls(term.tokens, term.prefix, by_pinyin, group)


def _find_matches(
    tokens: Sequence[Span], patterns: Sequence[_Pattern]
) -> list[tuple[int, int, int]]:
    """(start, end, group) of each match in the text, in order; the longest wins at a place."""
    pinyin = _Pinyin(tokens)
    matches: list[tuple[int, int, int]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        length, group = 0, 0
        for pattern in patterns:
            # Most tokens match no pattern's first token: rule them out without a call.
            first, prefix = pattern.tokens[0], pattern.prefix and len(pattern.tokens) == 1
            if (token.han and pattern.by_pinyin[0]) or _same(token.token, first, prefix):
                found = _match_length(tokens, index, pattern, pinyin)
                if found > length:
                    length, group = found, pattern.group
        if length:
            matches.append((token.start, tokens[index + length - 1].end, group))
            index += length
        else:
            index += 1
    return matches


def _match_length(tokens: Sequence[Span], index: int, pattern: _Pattern, pinyin: _Pinyin) -> int:
    if index + len(pattern.tokens) > len(tokens):
        return 0
    last = len(pattern.tokens) - 1
    for offset, wanted in enumerate(pattern.tokens):
        token = tokens[index + offset]
        prefix = pattern.prefix and offset == last
        if _same(token.token, wanted, prefix):
            continue
        if token.han and pattern.by_pinyin[offset]:  # the index holds a Han run's pinyin too
            syllable = pinyin[index + offset]
            if syllable and _same(syllable, wanted, prefix):
                continue
        return 0
    return len(pattern.tokens)


def _same(token: str, wanted: str, prefix: bool) -> bool:
    return token.startswith(wanted) if prefix else token == wanted


# --- the window ------------------------------------------------------------------------------


def _window(
    text: str, tokens: Sequence[Span], match: tuple[int, int], width: int
) -> tuple[int, int]:
    """The slice to show: the match with a third of the room before it, cut between words."""
    if len(text) <= width:
        return 0, len(text)
    match_start, match_end = match[0], min(match[1], match[0] + width)  # a giant word is cut
    room = max(width - (match_end - match_start), 0)
    start = max(0, match_start - room // 3)
    end = min(len(text), max(start + width, match_end))
    start = min(match_start, max(0, end - width))  # near the end: use the room before instead
    if start > 0:
        start = _cut_start(text, tokens, start, match_start)
    if end < len(text):
        end = _cut_end(text, tokens, end, match_end)
    return start, end


def _cut_start(text: str, tokens: Sequence[Span], start: int, limit: int) -> int:
    # After a space if there is one close by; else at a token (Chinese has no spaces but each
    # character is a word).
    for position in range(start, min(start + _SLACK, limit) + 1):
        if text[position - 1].isspace():
            return position
    return min((t.start for t in tokens if start <= t.start <= limit), default=start)


def _cut_end(text: str, tokens: Sequence[Span], end: int, limit: int) -> int:
    for position in range(end, max(end - _SLACK, limit) - 1, -1):
        if text[position].isspace():
            return position
    return max((t.end for t in tokens if limit <= t.end <= end), default=end)


def _render(text: str, start: int, end: int, marks: Sequence[tuple[int, int]]) -> str:
    parts: list[str] = []
    position = start
    for mark_start, mark_end in _merge_touching(marks):
        parts.append(_plain(text[position:mark_start]))
        parts.append(f"<mark>{_plain(text[mark_start:mark_end])}</mark>")
        position = mark_end
    parts.append(_plain(text[position:end]))
    return "".join(parts).strip()


def _merge_touching(marks: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    # 举 and 国 matched by "ju guo" one by one read better as one mark: <mark>举国</mark>.
    merged: list[tuple[int, int]] = []
    for mark in marks:
        if merged and merged[-1][1] == mark[0]:
            merged[-1] = (merged[-1][0], mark[1])
        else:
            merged.append(mark)
    return merged


def _plain(fragment: str) -> str:
    return html.escape(_BLANKS.sub(" ", fragment))
