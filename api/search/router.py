"""HTTP route for /v1/search."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.auth.deps import EngineDep, Viewer
from api.db import read_connection
from api.errors import invalid
from api.http import list_response
from api.search import service
from api.search.models import SearchPage, SearchParams

router = APIRouter(prefix="/v1", tags=["search"])


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
)
async def search(
    request: Request,
    engine: EngineDep,
    viewer: Viewer,
    params: Annotated[SearchParams, Query()],
) -> Response:
    """Published records matching `q`, best match first, with the total and facet counts of
    the whole result set; page with `next_cursor` (also in the `Link` header)."""
    types = parse_types(params.type)
    with read_connection(engine) as conn:
        page = service.search(conn, params.q, types, params.limit, params.cursor)
    return list_response(request, page)
