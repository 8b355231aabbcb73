"""Shared by the leaderboard / compare / export / HTML tests: a slowable backend plugin and stored rows.

``install_slowable`` installs a throwaway plugin as a dist-info (like pip would): an ONNX Runtime
backend named ``slowable`` whose own adapter file sleeps ``EDGEBENCH_TEST_SLEEP_MS`` inside every
inference. The runner inherits the variable from edgebench, so one environment variable slows a
real measurement down without touching anything else.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from edgebench.store import Store

from helpers import make_plugin_dist

SLOWABLE_PLUGIN = """
from pathlib import Path

from edgebench import hookimpl
from edgebench.testing import tiny_model
from edgebench_onnxruntime import OnnxRuntimeBackend

ADAPTER = Path(__file__).with_name("adapter_slowable.py")


class Slowable(OnnxRuntimeBackend):
    name = "slowable"
    description = "ONNX Runtime with a sleep in every inference (tests)"

    def adapter_path(self):
        return ADAPTER


@hookimpl
def edgebench_register_backends(register):
    register(Slowable())


@hookimpl
def edgebench_register_models(register):
    register(tiny_model("cmp-tiny"))
"""

SLOWABLE_ADAPTER = '''
"""ONNX Runtime adapter that sleeps EDGEBENCH_TEST_SLEEP_MS inside every inference."""
import os
import time

import numpy as np
import onnxruntime as ort

SLEEP_S = float(os.environ.get("EDGEBENCH_TEST_SLEEP_MS", "0")) / 1000.0


def load(path, delegate, threads, meta):
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return {"session": session, "input": session.get_inputs()[0].name}


def prepare(state, image):
    return {state["input"]: np.ascontiguousarray(image.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)}


def invoke(state, feed):
    if SLEEP_S:
        time.sleep(SLEEP_S)
    return state["session"].run(None, feed)[0]


def finish(state, raw):
    out = np.clip(np.rint(raw * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1))


def describe(state):
    return {"runtime": "onnxruntime", "version": ort.__version__}
'''


def install_slowable(root: Path) -> Path:
    """The plugin and its adapter as an installed distribution under ``root`` (put it on PYTHONPATH)."""
    make_plugin_dist(root, "eb_slowable", SLOWABLE_PLUGIN)
    (root / "adapter_slowable.py").write_text(SLOWABLE_ADAPTER)
    return root


HOST_INFO = {"hostname": "box-a", "cpu_model": "Test CPU", "machine": "x86_64", "os": "Linux 6.1", "cores_logical": 8}


def add_run(store: Store, device: str = "host", info: dict[str, Any] | None = None, **fields: Any) -> int:
    run_id = store.start_run(device, device_info=info if info is not None else HOST_INFO, **fields)
    store.finish_run(run_id)
    return run_id


def add_result(store: Store, run_id: int, model: str = "m", median: float = 10.0, n: int = 30,
               spread: float = 0.01, seed: int = 0, timings: list[float] | None = None, **fields: Any) -> int:
    """A stored result with realistic raw timings around ``median`` (ms) and the derived summary."""
    from edgebench import stats

    rng = random.Random(seed)
    values = timings if timings is not None else [median * (1 + rng.gauss(0, spread)) for _ in range(n)]
    summary = stats.summarize(values)
    row: dict[str, Any] = {
        "device": "host", "model": model, "backend": "onnxruntime", "delegate": "cpu", "precision": "int8",
        "scale": 3, "params": 42_000, "artifact_size": 60_000, "artifact_sha": "sha-" + model, "input_h": 360,
        "input_w": 640, "threads": 4, "timings": values, "warmup": values[:3], "mem_peak_bytes": 12 * 2**20,
        "psnr": 28.0, "psnr_y": 29.5, "ssim": 0.81, "runtime": {"runtime": "onnxruntime", "version": "1.32.0"},
        "warnings": [w.to_dict() for w in stats.check(summary)], "environment": {"affinity": [0, 1]},
        "thermal": {}, "memory": {"source": "VmHWM"}, "extra": {},
        **{k: summary[k] for k in ("min_ms", "median_ms", "mean_ms", "p90_ms", "max_ms", "std_ms", "ci_low_ms",
                                   "ci_high_ms", "n_runs")},
    }
    row.update(fields)
    return store.add_result(run_id, row)


def rows_of(store: Store, **kw: Any) -> list[dict[str, Any]]:
    """The board of everything in ``store`` (leaderboard.board_rows options as keywords)."""
    from edgebench.leaderboard import board_rows, load_results, load_runs

    return board_rows(load_results(store.db), load_runs(store.db), **kw)
