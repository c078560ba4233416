"""Operations endpoints: liveness, readiness (database reachable and migrated) and metrics.

The migration head is read once, at import, from the Alembic scripts; ``/readyz`` compares it
with the database's ``alembic_version`` on every call, so it recovers by itself when the
database comes back or gets migrated (nothing is cached but the head).
"""

import asyncio
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from api.ops.metrics import CONTENT_TYPE, render_metrics

__all__ = ["NotReadyError", "check_ready", "migration_heads", "router"]

log = logging.getLogger(__name__)

READY_TIMEOUT_S: Final = 3.0
PROBLEM_TYPE: Final = PROBLEM_TYPE_BASE + "not-ready"
_NO_STORE: Final = {"Cache-Control": "no-store"}

router = APIRouter(tags=["operations"])


class HealthStatus(BaseModel):
    status: Literal["ok"]


class ReadyStatus(BaseModel):
    status: Literal["ready"]
    revision: str


class NotReadyError(Exception):
    """Why the service cannot take traffic; the message is the problem's ``detail``."""


def _alembic_ini() -> Path | None:
    repo_root = Path(__file__).resolve().parents[2]
    for candidate in (repo_root / "alembic.ini", Path.cwd() / "alembic.ini"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The head revision(s) of this build's migration scripts (empty if they cannot be found)."""
    ini = _alembic_ini()
    if ini is None:
        log.error("alembic.ini not found: /readyz will answer 503")
        return frozenset()
    return frozenset(ScriptDirectory.from_config(Config(str(ini))).get_heads())


migration_heads()  # read the scripts once at start-up, not on the first probe


def check_ready(engine: Engine) -> str:
    """The database's revision when it is reachable and at the head; else NotReadyError."""
    heads = migration_heads()
    if not heads:
        raise NotReadyError("the migration scripts were not found in this build")
    try:
        with engine.connect() as conn:
            current: frozenset[str] = frozenset()
            if engine.dialect.has_table(conn, "alembic_version"):
                rows = conn.execute(text("SELECT version_num FROM alembic_version"))
                current = frozenset(str(row[0]) for row in rows)
    except SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        raise NotReadyError(f"database unreachable ({reason})") from exc
    if not current:
        raise NotReadyError("database not migrated: no Alembic revision recorded")
    if current != heads:
        raise NotReadyError(
            f"database at revision {', '.join(sorted(current))}, "
            f"expected {', '.join(sorted(heads))}: run `policy-tracker migrate`"
        )
    return ", ".join(sorted(current))


def _not_ready(detail: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": PROBLEM_TYPE,
            "title": "Service not ready",
            "status": 503,
            "detail": detail,
        },
        status_code=503,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**_NO_STORE, "Retry-After": "5"},
    )


_PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}


@router.get(
    "/healthz",
    operation_id="healthz",
    summary="Liveness: the process is up",
    response_model=HealthStatus,
    include_in_schema=True,
)
async def healthz(response: Response) -> dict[str, str]:
    """Answers 200 while the process serves requests; touches no database."""
    response.headers.update(_NO_STORE)
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: database reachable and at the latest migration",
    response_model=ReadyStatus,
    include_in_schema=True,
    responses={
        503: {
            "description": "Not ready; `detail` says why.",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}},
        }
    },
)
async def readyz(request: Request, response: Response) -> Any:
    """200 with the schema revision when the service can take traffic, else 503 with a reason."""
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        return _not_ready("the application has no database engine")
    try:
        revision = await asyncio.wait_for(
            run_in_threadpool(check_ready, engine), timeout=READY_TIMEOUT_S
        )
    except NotReadyError as exc:
        return _not_ready(str(exc))
    except TimeoutError:
        return _not_ready(f"database did not answer within {READY_TIMEOUT_S:g} s")
    response.headers.update(_NO_STORE)
    return {"status": "ready", "revision": revision}


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics of every worker process",
    response_class=Response,
    include_in_schema=True,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Requests by route and status, latency histograms and database pool gauges (text format)."""
    engine: Engine | None = getattr(request.app.state, "engine", None)
    return Response(render_metrics(engine), media_type=CONTENT_TYPE, headers=_NO_STORE)
