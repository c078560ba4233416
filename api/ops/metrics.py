"""Prometheus metrics: requests by route and status, latency, database pool.

Single process: metrics live in prometheus_client's default registry.

Several uvicorn workers: each worker is its own process, so the metrics go through
prometheus_client's multiprocess mode. ``PROMETHEUS_MULTIPROC_DIR`` must name an empty directory
*before* the workers start (prometheus_client reads it at import). The CLI's ``serve`` calls
``prepare_multiprocess_dir(workers)`` before ``uvicorn.run``: it wipes a directory the operator
set, or makes a temporary one when workers > 1 and none is set (removed at exit). uvicorn spawns
its workers as fresh interpreters, so they inherit the variable and write their samples there;
whichever worker answers ``/metrics`` reads every worker's files.
"""

import atexit
import glob
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "MetricsMiddleware",
    "prepare_multiprocess_dir",
    "render_metrics",
    "sample_pool",
]

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
POOL_SAMPLE_INTERVAL_S: Final = 1.0
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")

REQUESTS = Counter(
    "policy_tracker_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "policy_tracker_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL_CONNECTIONS = Gauge(
    "policy_tracker_db_pool_connections",
    "Database pool connections by state (checked_out, idle, overflow), summed over live workers.",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "policy_tracker_db_pool_size",
    "Configured database pool size, summed over live workers.",
    multiprocess_mode="livesum",
)


def prepare_multiprocess_dir(workers: int) -> Path | None:
    """Make ``PROMETHEUS_MULTIPROC_DIR`` ready for ``workers`` processes; call before uvicorn.run.

    - set by the operator: created if missing, emptied of a previous run's files, returned;
    - unset and workers > 1: a fresh temporary directory, exported and removed at exit;
    - unset and one worker: nothing to do (in-memory registry), returns None.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path
    if workers <= 1:
        return None
    path = Path(tempfile.mkdtemp(prefix="policy-tracker-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


# prometheus_client picked in-memory or file-backed values when it was imported (just above);
# the exposition must follow the same choice, whatever the environment says later.
_MULTIPROCESS_DIR: Final = os.environ.get(MULTIPROC_ENV) or None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_workers(path: str) -> None:
    """Drop the live-gauge files of workers that have exited (uvicorn has no child_exit hook)."""
    for file in glob.glob(os.path.join(path, "gauge_live*.db")):
        match = _LIVE_GAUGE_FILE.search(file)
        if match and not _pid_alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), path)  # type: ignore[no-untyped-call]


def sample_pool(engine: Engine | None) -> None:
    """Copy the engine's pool counters into the gauges of this process."""
    if engine is None:
        return
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return
    overflow = pool.overflow()
    POOL_CONNECTIONS.labels("checked_out").set(pool.checkedout())
    POOL_CONNECTIONS.labels("idle").set(pool.checkedin())
    POOL_CONNECTIONS.labels("overflow").set(max(overflow, 0))
    POOL_SIZE.set(pool.size())


def render_metrics(engine: Engine | None) -> bytes:
    """The Prometheus text exposition of every worker's metrics."""
    sample_pool(engine)
    path = _MULTIPROCESS_DIR
    if path is None:
        return generate_latest(REGISTRY)
    _forget_dead_workers(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _route_template(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


def _engine_of(scope: Scope) -> Engine | None:
    app = scope.get("app")
    engine: Any = getattr(getattr(app, "state", None), "engine", None)
    return engine if isinstance(engine, Engine) else None


class MetricsMiddleware:
    """Pure ASGI: counts each HTTP request by method, route template and status, times it, and
    samples the database pool at most once a second per process."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._last_pool_sample = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except BaseException:
            status = 500
            raise
        finally:
            finished = time.perf_counter()
            self._observe(scope, status, finished - started)
            if finished - self._last_pool_sample >= POOL_SAMPLE_INTERVAL_S:
                self._last_pool_sample = finished
                sample_pool(_engine_of(scope))

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        key = (method, _route_template(scope), status)
        children = self._children.get(key)
        if children is None:
            children = (
                REQUESTS.labels(method, key[1], str(status)),
                LATENCY.labels(method, key[1]),
            )
            if len(self._children) < 10_000:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
