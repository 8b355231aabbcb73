"""Harness overhead: edgebench's reported latency vs a bare onnxruntime run() loop; CLI start-up.

    python benchmarks/harness_overhead.py [--model abpn] [--precision int8] [--rounds 3] [--runs 30]

Both sides run the same cached artifact, in a fresh process each, with the same thread count and
input size (MAI: 1x3x360x640), alternating A/B/A/B so drift on a shared machine hits both. Prints
the ratio of medians (goal <= 1.02) and the wall time of `edgebench --help` (goal <= 0.3 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = r"""
import json, sys, time
import numpy as np, onnxruntime as ort
path, threads, h, w, warmup, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
if threads:
    so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
x = np.random.default_rng(12345).integers(0, 256, (1, h, w, 3), dtype=np.uint8)
feed = {sess.get_inputs()[0].name: np.ascontiguousarray(x.astype(np.float32).transpose(0, 3, 1, 2) / 255)}
for _ in range(warmup + 1):
    sess.run(None, feed)
values = []
for _ in range(runs):
    t0 = time.perf_counter_ns()
    sess.run(None, feed)
    values.append((time.perf_counter_ns() - t0) / 1e6)
print(json.dumps(values))
"""


def help_wall_time(repeat: int = 7) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "edgebench", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="abpn")
    ap.add_argument("--precision", default="int8", choices=["fp32", "int8"])
    ap.add_argument("--size", default="360x640")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))

    from edgebench.artifacts import ArtifactCache
    from edgebench.harness import Harness, Settings, plan
    from edgebench.plugins import backends, models
    from edgebench.store import Store
    from edgebench.testing import host_device

    spec, backend = models.get(args.model), backends.get("onnxruntime")
    artifact = ArtifactCache().get(spec, backend, args.precision)
    device = host_device()
    settings = Settings(height=h, width=w, runs=args.runs, warmup=args.warmup, threads=args.threads, quality=False)

    edgebench_medians, bare_medians = [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db")
        for _ in range(args.rounds):
            harness = Harness(store, device, settings)
            run_id = harness.run(plan([spec], [backend], [args.precision], ["cpu"], device))
            (row,) = store.results("run_id = ?", [run_id])
            edgebench_medians.append(row["median_ms"])
            out = subprocess.run([sys.executable, "-c", BARE, str(artifact.path), str(args.threads), str(h), str(w),
                                  str(args.warmup), str(args.runs)], check=True, capture_output=True, text=True)
            bare_medians.append(statistics.median(json.loads(out.stdout)))

    eb, bare = statistics.median(edgebench_medians), statistics.median(bare_medians)
    helps = help_wall_time()
    print(f"model {args.model} {args.precision}, input 1x3x{h}x{w}, threads {args.threads}, "
          f"{args.runs} runs x {args.rounds} alternating rounds")
    print(f"edgebench median per round (ms): {', '.join(f'{v:.2f}' for v in edgebench_medians)}")
    print(f"bare ort.run median per round (ms): {', '.join(f'{v:.2f}' for v in bare_medians)}")
    print(f"ratio edgebench / bare = {eb / bare:.4f}   (goal <= 1.02)")
    print(f"`edgebench --help` wall time: median {statistics.median(helps):.3f} s, min {min(helps):.3f} s "
          f"over {len(helps)} runs   (goal <= 0.3 s)")


if __name__ == "__main__":
    main()
