"""Search across initiatives, sectors and organizations.

A search runs in one read transaction: the page (one query per ranking tier it needs, usually
just tier 0: the best hits after the cursor with what their items show, quotes included), then
the total and the facets (one query: GROUP BY over the whole match set, in SQL). Only
published records are found; the documents say which are.

Pagination is keyset over (tier, rank key, type, slug), the order of the hits: the cursor
holds the last hit's four values and the next page starts strictly after them, so a walk
through the pages sees every hit once as long as the index does not change under it. On
PostgreSQL a score depends only on the query and the record, so writes to other records
between pages move nothing else. On SQLite bm25 also depends on index-wide statistics, which
every write shifts a little: a hit whose score moves across the cursor between two pages can
then be shown twice or not at all. A cursor names its query and types and is refused (400)
for another search.
"""

import base64
import binascii
import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Double,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)

from api.errors import BadRequest
from api.initiatives.tables import InitiativeSector
from api.search.backends import Shape, match_values, matches, parse, shape_of
from api.search.index import ENTITIES, PUBLISHED, evidence_table, excerpt_table, source_table
from api.search.query import Query
from api.search.snippet import best_snippet

TYPES = tuple(ENTITIES)  # initiative, sector, organization
FACETS = ("type", "sector", "country", "kind")
TIERS = (0, 1)
SNIPPET_WIDTH = 160
sector_link = InitiativeSector.__table__  # type: ignore[attr-defined]
initiatives = ENTITIES["initiative"].table
sectors = ENTITIES["sector"].table
organizations = ENTITIES["organization"].table


@dataclass(frozen=True)
class After:
    """Where the previous page ended: the last hit's tier, rank key, type and slug."""

    tier: int
    key: float
    type: str
    slug: str


def search(
    conn: Connection, q: str, types: Sequence[str], limit: int, cursor: str | None
) -> dict[str, Any]:
    """One page of hits, best first, with the total and the facets of the whole result set."""
    query = parse(q)
    narrowed = sorted(set(types)) if set(types) != set(TYPES) else None
    signature = _signature(query, types)
    after = _decode_cursor(cursor, signature) if cursor else None
    return _search(conn, query, narrowed, signature, limit, after)


def search_key(q: str, types: Sequence[str], limit: int, cursor: str | None) -> Hashable:
    """What identifies a search's page, for keeping it until the next write: the parsed
    query itself (not its short signature: two searches must never share), the types, the
    page size and the position. Refuses what ``search`` refuses, the same way."""
    query = parse(q)
    after = _decode_cursor(cursor, _signature(query, types)) if cursor else None
    return ("search", query.to_tsquery(), tuple(sorted(set(types))), limit, after)


def _search(
    conn: Connection,
    query: Query,
    narrowed: list[str] | None,
    signature: str,
    limit: int,
    after: After | None,
) -> dict[str, Any]:
    hits = _page(conn, query, narrowed, limit, after)
    next_cursor = None
    if len(hits) > limit:
        hits = hits[:limit]
        last = hits[-1]
        position = After(last["tier"], last["key"], last["type"], last["slug"])
        next_cursor = _encode_cursor(signature, position)
    facets = _facets(conn, query, narrowed)
    for hit in hits:
        del hit["tier"], hit["key"]
    return {
        "items": hits,
        "total": sum(facets["type"].values()),
        "next_cursor": next_cursor,
        "facets": facets,
    }


# --- the page ----------------------------------------------------------------------------


def _page(
    conn: Connection, query: Query, types: list[str] | None, limit: int, after: After | None
) -> list[dict[str, Any]]:
    """Up to ``limit + 1`` hits after the cursor: tier 0 first, tier 1 only if needed."""
    hits: list[dict[str, Any]] = []
    for tier in TIERS:
        if after is not None and after.tier > tier:
            continue
        wanted = limit + 1 - len(hits)
        if wanted <= 0:
            break
        shape = shape_of(
            conn.dialect.name, query, ranked=True, tier=tier, narrowed=types is not None
        )
        start = after if after is not None and after.tier == tier else None
        values = match_values(shape, query, types) | {"limit": wanted}
        if start is not None:
            values |= {"after_key": start.key, "after_type": start.type, "after_slug": start.slug}
        rows = conn.execute(_page_statement(shape, start is not None), values).all()
        hits += _hits(rows, query, tier)
    return hits


@cache
def _page_statement(shape: Shape, after: bool) -> Select[Any]:
    """The best ``:limit`` hits of a tier (after the cursor's ``:after_*`` position), each
    with its record's name, texts and cited quotes (one row per quote), in order."""
    m = matches(shape).subquery("matches")
    best = select(m.c.entity_type, m.c.entity_id, m.c.slug, m.c.key)
    if after:
        position = tuple_(m.c.key, m.c.entity_type, m.c.slug)
        cursor = tuple_(
            bindparam("after_key", type_=Double),
            bindparam("after_type", type_=String),
            bindparam("after_slug", type_=String),
        )
        best = best.where(position > cursor)
    hits = (
        best.order_by(m.c.key, m.c.entity_type, m.c.slug)
        .limit(bindparam("limit", type_=Integer))
        .subquery("hits")
    )
    i, s, o = initiatives, sectors, organizations
    e, x, src = evidence_table, excerpt_table, source_table
    records = (
        hits.outerjoin(i, and_(hits.c.entity_type == "initiative", i.c.id == hits.c.entity_id))
        .outerjoin(s, and_(hits.c.entity_type == "sector", s.c.id == hits.c.entity_id))
        .outerjoin(o, and_(hits.c.entity_type == "organization", o.c.id == hits.c.entity_id))
        .outerjoin(
            e,
            or_(
                e.c.initiative_id == i.c.id,
                e.c.sector_id == s.c.id,
                e.c.organization_id == o.c.id,
            ),
        )
        .outerjoin(x, x.c.id == e.c.excerpt_id)
        .outerjoin(src, and_(src.c.id == x.c.source_id, src.c.review_status == PUBLISHED))
    )
    return (
        select(
            hits.c.entity_type,
            hits.c.entity_id,
            hits.c.slug,
            hits.c.key,
            func.coalesce(i.c.name, s.c.name, o.c.name).label("name"),
            func.coalesce(i.c.name_zh, s.c.name_zh, o.c.name_zh).label("name_zh"),
            i.c.aliases.label("initiative_aliases"),
            o.c.aliases.label("organization_aliases"),
            func.coalesce(i.c.summary, s.c.description, o.c.description).label("prose"),
            case((src.c.id.is_not(None), x.c.quote)).label("quote"),
        )
        .select_from(records)
        .order_by(hits.c.key, hits.c.entity_type, hits.c.slug, e.c.position)
    )


def _hits(rows: Sequence[Any], query: Query, tier: int) -> list[dict[str, Any]]:
    """Rows (one a quote) to items, each with the snippet of its best matching text."""
    grouped: dict[tuple[str, int], tuple[Any, list[str]]] = {}
    for row in rows:
        _, quotes = grouped.setdefault((row.entity_type, row.entity_id), (row, []))
        if row.quote is not None:
            quotes.append(row.quote)
    hits = []
    for row, quotes in grouped.values():
        aliases = row.initiative_aliases or row.organization_aliases or []
        texts = [row.name, row.name_zh or "", "; ".join(aliases), row.prose or "", *quotes]
        key = float(row.key)
        hits.append(
            {
                "type": row.entity_type,
                "slug": row.slug,
                "name": row.name,
                "name_zh": row.name_zh,
                "snippet": best_snippet(texts, query, SNIPPET_WIDTH),
                "score": score(tier, key),
                "tier": tier,
                "key": key,
            }
        )
    return hits


def score(tier: int, key: float) -> float:
    """Higher is better: tier 0 scores in [1, 2), tier 1 in [0, 1), each by its relevance."""
    relevance = max(-key, 0.0)  # bm25 is negative, -ts_rank too; 0 for the weakest match
    return (len(TIERS) - 1 - tier) + relevance / (1.0 + relevance)


# --- total and facets ----------------------------------------------------------------------


def _facets(conn: Connection, query: Query, types: list[str] | None) -> dict[str, dict[str, int]]:
    """Counts per facet value over every match, largest first."""
    shape = shape_of(conn.dialect.name, query, narrowed=types is not None)
    counted = conn.execute(_facets_statement(shape), match_values(shape, query, types))
    facets: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for facet, value, count in counted:
        facets[facet][value] = count
    return {
        name: dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        for name, counts in facets.items()
    }


@cache
def _facets_statement(shape: Shape) -> Select[Any]:
    """(facet, value, count) for every facet, over the whole match set read once."""
    m = matches(shape).cte("matches").prefix_with("MATERIALIZED")
    # Sector counts go from the matches to their links (by the link table's primary key), not
    # from every link to the matches.
    per_sector = (
        select(sector_link.c.sector_id, func.count().label("hits"))
        .where(
            sector_link.c.initiative_id.in_(
                select(m.c.entity_id).where(m.c.entity_type == "initiative")
            )
        )
        .group_by(sector_link.c.sector_id)
        .subquery("per_sector")
    )
    published_sector = sectors.c.review_status == PUBLISHED
    statement: Select[Any] = union_all(
        select(literal("type"), m.c.entity_type, func.count()).group_by(m.c.entity_type),
        select(literal("kind"), m.c.kind, func.count()).group_by(m.c.kind),
        select(literal("country"), m.c.country, func.count())
        .where(m.c.country.is_not(None))
        .group_by(m.c.country),
        select(literal("sector"), sectors.c.slug, per_sector.c.hits)
        .join_from(per_sector, sectors, sectors.c.id == per_sector.c.sector_id)
        .where(published_sector),
    )  # type: ignore[assignment]
    return statement


# --- cursors -------------------------------------------------------------------------------


def _signature(query: Query, types: Sequence[str]) -> str:
    """Which search a cursor belongs to: the parsed query and the types."""
    text = query.to_tsquery() + "\n" + ",".join(sorted(set(types)))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _encode_cursor(signature: str, after: After) -> str:
    raw = orjson.dumps({"s": signature, "v": [after.tier, after.key, after.type, after.slug]})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, signature: str) -> After:
    """The position a cursor names; one that is not ours, or another search's, is a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(data, dict) or data.get("s") != signature:
            raise ValueError("the cursor belongs to another search")
        tier, key, entity_type, slug = data["v"]
        if tier not in TIERS or isinstance(key, bool) or not isinstance(key, int | float):
            raise TypeError("bad rank")
        if entity_type not in TYPES or not isinstance(slug, str):
            raise TypeError("bad position")
        return After(tier, float(key), entity_type, slug)
    except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error) as exc:
        raise BadRequest(
            "the cursor is not valid for this search; start again without it or pass the "
            "next_cursor of the previous page with the same q and type",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from exc
