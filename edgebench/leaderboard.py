"""Rank stored results MAI-2022 style and render them.

One row per (device, model, backend, delegate, precision): the most recent result of that
configuration, with how many stored results it stands for. The score is the MAI challenge's
``2^(2·PSNR) / (C · runtime)``; C only rescales (it never changes an order), and edgebench uses
C = 2^56 so that a 28 dB model running in 1 ms scores 1.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterable

SCORE_C = 2.0**56
FORMULA = "score = 2^(2·PSNR) / (C · runtime_ms), C = 2^56 (a 28 dB model at 1 ms scores 1)"
KEY = ("device", "model", "backend", "delegate", "precision")


def mai_score(psnr: float | None, runtime_ms: float | None, c: float = SCORE_C) -> float | None:
    if psnr is None or runtime_ms is None or runtime_ms <= 0 or math.isinf(psnr):
        return None
    return 2.0 ** (2.0 * psnr) / (c * runtime_ms)


def board_rows(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Latest result per configuration, scored, ranked by score within each device."""
    latest: dict[tuple, dict[str, Any]] = {}
    counts: dict[tuple, int] = {}
    for r in results:  # results come ordered by id: later ones replace earlier ones
        key = tuple(r[k] for k in KEY)
        latest[key] = r
        counts[key] = counts.get(key, 0) + 1
    fp32 = {k[:4]: r for k, r in latest.items() if k[4] == "fp32"}
    rows = []
    for key, r in latest.items():
        row = {k: r[k] for k in KEY}
        ref = fp32.get(key[:4])
        drop = None
        if r["precision"] != "fp32" and ref and ref.get("psnr") is not None and r.get("psnr") is not None:
            drop = ref["psnr"] - r["psnr"]
        row.update(
            psnr=r.get("psnr"), psnr_y=r.get("psnr_y"), ssim=r.get("ssim"), psnr_drop=drop,
            median_ms=r.get("median_ms"), ci_low_ms=r.get("ci_low_ms"), ci_high_ms=r.get("ci_high_ms"),
            mem_peak_mb=(r["mem_peak_bytes"] / 2**20) if r.get("mem_peak_bytes") is not None else None,
            params=r.get("params"), artifact_kb=(r["artifact_size"] / 1024) if r.get("artifact_size") else None,
            score=mai_score(r.get("psnr"), r.get("median_ms")), n_results=counts[key],
            input=f"{r.get('input_h')}x{r.get('input_w')}", threads=r.get("threads"),
            warnings=[w["code"] for w in (r.get("warnings") or [])], result_id=r["id"], run_id=r["run_id"],
        )
        rows.append(row)
    rows.sort(key=lambda x: (x["device"], -(x["score"] if x["score"] is not None else -math.inf), x["median_ms"] or 0))
    rank: dict[str, int] = {}
    for row in rows:
        rank[row["device"]] = rank.get(row["device"], 0) + 1
        row["rank"] = rank[row["device"]]
    return rows


COLUMNS = [  # (key, header, format)
    ("rank", "#", "{}"), ("device", "Device", "{}"), ("model", "Model", "{}"), ("backend", "Backend", "{}"),
    ("delegate", "Delegate", "{}"), ("precision", "Prec.", "{}"), ("psnr", "PSNR dB", "{:.2f}"),
    ("psnr_drop", "Δ int8", "{:+.2f}"), ("ssim", "SSIM", "{:.4f}"), ("median_ms", "Median ms", "{:.2f}"),
    ("mem_peak_mb", "Peak MB", "{:.1f}"), ("params", "Params", "{:,}"), ("artifact_kb", "Size KB", "{:.0f}"),
    ("score", "Score", "{:.3g}"),
]


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    if key == "psnr_drop":
        value = -value  # shown as the change from fp32: negative = lost dB
    return fmt.format(value)


def _footer(rows: list[dict[str, Any]]) -> str:
    input_sizes = sorted({r["input"] for r in rows})
    return (f"{FORMULA}. runtime = median latency at input {', '.join(input_sizes)}; "
            "PSNR on RGB with a `scale` px border crop; Δ int8 = int8 PSNR minus fp32 PSNR.")


def render_markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_cell(r, k, f) for k, _, f in COLUMNS) + " |" for r in rows]
    return "\n".join([head, sep, *body, "", _footer(rows) if rows else "No results.", ""])


def render_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    fields = [k for k, _, _ in COLUMNS] + ["psnr_y", "ci_low_ms", "ci_high_ms", "input", "threads", "n_results"]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return out.getvalue()


def render_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps({"formula": FORMULA, "C": SCORE_C, "rows": rows}, indent=1, default=str)


def render_rich(rows: list[dict[str, Any]], console: Any) -> None:
    from rich.table import Table

    table = Table(title="edgebench leaderboard", title_justify="left")
    for key, header, _ in COLUMNS:
        table.add_column(header, justify="left" if key in KEY else "right", no_wrap=True)
    previous = None
    for r in rows:
        if previous is not None and r["device"] != previous:
            table.add_section()
        previous = r["device"]
        cells = [_cell(r, k, f) for k, _, f in COLUMNS]
        table.add_row(*cells, style="yellow" if r["warnings"] else None)
    console.print(table)
    if rows:
        console.print(_footer(rows), style="dim", highlight=False)
        if any(r["warnings"] for r in rows):
            console.print("Yellow rows carry stability warnings: `edgebench leaderboard --format json` lists them.",
                          style="dim", highlight=False)
