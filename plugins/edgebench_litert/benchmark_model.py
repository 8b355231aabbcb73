"""Parse the output of TensorFlow Lite's ``benchmark_model`` tool (several versions).

Lines understood (``tensorflow/lite/tools/benchmark``):

* ``count=50 first=41234 curr=40001 min=39876 max=45123 avg=40712.3 std=1402`` (microseconds; the
  first such line is the warm-up pass, the last one the regular runs);
* ``Inference timings in us: Init: 25123, First inference: 45123, Warmup (avg): 40712.3,
  Inference (avg): 40356.2``;
* memory: ``Peak memory footprint (MB): init=3.45 overall=10.85`` (older tools),
  ``Memory footprint delta from the start of the tool (MB): init=5.23 overall=12.42`` and
  ``Overall peak memory footprint (MB) via periodic monitoring: 18.33`` (newer tools);
* the delegate's ``Replacing N out of M node(s) with delegate (NAME) node, yielding P partitions``
  (older runtimes: ``Replacing N node(s) with delegate (NAME) node, yielding P partitions.``);
* the ``--enable_op_profiling`` "Run Order" table (with or without the old ``[start]`` column).

A parse that finds no latency figure is an error (:class:`BenchmarkOutputError`), as is an output
whose last timing line is cut off.
"""

from __future__ import annotations

import re
from typing import Any

from edgebench.errors import DeviceError


class BenchmarkOutputError(DeviceError):
    """benchmark_model's output has no (complete) figure edgebench can read."""


_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_STATS = re.compile(r"count=(\d+) first=(%s) curr=(%s) min=(%s) max=(%s) avg=(%s) std=(%s)"
                    r"(?: p5=(%s) median=(%s) p95=(%s))?" % ((_NUM,) * 9))  # percentiles: newer tools
_STATS_START = re.compile(r"count=\d+\s+first=")
_TIMINGS = re.compile(r"Inference timings in us:\s*Init:\s*(%s),\s*First inference:\s*(%s),\s*"
                      r"Warmup \(avg\):\s*(%s),\s*Inference \(avg\):\s*(%s)" % ((_NUM,) * 4))
_PEAK_OLD = re.compile(r"Peak memory footprint \(MB\):\s*init=(%s)\s+overall=(%s)" % (_NUM, _NUM))
_DELTA = re.compile(r"Memory footprint delta from the start of the tool \(MB\):\s*init=(%s)\s+overall=(%s)"
                    % (_NUM, _NUM))
_PERIODIC = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring:\s*(%s)" % _NUM)
_REPLACE = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\) node, yielding (\d+) partition")
_REPLACE_OLD = re.compile(r"Replacing (\d+) node\(s\) with delegate \(([^)]*)\) node, yielding (\d+) partition")
_MODEL_SIZE = re.compile(r"The input model file size \(MB\):\s*(%s)" % _NUM)
_INIT_SESSION = re.compile(r"Initialized session in (%s)ms" % _NUM)
_NODES_OBSERVED = re.compile(r"^\s*(\d+) nodes observed", re.M)
_TABLE_BANNER = re.compile(r"^=+ (.+?) =+\s*$")


def _stats(match: re.Match) -> dict[str, float]:
    keys = ("count", "first", "curr", "min", "max", "avg", "std", "p5", "median", "p95")
    values = {k: float(v) for k, v in zip(keys, match.groups()) if v is not None}
    values["count"] = int(values["count"])
    return values


def parse_op_profile(text: str) -> list[dict[str, Any]]:
    """Rows of the regular runs' "Run Order" table (per op, in execution order).

    Newer tools print a first "Run Order" table for the initialization (ModifyGraphWithDelegate,
    AllocateTensors): the per-op table is the one after "Operator-wise Profiling Info for Regular
    Benchmark Runs" (the only one in older outputs).
    """
    marker = text.find("Operator-wise Profiling Info for Regular Benchmark Runs")
    lines = text[marker:].splitlines() if marker >= 0 else text.splitlines()
    rows: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        banner = _TABLE_BANNER.match(line.strip())
        if not banner or banner.group(1).strip() != "Run Order":
            continue
        if i + 1 >= len(lines):
            return rows
        header = [h.strip().lower() for h in re.findall(r"\[([^\]]+)\]", lines[i + 1])]
        for row_line in lines[i + 2:]:
            if not row_line.strip() or _TABLE_BANNER.match(row_line.strip()):
                break
            cells = [c.strip() for c in row_line.strip().split("\t") if c.strip()]
            if len(cells) < len(header):  # whitespace-aligned output (no tabs)
                cells = row_line.split(None, len(header) - 1)
            if len(cells) != len(header):
                continue
            row: dict[str, Any] = {}
            for key, cell in zip(header, cells):
                name = {"node type": "op", "avg ms": "avg_ms", "first": "first_ms", "start": "start_ms",
                        "mem kb": "mem_kb", "times called": "times_called", "%": "percent", "cdf%": "cdf_percent",
                        "name": "name"}.get(key, key.replace(" ", "_"))
                if name in ("op", "name"):
                    row[name] = cell
                    continue
                try:
                    row[name] = float(cell.rstrip("%"))
                except ValueError:
                    row[name] = cell
            if "op" in row and "avg_ms" in row:
                rows.append(row)
        break
    return rows


def parse(text: str) -> dict[str, Any]:
    """Every figure in one benchmark_model output; raises BenchmarkOutputError without one."""
    if not text or not text.strip():
        raise BenchmarkOutputError("benchmark_model printed nothing")
    # the op profiler's own "Timings (microseconds): count=..." summary is not a benchmark pass
    timing_lines = [line for line in text.splitlines() if "Timings (microseconds)" not in line]
    runs = [_stats(m) for line in timing_lines for m in _STATS.finditer(line)]
    starts = sum(len(_STATS_START.findall(line)) for line in timing_lines)
    timings = _TIMINGS.search(text)
    if not runs and not timings:
        tail = text.strip().splitlines()[-1][:200]
        raise BenchmarkOutputError(f"benchmark_model's output has no timing figure (last line: {tail!r})")
    if starts > len(runs):
        raise BenchmarkOutputError("benchmark_model's output is cut off inside a 'count=' timing line")
    result: dict[str, Any] = {"runs": runs[-1] if runs else None, "warmup": runs[0] if len(runs) > 1 else None}
    if timings:
        init, first, warm, inf = (float(v) for v in timings.groups())
        result.update(init_us=init, first_us=first, warmup_avg_us=warm, inference_avg_us=inf)
    elif runs:  # the summary line is missing (older tools print it last): an incomplete output
        raise BenchmarkOutputError("benchmark_model's output ends before its 'Inference timings in us' summary")
    memory: dict[str, Any] = {}
    if (m := _DELTA.search(text)):
        memory.update(init_mb=float(m.group(1)), overall_mb=float(m.group(2)),
                      definition="Memory footprint delta from the start of the tool (MB)")
    elif (m := _PEAK_OLD.search(text)):
        memory.update(init_mb=float(m.group(1)), overall_mb=float(m.group(2)),
                      definition="Peak memory footprint (MB)")
    if (m := _PERIODIC.search(text)):
        memory["periodic_peak_mb"] = float(m.group(1))
    result["memory"] = memory
    delegation = [{"delegated": int(m.group(1)), "total": int(m.group(2)), "delegate": m.group(3),
                   "partitions": int(m.group(4))} for m in _REPLACE.finditer(text)]
    if not delegation:
        delegation = [{"delegated": int(m.group(1)), "total": None, "delegate": m.group(2),
                       "partitions": int(m.group(3))} for m in _REPLACE_OLD.finditer(text)]
    result["delegation"] = delegation
    if (m := _MODEL_SIZE.search(text)):
        result["model_size_mb"] = float(m.group(1))
    if (m := _INIT_SESSION.search(text)):
        result["init_session_ms"] = float(m.group(1))
    result["op_profile"] = parse_op_profile(text)
    if (m := _NODES_OBSERVED.search(text)):
        result["nodes_observed"] = int(m.group(1))
    return result


def to_result(parsed: dict[str, Any]) -> dict[str, Any]:
    """The harness's result dict (runner format) from :func:`parse`'s figures."""
    runs = parsed["runs"]
    # the median where the tool prints percentiles (edgebench ranks medians), else its average
    figure = "median" if runs and "median" in runs else "avg"
    latency_us = runs["median"] if figure == "median" else parsed.get("inference_avg_us", runs["avg"] if runs else None)
    memory: dict[str, Any] = {"source": "benchmark_model", **parsed["memory"]}
    overall = parsed["memory"].get("overall_mb")
    if overall is not None:
        memory["peak_bytes"] = int(overall * 1024 * 1024)
    runtime: dict[str, Any] = {"runtime": "benchmark_model"}
    delegation = parsed["delegation"]
    if delegation:
        delegated = sum(d["delegated"] for d in delegation)
        total = delegation[-1]["total"] or parsed.get("nodes_observed") or len(parsed["op_profile"]) or None
        runtime.update(delegated_nodes=delegated, total_nodes=total, delegate_name=delegation[-1]["delegate"],
                       partitions=sum(d["partitions"] for d in delegation),
                       delegation=f"{delegated} of {total if total is not None else '?'} nodes delegated")
    return {
        "init_ms": parsed["init_us"] / 1000.0 if "init_us" in parsed else None,
        "first_ms": parsed["first_us"] / 1000.0 if "first_us" in parsed else None,
        "warmup_ms": [parsed["warmup_avg_us"] / 1000.0] if "warmup_avg_us" in parsed else [],
        # benchmark_model reports aggregates, not each run: its median (or average) is the one timing we have
        "timings_ms": [latency_us / 1000.0],
        "memory": memory,
        "runtime": runtime,
        "op_profile": parsed["op_profile"],
        "native": {"tool": "benchmark_model", "runs": runs, "warmup": parsed["warmup"],
                   "timings": "aggregate: benchmark_model prints count/min/max/avg/std, not each run",
                   "latency_figure": figure,
                   **{k: parsed[k] for k in ("model_size_mb", "init_session_ms", "nodes_observed") if k in parsed}},
        "quality_on": "host",
    }
