"""`make bench`: every benchmark of issue 11 against its baseline in the same run, as ratios.

Prints one table (benchmark, measured, baseline, ratio, target, met) and writes
`bench/results.json` (git-ignored: it belongs to the machine and the moment it ran on;
docs/performance.md keeps the figures of the last full run). Other work on a shared machine slows
a benchmark and its baseline alike only while they alternate, so each row alternates them, repeats
and takes medians. `--quick` runs each once on tiny inputs (what `make test` does, so that none
rots); its figures mean nothing.

    python -m bench.run [--quick] [--repeats N] [--only ROW,...] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.inputs import views, write_inputs
from bench.measure import child

RESULTS = Path(__file__).with_name("results.json")


@dataclass(frozen=True)
class Settings:
    quick: bool
    repeats: int
    pipeline_qps: int = 2
    pipeline_workers: int = 8  # more than the QPS: QPS x seconds per set, and a margin (docs)
    pipeline_sets: int = 60
    server_rounds: int = 7
    server_requests: int = 48

    @classmethod
    def of(cls, quick: bool, repeats: int | None) -> Settings:
        if quick:
            return cls(True, repeats or 1, 2, 3, 4, 1, 4)
        return cls(False, repeats or 11)


@dataclass(frozen=True)
class Row:
    name: str
    measured: str
    baseline: str
    ratio: str
    target: str
    met: bool | None  # None: no target here


def preparation(directory: Path, settings: Settings) -> tuple[list[Row], dict[str, Any]]:
    timing = child("bench.preparation", "time", str(directory), str(settings.repeats))
    memory = child("bench.preparation", "memory", str(directory), "1")
    work, floor, naive = timing["preparation_ms"], timing["floor_ms"], timing["naive_ms"]
    rss = memory["peak_rss_mb"]
    rows = [
        Row(
            "preparation, 3 views",
            f"{work:.0f} ms",
            f"decoding them once: {floor:.0f} ms",
            f"{work / floor:.2f}x",
            "<= 1.5x",
            work / floor <= 1.5,
        ),
        Row(
            "",
            "",
            f"naive (full decode, quality steps of 5): {naive:.0f} ms",
            f"{naive / work:.1f}x faster",
            ">= 5x faster",
            naive / work >= 5,
        ),
        Row("", f"peak RSS {rss:.0f} MB", "", "", "< 250 MB", rss < 250),
    ]
    if "before_ms" in timing:
        before = timing["before_ms"]
        rows.append(
            Row(
                "",
                "",
                f"before issue 11 (the old ladder): {before:.0f} ms",
                f"{before / work:.1f}x faster",
                "",
                None,
            )
        )
    return rows, {**timing, **memory}


def warm_handler(directory: Path, settings: Settings) -> tuple[list[Row], dict[str, Any]]:
    result = child("bench.handler", str(directory), str(settings.repeats))
    work, base = result["handler_ms"], result["baseline_ms"]
    return [
        Row(
            "warm handler, 3 views",
            f"{work:.0f} ms",
            f"its S3 calls made directly + decoding once: {base:.0f} ms",
            f"{work / base:.2f}x",
            "<= 1.5x",
            work / base <= 1.5,
        )
    ], result


def cold_start(directory: Path, settings: Settings) -> tuple[list[Row], dict[str, Any]]:
    from bench import cold_start as cold

    result = cold.run(directory, settings.repeats)
    work, base = result["handler_ms"], result["bare_ms"]
    return [
        Row(
            "cold start, 1 image",
            f"{work:.0f} ms",
            f"bare boto3 + requests, same calls: {base:.0f} ms",
            f"{work / base:.2f}x",
            "<= 1.3x",
            work / base <= 1.3,
        )
    ], result


def engine(directory: Path, settings: Settings) -> tuple[list[Row], dict[str, Any]]:
    from bench.serving import engine_rows, parallel_arithmetic

    photos = views(directory)
    served = engine_rows(
        photos,
        rounds=settings.server_rounds,
        requests_per_round=settings.server_requests,
        repeats=settings.repeats,
    )
    mesh = child("bench.serving", "facemesh", str(directory), str(settings.repeats))
    served["two_processes_arithmetic"] = parallel_arithmetic(settings.server_rounds)
    rows = []
    # Issue 10's targets, as ratios to Face Mesh alone on the same images.
    for name, label, most in (("one_view", "1 view", 15), ("three_views", "3 views", 40)):
        work, base = served[f"{name}_ms"], mesh[f"{name}_ms"]
        rows.append(
            Row(
                f"engine, {label} textured",
                f"{work:.0f} ms",
                f"Face Mesh alone: {base:.0f} ms",
                f"{work / base:.1f}x",
                f"<= {most}x",
                work / base <= most,
            )
        )
    two, one, speedup = served["workers_2_rps"], served["workers_1_rps"], served["speedup"]
    rows.append(
        Row(
            "engine server, 4 clients",
            f"--workers 2: {two:.2f} req/s",
            f"--workers 1: {one:.2f} req/s",
            f"{speedup:.2f}x",
            ">= 1.8x",
            speedup >= 1.8,
        )
    )
    rows.append(
        Row(
            "",
            "",
            "two processes of pure arithmetic: the cores left",
            f"{served['two_processes_arithmetic']:.2f}x",
            "",
            None,
        )
    )
    rows.append(
        Row(
            "",
            "3-view requests: --workers 2 against 1",
            "(more engine work for each request's own)",
            f"{served['three_views_speedup']:.2f}x",
            "",
            None,
        )
    )
    return rows, {**served, "face_mesh": mesh}


def pipeline(directory: Path, settings: Settings) -> tuple[list[Row], dict[str, Any]]:
    from bench.serving import engine_server

    qps, workers = settings.pipeline_qps, settings.pipeline_workers
    results = {}
    with engine_server("--qps", str(qps), "--workers", "2") as server:
        for mode, paced in (("paced", "1"), ("unpaced", "0")):
            results[mode] = child(
                "bench.pipeline",
                str(directory),
                server.endpoint,
                str(qps),
                str(workers),
                str(settings.pipeline_sets),
                paced,
            )
    paced_, unpaced = results["paced"], results["unpaced"]
    used = paced_["sets_per_s"] / qps
    refused, before = paced_["refused_share"], unpaced["refused_share"]
    label = f"pipeline, --qps {qps}, {workers} containers"
    return [
        Row(
            label,
            f"{paced_['sets_per_s']:.2f} sets/s",
            f"the QPS: {qps}/s (unpaced: {unpaced['sets_per_s']:.2f} sets/s)",
            f"{used:.0%} used",
            ">= 90%",
            used >= 0.9,
        ),
        Row(
            "",
            f"{refused:.0%} of calls refused",
            f"unpaced, as before: {before:.0%} refused",
            f"{refused / before:.2f}x" if before else "-",
            "<= 0.5x",
            refused <= before / 2,
        ),
    ], results


BENCHMARKS: dict[str, Callable[[Path, Settings], tuple[list[Row], dict[str, Any]]]] = {
    "preparation": preparation,
    "warm handler": warm_handler,
    "cold start": cold_start,
    "engine": engine,
    "pipeline": pipeline,
}


def machine() -> dict[str, Any]:
    from PIL import Image, features

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory = next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory_gb = round(int(memory) / 1024 / 1024, 1)
    except (OSError, StopIteration):
        memory_gb = 0.0
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": memory_gb,
        "system": platform.platform(),
        "python": platform.python_version(),
        "pillow": Image.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def table(rows: list[Row]) -> str:
    header = Row("benchmark", "measured", "baseline (same run)", "ratio", "target", None)
    cells = [
        [r.name, r.measured, r.baseline, r.ratio, r.target, _verdict(r.met)]
        for r in [header, *rows]
    ]
    cells[0][5] = "met"
    widths = [max(len(line[i]) for line in cells) for i in range(6)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "NO")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="once each, on tiny inputs")
    parser.add_argument("--repeats", type=int, help="repetitions per measurement (11; quick: 1)")
    parser.add_argument("--only", help=f"comma-separated rows of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON ({RESULTS.name})")
    args = parser.parse_args(argv)
    settings = Settings.of(args.quick, args.repeats)
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    started = datetime.now(UTC)
    before = machine()
    rows: list[Row] = []
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="face3d-bench-") as scratch:
        directory = write_inputs(Path(scratch), quick=settings.quick)
        for name in chosen:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            clock = time.monotonic()
            found, details[name] = BENCHMARKS[name](directory, settings)
            details[name]["bench_seconds"] = round(time.monotonic() - clock, 1)
            rows += found
    after = machine()["load_average"]
    document = {
        "schema": "face3d.bench/v1",
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds()),
        "settings": asdict(settings),
        "machine": {**before, "load_average_after": after},
        "rows": [asdict(row) for row in rows],
        "details": details,
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(table(rows))
    print(
        f"\n{before['cores']} cores ({before['cpu']}), load average {before['load_average'][0]} "
        f"before and {after[0]} after; {'quick: figures mean nothing; ' if settings.quick else ''}"
        f"details in {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
