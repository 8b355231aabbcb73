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


def cpu_ticks():
    """(busy, total) clock ticks of all CPUs from /proc/stat's first line; None without /proc."""
    try:
        with open("/proc/stat") as fh:
            parts = fh.readline().split()
    except OSError:
        return None
    if len(parts) < 5 or parts[0] != "cpu":
        return None
    try:
        values = [int(v) for v in parts[1:]] + [0] * 8  # older kernels stop before steal
    except ValueError:
        return None
    busy = sum(values[i] for i in (0, 1, 2, 5, 6, 7))  # user nice system irq softirq steal
    return busy, busy + values[3] + values[4]  # + idle iowait


def proc_ticks():
    """{pid: (comm, utime + stime, starttime)} of every process whose stat is readable now."""
    procs = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as fh:
                line = fh.read()
        except OSError:  # exited meanwhile, or not ours to read
            continue
        head, _, tail = line.rpartition(")")  # comm may hold spaces and parentheses
        pid, _, comm = head.partition(" (")
        fields = tail.split()
        try:
            procs[int(pid)] = (comm, int(fields[11]) + int(fields[12]), int(fields[19]))
        except (ValueError, IndexError):
            continue
    return procs


def load_sample(end=False):
    """What the timed loop's load is judged from; None where there is no /proc (macOS).

    The process walk is the slow part (a phone has ~1000 processes): it goes before the clock at
    the start and after it at the end, so the window holds the timed runs and little else.
    """
    procs = {} if end else proc_ticks()
    cpu = cpu_ticks()
    if cpu is None:
        return None
    try:
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        uptime = None
    own = os.times()
    sample = {"t": time.monotonic(), "uptime": uptime, "cpu": cpu, "own": own[0] + own[1], "procs": procs}
    if end:
        sample["procs"] = proc_ticks()
    return sample


def load_window(start, end, top=3):
    """CPU other processes used between two load_sample()s, in cores, and the busiest of them.

    own_cpu_s is this process with all its threads (os.times), so a runtime's worker threads are
    never counted as others.
    """
    if start is None or end is None:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    window = max(end["t"] - start["t"], 1e-9)
    busy = (end["cpu"][0] - start["cpu"][0]) / float(hz)
    own = end["own"] - start["own"]
    born = start["uptime"] * hz if start.get("uptime") is not None else None
    me, busiest = os.getpid(), []
    for pid, (comm, ticks, started) in end["procs"].items():
        before = start["procs"].get(pid)
        if pid == me:
            continue
        if before is not None and before[2] == started:
            used = ticks - before[1]
        elif born is not None and started >= born:
            used = ticks  # born inside the window (a reused pid too): all its time is inside
        else:
            continue
        if used > 0:
            cpu_s = used / float(hz)
            busiest.append({"pid": pid, "comm": comm, "cpu_s": round(cpu_s, 3), "cores": round(cpu_s / window, 3)})
    busiest.sort(key=lambda b: -b["cpu_s"])
    return {"window_s": round(window, 3), "hz": hz, "busy_s": round(busy, 3), "own_cpu_s": round(own, 3),
            "others_cores": round(max(0.0, busy - own) / window, 3), "busiest": busiest[:top]}


def stamp():
    """Now on the device's clocks, for a power meter to find the timed region in its samples: the wall
    clock (a host-side meter is aligned to it over the transport) and the uptime a sampling loop on
    the device reads from /proc/uptime (None where it cannot be read)."""
    wall = time.time()
    try:
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        uptime = None
    return {"wall": wall, "uptime": uptime}


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
    launched = stamp()  # before the runtime loads: a power meter's idle window ends before this
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
    load_start = load_sample()  # around the timed loop only: warm-up and quality are not judged
    timed_start = stamp()
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
    timed_end = stamp()
    load = load_window(load_start, load_sample(end=True))
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
    if load is not None:
        result["load"] = load
    # the timed region on the device's clocks (edgebench.energy aligns a power meter's samples to it)
    result["window"] = {"started": launched, "wall": [timed_start["wall"], timed_end["wall"]],
                        "uptime": ([timed_start["uptime"], timed_end["uptime"]]
                                   if timed_start["uptime"] is not None and timed_end["uptime"] is not None else None)}
    text = json.dumps(result)
    with open(here(job.get("result", "result.json")), "w") as fh:
        fh.write(text)
    sys.stdout.write("%s\n%s\n%s\n" % (BEGIN, text, END))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
