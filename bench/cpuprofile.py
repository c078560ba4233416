"""CPU time per request of each read workload, in-process, and where it goes (cProfile).

No server and no network: requests go straight into the ASGI app through httpx's ASGI
transport, one at a time, so the figures are CPU milliseconds per request of the app itself
(uvicorn's share is not in them) and hold still on a busy machine, where wall-clock
profiles of a running server do not.

    python bench/cpuprofile.py --size 100000 [--analyzed] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from run import DATA, WORK, ensure_analyzed_copy, ensure_ours_sqlite  # noqa: E402


async def drive(paths: dict[str, str], n: int, out: Path) -> list[str]:
    import httpx

    from api.main import create_app

    app = create_app()
    report = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for workload, path in paths.items():
            for _ in range(3):  # warm caches (statement cache, pages)
                resp = await client.get(path)
                assert resp.status_code == 200, (workload, resp.status_code, resp.text[:200])
            count = n if workload in ("read",) else max(n // 10, 10)
            profiler = cProfile.Profile()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            profiler.enable()
            for _ in range(count):
                await client.get(path)
            profiler.disable()
            cpu = (time.process_time() - cpu0) / count * 1000
            wall = (time.perf_counter() - wall0) / count * 1000
            stats_file = out / f"cprofile-{workload}.pstats"
            profiler.dump_stats(stats_file)
            buf = io.StringIO()
            pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(40)
            report.append(
                f"== {workload} {path}\n{count} requests: {cpu:.2f} ms CPU, {wall:.2f} ms wall "
                f"each (with cProfile on)\n" + _trim(buf.getvalue())
            )
            print(report[-1], flush=True)
    return report


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    root = str(BENCH.parent) + "/"
    return "\n".join(ln.replace(root, "") for ln in lines[start:] if ln.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--analyzed", action="store_true")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    meta = json.loads((DATA / f"meta-{args.size}.json").read_text())
    db = ensure_ours_sqlite(args.size)
    if args.analyzed:
        db = ensure_analyzed_copy(db)
    os.environ["TRACKER_DATABASE_URL"] = f"sqlite:///{db}"
    q = "%20".join(meta["search_words"])
    lo, hi = meta["year_range"]
    paths = {
        "read": f"/v1/initiatives/{meta['read_slug']}",
        "list": "/v1/initiatives?limit=20&sort=slug",
        "search": f"/v1/search?q={q}&limit=20",
        "filtered": f"/v1/initiatives?sector={meta['sector']}&start_year_min={lo}"
        f"&start_year_max={hi}",
    }
    out = WORK / "profile"
    out.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(drive(paths, args.requests, out))
    variant = "-analyzed" if args.analyzed else ""
    (out / f"cpu-{args.size}{variant}.txt").write_text("\n\n".join(report) + "\n")


if __name__ == "__main__":
    main()
