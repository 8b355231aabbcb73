"""Time `edgebench leaderboard` over a large store (goal: <= 1 s for 100,000 stored results, issue 18).

    python benchmarks/leaderboard_speed.py [--results 10000] [--timings 30] [--repeat 5] [--db PATH]

Fills a temporary store through the real Store API with realistic results (30 raw timings each,
warnings, runtime info) spread over runs, devices, models, backends and precisions so most
configurations have repeated results to pool, then times the whole CLI in a fresh process, the
way a user runs it: start-up, query, pooling, ranking and rendering: the terminal table (best 30
per device by default; `--top 0` renders all 480 configurations), json and html. The store keeps
per-configuration summaries up to date on every insert (edgebench.board_pools), so the board reads
a few hundred rows however many results there are. `--db PATH` keeps the filled store for the next
run (a store from an older edgebench gets its summaries built once, when it is opened).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgebench import stats
from edgebench.store import Store

DEVICES = ("host", "pixel", "rpi4", "rpi5")
BACKENDS = ("onnxruntime", "litert", "executorch")
MODELS = tuple(f"model{i:02d}" for i in range(20))


def fill(path: Path, n_results: int, n_timings: int, per_run: int = 20) -> int:
    store = Store.open(path)
    store.db.execute("PRAGMA synchronous = OFF")  # filling only: the timed part reads
    rng = random.Random(0)
    made = 0
    while made < n_results:
        device = rng.choice(DEVICES)
        run = store.start_run(device, device_info={"hostname": device, "cpu_model": "bench", "os": "Linux"})
        for _ in range(min(per_run, n_results - made)):
            model, backend = rng.choice(MODELS), rng.choice(BACKENDS)
            precision = rng.choice(("fp32", "int8"))
            base = 5 + MODELS.index(model) * 3 * (0.6 if precision == "int8" else 1)
            timings = [base * (1 + abs(rng.gauss(0, 0.03))) for _ in range(n_timings)]
            summary = stats.summarize(timings)
            store.add_result(run, {
                "device": device, "model": model, "backend": backend, "delegate": "cpu", "precision": precision,
                "scale": 3, "params": 40_000, "artifact_size": 50_000, "artifact_sha": f"{model}-{backend}-{precision}",
                "input_h": 360, "input_w": 640, "threads": 4, "timings": timings, "warmup": timings[:3],
                "psnr": 26 + MODELS.index(model) * 0.1, "psnr_y": 27.0, "ssim": 0.8,
                "runtime": {"runtime": backend, "version": "1.0"}, "memory": {"source": "VmHWM"},
                "warnings": [w.to_dict() for w in stats.check(summary)], "environment": {}, "thermal": {},
                "mem_peak_bytes": 10 * 2**20,
                **{k: summary[k] for k in ("min_ms", "median_ms", "mean_ms", "p90_ms", "max_ms", "std_ms",
                                           "ci_low_ms", "ci_high_ms", "n_runs")},
            })
            made += 1
        store.finish_run(run)
    store.close()
    return made


def time_cli(db: Path, args: list[str], repeat: int) -> list[float]:
    env = {**os.environ, "EDGEBENCH_DB": str(db), "COLUMNS": "200"}
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "edgebench", "leaderboard", *args], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, default=10_000)
    ap.add_argument("--timings", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", type=Path,
                    help="Keep the filled store here and reuse it when it exists (filling 100,000 takes minutes).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "big.db"
        if args.db and args.db.exists():
            t0 = time.perf_counter()
            store = Store.open(db)  # opening applies any new migration, as a user's first command would
            n = store.count()
            store.close()
            print(f"reusing {db}: {n} results, {db.stat().st_size / 2**20:.1f} MiB, opened (and migrated if "
                  f"needed) in {time.perf_counter() - t0:.1f} s")
        else:
            t0 = time.perf_counter()
            n = fill(db, args.results, args.timings)
            print(f"filled {n} results ({args.timings} raw timings each) in {time.perf_counter() - t0:.1f} s, "
                  f"{db.stat().st_size / 2**20:.1f} MiB")
        variants = (("", []), ("--top 0", ["--top", "0"]), ("-f json", ["-f", "json"]),
                    ("-f html", ["-f", "html", "-o", f"{tmp}/b.html"]))
        for label, extra in variants:
            times = time_cli(db, extra, args.repeat)
            print(f"edgebench leaderboard {label:8s}: median {statistics.median(times):.3f} s "
                  f"(min {min(times):.3f}, max {max(times):.3f}, {args.repeat} runs)")
        help_times = [time_cli_help() for _ in range(args.repeat)]
        print(f"edgebench --help: median {statistics.median(help_times):.3f} s (start-up alone)")


def time_cli_help() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgebench", "--help"], check=True, capture_output=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
