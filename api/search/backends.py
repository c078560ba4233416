"""The one place where search SQL differs by dialect: FTS5 on SQLite, tsvector on PostgreSQL.

Both back ends see the same normalized tokens and the same compiled query, so they match the
same documents. ``matches`` gives the match set as a subquery with the same columns on both
(``entity_type, entity_id, slug, kind, country`` and, if ranked, ``key``); everything built on
it (pages, counts, facets, the ``q`` filter of lists) is dialect-free.

Ranking comes in two tiers. Tier 0 holds the records whose names and aliases alone contain
every term of the query; tier 1 the others, found only with help from the body (summary or
description and the quotes the record cites). Within a tier SQLite ranks with FTS5's bm25 and
column weights (names over aliases over body); PostgreSQL with ts_rank, weights per tsvector
label (A names, B aliases, C body), normalized by document length like bm25. ``key`` orders a
tier ascending, best first. Ranking costs a little per match, so a page is taken from tier 0
first and tier 1 is only ranked when tier 0 runs out. Tier 0 is found with an FTS5 column
filter on SQLite, and with a tsvector of the names and aliases alone on PostgreSQL (weights
in a tsquery would make GIN recheck every match against the large tsvector).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Double,
    Float,
    Integer,
    Select,
    SelectBase,
    String,
    bindparam,
    cast,
    func,
    literal_column,
    not_,
    select,
    text,
    true,
)

from api.errors import invalid
from api.search.query import Query, QueryError, parse_query
from api.search.tables import SearchDocument

doc = SearchDocument.__table__  # type: ignore[attr-defined]

# bm25 weight of each FTS5 column, in the table's column order: names, aliases, body.
FTS5_WEIGHTS = (10.0, 5.0, 1.0)
# ts_rank weight of each tsvector label, in PostgreSQL's order: D (unused), C body, B aliases,
# A names.
TS_RANK_WEIGHTS = "{0.0, 0.1, 0.5, 1.0}"
# ts_rank normalization 1 divides by 1 + log(document length), so a short name that matches
# outranks a long text that mentions the words once.
TS_RANK_NORMALIZATION = 1
# The FTS5 columns where every term must be found for tier 0.
NAME_COLUMNS = ("names", "aliases")
COLUMNS = {
    "entity_type": String,
    "entity_id": Integer,
    "slug": String,
    "kind": String,
    "country": String,
}


def parse(q: str) -> Query:
    """The parsed query; a query that cannot be searched is a 422 naming ``q``."""
    try:
        return parse_query(q)
    except QueryError as exc:
        raise invalid(["query", "q"], exc.message) from exc


@dataclass(frozen=True)
class Shape:
    """What a match statement's SQL depends on (its values are bound per query): built once
    per shape, as lists are searched on every page view."""

    dialect: str
    ranked: bool = False
    tier: int | None = None
    published_only: bool = True
    narrowed: bool = False  # only some types (bound as ``types``)
    excluding: bool = False  # the query excludes terms (PostgreSQL tests them apart)


def shape_of(dialect: str, query: Query, **options: Any) -> Shape:
    excluding = dialect != "sqlite" and bool(query.exclude)
    return Shape(dialect, excluding=excluding, **options)


@cache
def matches(shape: Shape) -> SelectBase:
    """The documents matching a query (of some types, published ones only unless told; in one
    ranking tier if given), with their rank ``key`` when ``ranked``; use it as a subquery or a
    CTE, with the values from ``match_values``."""
    if shape.dialect == "sqlite":
        return _fts5_matches(shape)
    return _tsvector_matches(shape)


def match_values(shape: Shape, query: Query, types: Sequence[str] | None = None) -> dict[str, Any]:
    """The values to bind to ``matches(shape)`` for ``query``."""
    values: dict[str, Any] = {"types": list(types or [])} if shape.narrowed else {}
    if shape.dialect == "sqlite":
        within = NAME_COLUMNS if shape.tier is not None else ()
        values["fts_query"] = query.to_fts5(within, outside=shape.tier == 1)
        return values
    values["included"] = query.to_tsquery_included()
    if shape.excluding:
        values["excluded"] = query.to_tsquery_excluded()
    return values


def _fts5_matches(shape: Shape) -> SelectBase:
    # Written out because SQLAlchemy cannot say INDEXED BY: per match, SQLite then reads the
    # narrow covering index made by migration 0003 instead of the wide document row, which is
    # what it would pick by itself (the join is on the rowid), two to three times slower.
    weights = ", ".join(str(w) for w in FTS5_WEIGHTS)
    key = f", bm25(search_fts, {weights}) AS key" if shape.ranked else ""
    conditions = ["search_fts MATCH :fts_query"]
    if shape.published_only:
        conditions.append("d.published = 1")
    if shape.narrowed:
        conditions.append("d.entity_type IN :types")
    sql = text(
        f"SELECT {', '.join('d.' + c for c in COLUMNS)}{key} "
        "FROM search_fts JOIN search_document AS d INDEXED BY ix_search_document_match "
        "ON d.id = search_fts.rowid "
        f"WHERE {' AND '.join(conditions)}"
    ).bindparams(bindparam("fts_query", type_=String))
    if shape.narrowed:
        sql = sql.bindparams(bindparam("types", expanding=True))
    columns = {**COLUMNS, "key": Float} if shape.ranked else COLUMNS
    return sql.columns(**columns)


def _tsquery(name: str) -> ColumnElement[Any]:
    return func.to_tsquery(literal_column("'simple'"), bindparam(name, type_=String))


def _tsvector_matches(shape: Shape) -> SelectBase:
    # Both tsvectors are made by the migrations, not the metadata (they exist on PostgreSQL
    # only): tsv holds every column, tsv_names the names and aliases (GIN-indexed, small).
    tsv: ColumnClause[Any] = literal_column("search_document.tsv")
    names: ColumnClause[Any] = literal_column("search_document.tsv_names")
    included = _tsquery("included")
    searched = names if shape.tier == 0 else tsv
    conditions = [searched.op("@@", is_comparison=True)(included)]
    if shape.tier == 1:
        conditions.append(not_(names.op("@@", is_comparison=True)(included)))
    if shape.excluding:
        conditions.append(not_(tsv.op("@@", is_comparison=True)(_tsquery("excluded"))))
    if shape.published_only:
        conditions.append(doc.c.published == true())
    if shape.narrowed:
        conditions.append(doc.c.entity_type.in_(bindparam("types", expanding=True)))
    columns: list[Any] = [doc.c[c] for c in COLUMNS]
    if shape.ranked:
        weights: ColumnClause[Any] = literal_column(f"'{TS_RANK_WEIGHTS}'::float4[]")
        rank = func.ts_rank(weights, searched, included, TS_RANK_NORMALIZATION, type_=Float)
        # ts_rank is a float4, which reaches Python rounded to its shortest decimal form; as a
        # float8 it round-trips exactly, so a cursor compares equal to the row it came from.
        columns.append(cast(-rank, Double).label("key"))
    return select(*columns).where(*conditions)


def matching_ids(dialect: str, entity_type: str, q: str) -> Select[Any]:
    """Ids of the records of one type that match the query (a 422 on a query that cannot be
    searched). Drafts match too: the caller decides who sees what."""
    query = parse(q)
    shape = shape_of(dialect, query, published_only=False, narrowed=True)
    found = matches(shape).subquery()
    values = match_values(shape, query, [entity_type])
    return select(found.c.entity_id).params(values)
