"""The benchmark harness: policy-tracker against Datasette and against the stack's ceiling.

    python bench/run.py --quick     # 10k only, short runs (make bench-quick)
    python bench/run.py             # 10k, 100k, 1M; PostgreSQL too; import and export

Steps: generate the datasets (bench/generate.py) unless present; build each size's SQLite
database for us (bench/load.py, cached under bench/work/db, keyed by the migrations and the
dataset) and for Datasette (``sqlite-utils insert`` + ``enable-fts``); load a throwaway
PostgreSQL database ``pt_bench_*`` (dropped at the end); start one server process each (ours on
SQLite, ours on PostgreSQL, Datasette, the ceiling app) on 127.0.0.1; drive every workload with
``wrk -t1 -c16`` in alternating order, several runs each, and keep medians; time
``policy-tracker import`` against ``sqlite-utils insert`` and the 1M export; write
bench/results/<date>.md and bench/results/latency.png. Every server is stopped at the end, and
every wrk run, load and import is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
DATA, DBS, LOGS = WORK / "data", WORK / "db", WORK / "logs"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"
DS_VENV = WORK / "datasette-venv"
DS_BIN = DS_VENV / "bin"
HOST = "127.0.0.1"
PORTS = {"ours": 8201, "datasette": 8202, "ceiling": 8203, "ours-pg": 8204, "ours-nocache": 8205}
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
sys.path.insert(0, str(BENCH))

from load import migrate, schema_stamp, via_bulk, via_import  # noqa: E402

# --- targets from the issue ---------------------------------------------------------------

TARGETS = {
    "list_vs_datasette": 6.0,
    "list_vs_ceiling": 0.5,
    "read_vs_datasette": 5.0,
    "search_p50_ms_1m": 15.0,
    "search_p99_ms_1m": 60.0,
    "search_p50_growth": 2.0,
    "search_vs_datasette": 30.0,
    "pg_p50_vs_sqlite": 2.0,
    "import_vs_sqlite_utils": 2.0,
    "export_rss_mb": 150.0,
    "server_rss_mb": 150.0,
}


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- servers ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    ping_path: str = "/openapi.json"
    proc: subprocess.Popen[bytes] | None = None
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    anon_samples: list[tuple[float, float]] = field(default_factory=list)

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        out = (LOGS / f"{self.name}-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            self.cmd,
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        RUNNING.append(self)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {out.name}")
            try:
                status, _ = http_get(self.url(self.ready_path), timeout=60)
                if status < 500:
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not become ready on port {self.port}")

    def drain(self, limit: float = 300) -> float:
        """Wait until requests left queued by a finished wrk run are done (a cheap request
        answers within a second), at most ``limit`` seconds; returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            t0 = time.monotonic()
            with contextlib.suppress(OSError):
                http_get(self.url(self.ping_path), timeout=limit)
            if time.monotonic() - t0 < 1.0:
                break
        return time.monotonic() - started

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def rss_mb(self) -> tuple[float, float]:
        """Resident memory of the server and its children (uvicorn may fork workers): all of
        it, and the anonymous part alone (RSS also counts the pages of the database file that
        SQLite's mmap has touched, which are page cache, shared and reclaimable)."""
        import psutil

        if self.proc is None or self.proc.poll() is not None:
            return 0.0, 0.0
        try:
            proc = psutil.Process(self.proc.pid)
            procs = [proc, *proc.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in procs) / 2**20
            anon = 0.0
            for p in procs:
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                        if line.startswith("RssAnon:"):
                            anon += int(line.split()[1]) / 1024
            return rss, anon
        except psutil.Error:
            return 0.0, 0.0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


RUNNING: list[Server] = []


def stop_all() -> None:
    for server in RUNNING:
        server.stop()
    RUNNING.clear()


class MemorySampler:
    """Samples every running server's RSS twice a second while a size is benchmarked."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self.stop_event.wait(0.5):
            for server in self.servers:
                rss, anon = server.rss_mb()
                server.rss_samples.append((time.monotonic() - started, rss))
                server.anon_samples.append((time.monotonic() - started, anon))

    def __enter__(self) -> MemorySampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)


def http_get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- wrk ----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    load_avg: float


def _ms(text: str) -> float:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def wrk(url: str, seconds: int) -> WrkResult:
    cmd = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "--timeout", "10s", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = p50 = p99 = 0.0
    requests = errors = 0
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif parts[:1] == ["50%"]:
            p50 = _ms(parts[1])
        elif parts[:1] == ["99%"]:
            p99 = _ms(parts[1])
        elif "requests in" in line:
            requests = int(parts[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            errors += int(parts[-1])
        elif line.strip().startswith("Socket errors:"):
            errors += sum(int(p.strip(",")) for p in parts if p.strip(",").isdigit())
    return WrkResult(rps, p50, p99, requests, errors, os.getloadavg()[0])


def median_result(runs: list[WrkResult]) -> dict[str, Any]:
    if runs and all(r.requests == 0 for r in runs):  # nothing finished within wrk's timeout
        return {
            "rps": 0.0,
            "p50_ms": None,
            "p99_ms": None,
            "errors": sum(r.errors for r in runs),
            "runs": [asdict(r) for r in runs],
        }
    return {
        "rps": statistics.median(r.rps for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "errors": sum(r.errors for r in runs),
        "runs": [asdict(r) for r in runs],
    }


# --- datasets and databases ---------------------------------------------------------------


def ensure_tools() -> None:
    if shutil.which("wrk") is None:
        log("installing wrk (Debian package)")
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=600)
    if not (DS_BIN / "datasette").exists() or not (DS_BIN / "sqlite-utils").exists():
        log("creating the Datasette virtualenv under bench/work")
        subprocess.run([sys.executable, "-m", "venv", str(DS_VENV)], check=True)
        subprocess.run(
            [str(DS_BIN / "pip"), "install", "-q", "datasette", "sqlite-utils"],
            check=True,
            timeout=900,
        )


def ensure_data(sizes: list[int]) -> dict[int, dict[str, Any]]:
    missing = [n for n in sizes if not (DATA / f"meta-{n}.json").exists()]
    if missing:
        log(f"generating datasets {missing}")
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "generate.py"),
                "--sizes",
                ",".join(map(str, missing)),
                "--out",
                str(DATA),
            ],
            check=True,
            timeout=3600,
        )
    return {n: json.loads((DATA / f"meta-{n}.json").read_text()) for n in sizes}


def ensure_ours_sqlite(n: int) -> Path:
    data = DATA / f"initiatives-{n}.ndjson"
    db = DBS / f"sqlite-{n}.db"
    stamp = db.with_suffix(".stamp")
    if db.exists() and stamp.exists() and stamp.read_text() == schema_stamp(data):
        return db
    DBS.mkdir(parents=True, exist_ok=True)
    for old in DBS.glob(f"sqlite-{n}.db*"):
        old.unlink()
    log(f"loading {n:,} initiatives into {db.name} (bulk path)")
    url = f"sqlite:///{db}"
    migrate(url)
    seconds = via_bulk(url, data)
    stamp.write_text(schema_stamp(data))
    log(f"  loaded in {seconds:.0f}s")
    return db


def sqlite_utils_insert(db: Path, flat: Path, timeout: float) -> float:
    for old in db.parent.glob(db.name + "*"):
        old.unlink()
    started = time.perf_counter()
    subprocess.run(
        [
            str(DS_BIN / "sqlite-utils"),
            "insert",
            str(db),
            "initiatives",
            str(flat),
            "--nl",
            "--pk",
            "slug",
        ],
        check=True,
        timeout=timeout,
    )
    return time.perf_counter() - started


def ensure_datasette_db(n: int) -> tuple[Path, float | None]:
    """Datasette's copy: the flat rows, an FTS5 index on the same text, an index on
    start_year. Returns the path and the insert time when it was (re)built."""
    flat = DATA / f"flat-{n}.ndjson"
    db = DBS / f"datasette-{n}.db"
    stamp = db.with_suffix(".stamp")
    key = f"{flat.stat().st_size}"
    if db.exists() and stamp.exists() and stamp.read_text() == key:
        return db, None
    log(f"building the Datasette database for {n:,}")
    seconds = sqlite_utils_insert(db, flat, 3600)
    ds_utils = str(DS_BIN / "sqlite-utils")
    subprocess.run(
        [
            ds_utils,
            "enable-fts",
            str(db),
            "initiatives",
            "name",
            "name_zh",
            "aliases",
            "summary",
            "--fts5",
        ],
        check=True,
        timeout=3600,
    )
    subprocess.run([ds_utils, "create-index", str(db), "initiatives", "start_year"], check=True)
    stamp.write_text(key)
    return db, seconds


@contextlib.contextmanager
def pg_database(n: int) -> Iterator[str]:
    """A throwaway PostgreSQL database, migrated and loaded; dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"pt_bench_{os.getpid()}_{n}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        migrate(url)
        log(f"loading {n:,} initiatives into PostgreSQL {name} (bulk path)")
        seconds = via_bulk(url, DATA / f"initiatives-{n}.ndjson")
        log(f"  loaded in {seconds:.0f}s")
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- workloads ----------------------------------------------------------------------------


def ours_server(name: str, url: str, env: dict[str, str] | None = None) -> Server:
    return Server(
        name,
        [
            str(VENV_BIN / "policy-tracker"),
            "serve",
            "--host",
            HOST,
            "--port",
            str(PORTS[name]),
            "--workers",
            "1",
        ],
        {"TRACKER_DATABASE_URL": url, **(env or {})},
        PORTS[name],
        "/v1/initiatives?limit=1",
    )


def deep_cursor(server: Server, slug: str, n: int) -> str:
    """A next_cursor that starts the page right after ``slug`` (halfway through the table).

    The cursor is opaque to clients; the harness builds it the way the API does (the sort
    signature and the last row's values, base64url JSON) and checks the API takes it. If the
    format ever changes it falls back to following next_cursor 200 rows at a time.
    """
    _, body = http_get(server.url("/v1/initiatives?limit=1"))
    first = json.loads(body)["next_cursor"]
    try:
        data = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
        data["v"] = [slug]
        raw = json.dumps(data, separators=(",", ":")).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        status, page = http_get(server.url(f"/v1/initiatives?cursor={cursor}"))
        if status == 200 and json.loads(page)["items"]:
            return cursor
    except (ValueError, KeyError):
        pass
    cursor = first
    for _ in range(n // 400):
        _, page = http_get(server.url(f"/v1/initiatives?limit=200&cursor={cursor}"))
        cursor = json.loads(page)["next_cursor"]
    return cursor


def search_path(server: Server, query: str) -> str:
    q = urllib.parse.quote(query)
    status, _ = http_get(server.url(f"/v1/search?q={q}&limit=20"))
    if status == 200:
        return f"/v1/search?q={q}&limit=20"
    return f"/v1/initiatives?q={q}"


def workload_urls(
    meta: dict[str, Any], servers: dict[str, Server], db_name: str
) -> dict[str, dict[str, str]]:
    n = meta["size"]
    q = " ".join(meta["search_words"])
    lo, hi = meta["year_range"]
    sector, deep, one = meta["sector"], meta["deep_slug"], meta["read_slug"]
    ds = f"/{db_name}/initiatives"
    urls: dict[str, dict[str, str]] = {"list": {}, "read": {}, "search": {}, "filtered": {}}
    for name in ("ours", "ours-nocache", "ours-pg"):
        if name not in servers:
            continue
        s = servers[name]
        urls["list"][name] = s.url(f"/v1/initiatives?cursor={deep_cursor(s, deep, n)}")
        urls["read"][name] = s.url(f"/v1/initiatives/{one}")
        urls["search"][name] = s.url(search_path(s, q))
        urls["filtered"][name] = s.url(
            f"/v1/initiatives?sector={sector}&start_year_min={lo}&start_year_max={hi}"
        )
    d = servers["datasette"]
    urls["list"]["datasette"] = d.url(f"{ds}.json?_next={deep}&_size=20")
    urls["read"]["datasette"] = d.url(f"{ds}/{one}.json")
    urls["search"]["datasette"] = d.url(f"{ds}.json?_search={urllib.parse.quote(q)}&_size=20")
    urls["filtered"]["datasette"] = d.url(
        f"{ds}.json?sectors__arraycontains={sector}&start_year__gte={lo}&start_year__lte={hi}"
        "&_size=20"
    )
    c = servers["ceiling"]
    urls["list"]["ceiling"] = c.url(f"/page?after={deep}")
    urls["read"]["ceiling"] = c.url(f"/row/{one}")
    return urls


def check(urls: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Two GETs of each URL: status, the latency of the first (cold: nothing cached, by the
    server or the OS) and of the second, and how many records it says match."""
    info: dict[str, dict[str, Any]] = {}
    for workload, targets in urls.items():
        for target, url in targets.items():
            started = time.perf_counter()
            status, body = http_get(url, timeout=120)
            elapsed = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            http_get(url, timeout=120)
            again = (time.perf_counter() - started) * 1000
            total = None
            with contextlib.suppress(ValueError):
                doc = json.loads(body)
                if isinstance(doc, dict):
                    total = doc.get("total", doc.get("filtered_table_rows_count"))
            info[f"{workload}/{target}"] = {
                "status": status,
                "first_ms": round(elapsed, 1),
                "again_ms": round(again, 1),
                "total": total,
                "url": url,
            }
            if status != 200:
                log(f"  ! {workload}/{target}: HTTP {status}: {body[:200]!r}")
    return info


def bench_size(meta: dict[str, Any], args: argparse.Namespace, with_pg: bool) -> dict[str, Any]:
    n = meta["size"]
    ours_db = ensure_ours_sqlite(n)
    ds_db, ds_insert_s = ensure_datasette_db(n)
    result: dict[str, Any] = {"size": n, "datasette_insert_s": ds_insert_s}
    with contextlib.ExitStack() as stack:
        stack.callback(stop_all)
        pg_url = stack.enter_context(pg_database(n)) if with_pg else None
        servers = {
            "ours": ours_server("ours", f"sqlite:///{ours_db}"),
            "datasette": Server(
                "datasette",
                [
                    str(DS_BIN / "datasette"),
                    "serve",
                    "-i",
                    str(ds_db),
                    "-h",
                    HOST,
                    "-p",
                    str(PORTS["datasette"]),
                    "--setting",
                    "sql_time_limit_ms",
                    "30000",
                    "--setting",
                    "suggest_facets",
                    "off",
                ],
                {},
                PORTS["datasette"],
                "/-/versions.json",
                "/-/versions.json",
            ),
            "ceiling": Server(
                "ceiling",
                [
                    str(VENV_BIN / "uvicorn"),
                    "bench.ceiling:app",
                    "--host",
                    HOST,
                    "--port",
                    str(PORTS["ceiling"]),
                    "--log-level",
                    "warning",
                ],
                {"TRACKER_BENCH_DB": str(ours_db)},
                PORTS["ceiling"],
                "/page",
            ),
        }
        if args.cold:
            # The same build and database with its query cache off: every request computes
            # its page, total and facets (what the first request after a write costs).
            servers["ours-nocache"] = ours_server(
                "ours-nocache", f"sqlite:///{ours_db}", {"TRACKER_QUERY_CACHE_MB": "0"}
            )
        if pg_url:
            servers["ours-pg"] = ours_server("ours-pg", pg_url)
        for server in servers.values():
            server.start()
        urls = workload_urls(meta, servers, ds_db.stem)
        result["checks"] = check(urls)
        result["workloads"] = {}
        with MemorySampler(list(servers.values())):
            for workload, targets in urls.items():
                checks = {t: result["checks"][f"{workload}/{t}"] for t in targets}
                names = [t for t, c in checks.items() if c["status"] == 200]
                # A target whose single request takes longer than --slow-ms is not load-tested:
                # 16 clients would only queue behind it. Its one request is its figure.
                # Judged on the second request: the first also pays for cold caches (the
                # OS's page cache for everyone, the query cache for ours).
                slow = {
                    t
                    for t in names
                    if checks[t].get("again_ms", checks[t]["first_ms"]) > args.slow_ms
                }
                names = [t for t in names if t not in slow]
                for name in names:
                    wrk(targets[name], args.warmup)
                    servers[name].drain()
                runs: dict[str, list[WrkResult]] = {t: [] for t in names}
                for r in range(args.runs):
                    for name in names if r % 2 == 0 else list(reversed(names)):
                        runs[name].append(wrk(targets[name], args.duration))
                        servers[name].drain()
                stats = {t: median_result(v) for t, v in runs.items()}
                for t in slow:
                    ms = checks[t].get("again_ms", checks[t]["first_ms"])
                    stats[t] = {
                        "rps": None,
                        "p50_ms": ms,
                        "p99_ms": None,
                        "errors": 0,
                        "single_request_ms": ms,
                        "runs": [],
                    }
                result["workloads"][workload] = stats
                summary = ", ".join(
                    f"{t} {v['rps']:,.0f}/s"
                    if v["rps"] is not None
                    else f"{t} one request {v['single_request_ms'] / 1000:.1f}s"
                    for t, v in stats.items()
                )
                log(f"  {n:,} {workload}: {summary}")
        result["memory"] = {
            name: {
                "max_mb": round(max((m for _, m in s.rss_samples), default=0), 1),
                "first_half_max_mb": round(_half_max(s.rss_samples, first=True), 1),
                "second_half_max_mb": round(_half_max(s.rss_samples, first=False), 1),
                "anon_max_mb": round(max((m for _, m in s.anon_samples), default=0), 1),
                "anon_first_half_max_mb": round(_half_max(s.anon_samples, first=True), 1),
                "anon_second_half_max_mb": round(_half_max(s.anon_samples, first=False), 1),
            }
            for name, s in servers.items()
        }
    return result


def _half_max(samples: list[tuple[float, float]], first: bool) -> float:
    if not samples:
        return 0.0
    mid = samples[-1][0] / 2
    chosen = [m for t, m in samples if (t <= mid) == first]
    return max(chosen, default=0.0)


# --- import and export --------------------------------------------------------------------


def bench_import(n: int, timeout: float, limit_lines: int | None) -> dict[str, Any]:
    """``policy-tracker import`` of n initiatives into a fresh database, against
    ``sqlite-utils insert`` of the same rows into a fresh file."""
    source = DATA / f"initiatives-{n}.ndjson"
    flat = DATA / f"flat-{n}.ndjson"
    if limit_lines:  # quick mode: the head of the file
        head = sum(1 for line in source.open("rb") if not line.startswith(b'{"resource": "ini'))
        cut = WORK / f"import-slice-{limit_lines}.ndjson"
        cut_flat = WORK / f"import-slice-{limit_lines}-flat.ndjson"
        with source.open("rb") as src, cut.open("wb") as dst:
            for i, line in enumerate(src):
                if i >= head + limit_lines:
                    break
                dst.write(line)
        with flat.open("rb") as src, cut_flat.open("wb") as dst:
            for i, line in enumerate(src):
                if i >= limit_lines:
                    break
                dst.write(line)
        source, flat, n = cut, cut_flat, limit_lines
    db = WORK / "import-test.db"
    for old in WORK.glob("import-test.db*"):
        old.unlink()
    url = f"sqlite:///{db}"
    migrate(url)
    log(f"import of {n:,} initiatives: policy-tracker import (limit {timeout:.0f}s)")
    try:
        ours: float | None = via_import(url, source, timeout)
    except subprocess.TimeoutExpired:
        ours = None
    log(f"  ours: {ours if ours is None else round(ours, 1)}s; now sqlite-utils insert")
    peer = sqlite_utils_insert(WORK / "import-peer.db", flat, timeout)
    log(f"  sqlite-utils: {peer:.1f}s")
    return {"size": n, "ours_s": ours, "sqlite_utils_s": peer, "timeout_s": timeout}


def bench_export(n: int, timeout: float) -> dict[str, Any]:
    """``policy-tracker export`` of the n-initiative database: wall time and peak RSS (sampled
    twice a second); past ``timeout`` it is stopped and the lines written so far reported."""
    import psutil

    db = ensure_ours_sqlite(n)
    out = WORK / f"export-{n}.ndjson"
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{db}"}
    log(f"export of {n:,}: policy-tracker export (limit {timeout:.0f}s)")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(VENV_BIN / "policy-tracker"), "export", str(out)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = peak_anon = 0.0
    samples: list[tuple[float, float]] = []
    complete = False
    try:
        ps = psutil.Process(proc.pid)
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                complete = proc.returncode == 0
                break
            with contextlib.suppress(psutil.Error, OSError):
                rss = ps.memory_info().rss / 2**20
                peak = max(peak, rss)
                samples.append((time.perf_counter() - started, rss))
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        peak_anon = max(peak_anon, int(line.split()[1]) / 1024)
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    seconds = time.perf_counter() - started
    lines = sum(1 for _ in out.open("rb")) if out.exists() else 0
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    return {
        "size": n,
        "seconds": seconds,
        "complete": complete,
        "timeout_s": timeout,
        "peak_rss_mb": peak,
        "peak_anon_mb": peak_anon,
        "lines": lines,
        "rss_first_half_mb": _half_max(samples, first=True),
        "rss_second_half_mb": _half_max(samples, first=False),
    }


def bench_http_export(n: int, timeout: float) -> dict[str, Any] | None:
    """``GET /v1/export`` streamed to nowhere: time and the server's peak RSS."""
    db = ensure_ours_sqlite(n)
    server = ours_server("ours", f"sqlite:///{db}")
    try:
        server.start()
        sampler = MemorySampler([server])
        started = time.perf_counter()
        size = 0
        complete = False
        with sampler:
            req = urllib.request.Request(server.url("/v1/export"))  # noqa: S310
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                    status = resp.status
                    deadline = time.monotonic() + timeout
                    while time.monotonic() < deadline:
                        chunk = resp.read(1 << 20)
                        if not chunk:
                            complete = True
                            break
                        size += len(chunk)
            except urllib.error.HTTPError as exc:
                status = exc.code
            except TimeoutError:
                status = -1
        seconds = time.perf_counter() - started
        peak = max((m for _, m in server.rss_samples), default=0.0)
        peak_anon = max((m for _, m in server.anon_samples), default=0.0)
        return {
            "server_peak_anon_mb": peak_anon,
            "size": n,
            "status": status,
            "seconds": seconds,
            "bytes": size,
            "complete": complete,
            "server_peak_rss_mb": peak,
        }
    finally:
        stop_all()


# --- report -------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    def cmd(args: list[str]) -> str:
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30)
            first = (out.stdout or out.stderr).strip().splitlines()[0]
            return first.split("version")[-1].strip(" ,") if "version" in first else first
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    pkgs = subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import fastapi, uvicorn, sqlalchemy, pydantic, starlette, sqlite3;"
            "print(fastapi.__version__, uvicorn.__version__, sqlalchemy.__version__,"
            " pydantic.__version__, starlette.__version__, sqlite3.sqlite_version)",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    names = ["fastapi", "uvicorn", "sqlalchemy", "pydantic", "starlette", "sqlite"]
    out = dict(zip(names, pkgs, strict=False))
    out["datasette"] = cmd([str(DS_BIN / "datasette"), "--version"])
    out["sqlite-utils"] = cmd([str(DS_BIN / "sqlite-utils"), "--version"])
    out["wrk"] = cmd(["wrk", "--version"]).split(" Copyright")[0].removeprefix("wrk ")
    out["postgresql"] = cmd(["psql", "-h", HOST, "-U", "postgres", "-tAc", "SHOW server_version"])
    out["python"] = platform.python_version()
    return out


def machine() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{mem:.0f} GiB",
        "kernel": platform.release(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k only, short runs")
    parser.add_argument("--sizes", default=None, help="comma list (default 10k,100k,1M)")
    parser.add_argument("--pg-sizes", default=None, help="sizes also run on PostgreSQL")
    parser.add_argument("--duration", type=int, default=None, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=None, help="wrk runs per target")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--only", choices=("reads", "import", "export"), action="append")
    parser.add_argument(
        "--no-cold",
        dest="cold",
        action="store_false",
        help="skip the extra target: our SQLite server with its query cache off",
    )
    parser.add_argument(
        "--slow-ms",
        type=float,
        default=3000,
        help="a target slower than this for one request is not load-tested",
    )
    parser.add_argument("--import-size", type=int, default=None)
    parser.add_argument("--import-timeout", type=float, default=2400)
    parser.add_argument("--export-size", type=int, default=None)
    parser.add_argument("--export-timeout", type=float, default=1800)
    parser.add_argument("--http-export-timeout", type=float, default=600)
    parser.add_argument("--out", type=Path, default=None, help="results JSON (merged into)")
    args = parser.parse_args()
    quick = args.quick
    sizes = [
        int(s) for s in (args.sizes or ("10000" if quick else "10000,100000,1000000")).split(",")
    ]
    pg_sizes = {int(s) for s in (args.pg_sizes or ",".join(map(str, sizes))).split(",") if s}
    args.duration = args.duration or (2 if quick else 10)
    args.runs = args.runs or (2 if quick else 3)
    args.warmup = args.warmup or (1 if quick else 3)
    steps = set(args.only or ("reads", "import", "export"))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    out_json = args.out or WORK / f"results-{stamp}{'-quick' if quick else ''}.json"
    results: dict[str, Any] = json.loads(out_json.read_text()) if out_json.exists() else {}

    def save() -> None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(results, indent=1, default=str))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        ensure_tools()
        metas = ensure_data(
            sorted(set(sizes) | ({100_000} if "import" in steps and not quick else set()))
        )
        results.update(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "quick": quick,
                "machine": machine(),
                "versions": versions(),
                "settings": {
                    "duration_s": args.duration,
                    "runs": args.runs,
                    "warmup_s": args.warmup,
                    "wrk": "-t1 -c16",
                    "processes": 1,
                },
            }
        )
        results.setdefault("sizes", {})
        if "reads" in steps:
            for n in sizes:
                log(f"size {n:,}")
                results["sizes"][str(n)] = bench_size(metas[n], args, n in pg_sizes)
                save()
        if "import" in steps:
            n = args.import_size or (10_000 if quick else 100_000)
            results["import"] = bench_import(
                n, args.import_timeout, limit_lines=1000 if quick else None
            )
            save()
        if "export" in steps:
            n = args.export_size or (10_000 if quick else 1_000_000)
            results["export"] = bench_export(n, args.export_timeout)
            save()
            results["http_export"] = bench_http_export(n, args.http_export_timeout)
            save()
    finally:
        stop_all()
        save()
    from report import write_report

    md, png = write_report(results, RESULTS, quick)
    log(f"wrote {md} and {png}")


if __name__ == "__main__":
    main()
