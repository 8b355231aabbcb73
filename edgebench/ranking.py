"""Which rows a board may rank together, and how: sections, shared ranks, a Pareto front that
ignores differences inside the noise, and each model's best setting.

A latency only compares with one measured at the same input size, and a PSNR with one of the same
scale: a board is cut into sections (device, input, scale) and ranks inside each. ``--quick``
results are smoke tests: they get their own sections and are never ranked. Rows whose quality is
flagged (:mod:`edgebench.quality_guards`) stay listed but unranked unless asked for.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

PSNR_TIE_DB = 0.01  # PSNR differences below this are noise (the bundled photos' rounding)


def section_of(row: dict[str, Any]) -> str:
    """The section label, e.g. ``host · 360x640 · x3`` (``· quick`` for smoke tests)."""
    scale = f"x{row['scale']}" if row.get("scale") else "x?"
    return f"{row['device']} · {row['input']} · {scale}" + (" · quick" if row.get("quick") else "")


def setting_of(row: dict[str, Any]) -> str:
    """How the row ran on the CPU side: core mask and threads (``cores f0 · 4 threads``)."""
    threads = row.get("threads")
    cores = f"cores {row['affinity']}" if row.get("affinity") else "all cores"
    return f"{cores} · {'default' if not threads else threads} thread{'' if threads == 1 else 's'}"


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The 95 % latency intervals overlap (a missing interval counts as overlapping nothing)."""
    lo_a, hi_a, lo_b, hi_b = a.get("ci_low_ms"), a.get("ci_high_ms"), b.get("ci_low_ms"), b.get("ci_high_ms")
    if None in (lo_a, hi_a, lo_b, hi_b):
        return False
    return lo_a <= hi_b and lo_b <= hi_a


def _same_psnr(a: dict[str, Any], b: dict[str, Any]) -> bool:
    pa, pb = a.get("psnr"), b.get("psnr")
    if pa is None or pb is None:
        return pa is None and pb is None
    if math.isinf(pa) or math.isinf(pb):
        return pa == pb
    return abs(pa - pb) < PSNR_TIE_DB


def tied(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two rows the measurement cannot tell apart: overlapping intervals, PSNR within 0.01 dB."""
    return _overlap(a, b) and _same_psnr(a, b)


def assign_ranks(rows: list[dict[str, Any]]) -> None:
    """Rank rows already sorted best first; a row tied with the one above shares its rank (``=3``).

    Competition ranking: 1, =2, =2, 4. Ties chain down a run of rows that each overlap the next.
    """
    previous = None
    for i, row in enumerate(rows, start=1):
        if previous is not None and tied(previous, row):
            row["rank"] = previous["rank"]
            previous["rank_label"] = row["rank_label"] = f"={row['rank']}"
        else:
            row["rank"], row["rank_label"] = i, str(i)
        previous = row


def _faster(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """a is faster than b beyond the noise: a's interval lies below b's (medians without one)."""
    if a.get("ci_high_ms") is not None and b.get("ci_low_ms") is not None:
        return a["ci_high_ms"] < b["ci_low_ms"]
    return a["median_ms"] < b["median_ms"]


def _sharper(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """a's PSNR beats b's by more than the noise."""
    return a["psnr"] - b["psnr"] >= PSNR_TIE_DB


def dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """a is no worse than b on latency and PSNR (within the noise) and better on one beyond it."""
    if _faster(b, a) or _sharper(b, a):
        return False
    return _faster(a, b) or _sharper(a, b)


def mark_pareto(rows: list[dict[str, Any]]) -> None:
    """Set ``pareto`` on rows no other row dominates; a difference inside the noise drops no row."""
    for row in rows:
        row["pareto"] = False
    points = [r for r in rows if r.get("psnr") is not None and r.get("median_ms") is not None
              and not math.isinf(r["psnr"])]
    points.sort(key=lambda r: (r["median_ms"], -r["psnr"]))
    for b in points:
        b["pareto"] = not any(a is not b and dominates(a, b) for a in points)


def best_settings(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each configuration's fastest setting (core mask × threads), marked with how many it beat."""
    best: dict[tuple, dict[str, Any]] = {}
    counts: dict[tuple, int] = {}
    for row in rows:
        key = (row["section"], row["model"], row["backend"], row["delegate"], row["precision"])
        counts[key] = counts.get(key, 0) + 1
        held = best.get(key)
        if held is None or (row["median_ms"] or math.inf) < (held["median_ms"] or math.inf):
            best[key] = row
    for key, row in best.items():
        row["settings_tried"] = counts[key]
    return list(best.values())
