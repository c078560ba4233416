"""HTTP route for /v1/search."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth.deps import EngineDep, Viewer
from api.cache.service import QueryCache
from api.errors import invalid
from api.http import Body, list_body, list_response
from api.query_params import QueryModel
from api.search import service
from api.search.models import SearchPage, SearchParams

router = APIRouter(prefix="/v1", tags=["search"])
search_query = QueryModel(SearchParams)


def parse_types(raw: list[str]) -> list[str]:
    """``type=initiative,sector&type=organization`` → the types named (all when none is)."""
    named = [part.strip() for value in raw for part in value.split(",") if part.strip()]
    for name in named:
        if name not in service.TYPES:
            choices = ", ".join(service.TYPES)
            raise invalid(["query", "type"], f"unknown type {name[:50]!r}; choose from {choices}")
    return sorted(set(named)) or list(service.TYPES)


@router.get(
    "/search",
    operation_id="search",
    summary="Search initiatives, sectors and organizations",
    response_model=SearchPage,
    responses={
        400: {"description": "The cursor is not valid for this search"},
        422: {"description": "The query cannot be searched, or a parameter is invalid"},
    },
    openapi_extra={"parameters": search_query.parameters},
)
async def search(
    request: Request,
    engine: EngineDep,
    viewer: Viewer,
    params: Annotated[SearchParams, Depends(search_query)],
) -> Response:
    """Published initiatives, sectors and organizations matching `q`, best first.

    **Matching**: case, accents and tones do not matter; Chinese characters match as written
    (a run of them as a phrase) and by toneless pinyin, with or without spaces; a Latin word
    also matches the words it begins. Several terms must all match; `"a phrase"`; `-term`
    excludes; `OR` between two terms matches either.

    **Ranking**: records whose names and aliases alone contain every term come first, then
    the others (found with their summary or description, or a quote they cite); within each,
    by relevance with names weighing most, then aliases, then the rest. `score` falls along
    the list and is comparable within one response.

    **Snippet**: HTML of the record's best matching text as written (name, aliases, summary
    or description, or a cited quote), matches in `<mark>`, everything else escaped.

    **Facets and total** count the whole result set (every page), after `type`.

    **Pages**: keyset over the ranking order (tier, relevance, type, slug); `next_cursor` (and
    the `Link` header) continues right after the last hit shown, with the same `q` and `type`.
    A walk sees every hit once while the data stays the same; on SQLite, where relevance
    (bm25) also depends on index-wide statistics, writes between pages can move a hit of
    nearly equal relevance across the page boundary.
    """
    types = parse_types(params.type)
    key = service.search_key(params.q, types, params.limit, params.cursor)
    cache: QueryCache = request.app.state.query_cache
    body = cache.read(
        engine,
        key,
        lambda conn: list_body(service.search(conn, params.q, types, params.limit, params.cursor)),
        Body.weight,
    )
    return list_response(request, body)
