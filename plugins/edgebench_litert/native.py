"""Measure a .tflite artifact with TensorFlow Lite's native ``benchmark_model`` over a transport.

One timing pass (the tool's own warm-up and timed runs), then, where the binary can, a quality
pass through the same tool, delegate and threads (:mod:`.device_quality`). What the tool printed
decides what is stored: the delegate that took the nodes (not the one asked for), its share of the
graph, the tool's own run summary (count, min, max, mean, std, percentiles: it never prints each
run), its memory figures, and the device's temperatures before and after.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgebench import NativeJob
from edgebench.errors import ArtifactError, BackendUnavailable, EdgebenchError
from edgebench.native_tools import (cannot_start, install, pinned, scratch_dir, stamped, temperatures, tool_window,
                                    without_stamps)
from edgebench.summary_stats import summary_from_tool

from .benchmark_model import BenchmarkOutputError, parse

DELEGATE_FLAGS = {
    "cpu": ["--use_xnnpack=false"],
    "xnnpack": ["--use_xnnpack=true"],
    "nnapi": ["--use_xnnpack=false", "--use_nnapi=true"],
    "gpu": ["--use_xnnpack=false", "--use_gpu=true"],
}
# what edgebench may pass; all of them when --help lists nothing (the tool's own error then speaks)
KNOWN_FLAGS = frozenset({"graph", "num_threads", "warmup_runs", "num_runs", "min_secs", "max_secs",
                         "enable_op_profiling", "require_full_delegation", "use_xnnpack", "use_nnapi", "use_gpu",
                         "signature_to_run_for"})

_FLAGS: dict[tuple[str, str], frozenset[str]] = {}  # (device, binary) -> flags its --help lists


def model_nodes(path: Path) -> int | None:
    """Nodes of the artifact's default subgraph (what the delegate line's "out of M" counts)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interpreter = Interpreter(model_path=str(path),
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        return int(interpreter._interpreter.NumNodes())
    except Exception:
        return None


def tool_flags(transport: Any, binary: str, identity: str, device: str) -> frozenset[str] | None:
    """The flags this binary's ``--help`` lists, probed once per device and binary.

    Old binaries lack ``--output_filepath``, ``--signature_to_run_for``, ``--use_xnnpack`` or
    ``--require_full_delegation``; the tools ignore an unknown flag (TF 1.x silently, 2.x with
    "Unconsumed cmdline flags"), so a request would quietly do nothing: edgebench asks first.
    None when the answer lists no flag (not a usage text): the run then uses the basic flags only
    and the tool's own output says what went wrong.
    """
    key = (str(getattr(transport, "where", lambda: "")()), identity)
    if key not in _FLAGS:
        proc = transport.run([binary, "--help"], timeout=60)
        text = (proc.stdout or "") + "\n" + (proc.stderr or "")
        if proc.returncode in (126, 127) and "--graph" not in text:
            raise cannot_start("benchmark_model", binary, device, proc.returncode, text)
        found = frozenset(re.findall(r"--([a-z][a-z0-9_]*)", text))
        _FLAGS[key] = found if "graph" in found else frozenset()
    return _FLAGS[key] or None


def signature_for(meta: dict[str, Any], height: int | None, width: int | None) -> str | None:
    """The artifact's signature for this input size (None for a single-signature artifact)."""
    signatures = meta.get("signatures", {})
    if len(signatures) < 2:
        return None
    for key, shape in signatures.items():
        if list(shape) == [height, width]:
            return key
    return meta.get("default_signature")


def delegate_flags(delegate: str, flags: frozenset[str]) -> list[str]:
    wanted = DELEGATE_FLAGS.get(delegate)
    if wanted is None:
        raise BackendUnavailable(f"benchmark_model has no flag for delegate {delegate!r} (cpu, xnnpack, nnapi, gpu)")
    out = []
    for flag in wanted:
        name = flag[2:].split("=")[0]
        if name in flags:
            out.append(flag)
        elif flag.endswith("=true"):  # the delegate itself is missing from this build
            raise BackendUnavailable(f"this benchmark_model has no --{name} flag: it cannot run delegate {delegate!r}")
    return out


def benchmark_argv(binary: str, model: str, job: NativeJob, settings: dict[str, Any], affinity: str | None,
                   flags: frozenset[str] = KNOWN_FLAGS, signature: str | None = None) -> list[str]:
    argv = [binary, f"--graph={model}", f"--num_threads={job.threads or -1}",
            f"--warmup_runs={max(int(settings.get('warmup', 3)), 1)}", f"--num_runs={max(int(settings.get('runs', 10)), 1)}"]
    optional = {"min_secs": float(settings.get("min_time", 0.0)), "max_secs": float(settings.get("max_time", 120.0)),
                "enable_op_profiling": "true"}
    if settings.get("require_full_delegation"):
        optional["require_full_delegation"] = "true"
    argv += [f"--{k}={v}" for k, v in optional.items() if k in flags]
    argv += delegate_flags(job.delegate, flags)
    if signature:
        argv.append(f"--signature_to_run_for={signature}")
    return pinned(argv, affinity)


def check_signature(meta: dict[str, Any], signature: str | None, flags: frozenset[str]) -> None:
    """A multi-signature artifact needs --signature_to_run_for, except for the default signature on old tools."""
    if signature is None or "signature_to_run_for" in flags:
        return
    if signature != meta.get("default_signature"):
        raise BackendUnavailable(
            f"this benchmark_model has no --signature_to_run_for: it can only run the artifact's default "
            f"signature {meta.get('default_signature')} (use --size {'x'.join(map(str, meta['signatures'][meta['default_signature']]))})")


# -- what ran -----------------------------------------------------------------------------------

def identify_delegate(requested: str, parsed: dict[str, Any], device: str,
                      require_full: bool = False) -> tuple[str, dict[str, Any], list[str]]:
    """(the delegate that ran, runtime fields, notes) from the tool's own delegation lines.

    A requested accelerator that took nothing is a failure naming what ran instead; partial
    delegation is kept and marked (a failure with ``require_full``).
    """
    # a count above 0, or full/partial wording without a count ("partially executed ... w/ K kernels")
    took = [d for d in parsed.get("delegations") or []
            if (d.get("delegated") or 0) > 0 or (d.get("delegated") is None and d.get("full") is not None)]
    kinds = [d["kind"] for d in took]
    notes: list[str] = []
    errors = "; ".join(parsed.get("delegate_errors") or [])
    if requested == "cpu":
        if not took:
            return "cpu", {"delegation": None}, notes
        ran = took[0]["kind"]  # the tool applied a delegate although none was asked for (old builds)
        notes.append(f"asked for cpu, but benchmark_model applied {took[0]['delegate']}: stored as {ran}")
        requested = ran
    if requested not in kinds:
        instead = (f"{took[0]['delegate']} took {_share(took[0])} instead" if took
                   else "the whole graph ran on the CPU kernels")
        why = f" ({errors})" if errors else ""
        raise BackendUnavailable(f"delegate {requested!r} took no node on device {device!r}: {instead}{why}")
    mine = [d for d in took if d["kind"] == requested]
    if parsed.get("delegate_kind") == requested:  # the parser's summary: subgraphs summed, total from the model
        delegated, total, share = parsed.get("delegated_nodes"), parsed.get("total_nodes"), parsed.get("delegation")
    else:
        delegated = sum(d.get("delegated") or 0 for d in mine) or None
        total = sum(d.get("total") or 0 for d in mine) or None
        fulls = [d["full"] for d in mine if d.get("full") is not None]
        share = ("full" if all(fulls) else "partial") if fulls else (
            ("full" if delegated >= total else "partial") if delegated is not None and total else None)
    runtime = {"delegate_name": mine[0]["delegate"], "delegated_nodes": delegated, "total_nodes": total,
               "partitions": sum(d.get("partitions") or 0 for d in mine) or None, "delegation_kind": share,
               "delegation": (f"{delegated} of {total} nodes delegated" if delegated is not None and total
                              else {"full": "fully delegated", "partial": "partly delegated"}.get(share, "delegated"))}
    if parsed.get("unsupported_ops"):
        runtime["fallback_ops"] = list(parsed["unsupported_ops"])
    if share == "partial":
        if require_full:
            raise BackendUnavailable(f"delegate {requested!r} took only {_share(mine[0], delegated, total)} on device "
                                     f"{device!r} (--require-full-delegation)")
        notes.append(f"partial delegation: {requested} took {_share(mine[0], delegated, total)}, the rest ran on the CPU")
    return requested, runtime, notes


def _share(entry: dict[str, Any], delegated: int | None = None, total: int | None = None) -> str:
    delegated = entry.get("delegated") if delegated is None else delegated
    total = entry.get("total") if total is None else total
    if delegated is None:
        return "the whole graph" if entry.get("full") else "part of the graph"
    return f"{delegated} of {total} nodes" if total else f"{delegated} nodes"


_DELEGATE_FAULT = re.compile(r"failed to (apply|create)|delegate|cannot (load|create)|not supported|"
                             r"acceleration is unsupported", re.I)


def failure(parsed: dict[str, Any], requested: str, device: str, exit_status: int) -> Exception:
    """One line for a run the tool did not finish, in the tool's own words.

    A delegate that could not be applied (or whose kernel failed to prepare) is the delegate's
    fault; anything else is this model's failure on this device. Either way the run goes on with
    the other jobs.
    """
    error = parsed.get("error") or "benchmark_model printed no result"
    status = f" (exit status {exit_status})" if exit_status else ""
    if "Disallowed CPU fallback" in error:
        return BackendUnavailable(f"delegate {requested!r} did not take the whole graph on device {device!r} "
                                  f"(--require-full-delegation): {error}")
    blamed = [error, *(parsed.get("delegate_errors") or [])]
    if requested != "cpu" and any(_DELEGATE_FAULT.search(text) for text in blamed):
        return BackendUnavailable(f"delegate {requested!r} failed on device {device!r}: {error}{status}")
    return ArtifactError(f"benchmark_model failed on device {device!r}: {error}{status}")


# -- the result ---------------------------------------------------------------------------------

def to_result(parsed: dict[str, Any]) -> dict[str, Any]:
    """The harness's result dict from :func:`parse`'s figures: the tool's summary, never invented runs."""
    runs = parsed.get("runs") or {}
    if not runs.get("count") and parsed.get("inference_avg_us") is not None:
        runs = {**runs, "count": 1, "avg": parsed["inference_avg_us"]}  # one figure, no count printed
    elif runs and runs.get("avg") is None and parsed.get("inference_avg_us") is not None:
        runs = {**runs, "avg": parsed["inference_avg_us"]}
    first_ms = parsed["first_us"] / 1000.0 if parsed.get("first_us") is not None else None
    summary = summary_from_tool(runs, first_ms=first_ms)
    memory: dict[str, Any] = {"source": "benchmark_model", **(parsed.get("memory") or {})}
    overall = parsed.get("memory_overall_mb")
    if overall is not None:
        memory["peak_bytes"] = int(overall * 1024 * 1024)
    native = {"tool": "benchmark_model", "summary_only": True, "runs": parsed.get("runs"),
              "warmup": parsed.get("warmup"), "latency_figure": summary["latency_figure"],
              "generation": parsed.get("generation"),
              **{k: parsed[k] for k in ("model_size_mb", "init_session_ms", "nodes_observed", "inference_avg_us")
                 if parsed.get(k) is not None}}
    return {
        "init_ms": parsed["init_us"] / 1000.0 if parsed.get("init_us") is not None else None,
        "first_ms": first_ms,
        "warmup_ms": [parsed["warmup_avg_us"] / 1000.0] if parsed.get("warmup_avg_us") is not None else [],
        "timings_ms": [],  # benchmark_model prints a summary of its runs, not each run
        "summary": summary,
        "memory": memory,
        "runtime": {"runtime": "benchmark_model"},
        "op_profile": parsed.get("op_profile") or [],
        "native": native,
    }


def run_benchmark_model(job: NativeJob, binary: str, settings: dict[str, Any], profile: Any) -> dict[str, Any]:
    transport = job.transport
    with scratch_dir(transport) as workdir:
        remote_binary, identity = install(transport, binary, workdir, "benchmark_model", profile.name)
        probed = tool_flags(transport, remote_binary, identity, profile.name)
        flags = probed if probed is not None else KNOWN_FLAGS
        meta = job.artifact.meta
        signature = signature_for(meta, settings.get("height"), settings.get("width"))
        if probed is not None:
            check_signature(meta, signature, flags)
        if signature and "signature_to_run_for" not in flags:
            signature = None  # an old tool runs the default signature, which is the one wanted
        model = f"{workdir.rstrip('/')}/{job.artifact.path.name}"
        transport.push(job.artifact.path, model)
        affinity = job.affinity if job.affinity is not None else profile.affinity
        argv = benchmark_argv(remote_binary, model, job, settings, affinity, flags, signature)
        thermal = {"before": temperatures(transport, profile)}
        proc = transport.run(stamped(argv) if settings.get("power") else argv,  # stamps: a power meter's region
                             timeout=float(settings.get("timeout", 900.0)), cwd=workdir)
        thermal["after"] = temperatures(transport, profile)
        text = without_stamps((proc.stdout or "") + "\n" + (proc.stderr or ""))
        if proc.returncode in (126, 127) and "count=" not in text:  # e.g. no taskset on the device
            raise cannot_start("benchmark_model", remote_binary, profile.name, proc.returncode, text)
        if not text.strip():
            status = f" (exit status {proc.returncode})" if proc.returncode else ""
            raise BenchmarkOutputError(f"device {profile.name!r}: benchmark_model printed nothing{status}")
        parsed = parse(text, model_nodes=model_nodes(job.artifact.path))
        if parsed.get("failed"):
            raise failure(parsed, job.delegate, profile.name, proc.returncode)
        require_full = bool(settings.get("require_full_delegation"))
        delegate, delegation, notes = identify_delegate(job.delegate, parsed, profile.name, require_full)
        result = to_result(parsed)
        if settings.get("power"):
            runs = parsed.get("runs") or {}
            loop = runs["count"] * runs["avg"] / 1e6 if runs.get("count") and runs.get("avg") else None
            result["window"] = tool_window(proc.stderr or "", loop)
        result["delegate"] = delegate
        result["runtime"].update({k: v for k, v in delegation.items() if v is not None})
        result["notes"] = notes
        result["env"] = {"command": argv, "affinity": affinity, "exit_status": proc.returncode,
                         "binary": binary, "tool_flags": sorted(flags & {
                             "output_filepath", "input_layer_value_files", "signature_to_run_for",
                             "require_full_delegation", "use_xnnpack", "use_nnapi", "use_gpu"})}
        result["thermal"] = {k: v for k, v in thermal.items() if v}
        if job.quality_inputs is not None:
            from .device_quality import quality_on_device

            try:
                outputs, extra = quality_on_device(job, transport, workdir, remote_binary, model, flags, delegate,
                                                   affinity, float(settings.get("timeout", 900.0)))
            except EdgebenchError as exc:  # the timing stands; the host scores the artifact and says why
                outputs, extra = None, {"reason": str(exc)}
            if outputs is not None:
                result["outputs"], result["quality_on"] = outputs, "device"
                if extra.get("agreement"):
                    result["runtime"]["cpu_agreement"] = extra["agreement"]
            else:
                result["quality_fallback"] = extra.get("reason")
        return result
