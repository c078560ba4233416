"""The CLI's side of bulk data: files, stdin/stdout and a progress bar on stderr."""

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from api.bulk.formats import csv_lines
from api.bulk.service import ORDER, export_lines, import_lines
from api.db import read_connection, refresh_statistics, write_transaction
from api.http import SortField, parse_sort
from api.resource import REGISTRY, iter_records


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} lines"),
        TimeElapsedColumn(),
        console=None,
        transient=False,
        disable=not sys.stderr.isatty(),
        redirect_stdout=False,
    )


def _csv(engine: Engine, name: str) -> Iterator[bytes]:
    from api.initiatives.models import InitiativeRead
    from api.organizations.models import OrganizationRead
    from api.sectors.models import SectorRead
    from api.sources.models import SourceRead

    models: dict[str, type[BaseModel]] = {
        "initiatives": InitiativeRead,
        "sectors": SectorRead,
        "organizations": OrganizationRead,
        "sources": SourceRead,
    }
    res = REGISTRY[name]
    keys = parse_sort("slug", {"slug": SortField("slug", res.c.slug)}, "slug")
    with read_connection(engine) as conn:
        yield from csv_lines(models[name], iter_records(conn, res, [], keys, False))


def write_export(engine: Engine, file: Path, resources: list[str], fmt: str) -> int:
    known = [r.name for r in ORDER]
    for name in resources:
        if name not in known:
            raise ValueError(f"unknown resource {name!r}; choose from {', '.join(known)}")
    if fmt not in ("ndjson", "csv"):
        raise ValueError("--format is ndjson or csv")
    if fmt == "csv" and len(resources) != 1:
        raise ValueError("CSV holds one resource: name it with --resource")
    count = 0
    with ExitStack() as stack:
        out: IO[bytes] = (
            sys.stdout.buffer if str(file) == "-" else stack.enter_context(file.open("wb"))
        )
        progress = stack.enter_context(_progress())
        task = progress.add_task("exporting", total=None)
        if fmt == "csv":
            chunks: Iterator[bytes] = _csv(engine, resources[0])
        else:
            conn = stack.enter_context(read_connection(engine))
            chunks = export_lines(conn, public_only=False, resources=resources or None)
        for chunk in chunks:
            out.write(chunk)
            count += chunk.count(b"\n")
            progress.update(task, completed=count)
    return count - (1 if fmt == "csv" else 0)


def run_import(
    engine: Engine, file: Path, actor: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, errors); with errors, nothing was written."""
    with ExitStack() as stack:
        src: IO[bytes] = (
            sys.stdin.buffer if str(file) == "-" else stack.enter_context(file.open("rb"))
        )
        progress = stack.enter_context(_progress())
        task = progress.add_task("importing", total=None)
        try:
            with write_transaction(engine) as conn:
                report = import_lines(
                    conn, src, actor, lambda n: progress.update(task, completed=n)
                )
                progress.update(task, completed=report.lines)
                if report.errors:
                    raise _Rollback
        except _Rollback:
            return report.summary(), report.errors
    refresh_statistics(engine)
    return report.summary(), []


class _Rollback(Exception):
    """Leaves the import's transaction without committing it."""
