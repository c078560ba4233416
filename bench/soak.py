"""Bounded load and soak test: a mixed read/search/write workload against a real server.

It starts the API itself (uvicorn on 127.0.0.1, a free port) on a fresh migrated and seeded
SQLite database in a temporary directory, or on ``--database-url`` (PostgreSQL on a loopback
address only; migrated, seeded idempotently and given a key), runs ``--clients`` concurrent
asyncio clients for ``--duration`` seconds, and reports:

- throughput (requests per second) and latency p50/p95/p99, overall and per operation;
- errors: any 5xx, any transport error or time-out, and any status an operation should not
  answer (412 on a PATCH is an expected conflict, counted apart);
- the resident memory (VmRSS, and its anonymous part) of the server process and its workers,
  sampled every second, with a verdict on whether it levels off: the last third's maximum may
  exceed the middle third's by at most max(2 %, 4 MiB); the growth rate over the second half
  and (on SQLite) the database file's growth are reported beside it.

Mix per client step: list pages followed by cursor (25 %), reads (30 %), ``q=`` searches
(20 %), PATCH with If-Match (15 %), creates (10 %). Everything is bounded: the clients stop at
the deadline (and after --max-requests each), the server is stopped (killed if it must be) in a
finally. Exit status 0 when there were no errors and memory levelled off, 1 otherwise.

    python bench/soak.py                       # 60 s, 32 clients, SQLite
    python bench/soak.py --duration 300 --workers 2 --json bench/work/soak.json
    python bench/soak.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/soak
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.reliability.server import ApiServer, process_tree  # noqa: E402

EXPECTED = {
    "list": {200},
    "read": {200},
    "search": {200},
    "patch": {200, 412},
    "create": {201},
}
MIX = [("list", 25), ("read", 30), ("search", 20), ("patch", 15), ("create", 10)]
SEARCH_TERMS = ["china", "technology", "plan", "made", "innovation", "semiconductor", "zhongguo"]
REQUEST_TIMEOUT = 30.0
LEVEL_OFF_RATIO = 0.02
LEVEL_OFF_KIB = 4 * 1024


# --- setting up the database and the server ------------------------------------------------


def prepare_database(url: str) -> str:
    """Migrate and seed (idempotent) the database at ``url``; an editor key for the clients."""
    from alembic import command

    from api.auth.service import create_key
    from api.auth.tables import Role
    from api.cli import alembic_config
    from api.db import build_engine
    from api.seed import seed

    command.upgrade(alembic_config(url), "head")
    engine = build_engine(url)
    try:
        seed(engine)
        return create_key(engine, f"soak-{uuid.uuid4().hex[:8]}", Role.editor)[0]
    finally:
        engine.dispose()


def check_loopback(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return
    host = parsed.host or "localhost"
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing {host}: the soak test only talks to loopback addresses")


# --- memory sampling ------------------------------------------------------------------------


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class MemorySampler:
    """VmRSS and RssAnon of the server and its workers, once a second, in a thread."""

    root_pid: int
    db_path: Path | None = None  # SQLite: its size (with -wal) is sampled too
    interval: float = 1.0
    # seconds, VmRSS KiB, RssAnon KiB, processes, database KiB
    samples: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        for _ in range(1_000_000):
            pids = process_tree(self.root_pid)
            rss = sum(_status_kib(p, "VmRSS") for p in pids)
            anon = sum(_status_kib(p, "RssAnon") for p in pids)
            self.samples.append((time.monotonic() - start, rss, anon, len(pids), self._db_kib()))
            if self._stop.wait(self.interval):
                return

    def _db_kib(self) -> int:
        if self.db_path is None:
            return 0
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += Path(f"{self.db_path}{suffix}").stat().st_size
        return total // 1024

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def verdict(self) -> dict[str, Any]:
        values = [s[1] for s in self.samples]
        anon = [s[2] for s in self.samples]
        if len(values) < 6:
            return {"levels_off": None, "reason": "too few samples", "samples": len(values)}
        third = len(values) // 3
        middle, last = max(values[third : 2 * third]), max(values[2 * third :])
        allowed = max(middle * LEVEL_OFF_RATIO, LEVEL_OFF_KIB)
        half = self.samples[len(self.samples) // 2 :]
        return {
            "levels_off": last - middle <= allowed,
            "slope_second_half_kib_per_min": round(_slope([(t, r) for t, r, *_ in half]) * 60),
            "start_kib": values[0],
            "end_kib": values[-1],
            "peak_kib": max(values),
            "middle_third_max_kib": middle,
            "last_third_max_kib": last,
            "growth_last_vs_middle_kib": last - middle,
            "allowed_growth_kib": int(allowed),
            "anon_start_kib": anon[0],
            "anon_end_kib": anon[-1],
            "anon_middle_third_max_kib": max(anon[third : 2 * third]),
            "anon_last_third_max_kib": max(anon[2 * third :]),
            "database_start_kib": self.samples[0][4],
            "database_end_kib": self.samples[-1][4],
            "samples": len(values),
        }


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope (units per second) of (seconds, value) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


# --- the workload -----------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    conflicts: int = 0

    def add(self, op: str, elapsed: float, status: int | None, detail: str = "") -> None:
        self.latencies[op].append(elapsed)
        self.statuses[op][status if status is not None else -1] += 1
        if status is None or status >= 500 or status not in EXPECTED[op]:
            self.error_count += 1
            if len(self.errors) < 20:
                self.errors.append(f"{op}: {status} {detail[:200]}")
        elif op == "patch" and status == 412:
            self.conflicts += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Client:
    """One simulated user: a random walk over the mix, with a cursor it keeps following."""

    def __init__(
        self,
        n: int,
        http: httpx.AsyncClient,
        key: str,
        slugs: list[str],
        stats: Stats,
        run: str,
        rng: random.Random,
        mix: list[tuple[str, int]],
    ) -> None:
        self.n, self.http, self.slugs, self.stats, self.run, self.rng = (
            n,
            http,
            slugs,
            stats,
            run,
            rng,
        )
        self.auth = {"Authorization": f"Bearer {key}"}
        self.cursor: str | None = None
        self.created: list[str] = []
        self.ops = [op for op, weight in mix for _ in range(weight)]

    async def timed(self, op: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            resp = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.stats.add(op, time.perf_counter() - started, None, repr(exc))
            return None
        self.stats.add(op, time.perf_counter() - started, resp.status_code, resp.text)
        return resp

    async def step(self) -> None:
        op = self.rng.choice(self.ops)
        if op == "list":
            params: dict[str, Any] = {"limit": self.rng.choice([5, 20, 50])}
            if self.cursor:
                params["cursor"] = self.cursor
            resp = await self.timed("list", "GET", "/v1/initiatives", params=params)
            self.cursor = (
                resp.json().get("next_cursor") if resp and resp.status_code == 200 else None
            )
        elif op == "read":
            slug = self.rng.choice(self.slugs)
            await self.timed("read", "GET", f"/v1/initiatives/{slug}")
        elif op == "search":
            params = {"q": self.rng.choice(SEARCH_TERMS), "limit": 20}
            await self.timed("search", "GET", "/v1/initiatives", params=params)
        elif op == "patch":
            await self.patch()
        else:
            await self.create()

    async def patch(self) -> None:
        # Mostly its own records, sometimes a shared one (where 412s are expected).
        own = self.created and self.rng.random() < 0.7
        slug = self.rng.choice(self.created) if own else self.rng.choice(self.slugs)
        cur = await self.timed("read", "GET", f"/v1/initiatives/{slug}", headers=self.auth)
        if cur is None or cur.status_code != 200:
            return
        body = {"summary": f"soak {self.run} client {self.n} at {time.time():.3f}"}
        headers = {**self.auth, "If-Match": cur.headers["ETag"]}
        await self.timed("patch", "PATCH", f"/v1/initiatives/{slug}", json=body, headers=headers)

    async def create(self) -> None:
        slug = f"soak-{self.run}-{self.n}-{len(self.created)}"
        body = {
            "slug": slug,
            "name": f"Soak initiative {self.n}/{len(self.created)}",
            "kind": self.rng.choice(["plan", "programme", "policy"]),
            "country": self.rng.choice(["CN", "US", "DE"]),
            "summary": "Created by the soak test. " * self.rng.randint(1, 20),
            "start_year": self.rng.randint(1990, 2030),
        }
        resp = await self.timed("create", "POST", "/v1/initiatives", json=body, headers=self.auth)
        if resp is not None and resp.status_code == 201:
            self.created.append(slug)


async def run_clients(
    base_url: str,
    key: str,
    clients: int,
    duration: float,
    max_requests: int,
    seed: int,
    mix: list[tuple[str, int]],
) -> tuple[Stats, float]:
    stats = Stats()
    run = uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, limits=limits) as http:
        first = await http.get("/v1/initiatives", params={"limit": 200})
        first.raise_for_status()
        slugs = [item["slug"] for item in first.json()["items"]]
        if not slugs:
            raise SystemExit("the database has no published initiatives to read")
        deadline = time.monotonic() + duration
        started = time.monotonic()

        async def user(n: int) -> None:
            client = Client(n, http, key, slugs, stats, run, random.Random(seed + n), mix)
            for _ in range(max_requests):
                if time.monotonic() >= deadline:
                    return
                await client.step()

        await asyncio.wait_for(
            asyncio.gather(*(user(n) for n in range(clients))),
            timeout=duration + 2 * REQUEST_TIMEOUT,
        )
        elapsed = time.monotonic() - started
    return stats, elapsed


# --- reporting --------------------------------------------------------------------------------


def summarize(stats: Stats, elapsed: float, memory: dict[str, Any], args: Any) -> dict[str, Any]:
    every = [x for values in stats.latencies.values() for x in values]
    per_op = {
        op: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 50) * 1000, 1),
            "p95_ms": round(percentile(values, 95) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1),
            "statuses": dict(sorted(stats.statuses[op].items())),
        }
        for op, values in sorted(stats.latencies.items())
    }
    return {
        "database": args.kind,
        "clients": args.clients,
        "workers": args.workers,
        "duration_s": round(elapsed, 1),
        "requests": len(every),
        "throughput_rps": round(len(every) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(every, 50) * 1000, 1),
        "p95_ms": round(percentile(every, 95) * 1000, 1),
        "p99_ms": round(percentile(every, 99) * 1000, 1),
        "errors": stats.error_count,
        "error_samples": stats.errors,
        "expected_conflicts_412": stats.conflicts,
        "operations": per_op,
        "memory": memory,
    }


def print_report(report: dict[str, Any], samples: list[tuple[float, int, int, int, int]]) -> None:
    mib = 1024
    print(
        f"\nsoak: {report['database']}, {report['clients']} clients, "
        f"{report['workers']} worker(s), {report['duration_s']} s"
    )
    print(
        f"  {report['requests']} requests, {report['throughput_rps']} req/s; latency "
        f"p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, p99 {report['p99_ms']} ms"
    )
    conflicts = report["expected_conflicts_412"]
    print(f"  errors: {report['errors']} (412 conflicts, expected: {conflicts})")
    for sample in report["error_samples"][:10]:
        print(f"    {sample}")
    print(f"  {'operation':<8} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for op, row in report["operations"].items():
        print(
            f"  {op:<8} {row['requests']:>8} {row['p50_ms']:>8} {row['p95_ms']:>8} "
            f"{row['p99_ms']:>8}  {row['statuses']}"
        )
    mem = report["memory"]
    if mem.get("levels_off") is None:
        print(f"  memory: {mem.get('reason')}")
        return
    step = max(1, len(samples) // 12)
    series = ", ".join(f"{t:.0f}s {rss / mib:.0f}" for t, rss, *_ in samples[::step])
    print(f"  server RSS (MiB) over time: {series}")
    print(
        f"  RSS start {mem['start_kib'] / mib:.1f} MiB, end {mem['end_kib'] / mib:.1f} MiB, "
        f"peak {mem['peak_kib'] / mib:.1f} MiB; anonymous {mem['anon_start_kib'] / mib:.1f} -> "
        f"{mem['anon_end_kib'] / mib:.1f} MiB"
    )
    rate = mem["slope_second_half_kib_per_min"] / mib
    line = f"  RSS trend over the second half: {rate:+.1f} MiB/min"
    if mem["database_end_kib"]:
        line += (
            f"; database file {mem['database_start_kib'] / mib:.1f} -> "
            f"{mem['database_end_kib'] / mib:.1f} MiB"
        )
    print(line)
    verdict = "levels off" if mem["levels_off"] else "KEEPS GROWING"
    print(
        f"  memory {verdict}: last third max {mem['last_third_max_kib'] / mib:.1f} MiB vs middle "
        f"third max {mem['middle_third_max_kib'] / mib:.1f} MiB (allowed +"
        f"{mem['allowed_growth_kib'] / mib:.1f} MiB)"
    )


def parse_mix(text: str) -> list[tuple[str, int]]:
    mix = []
    for part in text.split(","):
        op, _, weight = part.partition("=")
        if op.strip() not in EXPECTED or not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{part!r}: use op=weight with op in {list(EXPECTED)}")
        mix.append((op.strip(), int(weight)))
    if not any(weight for _, weight in mix):
        raise argparse.ArgumentTypeError("the weights add up to nothing")
    return mix


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (1)")
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL instead of SQLite")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per client, at most")
    parser.add_argument("--rate-limits", action="store_true", help="keep the write rate limits")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the mix")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=MIX,
        help="weights, e.g. list=25,read=30,search=20,patch=15,create=10 (the default)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 3600:
        parser.error("--duration must be within 1..3600 s")
    if not 1 <= args.clients <= 512:
        parser.error("--clients must be within 1..512")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.database_url:
        check_loopback(args.database_url)
    workdir = Path(tempfile.mkdtemp(prefix="pt-soak-"))
    url = args.database_url or f"sqlite:///{workdir / 'soak.db'}"
    args.kind = make_url(url).get_backend_name()
    server: ApiServer | None = None
    sampler: MemorySampler | None = None
    try:
        print(f"preparing {args.kind} database ...", file=sys.stderr)
        key = prepare_database(url)
        server = ApiServer(
            url, workers=args.workers, rate_limits=args.rate_limits, log_dir=workdir / "logs"
        )
        server.start(timeout=120)
        print(f"server on {server.url} (pid {server.pid}); running ...", file=sys.stderr)
        db_path = None if args.database_url else workdir / "soak.db"
        sampler = MemorySampler(server.pid, db_path)
        sampler.start()
        stats, elapsed = asyncio.run(
            run_clients(
                server.url,
                key,
                args.clients,
                args.duration,
                args.max_requests,
                args.seed,
                args.mix,
            )
        )
        sampler.stop()
        if not server.running():
            stats.error_count += 1
            stats.errors.append(f"the server died:\n{server.log_tail(1500)}")
        report = summarize(stats, elapsed, sampler.verdict(), args)
        print_report(report, sampler.samples)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            report["memory_samples"] = sampler.samples
            args.json.write_text(json.dumps(report, indent=2))
        return 0 if report["errors"] == 0 and report["memory"].get("levels_off") else 1
    finally:
        if sampler is not None:
            sampler.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
