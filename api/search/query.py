"""The search box language, parsed once and compiled for either index back end.

Syntax: words are ANDed; ``"a quoted phrase"``; ``-word`` and ``-"phrase"`` exclude;
``OR`` (upper case, between two terms) offers alternatives and binds tighter than AND, so
``a b OR c`` is a AND (b OR c). An OR that does not stand between two terms is ignored.

A Latin word matches as a prefix (``semicond`` → semiconductor) or, when it is pinyin, as the
phrase of its syllables (``juguo`` → ``ju guo``, the pinyin indexed after 举国). A word of one
to three characters matches only itself (``ai``, ``5g``, ``wto``, ``the``, the syllable
``ju``): as a prefix it would mostly find noise (``the`` → their, theory, ...), at the cost of
merging the postings of every word it begins.
A run of Han characters is the phrase of its characters. A quoted phrase is the phrase of its
tokens, exactly.

Every token comes out of ``normalize.segments``, so it holds only letters and digits; it is
quoted in both outputs anyway, which keeps FTS5 keywords (AND, NEAR) and tsquery operators
(``&``, ``:``) in user input from ever being read as syntax.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from api.search.normalize import is_han, segments, split_pinyin

MAX_QUERY_LENGTH = 512  # characters of input
MAX_TERMS = 32  # words, Han runs and phrases, excluded ones included
MAX_TOKENS = 64  # tokens in all terms (each Han character is one)
MIN_PREFIX_LENGTH = 4  # shorter words match only themselves


class QueryError(ValueError):
    """The query cannot be searched; ``message`` says why, for the 422 problem."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Word:
    """A typed word: any token it begins, or (if pinyin) its syllables one after another."""

    token: str
    syllables: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Phrase:
    """Tokens that must appear one after another (a single token matches exactly)."""

    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    options: tuple["Node", ...]


Node = Word | Phrase | AllOf | AnyOf


@dataclass(frozen=True, slots=True)
class HighlightTerm:
    """Tokens to mark where they appear one after another; ``prefix``: the last one may go on."""

    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: every ``include`` clause must match and no ``exclude`` clause may."""

    include: tuple[Node, ...]
    exclude: tuple[Node, ...] = ()

    @property
    def highlight_terms(self) -> tuple[HighlightTerm, ...]:
        """What to mark in snippets: the tokens of the terms searched for, not the excluded."""
        terms: dict[HighlightTerm, None] = {}  # a dict keeps the first-seen order
        for group in self.highlight_groups:
            for term in group:
                terms[term] = None
        return tuple(terms)

    @property
    def highlight_groups(self) -> tuple[tuple[HighlightTerm, ...], ...]:
        """The highlight terms of each word or phrase searched for: a word's prefix and its
        pinyin syllables are two spellings of one word (to count the words a text matches)."""
        return tuple(tuple(_highlights(leaf)) for node in self.include for leaf in _leaves(node))

    def to_fts5(self, within: Sequence[str] = (), outside: bool = False) -> str:
        """The expression for ``search_fts MATCH ?`` (bind it as a parameter).

        ``within``: every term must be found in these columns (an excluded one still excludes
        wherever it is); with ``outside``, the documents the query matches but not so.
        """
        positive = " AND ".join(_fts5(node) for node in self.include)
        excluded = [_fts5(node) for node in self.exclude]
        if within:
            restricted = "{" + " ".join(within) + "} : (" + positive + ")"
            if outside:
                excluded.insert(0, restricted)
            else:
                positive = restricted
        if not excluded:
            return positive
        # FTS5 has no unary NOT, only "a NOT b".
        return f"({positive}) NOT ({' OR '.join(excluded)})"

    def to_tsquery(self) -> str:
        """The text for ``to_tsquery('simple', ?)`` (bind it as a parameter)."""
        positive = self.to_tsquery_included()
        excluded = self.to_tsquery_excluded()
        return f"({positive}) & !({excluded})" if excluded else positive

    def to_tsquery_included(self) -> str:
        """The terms searched for, without the exclusions."""
        return " & ".join(_tsquery(node) for node in self.include)

    def to_tsquery_excluded(self) -> str | None:
        """Any of the excluded terms (None when nothing is excluded)."""
        return " | ".join(_tsquery(node) for node in self.exclude) or None


# --- parsing ---------------------------------------------------------------------------------

# Curly and low quotation marks count as '"': phones and Chinese keyboards type them.
_QUOTES = str.maketrans(dict.fromkeys("“”„‟«»", '"'))
# An atom: optional leading '-' (exclude), then a quoted phrase (unclosed: to the end) or a run
# of anything up to white space or a quote.
_ATOM_RE = re.compile(r'(?P<minus>-*)(?:"(?P<phrase>[^"]*)(?:"|$)|(?P<chunk>[^\s"]+))')


@dataclass(frozen=True, slots=True)
class _Atom:
    node: Node | None  # None: nothing searchable in it, or the OR operator
    excluded: bool = False
    is_or: bool = False


def parse_query(q: str) -> Query:
    """Parse a search box string; raise ``QueryError`` if there is nothing valid to search."""
    if len(q) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is too long: at most {MAX_QUERY_LENGTH} characters")
    text = unicodedata.normalize("NFKC", q).translate(_QUOTES)
    atoms = [_atom(match) for match in _ATOM_RE.finditer(text)]
    include, exclude = _clauses(atoms)
    _check_size(include + exclude)
    if not include:
        if exclude:
            raise QueryError("the query only excludes; add at least one word to search for")
        raise QueryError("the query has no words to search for")
    return Query(include=tuple(include), exclude=tuple(exclude))


def _atom(match: re.Match[str]) -> _Atom:
    phrase, chunk, excluded = match["phrase"], match["chunk"], bool(match["minus"])
    if phrase is not None:
        return _Atom(_phrase_node(phrase), excluded)
    if chunk == "OR" and not excluded:
        return _Atom(None, is_or=True)
    return _Atom(_chunk_node(chunk), excluded)


def _chunk_node(chunk: str) -> Node | None:
    """An unquoted chunk: each word and Han run in it is a term ("made-in-china": three)."""
    nodes: list[Node] = []
    for piece in segments(chunk):
        nodes.append(Phrase(tuple(piece)) if is_han(piece[0]) else _word(piece))
    return _all_of(nodes)


def _word(token: str) -> Word:
    syllables = split_pinyin(token)
    # One syllable adds nothing over the prefix unless it was spelt differently (nv → nu).
    if syllables and (len(syllables) > 1 or syllables[0] != token):
        return Word(token, tuple(syllables))
    return Word(token)


def _phrase_node(phrase: str) -> Node | None:
    """A quoted phrase: its tokens one after another, cut after each Han run.

    The index puts a Han run's pinyin right after it, so what follows the run in the text is not
    next to it in the index: the pieces are ANDed ("举国体制 system" → "举 国 体 制" AND "system").
    """
    pieces: list[Node] = []
    tokens: list[str] = []
    for piece in segments(phrase):
        if is_han(piece[0]):
            pieces.append(Phrase((*tokens, *piece)))
            tokens = []
        else:
            tokens.append(piece)
    if tokens:
        pieces.append(Phrase(tuple(tokens)))
    return _all_of(pieces)


def _all_of(nodes: list[Node]) -> Node | None:
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else AllOf(tuple(nodes))


def _clauses(atoms: list[_Atom]) -> tuple[list[Node], list[Node]]:
    """Join the atoms into AND clauses; OR merges the terms on either side of it."""
    include: list[list[Node]] = []
    exclude: list[Node] = []
    pending_or = False
    last_included = False  # whether the atom before an OR was a term searched for
    for atom in atoms:
        if atom.is_or:
            pending_or = last_included
            continue
        if atom.node is None:
            continue  # punctuation, emoji...: not a term, and not a break between OR's terms
        if atom.excluded:
            exclude.append(atom.node)
            pending_or = last_included = False
            continue
        if pending_or:
            include[-1].append(atom.node)
        else:
            include.append([atom.node])
        pending_or, last_included = False, True
    return [AnyOf(tuple(c)) if len(c) > 1 else c[0] for c in include], exclude


def _check_size(nodes: list[Node]) -> None:
    leaves = [leaf for node in nodes for leaf in _leaves(node)]
    if len(leaves) > MAX_TERMS:
        raise QueryError(f"the query has too many terms: at most {MAX_TERMS}")
    tokens = sum(len(leaf.tokens) if isinstance(leaf, Phrase) else 1 for leaf in leaves)
    if tokens > MAX_TOKENS:
        raise QueryError(
            f"the query has too many words: at most {MAX_TOKENS} words or Chinese characters"
        )


def _leaves(node: Node) -> list[Word | Phrase]:
    match node:
        case AllOf(parts=children) | AnyOf(options=children):
            return [leaf for child in children for leaf in _leaves(child)]
        case Word() | Phrase():
            return [node]


def _highlights(node: Node) -> list[HighlightTerm]:
    terms: list[HighlightTerm] = []
    for leaf in _leaves(node):
        if isinstance(leaf, Phrase):
            terms.append(HighlightTerm(leaf.tokens))
            continue
        terms.append(HighlightTerm((leaf.token,), prefix=_is_prefix(leaf.token)))
        if leaf.syllables:
            terms.append(HighlightTerm(leaf.syllables))
    return terms


# --- compiling -------------------------------------------------------------------------------


def _is_prefix(token: str) -> bool:
    return len(token) >= MIN_PREFIX_LENGTH


def _fts5_string(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _fts5(node: Node) -> str:
    match node:
        case Word(token=token, syllables=syllables):
            word = _fts5_string(token) + ("*" if _is_prefix(token) else "")
            if syllables is None:
                return word
            return f"({word} OR {_fts5_string(' '.join(syllables))})"
        case Phrase(tokens=tokens):
            return _fts5_string(" ".join(tokens))  # FTS5 reads a multi-token string as a phrase
        case AllOf(parts=parts):
            return "(" + " AND ".join(_fts5(part) for part in parts) + ")"
        case AnyOf(options=options):
            return "(" + " OR ".join(_fts5(option) for option in options) + ")"


def _tsquery_lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsquery_phrase(tokens: tuple[str, ...]) -> str:
    if len(tokens) == 1:
        return _tsquery_lexeme(tokens[0])
    return "(" + " <-> ".join(_tsquery_lexeme(token) for token in tokens) + ")"


def _tsquery(node: Node) -> str:
    match node:
        case Word(token=token, syllables=syllables):
            word = _tsquery_lexeme(token) + (":*" if _is_prefix(token) else "")
            if syllables is None:
                return word
            return f"({word} | {_tsquery_phrase(syllables)})"
        case Phrase(tokens=tokens):
            return _tsquery_phrase(tokens)
        case AllOf(parts=parts):
            return "(" + " & ".join(_tsquery(part) for part in parts) + ")"
        case AnyOf(options=options):
            return "(" + " | ".join(_tsquery(option) for option in options) + ")"
