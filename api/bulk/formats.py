"""Streaming a list as CSV or NDJSON: every match, a batch of rows in memory at a time."""

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from pydantic import BaseModel

# How list fields become one CSV cell: items joined by "; ", each item written as below.
LIST_SEPARATOR = "; "
ITEM_FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "organizations": lambda o: f"{o['slug']}:{o['role']}",
    "related": lambda r: f"{r['slug']}:{r['relation']}",
    "evidence": lambda e: f"{e['source']}#{e['excerpt']}",
    "excerpts": lambda e: str(e["id"]),
}
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
NDJSON_MEDIA_TYPE = "application/x-ndjson"


def _cell(field: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        fmt = ITEM_FORMATS.get(field)
        return LIST_SEPARATOR.join(fmt(v) if fmt and isinstance(v, dict) else str(v) for v in value)
    return str(value)


def csv_lines(model: type[BaseModel], records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (so spreadsheets read Chinese right), one header row."""
    columns = list(model.model_fields)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(columns)
    for n, record in enumerate(records, 1):
        writer.writerow([_cell(c, record.get(c)) for c in columns])
        if n % 200 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def ndjson_lines(records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    chunk: list[bytes] = []
    for record in records:
        chunk.append(orjson.dumps(record) + b"\n")
        if len(chunk) >= 200:
            yield b"".join(chunk)
            chunk = []
    yield b"".join(chunk)
