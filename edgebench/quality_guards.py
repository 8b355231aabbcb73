"""Rows a board must not rank at face value: broken quality, and accelerators slower than the CPU.

A quantized network can run fast and output garbage (a 5 dB PReLU, a −19 dB collapse) and a GPU
delegate can run fp16; such rows are flagged with their likely cause and left out of the ranking.
The Δ int8 reference is the fp32 row of the same configuration scored on the same images, never a
``--quick`` one. A delegate row is set against the CPU row of the same artifact and setting.
"""

from __future__ import annotations

import math
from typing import Any

MAX_INT8_DROP_DB = 0.5  # int8 may lose this much PSNR against fp32 before it is flagged
CPU_DELEGATES = ("cpu", "xnnpack")  # the CPU baseline a delegate is measured against
QUALITY = ("nan-output", "constant-output", "int8-drop", "delegate-drop", "below-bicubic")
BICUBIC = "bicubic"


def _images(row: dict[str, Any]) -> tuple:
    """What a PSNR was computed on: two rows compare only on the same images."""
    return row.get("dataset"), row.get("n_images"), bool(row.get("quick"))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def set_int8_drop(rows: list[dict[str, Any]]) -> None:
    """Against the fp32 row scored on the same images: ``delta_int8_db`` = this row's PSNR − fp32's (what
    every format shows as Δ int8: negative = dB lost) and ``psnr_drop`` = its opposite (dB lost, the guard's input)."""
    fp32: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        if row["precision"] == "fp32" and _finite(row.get("psnr")):
            key = (row["device"], row["model"], row["backend"], row["delegate"], *_images(row))
            fp32.setdefault(key, row)
    for row in rows:
        row["psnr_drop"] = row["delta_int8_db"] = None
        ref = fp32.get((row["device"], row["model"], row["backend"], row["delegate"], *_images(row)))
        if row["precision"] != "fp32" and ref and _finite(row.get("psnr")):
            row["delta_int8_db"] = row["psnr"] - ref["psnr"]
            row["psnr_drop"] = ref["psnr"] - row["psnr"]  # not -delta: equal PSNRs give 0.0, not -0.0


def _bicubic_floor(rows: list[dict[str, Any]]) -> dict[tuple, float]:
    """Bicubic PSNR per (device, scale, images) from bicubic rows, for results stored without one."""
    floors: dict[tuple, float] = {}
    for row in rows:
        if row["model"] == BICUBIC and row["precision"] == "fp32" and _finite(row.get("psnr")):
            floors.setdefault((row["device"], row.get("scale"), *_images(row)), row["psnr"])
    return floors


def _cpu_rows(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    out: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        if row["delegate"] in CPU_DELEGATES:
            key = (row["section"], row["model"], row["backend"], row["precision"], row.get("affinity"),
                   row.get("threads"))
            held = out.get(key)
            if held is None or row["delegate"] == "xnnpack":  # XNNPACK is the CPU path a phone ships
                out[key] = row
    return out


def _flag(code: str, message: str, hint: str) -> dict[str, Any]:
    return {"code": code, "message": message, "hint": hint, "count": 1, "of": 1}


def quality_flags(row: dict[str, Any], floor: float | None, cpu: dict[str, Any] | None,
                  max_drop: float) -> list[dict[str, Any]]:
    """The row's quality problems, each with its likely cause."""
    out = []
    psnr = row.get("psnr")
    accelerator = row["delegate"] not in CPU_DELEGATES
    drop = row.get("psnr_drop")
    if drop is not None and drop > max_drop:
        cause = (f"the {row['delegate']} delegate's int8 kernels" if accelerator else
                 "a quantized op the runtime computes badly (PReLU, Resize and DepthToSpace are the usual "
                 "suspects) or a calibration that clips")
        what = "collapses" if drop >= 10 else "loses"
        out.append(_flag("int8-drop", f"int8 {what} {drop:.2f} dB against fp32 (limit {max_drop:g}); "
                         f"likely cause: {cause}",
                         "compare per-layer outputs with fp32; keep that op in float or recalibrate"))
    if (cpu is not None and accelerator and _finite(psnr) and _finite(cpu.get("psnr"))
            and cpu["psnr"] - psnr > max_drop):
        out.append(_flag("delegate-drop", f"{cpu['psnr'] - psnr:.2f} dB below the same artifact on "
                         f"{cpu['delegate']}; likely cause: the {row['delegate']} delegate computes in fp16 "
                         "or with its own kernels", "try the delegate's fp32/precision-loss-off option"))
    if floor is not None and row["model"] != BICUBIC and _finite(psnr) and psnr < floor - 0.01:
        out.append(_flag("below-bicubic", f"PSNR {psnr:.2f} dB is below bicubic upscaling ({floor:.2f} dB) on "
                         "the same images; likely cause: " + ("quantization" if row["precision"] != "fp32"
                                                               else "untrained or broken weights"),
                         "check the weights (`edgebench models`) and the fp32 row"))
    if psnr is not None and isinstance(psnr, float) and math.isnan(psnr):
        out.append(_flag("nan-output", "PSNR is NaN: the output holds NaN", "an op overflowed; check fp16/int8"))
    return out


def apply(rows: list[dict[str, Any]], max_drop: float = MAX_INT8_DROP_DB) -> None:
    """Set ``delta_int8_db`` / ``psnr_drop``, ``vs_cpu`` and the quality / slower-than-CPU flags of every row."""
    set_int8_drop(rows)
    floors = _bicubic_floor(rows)
    cpus = _cpu_rows(rows)
    for row in rows:
        cpu = None
        if row["delegate"] not in CPU_DELEGATES:
            cpu = cpus.get((row["section"], row["model"], row["backend"], row["precision"], row.get("affinity"),
                            row.get("threads")))
        floor = row.get("baseline_psnr")
        if not _finite(floor):
            floor = floors.get((row["device"], row.get("scale"), *_images(row)))
        found = quality_flags(row, floor, cpu, max_drop)
        stored = [w for w in row["warning_details"] if w["code"] in QUALITY]  # constant / NaN outputs
        row["quality_flags"] = [w["code"] for w in stored + found]
        row["warning_details"] = found + row["warning_details"]
        row["vs_cpu"] = row["cpu_median_ms"] = None
        if cpu is not None and cpu.get("median_ms") and row.get("median_ms"):
            row["vs_cpu"] = cpu["median_ms"] / row["median_ms"]  # >1: the delegate is faster
            row["cpu_median_ms"] = cpu["median_ms"]
            if row.get("ci_low_ms") is not None and cpu.get("ci_high_ms") is not None \
                    and row["ci_low_ms"] > cpu["ci_high_ms"]:
                row["warning_details"].append(_flag(
                    "slower-than-cpu", f"{row['delegate']} is {1 / row['vs_cpu']:.2f}x slower than {cpu['delegate']} "
                    f"on the CPU ({row['median_ms']:.2f} vs {cpu['median_ms']:.2f} ms)",
                    "the delegate does not pay off for this model here: use the CPU, or check its partitions"))
        row["warnings"] = [w["code"] for w in row["warning_details"]]
