"""One error hierarchy, rendered as RFC 9457 problem+json by one set of handlers."""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("api.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://policy-tracker.dev/problems/"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


class ApiError(Exception):
    """Base of every error the API reports on purpose."""

    status: int = 500
    code: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(ApiError):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(ApiError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="policy-tracker"'})
        super().__init__(detail, **kwargs)


class Forbidden(ApiError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(ApiError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(ApiError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(ApiError):
    status, code, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(ApiError):
    status, code, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(ApiError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(ApiError):
    status, code, title = 422, "validation-error", "Invalid request"

    def __init__(self, detail: str, errors: Sequence[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(detail, errors=errors, **kwargs)


class PreconditionRequired(ApiError):
    status, code, title = 428, "precondition-required", "Precondition required"


class TooManyRequests(ApiError):
    status, code, title = 429, "too-many-requests", "Too many requests"


class ServiceUnavailable(ApiError):
    status, code, title = 503, "service-unavailable", "Service unavailable"


def field_error(loc: Sequence[str | int], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg}


def invalid(loc: Sequence[str | int], msg: str) -> ValidationFailed:
    """A 422 naming one bad field."""
    return ValidationFailed(msg, [field_error(loc, msg)])


_STATUS_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Invalid request"),
    429: ("too-many-requests", "Too many requests"),
    431: ("request-header-fields-too-large", "Request headers too large"),
    500: ("internal-error", "Internal server error"),
    503: ("service-unavailable", "Service unavailable"),
}


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    instance: str | None = None,
) -> ProblemResponse:
    default_code, default_title = _STATUS_TITLES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (code or default_code),
        "title": title or default_title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append(field_error(_clean_loc(err.get("loc", ())), msg))
    return out


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _api_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ApiError)
    return problem(
        exc.status,
        exc.detail,
        code=exc.code,
        title=exc.title,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
        instance=request.url.path,
    )


async def _request_validation(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
    return problem(422, detail or "invalid request", errors=errors, instance=request.url.path)


async def _http_exception(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route matches {request.url.path}"
    if exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem(
        exc.status_code, detail, headers=dict(exc.headers or {}), instance=request.url.path
    )


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    request_id = _request_id(request)
    log.exception("unhandled error", extra={"request_id": request_id, "path": request.url.path})
    detail = "the server hit an unexpected error"
    if request_id:
        detail += f"; quote request id {request_id} when reporting it"
    return problem(500, detail, instance=request.url.path)


async def _database_unavailable(request: Request, exc: Exception) -> ProblemResponse:
    """The database is down, locked for too long, read-only or full: nothing was written."""
    log.warning("database unavailable: %s", str(exc).splitlines()[0][:200])
    return problem(
        503,
        "the database cannot take this request right now; nothing was changed, try again",
        headers={"Retry-After": "2"},
        instance=request.url.path,
    )


async def _integrity(request: Request, exc: Exception) -> ProblemResponse:
    """A constraint caught what the checks before it could not see: a concurrent write."""
    log.info("integrity error: %s", str(exc).splitlines()[0][:200])
    return problem(
        409,
        "the change conflicts with another one made at the same time; read again and retry",
        instance=request.url.path,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(sa_exc.IntegrityError, _integrity)
    app.add_exception_handler(sa_exc.OperationalError, _database_unavailable)
    app.add_exception_handler(sa_exc.InterfaceError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
