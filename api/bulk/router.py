"""HTTP routes for /v1/export and /v1/import."""

import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.auth.deps import EngineDep, Viewer, write_route
from api.auth.tables import Role
from api.bulk.formats import NDJSON_MEDIA_TYPE
from api.bulk.service import export_lines, import_lines, raise_if_failed
from api.db import read_connection, refresh_statistics, write_transaction
from api.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

router = APIRouter(tags=["bulk"])
IMPORT_PATH = "/v1/import"
STATISTICS_AFTER = 10_000  # lines: past this an import can change the best query plans
ResourceName = Annotated[str, Field(pattern="^(sources|sectors|organizations|initiatives)$")]


class ImportSummary(BaseModel):
    lines: int = Field(description="Lines read.")
    created: int
    updated: int
    unchanged: int
    resources: dict[str, dict[str, int]] = Field(
        description="Counts per resource, e.g. {'initiatives': {'created': 3}}."
    )


@router.get(
    "/v1/export",
    operation_id="export_database",
    summary="The whole database as NDJSON, in import order",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON_MEDIA_TYPE: {}}, "description": "One record a line."}},
)
async def export_database(
    engine: EngineDep,
    viewer: Viewer,
    resource: Annotated[list[ResourceName] | None, Query(description="Only these.")] = None,
) -> StreamingResponse:
    public_only = viewer is None or not viewer.can(Role.editor)

    def body() -> Iterator[bytes]:
        with read_connection(engine) as conn:
            yield from export_lines(conn, public_only, resource)

    return StreamingResponse(
        body(),
        media_type=NDJSON_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="policy-tracker.ndjson"'},
    )


async def _spool(request: Request, limit: int) -> IO[bytes]:
    """The whole body, on disk past a few MB, before any of it is applied."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                spool.close()
                raise PayloadTooLarge(f"imports are limited to {limit} bytes")
            spool.write(chunk)
    except ClientDisconnect as exc:
        spool.close()
        raise BadRequest(
            "the client went away before the body ended; nothing was imported"
        ) from exc
    spool.seek(0)
    return spool


@router.post(
    IMPORT_PATH,
    operation_id="import_database",
    summary="Upsert NDJSON records by slug, all or nothing",
    response_model=ImportSummary,
    **write_route(
        Role.editor,
        {413: {"description": "Body over the import limit"}, 415: {"description": "Not NDJSON"}},
        {
            "requestBody": {
                "required": True,
                "content": {NDJSON_MEDIA_TYPE: {"schema": {"type": "string"}}},
            }
        },
    ),
)
async def import_database(request: Request, engine: EngineDep) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (NDJSON_MEDIA_TYPE, "application/jsonl", "application/ndjson"):
        raise UnsupportedMediaType(f"send the records as {NDJSON_MEDIA_TYPE}, one a line")
    spool = await _spool(request, request.app.state.settings.import_max_bytes)
    actor = request.state.principal.name

    def apply() -> dict[str, Any]:
        with spool, write_transaction(engine) as conn:
            report = import_lines(conn, spool, actor)
            raise_if_failed(report)  # rolls the whole transaction back
        if report.lines >= STATISTICS_AFTER:
            refresh_statistics(engine)
        return report.summary()

    return await run_in_threadpool(apply)
