"""Operations: health and readiness probes, Prometheus metrics, structured logs, request ids.

``create_app`` calls ``install_ops(app, settings)`` once. The CLI's ``serve`` also calls
``prepare_multiprocess_dir(workers)`` and passes ``uvicorn_log_config(settings)`` with
``access_log=False`` to ``uvicorn.run`` (see docs/deployment.md).
"""

from fastapi import FastAPI

from api.config import Settings
from api.ops.logging import (
    RequestContextMiddleware,
    configure_logging,
    request_id_var,
    uvicorn_log_config,
)
from api.ops.metrics import MetricsMiddleware, prepare_multiprocess_dir
from api.ops.router import router

__all__ = [
    "configure_logging",
    "install_ops",
    "prepare_multiprocess_dir",
    "request_id_var",
    "uvicorn_log_config",
]


def install_ops(app: FastAPI, settings: Settings) -> None:
    """Configure logging, add /healthz, /readyz and /metrics, and the two ASGI middlewares.

    Call it after the other ``add_middleware`` calls so the request-id middleware is the
    outermost one (it then times and logs everything the app does, CORS included).
    """
    configure_logging(settings)
    app.include_router(router)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)
