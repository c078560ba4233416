"""HTTP plumbing shared by every resource: keyset pagination, sorting, the list envelope,
ETags and JSON bodies."""

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, or_

from api.errors import BadRequest, PreconditionFailed, PreconditionRequired, invalid

T = TypeVar("T")
DEFAULT_LIMIT, MAX_LIMIT = 20, 200


class Page(BaseModel, Generic[T]):
    """The list envelope."""

    items: list[T]
    total: int = Field(description="How many records match, over all pages.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


@dataclass(frozen=True)
class SortField:
    """A field a list can be sorted by: its SQL expression and the Python type of its values."""

    name: str
    expr: ColumnElement[Any]
    kind: type = str
    # For nullable columns: what to sort by when descending, so missing values stay last.
    desc_expr: ColumnElement[Any] | None = None


@dataclass(frozen=True)
class SortKey:
    field: SortField
    descending: bool

    @property
    def expr(self) -> ColumnElement[Any]:
        if self.descending and self.field.desc_expr is not None:
            return self.field.desc_expr
        return self.field.expr

    @property
    def token(self) -> str:
        return ("-" if self.descending else "") + self.field.name


def parse_sort(raw: str | None, allowed: Mapping[str, SortField], tiebreak: str) -> list[SortKey]:
    """Parse ``sort=-start_year,name``; the tie-break field always ends the order."""
    keys: list[SortKey] = []
    seen: set[str] = set()
    for part in (raw or "").split(","):
        token = part.strip()
        if not token:
            continue
        descending = token.startswith("-")
        name = token.lstrip("-+")
        if name not in allowed:
            choices = ", ".join(sorted(allowed))
            raise invalid(["query", "sort"], f"cannot sort by {name!r}; choose from {choices}")
        if name in seen:
            raise invalid(["query", "sort"], f"{name!r} appears twice in sort")
        seen.add(name)
        keys.append(SortKey(allowed[name], descending))
    if tiebreak not in seen:
        keys.append(SortKey(allowed[tiebreak], False))
    return keys


def order_by(keys: Sequence[SortKey]) -> list[ColumnElement[Any]]:
    return [k.expr.desc() if k.descending else k.expr.asc() for k in keys]


def sort_signature(keys: Sequence[SortKey]) -> str:
    return ",".join(k.token for k in keys)


def encode_cursor(keys: Sequence[SortKey], row: Mapping[str, Any]) -> str:
    values = []
    for key in keys:
        value = row[f"sort_{key.field.name}"]
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    raw = orjson.dumps({"s": sort_signature(keys), "v": values})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


INT_LIMIT = 2**31 - 1  # what every sortable integer column holds, on both databases


def _coerce(value: Any, kind: type) -> Any:
    """A cursor value of the sort field's type, within what the column can hold."""
    if kind is datetime:
        if not isinstance(value, str) or len(value) > 40:
            raise TypeError
        return datetime.fromisoformat(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > INT_LIMIT:
            raise TypeError
        return value
    if not isinstance(value, str) or "\x00" in value or len(value) > 1000:
        raise TypeError
    return value


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    """Values of the last row of the previous page; a cursor that is not ours is a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(data, dict) or data.get("s") != sort_signature(keys):
            raise ValueError("cursor belongs to another sort order")
        values = data["v"]
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("cursor does not fit the sort order")
        return [_coerce(v, k.field.kind) for v, k in zip(values, keys, strict=True)]
    except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error) as exc:
        raise BadRequest(
            "the cursor is not valid for this list; start again without it or use the "
            "next_cursor of the previous page with the same sort",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from exc


def after_cursor(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after the cursor row in the sort order (lexicographic, mixed directions)."""
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j].expr == values[j] for j in range(i)]
        beyond = key.expr < values[i] if key.descending else key.expr > values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def sort_columns(keys: Sequence[SortKey]) -> list[ColumnElement[Any]]:
    """The sort expressions, labelled so the cursor can be built from the last row."""
    return [k.expr.label(f"sort_{k.field.name}") for k in keys]


def next_link(request: Request, cursor: str) -> str:
    """The request's own URL with the cursor replaced (cursors are URL-safe base64)."""
    query = "&".join(
        part
        for part in request.scope["query_string"].decode("latin-1").split("&")
        if part and not part.startswith("cursor=")
    )
    query = f"{query}&cursor={cursor}" if query else f"cursor={cursor}"
    return f'<{request.url.replace(query=query)}>; rel="next"'


def json_bytes(data: Any) -> bytes:
    return orjson.dumps(data)


@dataclass(frozen=True)
class Body:
    """A response body serialized once, with the validator its headers carry; what the query
    cache keeps (api/cache), so a repeated read costs neither queries nor serialization."""

    content: bytes
    etag: str
    next_cursor: str | None = None

    def weight(self) -> int:
        return len(self.content)


def list_body(page: Mapping[str, Any]) -> Body:
    content = json_bytes(page)
    return Body(content, f'"{_digest(content)}"', page["next_cursor"])


def record_body(record: Mapping[str, Any]) -> Body:
    content = json_bytes(record)
    return Body(content, etag_for(int(record["version"]), content))


def list_response(request: Request, page: Mapping[str, Any] | Body) -> Response:
    """A page in the list envelope, with a ``Link`` to the next page and an ETag over the body
    (304 when the client's copy is current)."""
    body = page if isinstance(page, Body) else list_body(page)
    headers = {"ETag": body.etag}
    if _not_modified(request, body.etag):
        return Response(status_code=304, headers=headers)
    if body.next_cursor:
        headers["Link"] = next_link(request, body.next_cursor)
    return Response(body.content, media_type="application/json", headers=headers)


# --- ETags: the version, plus a digest of the body so embedded data from other records
# (a source title, a related initiative's name) can never be served stale from a cache.


def _digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=6).hexdigest()


def etag_for(version: int, body: bytes) -> str:
    return f'"{version}-{_digest(body)}"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def _not_modified(request: Request, etag: str) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    inm = request.headers.get("if-none-match")
    if not inm:
        return False
    tags = _tags(inm)
    return "*" in tags or etag in tags


def record_response(
    request: Request,
    record: Mapping[str, Any] | Body,
    status_code: int = 200,
    **headers: str,
) -> Response:
    """A single record with its ETag; 304 when the client's copy is current."""
    body = record if isinstance(record, Body) else record_body(record)
    all_headers = {"ETag": body.etag, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if status_code == 200 and _not_modified(request, body.etag):
        return Response(status_code=304, headers={"ETag": body.etag})
    return Response(
        body.content, status_code=status_code, media_type="application/json", headers=all_headers
    )


def allowed_versions(request: Request) -> set[int] | None:
    """The versions the client's If-Match names; None for ``*``. Missing: 428."""
    header = request.headers.get("if-match")
    if not header:
        raise PreconditionRequired(
            "send If-Match with the ETag of the record you are changing (read it first)"
        )
    tags = _tags(header)
    if "*" in tags:
        return None
    versions = set()
    for tag in tags:
        version = tag.strip('"').split("-", 1)[0]
        if version.isdigit() and len(version) < 12:
            versions.add(int(version))
    if not versions:
        raise PreconditionFailed(f"If-Match {header[:100]!r} names no version of this record")
    return versions
