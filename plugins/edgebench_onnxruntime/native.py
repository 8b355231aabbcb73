"""Measure an .onnx artifact with ONNX Runtime's native ``onnxruntime_perf_test`` over a transport.

For devices without a usable Python (a stock phone): the binary is pushed, run once with ``-v``
(every timed run's ``iteration:N,time_cost:S`` line, and the session log whose placement lines
say which execution provider took how many nodes) and parsed by :mod:`.perf_test`. The tool does
one warm-up run of its own ("First inference") and cannot dump outputs; quality goes through the
same binary only when it was built with ``onnxruntime_DEBUG_NODE_INPUTS_OUTPUTS`` (see
:mod:`.device_quality`), otherwise the host scores the artifact and says why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edgebench import NativeJob
from edgebench.errors import BackendUnavailable, EdgebenchError
from edgebench.native_tools import (cannot_start, install, pinned, scratch_dir, stamped, temperatures, tool_window,
                                    without_stamps)
from edgebench.summary_stats import summary_from_tool

from . import TOOL
from .perf_test import check, parse

PROVIDERS = {"cpu": "CPUExecutionProvider", "xnnpack": "XnnpackExecutionProvider", "nnapi": "NnapiExecutionProvider"}
WORD = {"cpu": "CPU", "xnnpack": "XNNPACK", "nnapi": "NNAPI"}


def free_dims(path: Path) -> tuple[str, list[tuple[str, int]]]:
    """(the input's name, [(free dimension name, axis)]) of the artifact's first input, read on the host."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    first = model.graph.input[0]
    dims = [(d.dim_param, axis) for axis, d in enumerate(first.type.tensor_type.shape.dim) if d.dim_param]
    return first.name, dims


def output_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.output[0].name


def dim_flags(dims: list[tuple[str, int]], height: int, width: int) -> list[str]:
    """``-f name:value`` for the NCHW height and width (a free dimension left alone would be 1)."""
    sizes = {2: height, 3: width}
    flags: list[str] = []
    for name, axis in dims:
        flags += ["-f", f"{name}:{sizes.get(axis, 1)}"]
    return flags


def config_flags(meta: dict[str, Any]) -> list[str]:
    """The int8 recipe's session config entries as ``-C "key|value ..."`` (e.g. x64quantprecision)."""
    entries = ((meta.get("int8_recipe") or {}).get("session_options") or {})
    if not entries:
        return []
    return ["-C", " ".join(f"{k}|{v}" for k, v in sorted(entries.items()))]


def perf_argv(binary: str, model: str, delegate: str, threads: int | None, runs: int, dims: list[str],
              config: list[str], affinity: str | None, min_time: float = 0.0) -> list[str]:
    """``-m times -r RUNS``, or ``-m duration -t S`` for ``--min-time`` (the tool cannot combine both: it then
    runs as many times as fit in whole seconds)."""
    mode = ["-m", "duration", "-t", str(math.ceil(min_time))] if min_time > 0 else ["-m", "times", "-r", str(max(runs, 1))]
    argv = [binary, "-e", delegate, *mode, "-x", str(threads or 0), "-I", "-s", "-v", *dims, *config, model]
    return pinned(argv, affinity)


def identify(requested: str, parsed: dict[str, Any], device: str,
             require_full: bool = False) -> tuple[dict[str, Any], list[str]]:
    """(runtime fields, notes) from the session log's placements: an accelerator that took nothing fails."""
    provider = PROVIDERS[requested]
    nodes = parsed.get("provider_nodes") or {}
    runtime: dict[str, Any] = {"runtime": "onnxruntime_perf_test", "execution_provider": provider,
                               "provider_nodes": nodes or None}
    notes: list[str] = []
    if requested == "cpu":
        return runtime, notes
    kind = parsed.get("delegation")
    took = nodes.get(provider)
    if kind == "none" or (nodes and not took):
        raise BackendUnavailable(f"execution provider {WORD[requested]} ({provider}) took no node on device "
                                 f"{device!r}: the whole graph ran on CPUExecutionProvider")
    delegated, total = parsed.get("delegated_nodes"), parsed.get("total_nodes")
    share = kind or ("full" if nodes and set(nodes) == {provider} else None)
    runtime.update(delegate_name=provider, delegated_nodes=delegated, total_nodes=total,
                   partitions=parsed.get("partitions"), delegation_kind=share,
                   delegation=(f"{delegated} of {total} nodes on {provider}" if delegated is not None and total
                               else {"full": "fully delegated", "partial": "partly delegated"}.get(share or "",
                                                                                               "delegated")))
    if share == "partial":
        what = f"{delegated} of {total} nodes" if delegated is not None and total else "part of the graph"
        if require_full:
            raise BackendUnavailable(f"execution provider {WORD[requested]} took only {what} on device {device!r} "
                                     f"(--require-full-delegation)")
        notes.append(f"partial delegation: {provider} took {what}, the rest ran on CPUExecutionProvider")
    return runtime, notes


def to_result(parsed: dict[str, Any]) -> dict[str, Any]:
    """The harness's result from the tool's figures: each run's time where -v printed them, else its summary."""
    timings = list(parsed.get("timings_ms") or [])
    summary = None
    if not timings:  # a build whose -v prints no per-run line: the tool's own summary, never invented runs
        runs = {"count": parsed.get("runs"), "avg": parsed.get("avg_ms"), "min": parsed.get("min_ms"),
                "max": parsed.get("max_ms"), **(parsed.get("percentiles") or {})}
        summary = summary_from_tool(runs, first_ms=parsed.get("first_inference_ms"), scale=1.0)
    memory: dict[str, Any] = {"source": "onnxruntime_perf_test"}
    if parsed.get("peak_working_set_bytes") is not None:
        memory["peak_bytes"] = int(parsed["peak_working_set_bytes"])
    native = {"tool": "onnxruntime_perf_test", "summary_only": not timings, "warmup": 1,
              **{k: parsed[k] for k in ("runs", "avg_ms", "percentiles", "cpu_usage_pct", "threads")
                 if parsed.get(k) is not None}}
    result: dict[str, Any] = {
        "init_ms": parsed.get("session_creation_ms"), "first_ms": parsed.get("first_inference_ms"),
        "warmup_ms": [parsed["first_inference_ms"]] if parsed.get("first_inference_ms") is not None else [],
        "timings_ms": timings, "memory": memory, "native": native,
    }
    if summary is not None:
        result["summary"] = summary
    return result


def run_perf_test(job: NativeJob, binary: str, settings: dict[str, Any], profile: Any) -> dict[str, Any]:
    transport, device = job.transport, profile.name
    with scratch_dir(transport) as workdir:
        remote_binary, identity = install(transport, binary, workdir, TOOL.name, device)
        model = f"{workdir.rstrip('/')}/model.onnx"
        transport.push(job.artifact.path, model)
        _, dims = free_dims(job.artifact.path)
        height, width = int(settings.get("height") or 360), int(settings.get("width") or 640)
        config = config_flags(job.artifact.meta)
        argv = perf_argv(remote_binary, model, job.delegate, job.threads, int(settings.get("runs", 10)),
                         dim_flags(dims, height, width), config, job.affinity, float(settings.get("min_time") or 0))
        thermal = {"before": temperatures(transport, profile)}
        proc = transport.run(stamped(argv) if settings.get("power") else argv,  # stamps: a power meter's region
                             timeout=float(settings.get("timeout", 900.0)), cwd=workdir)
        thermal["after"] = temperatures(transport, profile)
        # the session log (stderr) comes before the run's figures (stdout): read in that order, as a terminal shows it
        text = without_stamps((proc.stderr or "") + "\n" + (proc.stdout or ""))
        if proc.returncode in (126, 127) and "Average" not in text:
            raise cannot_start(TOOL.name, remote_binary, device, proc.returncode, text)
        parsed = parse(text)
        try:
            check(parsed)
        except EdgebenchError as exc:
            last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "no output")
            why = f" (exit status {proc.returncode}; last line: {last[:200]})" \
                if parsed.get("error_kind") in ("no_figure", "cut", "empty") else ""
            raise type(exc)(f"device {device!r}: {exc}{why}") from None
        runtime, notes = identify(job.delegate, parsed, device, bool(settings.get("require_full_delegation")))
        result = to_result(parsed)
        if settings.get("power"):  # the timed loop's wall time, as the tool printed it
            result["window"] = tool_window(proc.stderr or "", parsed.get("run_time_s") or parsed.get("total_s"))
        result.update(delegate=job.delegate, runtime=runtime, notes=notes,
                      thermal={k: v for k, v in thermal.items() if v},
                      env={"command": argv, "affinity": job.affinity, "exit_status": proc.returncode,
                           "binary": binary, "identity": identity})
        if job.quality_inputs is not None:
            from .device_quality import quality_on_device

            try:
                outputs, extra = quality_on_device(job, transport, workdir, remote_binary, model, dims, config)
            except EdgebenchError as exc:  # the timing stands; the host scores the artifact and says why
                outputs, extra = None, {"reason": str(exc)}
            if outputs is not None:
                result["outputs"] = outputs
                if extra.get("agreement"):
                    result["runtime"]["cpu_agreement"] = extra["agreement"]
            else:
                result["quality_fallback"] = extra.get("reason")
                result["quality_hint"] = ("build onnxruntime_perf_test with --cmake_extra_defines "
                                          "onnxruntime_DEBUG_NODE_INPUTS_OUTPUTS=1 to score quality on the device")
        return result
