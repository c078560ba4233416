"""Plain ASGI middleware (no BaseHTTPMiddleware: it costs a task per request)."""

import logging
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, problem

log = logging.getLogger("api.errors")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"cross-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _problem_413(limit: int) -> tuple[dict[str, Any], bytes]:
    body = orjson.dumps(
        {
            "type": PROBLEM_TYPE_BASE + "payload-too-large",
            "title": "Request body too large",
            "status": 413,
            "detail": f"request bodies are limited to {limit} bytes",
        }
    )
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, body


MAX_HEADER_BYTES = 32 * 1024
MAX_HEADERS = 100


def _nul_locations(scope: Scope, msg: str) -> list[dict[str, Any]]:
    """Which parts of the URL hold a NUL: the path, or each query parameter by name."""
    found: list[dict[str, Any]] = []
    if "\x00" in scope["path"]:
        found.append({"loc": ["path"], "msg": msg})
    query = scope["query_string"].decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            found.append({"loc": ["query", name.replace("\x00", "")], "msg": msg})
    return found or [{"loc": ["query"], "msg": msg}]


class HeaderLimit:
    """431 for requests whose headers are too many or too large, and 422 for a NUL in the
    URL (no slug or parameter has one, and PostgreSQL text cannot hold it), before any work."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
                msg = "NUL characters are not allowed in URLs"
                response = problem(422, msg, errors=_nul_locations(scope, msg))
                await response(scope, receive, send)
                return
            headers = scope["headers"]
            size = sum(len(name) + len(value) for name, value in headers)
            if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
                detail = (
                    f"request headers are limited to {MAX_HEADERS} and {MAX_HEADER_BYTES} bytes"
                )
                response = problem(431, detail, title="Request headers too large")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """413 for a body over the limit, by Content-Length or by counting a streamed body.

    Bodies are read here, before the app sees them, so an oversized one is refused whole and
    nothing downstream runs. Paths in ``streaming_paths`` (bulk import) stream past this
    limit and enforce their own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streaming_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streaming_paths = streaming_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.streaming_paths:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await self._reject(send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        start, body = _problem_413(self.max_bytes)
        await send(start)
        await send({"type": "http.response.body", "body": body})


class CatchAll:
    """The last net for unexpected errors, inside CORS and the security headers, so even a
    500 reaches a browser frontend as a readable problem (Starlette's own handler for
    Exception runs outside every middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = scope.get("state", {}).get("request_id")
            log.exception("unhandled error", extra={"request_id": request_id})
            if started:
                raise
            detail = "the server hit an unexpected error"
            if request_id:
                detail += f"; quote request id {request_id} when reporting it"
            await problem(500, detail, instance=scope.get("path"))(scope, receive, send)


class ProblemCORSMiddleware(CORSMiddleware):
    """CORS whose refused preflights are problem+json like every other error."""

    def preflight_response(self, request_headers: Any) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        reason = bytes(response.body).decode(errors="replace")
        refused = problem(400, f"CORS preflight refused: {reason}")
        for name in ("vary", "access-control-allow-methods", "access-control-max-age"):
            if name in response.headers:
                refused.headers[name] = response.headers[name]
        return refused
