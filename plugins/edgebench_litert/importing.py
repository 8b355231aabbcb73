"""Store a hand-run benchmark_model log as a result: the tool's summary, what ran, marked imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench import __version__
from edgebench.errors import EdgebenchError


def import_log(store: Any, path: Path, text: str, *, device: str, model: str, precision: str,
               delegate: str | None = None, height: int | None = None, width: int | None = None,
               threads: int | None = None) -> tuple[int, dict[str, Any]]:
    """(run id, stored row). A failed run or an output without a figure is refused with its cause."""
    from edgebench import stats
    from edgebench.provenance import provenance_warnings

    from .benchmark_model import parse
    from .native import identify_delegate, to_result

    parsed = parse(text)
    if parsed.get("failed"):
        raise EdgebenchError(f"{path}: benchmark_model did not finish: {parsed.get('error')}")
    asked = delegate or parsed.get("delegate_kind") or "cpu"
    ran, delegation, notes = identify_delegate(asked, parsed, device)
    result = to_result(parsed)
    result["runtime"].update({k: v for k, v in delegation.items() if v is not None})
    result["notes"] = notes
    summary = result["summary"]
    warnings = stats.check(summary) + provenance_warnings(result)
    warnings.append(stats.Warning_("imported", f"imported from {path.name}: no raw timings, no quality",
                                   "measure with `edgebench run` for raw timings and PSNR"))
    spec = _model(model)
    if threads is None:
        threads = _int((parsed.get("params") or {}).get("num_threads"))
    row: dict[str, Any] = {
        "device": device, "model": model, "backend": "tflite", "delegate": ran, "precision": precision,
        "scale": getattr(spec, "scale", None), "params": getattr(spec, "params", None),
        "artifact_size": None, "artifact_sha": None, "input_h": height, "input_w": width, "threads": threads,
        "init_ms": result["init_ms"], "timings": [], "warmup": result["warmup_ms"],
        "mem_peak_bytes": result["memory"].get("peak_bytes"), "mem_source": "benchmark_model",
        "memory": result["memory"], "thermal": {}, "runtime": result["runtime"],
        "environment": {"imported_from": str(path), "imported": True},
        "warnings": [w.to_dict() for w in warnings], "quality_on": None,
        "extra": {"native": result["native"], "op_profile": result["op_profile"]},
    }
    row.update({k: summary[k] for k in stats.SUMMARY_COLUMNS})
    run_id = store.start_run(device, settings={"imported": str(path)}, edgebench_version=__version__,
                             argv=["benchmark-model", "import", str(path)], plugins={}, host_info={})
    try:
        store.add_result(run_id, row)
    finally:
        store.finish_run(run_id, "imported")
    return run_id, row


def _model(name: str) -> Any:
    try:
        from edgebench.plugins import models

        return models.get(name)
    except EdgebenchError:  # a model of the user's own: stored by name
        return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip("[] "))
    except (TypeError, ValueError):
        return None
