"""Turn the harness's results JSON into bench/results/<date>.md and latency.png.

python bench/report.py bench/work/results-<date>.json   # re-render without re-running
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from run import RESULTS, TARGETS

WORKLOADS = {
    "list": "List page of 20, halfway through the table (keyset / `_next`)",
    "read": "Read one initiative with its relations",
    "search": "Two-word search, first page + total",
    "filtered": "Filtered list (sector + start-year range)",
}


LABELS = {
    "ours": "policy-tracker (SQLite)",
    "ours-nocache": "policy-tracker (SQLite, cache off)",
    "ours-pg": "policy-tracker (PostgreSQL)",
    "datasette": "Datasette",
    "ceiling": "raw sqlite3 ceiling",
}


def _fmt(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**not met**")


def _get(size: dict[str, Any], workload: str, target: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = size.get("workloads", {}).get(workload, {}).get(target)
    return found


def size_table(size: dict[str, Any]) -> list[str]:
    lines = [
        "| workload | server | req/s | p50 ms | p99 ms | req/s ÷ Datasette | req/s ÷ ceiling "
        "| p50 ÷ ours (SQLite) p50 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in WORKLOADS:
        per = size.get("workloads", {}).get(workload, {})
        ds = (per.get("datasette") or {}).get("rps")
        ceil = (per.get("ceiling") or {}).get("rps")
        base = (per.get("ours") or {}).get("p50_ms")
        for target in ("ours", "ours-nocache", "ours-pg", "datasette", "ceiling"):
            st = per.get(target)
            if not st:
                continue
            single = st.get("single_request_ms") is not None
            p50 = f"{_fmt(st.get('p50_ms'), 1)}{' (one request)' if single else ''}"
            if st.get("rps") == 0:
                alone = size.get("checks", {}).get(f"{workload}/{target}", {}).get("first_ms")
                p50 = "all timed out at 10 s" + (
                    f" (one request alone: {alone:,.0f} ms)" if alone else ""
                )
            vs_ds = _ratio(st.get("rps"), ds) if target != "datasette" else None
            vs_ceil = (
                _ratio(st.get("rps"), ceil) if target not in ("ceiling", "datasette") else None
            )
            vs_base = (
                _ratio(st.get("p50_ms"), base) if target in ("ours-nocache", "ours-pg") else None
            )
            rps = st.get("rps")
            lines.append(
                f"| {workload} | {LABELS[target]} | {_fmt(rps, 1 if (rps or 0) < 10 else 0)} "
                f"| {p50} | {_fmt(st.get('p99_ms'), 1)} "
                f"| {_fmt(vs_ds, 2)} | {_fmt(vs_ceil, 2)} | {_fmt(vs_base, 2)} |"
            )
    return lines


def _speed(size: dict[str, Any], workload: str, target: str) -> str:
    st = _get(size, workload, target) or {}
    if st.get("single_request_ms") is not None:
        return f"one request alone {st['single_request_ms'] / 1000:.1f} s"
    if st.get("rps") == 0:
        return "every request timed out"
    return f"{_fmt(st.get('rps'), 1)} req/s"


def _vs(size: dict[str, Any], workload: str, peer: str, target: float) -> tuple[str, bool | None]:
    """'ours ÷ peer' for a target row, with the figure of the server with its cache off."""
    peer_rps = (_get(size, workload, peer) or {}).get("rps")
    parts, ok = [], None
    for name in ("ours", "ours-nocache"):
        st = _get(size, workload, name)
        if not st:
            continue
        r = _ratio(st.get("rps"), peer_rps)
        tag = "" if name == "ours" else "cache off: "
        if r is not None:
            parts.append(f"{tag}{r:.2f}x")
            if name == "ours":
                ok = r >= target
        else:
            parts.append(
                f"{tag}ours {_speed(size, workload, name)}, {peer} {_speed(size, workload, peer)}"
            )
            if name == "ours" and st.get("rps") in (None, 0) and peer_rps:
                ok = False
    return "; ".join(parts) or "–", ok


def targets(results: dict[str, Any]) -> list[str]:
    sizes = {int(k): v for k, v in results.get("sizes", {}).items()}
    rows: list[tuple[str, str, bool | None]] = []
    for n, size in sorted(sizes.items()):
        label = f"{n:,}"
        for workload, key, name in (
            ("list", "list_vs_datasette", "List ≥ 6x Datasette"),
            ("read", "read_vs_datasette", "Read ≥ 5x Datasette"),
            ("search", "search_vs_datasette", "Search ≥ 30x Datasette"),
        ):
            figure, ok = _vs(size, workload, "datasette", TARGETS[key])
            rows.append((f"{name} ({label})", figure, ok))
        figure, ok = _vs(size, "list", "ceiling", TARGETS["list_vs_ceiling"])
        rows.append((f"List ≥ ½ ceiling ({label})", figure, ok))
        worst = None
        for workload in WORKLOADS:
            pg = (_get(size, workload, "ours-pg") or {}).get("p50_ms")
            sq = (_get(size, workload, "ours") or {}).get("p50_ms")
            r = _ratio(pg, sq)
            if r is not None and (worst is None or r > worst[1]):
                worst = (workload, r)
        if worst:
            rows.append(
                (
                    f"PostgreSQL p50 ≤ 2x SQLite, every workload ({label})",
                    f"worst: {worst[0]} {worst[1]:.2f}x",
                    worst[1] <= TARGETS["pg_p50_vs_sqlite"],
                )
            )
    big = max(sizes) if sizes else None
    small = min(sizes) if sizes else None
    if big is not None:
        s = _get(sizes[big], "search", "ours") or {}
        p50, p99 = s.get("p50_ms"), s.get("p99_ms")
        rows.append(
            (
                f"Search p50 < 15 ms at {big:,}",
                f"{_fmt(p50, 1)} ms",
                None if p50 is None else p50 < TARGETS["search_p50_ms_1m"],
            )
        )
        rows.append(
            (
                f"Search p99 < 60 ms at {big:,}",
                f"{_fmt(p99, 1)} ms",
                None if p99 is None else p99 < TARGETS["search_p99_ms_1m"],
            )
        )
        if small is not None and small != big:
            s0 = (_get(sizes[small], "search", "ours") or {}).get("p50_ms")
            r = _ratio(p50, s0)
            rows.append(
                (
                    f"Search p50 at {big:,} ≤ 2x p50 at {small:,}",
                    f"{_fmt(r, 2)}x",
                    None if r is None else r <= TARGETS["search_p50_growth"],
                )
            )
    imp = results.get("import")
    if imp:
        r = _ratio(imp.get("ours_s"), imp.get("sqlite_utils_s"))
        figure = (
            f"{_fmt(imp.get('ours_s'), 1)} s vs {_fmt(imp['sqlite_utils_s'], 1)} s = {_fmt(r, 1)}x"
            if imp.get("ours_s") is not None
            else f"did not finish in {imp['timeout_s']:.0f} s (sqlite-utils: "
            f"{imp['sqlite_utils_s']:.1f} s)"
        )
        rows.append(
            (
                f"Import {imp['size']:,} ≤ 2x sqlite-utils insert",
                figure,
                False if r is None else r <= TARGETS["import_vs_sqlite_utils"],
            )
        )
    exp = results.get("export")
    if exp:
        anon = exp.get("peak_anon_mb")
        memory = f"RSS {exp['peak_rss_mb']:.0f} MB" + (
            "" if anon is None else f" (anonymous part {anon:.0f} MB)"
        )
        if exp.get("complete"):
            figure = f"{memory}, {exp['seconds']:.0f} s"
            ok: bool | None = exp["peak_rss_mb"] < TARGETS["export_rss_mb"]
        else:
            figure = (
                f"{memory} so far; stopped after {exp['seconds']:.0f} s at {exp['lines']:,} lines"
            )
            ok = None
        rows.append((f"Export {exp['size']:,} (CLI) in < 150 MB", figure, ok))
    hexp = results.get("http_export")
    if hexp and hexp.get("status") == 200:
        partial = "" if hexp.get("complete") else " (stopped at the time limit)"
        anon = hexp.get("server_peak_anon_mb")
        rows.append(
            (
                f"Export {hexp['size']:,} (GET /v1/export) server memory < 150 MB",
                f"RSS {hexp['server_peak_rss_mb']:.0f} MB (anonymous part {_fmt(anon)} MB), "
                f"{hexp['seconds']:.0f} s{partial}",
                hexp["server_peak_rss_mb"] < TARGETS["export_rss_mb"],
            )
        )
    for n, size in sorted(sizes.items()):
        for name in ("ours", "ours-pg"):
            mem = size.get("memory", {}).get(name)
            if not mem:
                continue
            # Judged on the whole RSS (the project maps no database pages into it).
            judged, first, second = (
                mem["max_mb"],
                mem["first_half_max_mb"],
                mem["second_half_max_mb"],
            )
            level = second <= first * 1.05 + 1
            anon = mem.get("anon_max_mb")
            rows.append(
                (
                    f"Server memory < 150 MB and levelling off ({name}, {n:,})",
                    f"RSS max {judged:.0f} MB (first half {first:.0f}, second half "
                    f"{second:.0f})" + ("" if anon is None else f"; anonymous part {anon:.0f} MB"),
                    judged < TARGETS["server_rss_mb"] and level,
                )
            )
    out = ["| target | measured | |", "|---|---|---|"]
    out += [f"| {a} | {b} | {_met(c)} |" for a, b, c in rows]
    return out


def load_note(results: dict[str, Any]) -> str:
    loads = [
        run["load_avg"]
        for size in results.get("sizes", {}).values()
        for per_target in size.get("workloads", {}).values()
        for stats in per_target.values()
        for run in stats["runs"]
    ]
    if not loads:
        return ""
    return (
        f"1-minute load average during the wrk runs: median {statistics.median(loads):.1f}, "
        f"max {max(loads):.1f} (2 cores; wrk and the server under test take about 2, so anything "
        "above that is other work on the machine and depresses every figure alike)."
    )


def checks_table(results: dict[str, Any]) -> list[str]:
    out = [
        "| size | check | HTTP | first request ms (cold) | second request ms | total matches |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for n, size in sorted(results.get("sizes", {}).items(), key=lambda kv: int(kv[0])):
        for key, c in size.get("checks", {}).items():
            out.append(
                f"| {int(n):,} | {key} | {c['status']} | {c['first_ms']} "
                f"| {c.get('again_ms', '–')} "
                f"| {_fmt(c['total']) if isinstance(c['total'], int) else '–'} |"
            )
    return out


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(k) for k in results.get("sizes", {}))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, workload in zip(axes, ("search", "list"), strict=True):
        for target, style in (
            ("ours", "o-"),
            ("ours-nocache", "d-"),
            ("ours-pg", "s--"),
            ("datasette", "^:"),
            ("ceiling", "x-."),
        ):
            xs, ys = [], []
            for n in sizes:
                got = _get(results["sizes"][str(n)], workload, target)
                if got and got.get("p50_ms"):
                    xs.append(n)
                    ys.append(got["p50_ms"])
            if xs:
                label = LABELS[target]
                ax.plot(xs, ys, style, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("initiatives")
        ax.set_ylabel("p50 latency, ms (wrk -t1 -c16)")
        ax.set_title(
            {
                "search": "Two-word search, first page + total",
                "list": "List page of 20, deep in the table",
            }[workload]
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict[str, Any], out_dir: Path, quick: bool) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    date = results.get("date", "")[:10]
    md = out_dir / f"{date}{'-quick' if quick else ''}.md"
    png = out_dir / ("latency-quick.png" if quick else "latency.png")
    s = results.get("settings", {})
    lines = [
        f"# Benchmark results, {date}{' (quick run)' if quick else ''}",
        "",
        f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
        f"{results['machine']['memory']}, Linux {results['machine']['kernel']}. "
        "Servers and load generator on loopback.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items()),
        "",
        f"Method: `wrk {s.get('wrk')}` for {s.get('duration_s')} s per run, "
        f"{s.get('runs')} runs per target in alternating order after a {s.get('warmup_s')} s "
        f"warm-up; medians shown. One server process each: policy-tracker "
        "(`policy-tracker serve --workers 1`, uvicorn), Datasette (`datasette serve -i`, "
        "`suggest_facets off`, `sql_time_limit_ms 30000` so counts finish), the ceiling "
        "(`bench/ceiling.py`, uvicorn, raw sqlite3 on our database). " + load_note(results),
        "",
        "## Targets",
        "",
        *targets(results),
        "",
    ]
    for n, size in sorted(results.get("sizes", {}).items(), key=lambda kv: int(kv[0])):
        lines += [f"## {int(n):,} initiatives", "", *size_table(size), ""]
        mem = size.get("memory", {})
        if mem:
            lines.append(
                "Server memory (max during the runs; RSS, and in brackets its anonymous part): "
                + ", ".join(
                    f"{k} {v['max_mb']:.0f} MB"
                    + (f" ({v['anon_max_mb']:.0f} MB)" if "anon_max_mb" in v else "")
                    for k, v in mem.items()
                )
            )
            lines.append("")
    imp = results.get("import")
    if imp:
        lines += [
            "## Import",
            "",
            f"`policy-tracker import` of {imp['size']:,} initiatives (plus 346 sources, sectors "
            f"and organizations) into a fresh, migrated SQLite database: "
            f"{_fmt(imp.get('ours_s'), 1)} s"
            + (" (stopped: time limit)" if imp.get("ours_s") is None else "")
            + f"; `sqlite-utils insert --nl --pk slug` of the same rows: "
            f"{imp['sqlite_utils_s']:.1f} s.",
            "",
        ]
    if results.get("export") or results.get("http_export"):
        lines += ["## Export", ""]
        exp = results.get("export")
        if exp:
            rate = exp["lines"] / max(exp["seconds"], 1e-9)
            state = "complete" if exp.get("complete") else "stopped at the time limit"
            lines.append(
                f"- `policy-tracker export` of {exp['size']:,} initiatives: "
                f"{exp['seconds']:.0f} s ({state}), {exp['lines']:,} lines ({rate:,.0f} lines/s), "
                f"peak anonymous memory {_fmt(exp.get('peak_anon_mb'))} MB, "
                f"peak RSS {exp['peak_rss_mb']:.0f} MB (max in the first half "
                f"{exp.get('rss_first_half_mb', 0):.0f} MB, second half "
                f"{exp.get('rss_second_half_mb', 0):.0f} MB)."
            )
        hexp = results.get("http_export")
        if hexp:
            done = "complete" if hexp.get("complete") else "stopped at the time limit"
            lines.append(
                f"- `GET /v1/export`: HTTP {hexp['status']}, {hexp['seconds']:.0f} s ({done}), "
                f"{hexp['bytes'] / 1e6:,.1f} MB streamed "
                f"({hexp['bytes'] / 1e6 / max(hexp['seconds'], 1e-9):.2f} MB/s), server peak RSS "
                f"{hexp['server_peak_rss_mb']:.0f} MB, anonymous "
                f"{_fmt(hexp.get('server_peak_anon_mb'))} MB."
            )
        lines.append("")
    lines += ["## Checks (two requests each before the runs)", "", *checks_table(results), ""]
    lines.append(f"![p50 latency against dataset size]({png.name})")
    md.write_text("\n".join(lines) + "\n")
    plot(results, png)
    if not quick:
        quote_in_readme(results, md)
    return md, png


def quote_in_readme(results: dict[str, Any], md: Path) -> None:
    """The README quotes the latest full run: its targets table, below the marker."""
    readme = Path(__file__).resolve().parent / "README.md"
    marker = "<!-- results -->"
    text = readme.read_text()
    if marker not in text:
        return
    head = text.split(marker)[0]
    quoted = [
        f"From [`results/{md.name}`](results/{md.name}) ({results.get('date', '')[:10]}; "
        "every figure, the machine and the versions are there).",
        "",
        load_note(results),
        "",
        *targets(results),
        "",
        f"![p50 latency against dataset size](results/{'latency.png'})",
    ]
    readme.write_text(head + marker + "\n\n" + "\n".join(quoted) + "\n")


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    print(*write_report(data, RESULTS, bool(data.get("quick"))))
