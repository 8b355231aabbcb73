"""edgebench on-device runner: time one model artifact and run it on quality inputs.

Stand-alone on purpose: it is copied to the device and needs only the standard library, numpy and
the backend's runtime. It never imports edgebench.

    python3 runner.py job.json

``job.json`` (paths relative to its folder)::

    {"artifact": "model.onnx", "adapter": "adapter.py", "meta": {...}, "delegate": "cpu",
     "threads": 0, "timing": {"height": 360, "width": 640, "warmup": 3, "runs": 10,
     "min_time": 0.0, "max_time": 120.0}, "quality": {"inputs": "inputs.npz",
     "outputs": "outputs.npz"}, "result": "result.json"}

The adapter module defines load / prepare / invoke / finish (and optionally describe); only
``invoke`` is inside the timed region. The result is written to ``result`` and also printed to
stdout between ``@@EDGEBENCH_RESULT_BEGIN@@`` / ``@@EDGEBENCH_RESULT_END@@`` lines.
"""

import glob
import importlib.util
import json
import os
import platform
import sys
import time

BEGIN, END = "@@EDGEBENCH_RESULT_BEGIN@@", "@@EDGEBENCH_RESULT_END@@"
RUNNER_PROTOCOL = 1


def proc_status():
    """Memory figures of this process in KiB, and where they came from."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "VmSwap"):
                    out[key] = int(value.split()[0])
        out["source"] = "/proc/self/status"
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["VmHWM"] = peak // 1024 if sys.platform == "darwin" else peak
        out["source"] = "getrusage(ru_maxrss)"
    try:
        with open("/proc/self/smaps_rollup") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("Pss", "Swap"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def thermal():
    """Temperatures in degrees C from /sys/class/thermal (empty where there are none)."""
    temps = {}
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        try:
            with open(os.path.join(zone, "temp")) as fh:
                milli = int(fh.read().strip())
            try:
                with open(os.path.join(zone, "type")) as fh:
                    name = fh.read().strip()
            except OSError:
                name = os.path.basename(zone)
            temps["%s:%s" % (os.path.basename(zone), name)] = milli / 1000.0
        except (OSError, ValueError):
            continue
    return temps


def load_adapter(path):
    spec = importlib.util.spec_from_file_location("edgebench_adapter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ms(ns):
    return ns / 1e6


def main(argv):
    if len(argv) != 2:
        print("usage: runner.py job.json", file=sys.stderr)
        return 2
    job_path = os.path.abspath(argv[1])
    base = os.path.dirname(job_path)
    with open(job_path) as fh:
        job = json.load(fh)

    def here(name):
        return os.path.join(base, name)

    import numpy as np

    adapter = load_adapter(here(job["adapter"]))  # imports the runtime: part of the baseline
    mem_base = proc_status()
    temps_before = thermal()
    clock = time.perf_counter_ns

    t0 = clock()
    session = adapter.load(here(job["artifact"]), job.get("delegate", "cpu"), int(job.get("threads", 0)), job.get("meta", {}))
    init_ns = clock() - t0

    timing = job["timing"]
    rng = np.random.default_rng(12345)
    image = rng.integers(0, 256, (1, timing["height"], timing["width"], 3), dtype=np.uint8)
    feed = adapter.prepare(session, image)
    invoke = adapter.invoke

    t0 = clock()
    raw = invoke(session, feed)
    first_ns = clock() - t0
    out = adapter.finish(session, raw)
    scale = int(job["scale"])
    expect = (1, timing["height"] * scale, timing["width"] * scale, 3)
    if tuple(out.shape) != expect or out.dtype != np.uint8:
        raise SystemExit("runner: adapter returned %s %r, expected uint8 %r" % (out.dtype, tuple(out.shape), expect))

    warmup = []
    for _ in range(int(timing.get("warmup", 3))):
        t0 = clock()
        invoke(session, feed)
        warmup.append(clock() - t0)

    runs, min_time = int(timing.get("runs", 10)), float(timing.get("min_time", 0.0))
    max_time = float(timing.get("max_time", 600.0))
    cooldown = float(timing.get("cooldown", 0.0))
    values, started = [], clock()
    while True:
        if cooldown:
            time.sleep(cooldown)
        t0 = clock()
        invoke(session, feed)
        values.append(clock() - t0)
        elapsed = (clock() - started) / 1e9
        if (len(values) >= runs and elapsed >= min_time) or elapsed >= max_time:
            break
    mem_timed = proc_status()

    quality = job.get("quality")
    n_outputs = 0
    if quality:
        inputs = np.load(here(quality["inputs"]))
        outputs = {}
        for key in sorted(inputs.files):
            lr = np.ascontiguousarray(inputs[key][None])
            outputs[key] = adapter.finish(session, invoke(session, adapter.prepare(session, lr)))[0]
        np.savez(here(quality["outputs"]), **outputs)
        n_outputs = len(outputs)

    describe = getattr(adapter, "describe", None)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    result = {
        "protocol": RUNNER_PROTOCOL,
        "init_ms": ms(init_ns),
        "first_ms": ms(first_ns),
        "warmup_ms": [ms(v) for v in warmup],
        "timings_ms": [ms(v) for v in values],
        "memory": {"baseline": mem_base, "after_timing": mem_timed, "end": proc_status()},
        "thermal": {"before": temps_before, "after": thermal()},
        "output_shape": list(out.shape),
        "quality_outputs": n_outputs,
        "runtime": describe(session) if describe else {},
        "env": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "affinity": affinity,
            "pid": os.getpid(),
        },
    }
    text = json.dumps(result)
    with open(here(job.get("result", "result.json")), "w") as fh:
        fh.write(text)
    sys.stdout.write("%s\n%s\n%s\n" % (BEGIN, text, END))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
