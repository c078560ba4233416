"""Logging set-up and the request-context middleware that writes the access log.

``configure_logging`` sends every log record to stderr, one JSON object a line when the stream is
not a terminal (or ``TRACKER_LOG_FORMAT=json``), a readable line on a terminal. The access log is
ours (one line per request, logger ``policy_tracker.access``); uvicorn's own access log is turned
off. Headers are never logged, and anything that looks like a bearer token is masked on the way
out, so API keys cannot leak through a careless message.
"""

import json
import logging
import logging.config
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.config import Settings

__all__ = [
    "ACCESS_LOGGER",
    "JsonFormatter",
    "OpsStreamHandler",
    "RequestContextMiddleware",
    "TextFormatter",
    "configure_logging",
    "request_id_var",
    "uvicorn_log_config",
]

ACCESS_LOGGER: Final = "policy_tracker.access"
REQUEST_ID_HEADER: Final = b"x-request-id"

# The request id of the request being served; None outside a request. The 500 handler reads it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# "Bearer <token>", and "authorization: ..." / "api_key=..." with or without quotes.
_SECRET = re.compile(
    r"(?i)(\bbearer\s+)[^\s\"',;}]{6,}"
    r"|(\b(?:authorization|x-api-key|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?[^\s\"',;}]+"
)
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRS: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)
_access_log = logging.getLogger(ACCESS_LOGGER)


def redact(text: str) -> str:
    """Mask bearer tokens and key-like values ("Bearer abc" -> "Bearer [redacted]")."""
    return _SECRET.sub(lambda m: f"{m.group(1) or m.group(2)}[redacted]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, request_id, then the record's extras."""

    def __init__(self, *args: Any, use_colors: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key not in entry and key != "color_message":
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal: time, level, logger, message, [request id]."""

    def __init__(self, *args: Any, use_colors: bool | None = None, **kwargs: Any) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            line = f"{line} [{request_id}]"
        return redact(line)


class OpsStreamHandler(logging.StreamHandler[TextIO]):
    """The handler ``configure_logging`` installs; its class marks it as ours to replace."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)


def _use_json(settings: Settings, stream: TextIO) -> bool:
    fmt = settings.log_format.lower()
    if fmt in ("json", "text"):
        return fmt == "json"
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def _level(settings: Settings) -> int:
    level = logging.getLevelName(settings.log_level.upper())
    return level if isinstance(level, int) else logging.INFO


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Route all logging to one stderr handler (JSON or text); idempotent.

    Replaces only handlers this module installed, so test harnesses' handlers survive. Turns off
    uvicorn's access log (ours replaces it) and lets uvicorn's other loggers reach the root.
    """
    stream = stream if stream is not None else sys.stderr
    handler = OpsStreamHandler(stream)
    handler.setFormatter(JsonFormatter() if _use_json(settings, stream) else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, OpsStreamHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(settings))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # uvicorn writes its access line only when this logger has handlers; give it none.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    _access_log.disabled = False


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """The ``log_config`` for ``uvicorn.run``: uvicorn's own lines in our format, no access log.

    The CLI passes ``log_config=uvicorn_log_config(settings), access_log=False``; each worker then
    calls ``configure_logging`` again from ``create_app`` (idempotent).
    """
    formatter = "json" if _use_json(settings, sys.stderr) else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": f"{__name__}.JsonFormatter"},
            "text": {"()": f"{__name__}.TextFormatter"},
            # uvicorn writes use_colors into these two names when it is given use_colors.
            "default": {"()": f"{__name__}.{formatter.title()}Formatter"},
            "access": {"()": f"{__name__}.{formatter.title()}Formatter"},
        },
        "handlers": {
            "default": {"()": f"{__name__}.OpsStreamHandler", "formatter": formatter},
        },
        "root": {"handlers": ["default"], "level": settings.log_level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            candidate: str = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.fullmatch(candidate) else None
    return None


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Pure ASGI: request id in, request id out, one access-log line per request.

    The id is the client's ``X-Request-ID`` when it is 1-128 characters of ``[A-Za-z0-9._-]``,
    else a new uuid4 hex. It is put in ``request_id_var``, in ``scope["state"]["request_id"]``
    (``request.state.request_id``) and in the response's ``X-Request-ID`` header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0] != REQUEST_ID_HEADER]
                headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # Leave request_id_var set: the server-error handler outside us logs with it.
            self._log(scope, 500, started, request_id)
            raise
        self._log(scope, status, started, request_id)
        request_id_var.reset(token)

    @staticmethod
    def _log(scope: Scope, status: int, started: float, request_id: str) -> None:
        if not _access_log.isEnabledFor(logging.INFO):
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        method: str = scope["method"]
        path: str = scope["path"]
        _access_log.info(
            "%s %s %d %.1fms",
            method,
            path,
            status,
            duration_ms,
            extra={
                "method": method,
                "route": _route(scope),
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "request_id": request_id,
                "client": _client(scope),
            },
        )
