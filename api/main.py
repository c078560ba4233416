"""create_app(): wiring only."""

from fastapi import FastAPI

from api import __version__
from api.auth.deps import assert_writes_guarded
from api.auth.router import router as keys_router
from api.bulk.router import IMPORT_PATH
from api.bulk.router import router as bulk_router
from api.cache.service import QueryCache
from api.config import Settings, get_settings
from api.db import build_engine
from api.errors import install_error_handlers
from api.initiatives.router import router as initiatives_router
from api.middleware import (
    BodySizeLimit,
    CatchAll,
    HeaderLimit,
    ProblemCORSMiddleware,
    SecurityHeaders,
)
from api.openapi import build_openapi
from api.ops import install_ops
from api.organizations.router import router as organizations_router
from api.ratelimit.service import RateLimiter
from api.search.router import router as search_router
from api.sectors.router import router as sectors_router
from api.sources.router import router as sources_router

DESCRIPTION = """An open database of national technology-policy initiatives: what each plan,
strategy or programme is, when it ran, which sectors and organizations it involves, how
initiatives relate, and the verbatim source sentences behind every record."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="policy-tracker",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = build_engine(settings.database_url)
    app.state.rate_limiter = RateLimiter(app.state.engine)
    app.state.query_cache = QueryCache(int(settings.query_cache_mb * 1024 * 1024))
    for router in (
        initiatives_router,
        sectors_router,
        organizations_router,
        sources_router,
        keys_router,
        bulk_router,
        search_router,
    ):
        app.include_router(router)
    assert_writes_guarded(app.routes)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.add_middleware(CatchAll)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, streaming_paths=(IMPORT_PATH,)
    )
    app.add_middleware(
        ProblemCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "X-Request-ID",
        ],
        expose_headers=["ETag", "Link", "Location", "X-Request-ID", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(HeaderLimit)
    install_ops(app, settings)  # outermost: request ids, access log and metrics see it all
    return app
