"""Who is calling, and the guard every write route must declare."""

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from api.auth.service import Principal, authenticate
from api.auth.tables import Role
from api.errors import Forbidden, Unauthorized
from api.ratelimit.service import RateLimiter

REQUIRED_ROLE = "x-required-role"
GUARD_ROLE = "required_role"  # set on each guard, so start-up can check routes carry one
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


async def app_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(app_engine)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <key>'")
    return token.strip()


def _authenticate(request: Request, engine: Engine, token: str) -> Principal:
    """Check a key, counting failures per client address (429 once there are too many)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    limit = request.app.state.settings.auth_failure_limit
    bucket = f"auth-failure:{request.client.host if request.client else 'unknown'}"
    limiter.refuse_if_over(bucket, limit, "failed authentications")
    try:
        return authenticate(engine, token)
    except Unauthorized:
        limiter.check(bucket, limit, "failed authentications")
        raise


async def optional_principal(request: Request, engine: EngineDep) -> Principal | None:
    """The caller, or None for an anonymous reader (401 if a key is sent but is bad)."""
    token = _bearer(request)
    if token is None:
        if not request.app.state.settings.anonymous_reads:
            raise Unauthorized("this server requires an API key for reading")
        return None
    return _authenticate(request, engine, token)


Viewer = Annotated[Principal | None, Depends(optional_principal)]


def requires(role: Role) -> Callable[..., Principal]:
    """Dependency: a caller whose key has at least ``role``."""

    def guard(request: Request, engine: EngineDep) -> Principal:
        token = _bearer(request)
        if token is None:
            raise Unauthorized("this operation needs an API key: 'Authorization: Bearer <key>'")
        principal = _authenticate(request, engine, token)
        if not principal.can(role):
            raise Forbidden(
                f"this operation needs the {role.value} role; your key is {principal.role.value}"
            )
        request.state.principal = principal
        return principal

    guard.__name__ = f"requires_{role.value}"
    setattr(guard, GUARD_ROLE, role.value)
    return guard


def write_route(
    role: Role,
    responses: dict[int | str, Any] | None = None,
    openapi_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Route keyword arguments for a write: the guard, and a mark the app checks at start-up."""
    return {
        "dependencies": [Depends(requires(role))],
        "openapi_extra": {**(openapi_extra or {}), REQUIRED_ROLE: role.value},
        "responses": {
            401: {"description": "No key, or a bad, revoked or expired one"},
            403: {"description": f"The key's role is below {role.value}"},
            **(responses or {}),
        },
    }


def _routes(routes: list[Any]) -> Iterator[tuple[Any, str, set[str]]]:
    """(route, path, methods) of every route, including those of included routers."""
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # older FastAPI copies included routes into app.routes
        for route in routes:
            yield route, getattr(route, "path", "?"), set(getattr(route, "methods", None) or ())
        return
    for context in iter_route_contexts(routes):
        yield context.original_route, context.path or "?", set(context.methods or ())


def assert_writes_guarded(routes: list[Any]) -> None:
    """Refuse to start an app with a write route that has no role guard, or whose guard does
    not match the role it documents."""
    for route, path, methods in _routes(routes):
        if not methods - READ_METHODS:
            continue
        if not isinstance(route, APIRoute):
            raise RuntimeError(f"write route {path} {sorted(methods)} is not a guarded API route")
        documented = (route.openapi_extra or {}).get(REQUIRED_ROLE)
        guards = {getattr(d.dependency, GUARD_ROLE, None) for d in route.dependencies}
        if documented is None or documented not in guards:
            raise RuntimeError(f"write route {path} {sorted(methods)} has no role guard")
