"""How a result was obtained, where a reader of the board must know it: partial delegation, a
delegate other than the one asked for, quality scored off the device, a tool's summary instead of
raw timings."""

from __future__ import annotations

from typing import Any

from .errors import BackendUnavailable
from .stats import Warning_


def check_full_delegation(delegate: str, result: dict[str, Any], required: bool, device: str) -> None:
    """--require-full-delegation for every backend: a runtime that reports a partial share fails the job."""
    runtime = result.get("runtime") or {}
    done, total = runtime.get("delegated_nodes"), runtime.get("total_nodes")
    if required and delegate != "cpu" and done is not None and total and done < total:
        raise BackendUnavailable(f"delegate {delegate!r} took only {done} of {total} nodes on device "
                                 f"{device!r} (--require-full-delegation)")


def provenance_warnings(result: dict[str, Any]) -> list[Warning_]:
    """What a reader of the board must know about how a native tool's result was obtained."""
    out = []
    runtime = result.get("runtime") or {}
    if runtime.get("delegation_kind") == "partial":
        out.append(Warning_(
            "partial-delegation", f"{runtime.get('delegate_name', 'the delegate')} took {runtime.get('delegation')}: "
            "the rest ran on the CPU kernels", "--require-full-delegation turns this into a failure; "
            "`edgebench export` lists the ops that fell back"))
    out += [Warning_("delegation", note, "") for note in result.get("notes") or []
            if not note.startswith("partial delegation")]
    if result.get("quality_on") == "host-cpu":
        why = (result.get("quality_fallback") or "the tool cannot return outputs").rstrip(".")
        out.append(Warning_("quality-host-cpu", f"PSNR measured on this machine's CPU, not on the device ({why})",
                                  result.get("quality_hint") or
                                  "use a benchmark_model with --input_layer_value_files and --output_filepath"))
    if not result.get("timings_ms") and result.get("summary"):
        out.append(Warning_("summary-only", f"the tool printed a summary of {result['summary']['n_runs']} runs, "
                                  "not each run", "compare judges such rows with Welch's t on mean, std and n"))
    return out
