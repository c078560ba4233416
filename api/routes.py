"""The HTTP operations every resource has, built once from a description of the resource.

Each domain's router.py states its names, models and filters; the handlers below stay thin:
parse, authorize, call the service in a transaction, shape the response.

Reads are ``async def`` and query in the event loop: they are short and never wait on a lock
(SQLite WAL readers and PostgreSQL MVCC reads don't block), which saves a thread hop on every
page view. Writes are plain ``def`` and run in the thread pool, because a write can wait for a
lock, and that wait must not stall every other request of the worker.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Engine

from api import resource as service
from api.auth.deps import EngineDep, Viewer, write_route
from api.auth.service import Principal
from api.auth.tables import Role
from api.bulk.formats import CSV_MEDIA_TYPE, NDJSON_MEDIA_TYPE, csv_lines, ndjson_lines
from api.cache.service import QueryCache
from api.db import read_connection, write_transaction
from api.errors import Forbidden, NotFound, invalid
from api.history.redact import redact_changes, redact_record
from api.history.service import list_history, state_as_of
from api.http import (
    Body,
    Page,
    SortField,
    SortKey,
    allowed_versions,
    list_body,
    list_response,
    parse_sort,
    record_body,
    record_response,
)
from api.query_params import QueryModel
from api.records import ReviewStatus, as_utc
from api.schemas import ListParams, PatchModel, WriteModel

SlugPath = Annotated[str, Field(max_length=200, description="The record's slug.")]


class RevisionRead(BaseModel):
    id: int
    version: int
    action: str
    actor: str = Field(description="Name of the API key that made the change.")
    at: str = Field(description="RFC 3339, UTC")
    changes: dict[str, Any] = Field(description="Changed fields, each {before, after}.")


@dataclass(frozen=True)
class ResourceApi:
    res: service.Resource
    read_model: type[BaseModel]
    create_model: type[WriteModel]
    update_model: type[PatchModel]
    params_model: type[ListParams]
    filters: Callable[[Any, str], list[ColumnElement[bool]]]
    sort_fields: Mapping[str, SortField]
    default_sort: str = "slug"


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _utc(moment: datetime) -> datetime:
    try:
        return as_utc(moment)
    except OverflowError as exc:
        raise invalid(["query", "as_of"], "the time is out of range once in UTC") from exc


def visible(
    api: ResourceApi, statuses: list[ReviewStatus], viewer: Principal | None
) -> ColumnElement[bool]:
    """Lists show published records; editors may ask for other review states."""
    if statuses and (viewer is None or not viewer.can(Role.editor)):
        raise Forbidden("only editors can list records by review_status")
    wanted = statuses or [ReviewStatus.published]
    column: ColumnElement[Any] = api.res.c.review_status
    return column.in_([s.value for s in wanted])


def list_page(
    request: Request, api: ResourceApi, params: ListParams, viewer: Principal | None
) -> Response:
    keys = parse_sort(params.sort or api.default_sort, api.sort_fields, "slug")
    engine = request.app.state.engine

    def where() -> list[ColumnElement[bool]]:
        return [
            visible(api, params.review_status, viewer),
            *api.filters(params, engine.dialect.name),
        ]

    if params.format != "json":
        return _stream(api, engine, where(), keys, viewer is None, params.format)
    if params.review_status:
        visible(api, params.review_status, viewer)  # refuse before anything is looked up
    # The page is kept per filters, sort, position and size; its total per filter set, so
    # every page of a walk reuses it.
    public_only = viewer is None
    cache: QueryCache = request.app.state.query_cache

    def page(conn: Connection) -> Body:
        return list_body(
            service.list_records(
                conn,
                api.res,
                where(),  # built only when the page is not kept already
                keys,
                params.limit,
                params.cursor,
                public_only=public_only,
                cache=cache,
                filters_key=(
                    params.model_dump_json(exclude={"cursor", "limit", "sort", "format"}),
                    public_only,
                ),
            )
        )

    page_key = ("page", api.res.name, params.model_dump_json(exclude={"format"}), public_only)
    body = cache.read(engine, page_key, page, Body.weight)
    return list_response(request, body)


def _stream(
    api: ResourceApi,
    engine: Engine,
    where: list[ColumnElement[bool]],
    keys: list[SortKey],
    public_only: bool,
    fmt: str,
) -> StreamingResponse:
    """Every match, streamed from one read transaction (a consistent snapshot)."""

    def body() -> Iterator[bytes]:
        with read_connection(engine) as conn:
            records = service.iter_records(conn, api.res, where, keys, public_only)
            if fmt == "csv":
                yield from csv_lines(api.read_model, records)
            else:
                yield from ndjson_lines(records)

    media_type = CSV_MEDIA_TYPE if fmt == "csv" else NDJSON_MEDIA_TYPE
    filename = f"{api.res.name}.{fmt}"
    return StreamingResponse(
        body(),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def build_router(api: ResourceApi) -> APIRouter:
    res = api.res
    one, many = res.singular, res.name
    a_one = f"{'an' if one[0] in 'aeiou' else 'a'} {one}"
    router = APIRouter(prefix=f"/v1/{many}", tags=[many])
    Read, Create, Update, Params = (  # noqa: N806 - they are types
        api.read_model,
        api.create_model,
        api.update_model,
        api.params_model,
    )
    not_found: dict[int | str, dict[str, Any]] = {404: {"description": f"No {one} has this slug"}}
    conditional: dict[int | str, dict[str, Any]] = {
        412: {"description": "If-Match names an older version"},
        428: {"description": "If-Match is missing"},
    }

    query = QueryModel(Params)

    @router.get(
        "",
        operation_id=f"list_{many}",
        summary=f"List {many}",
        response_model=Page[Read],  # type: ignore[valid-type]
        openapi_extra={"parameters": query.parameters},
    )
    async def list_(
        request: Request,
        viewer: Viewer,
        params: Annotated[ListParams, Depends(query)],
    ) -> Response:
        return list_page(request, api, params, viewer)

    @router.get(
        "/{slug}",
        operation_id=f"get_{one}",
        summary=f"Read one {one}",
        response_model=Read,
        responses={**not_found, 304: {"description": "Not modified (If-None-Match)"}},
    )
    async def get(
        request: Request,
        engine: EngineDep,
        viewer: Viewer,
        slug: SlugPath,
        as_of: Annotated[
            datetime | None, Query(description="Read the record as it was then (RFC 3339).")
        ] = None,
    ) -> Response:
        if as_of is None:
            public_only = viewer is None
            body = request.app.state.query_cache.read(
                engine,
                ("record", many, slug, public_only),
                lambda conn: record_body(service.read_record(conn, res, slug, public_only)),
                Body.weight,
            )
            return record_response(request, body)
        with read_connection(engine) as conn:
            record = state_as_of(conn, many, slug, _utc(as_of))
            if viewer is None:
                if record.get("review_status") != ReviewStatus.published.value:
                    raise NotFound(f"{one} {slug!r} was not published then")
                record = redact_record(conn, record)
        return record_response(request, record)

    @router.post(
        "",
        operation_id=f"create_{one}",
        summary=f"Create {a_one} (as a draft)",
        status_code=201,
        response_model=Read,
        **write_route(Role.contributor),
    )
    def create(request: Request, engine: EngineDep, body: Create) -> Response:  # type: ignore[valid-type]
        payload = body.model_dump(mode="json")  # type: ignore[attr-defined]
        with write_transaction(engine) as conn:
            record = service.create_record(conn, res, payload, _principal(request).name)
        return record_response(request, record, 201, Location=f"/v1/{many}/{record['slug']}")

    @router.patch(
        "/{slug}",
        operation_id=f"update_{one}",
        summary=f"Change {a_one} (JSON merge patch)",
        response_model=Read,
        **write_route(
            Role.contributor,
            {**not_found, **conditional},
            {**merge_patch_body(Update), **if_match(required=True)},
        ),
    )
    def patch(request: Request, engine: EngineDep, slug: SlugPath, body: Update) -> Response:  # type: ignore[valid-type]
        changes = body.model_dump(mode="json", exclude_unset=True)  # type: ignore[attr-defined]
        with write_transaction(engine) as conn:
            service.row_by_slug(conn, res, slug)  # 404 before 428: is there anything to match?
            versions = allowed_versions(request)
            record = service.update_record(
                conn, res, slug, changes, versions, _principal(request).name
            )
        return record_response(request, record)

    @router.delete(
        "/{slug}",
        operation_id=f"delete_{one}",
        summary=f"Delete {a_one} (its history is kept)",
        status_code=204,
        response_class=Response,
        **write_route(
            Role.editor,
            {**not_found, **conditional, 409: {"description": "Other records use it"}},
            if_match(required=True),
        ),
    )
    def delete(
        request: Request,
        engine: EngineDep,
        slug: SlugPath,
        detach: Annotated[
            bool, Query(description="Unlink records that use it instead of refusing.")
        ] = False,
    ) -> Response:
        with write_transaction(engine) as conn:
            service.row_by_slug(conn, res, slug)
            versions = allowed_versions(request)
            service.delete_record(conn, res, slug, versions, _principal(request).name, detach)
        return Response(status_code=204)

    @router.get(
        "/{slug}/history",
        operation_id=f"list_{one}_history",
        summary=f"Revisions of {a_one}, newest first",
        response_model=Page[RevisionRead],
        responses=not_found,
    )
    async def history(
        request: Request,
        engine: EngineDep,
        viewer: Viewer,
        slug: SlugPath,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> Response:
        with read_connection(engine) as conn:
            if viewer is None:
                service.read_record(conn, res, slug, public_only=True)
            page = list_history(conn, many, slug, limit, cursor)
            if viewer is None:
                for item in page["items"]:
                    item["changes"] = redact_changes(conn, item["changes"])
        return list_response(request, page)

    def review_action(status: ReviewStatus, verb: str) -> None:
        @router.post(
            f"/{{slug}}/{verb}",
            operation_id=f"{verb}_{one}",
            summary=f"{verb.capitalize()} {a_one}",
            response_model=Read,
            **write_route(Role.editor, {**not_found, 412: conditional[412]}, if_match(False)),
        )
        def action(request: Request, engine: EngineDep, slug: SlugPath) -> Response:
            versions = allowed_versions(request) if request.headers.get("if-match") else None
            with write_transaction(engine) as conn:
                record = service.set_review_status(
                    conn, res, slug, status, versions, _principal(request).name
                )
            return record_response(request, record)

    review_action(ReviewStatus.published, "publish")
    review_action(ReviewStatus.retracted, "retract")

    @router.post(
        "/{slug}/restore",
        operation_id=f"restore_{one}",
        summary=f"Bring back a deleted {one}",
        response_model=Read,
        **write_route(Role.editor, {**not_found, 409: {"description": "It exists"}}),
    )
    def restore(request: Request, engine: EngineDep, slug: SlugPath) -> Response:
        with write_transaction(engine) as conn:
            record = service.restore_record(conn, res, slug, _principal(request).name)
        return record_response(request, record, Location=f"/v1/{many}/{slug}")

    return router


def if_match(required: bool) -> dict[str, Any]:
    """Document the If-Match header a conditional write reads."""
    what = "required" if required else "optional; when sent it must match"
    return {
        "parameters": [
            {
                "name": "If-Match",
                "in": "header",
                "required": required,
                "description": f"The ETag of the record as you read it ({what}), or `*`.",
                "schema": {"type": "string"},
            }
        ]
    }


def merge_patch_body(model: type[BaseModel]) -> dict[str, Any]:
    """Document that PATCH takes application/merge-patch+json as well as application/json."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/merge-patch+json": {"schema": schema},
            },
        }
    }
