"""Where a running policy-tracker server spends its time on each read workload.

Starts ``policy-tracker serve`` on a harness database, and for each workload drives it with
``wrk -t1 -c16`` while ``py-spy record`` samples the server; writes the collapsed stacks to
bench/work/profile/<workload>.txt (feed them to any flamegraph tool) and prints a summary: the
share of samples in each layer (by the innermost frame) and the heaviest frames of our own
code (inclusive).

    python bench/spy.py --size 100000 [--seconds 15]

py-spy comes from bench/work/tools (``pip install py-spy``; 0.3.14 reads this machine's
shared-libpython CPython where 0.4 could not).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from run import (
    DATA,
    WORK,
    ensure_analyzed_copy,
    ensure_ours_sqlite,
    ours_server,
    stop_all,
    workload_urls,
)

PY_SPY = WORK / "tools" / "bin" / "py-spy"
OUT = WORK / "profile"

LAYERS = [
    ("database (sqlite3/psycopg C calls)", ("do_execute", "fetchall", "fetchone", "fetchmany")),
    ("api/ (our code)", ("/api/",)),
    ("sqlalchemy (compile, results)", ("sqlalchemy/",)),
    ("pydantic", ("pydantic",)),
    ("fastapi", ("fastapi/",)),
    ("starlette", ("starlette/",)),
    ("uvicorn / httptools / asyncio", ("uvicorn/", "httptools", "asyncio/")),
    ("pypinyin / search normalizer", ("pypinyin", "normalize")),
]


def ensure_py_spy() -> None:
    if not PY_SPY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(WORK / "tools")], check=True)
        subprocess.run([str(WORK / "tools/bin/pip"), "install", "-q", "py-spy==0.3.14"], check=True)


def layer(frame: str) -> str:
    name = frame.split(" (", 1)[0]
    for label, needles in LAYERS:
        if name in needles or any(n in frame for n in needles if "/" in n or "." in n):
            return label
        if any(n in frame for n in needles):
            return label
    return "other"


def summarize(path: Path, top: int = 25) -> str:
    total = 0
    layers: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        layers[layer(frames[-1])] += n
        for frame in set(frames):
            if "/api/" in frame or "(api/" in frame:
                ours[frame] += n
    lines = [f"{path.stem}: {total} samples"]
    lines += [f"  {n / total * 100:5.1f}%  {name}" for name, n in layers.most_common()]
    lines.append("  heaviest frames of our code (inclusive):")
    lines += [f"  {n / total * 100:5.1f}%  {f}" for f, n in ours.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--analyzed", action="store_true", help="the copy after ANALYZE")
    args = parser.parse_args()
    ensure_py_spy()
    OUT.mkdir(parents=True, exist_ok=True)
    meta = json.loads((DATA / f"meta-{args.size}.json").read_text())
    db = ensure_ours_sqlite(args.size)
    if args.analyzed:
        db = ensure_analyzed_copy(db)
    server = ours_server("ours", f"sqlite:///{db}")
    report = []
    try:
        server.start()
        assert server.proc is not None
        pid = server.proc.pid
        # workload_urls also wants the peers' URLs; give it stand-ins that are never called.
        stand_in = ours_server("ours", "")
        urls = workload_urls(
            meta, {"ours": server, "datasette": stand_in, "ceiling": stand_in}, "x"
        )
        for workload, targets in urls.items():
            variant = "-analyzed" if args.analyzed else ""
            out = OUT / f"{workload}-{args.size}{variant}.txt"
            spy = subprocess.Popen(
                [
                    str(PY_SPY),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(args.seconds),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
            wrk = subprocess.run(
                ["wrk", "-t1", "-c16", f"-d{args.seconds - 2}s", "--latency", targets["ours"]],
                capture_output=True,
                text=True,
                timeout=args.seconds + 60,
            ).stdout
            spy.wait(timeout=args.seconds + 60)
            server.drain()
            rps = next((ln for ln in wrk.splitlines() if ln.startswith("Requests/sec")), "")
            report.append(f"== {workload} ({targets['ours']}) {rps}\n" + summarize(out))
            print(report[-1], flush=True)
    finally:
        stop_all()
    variant = "-analyzed" if args.analyzed else ""
    (OUT / f"summary-{args.size}{variant}.txt").write_text("\n\n".join(report) + "\n")


if __name__ == "__main__":
    main()
