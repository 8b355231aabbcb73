"""Rank stored results MAI-2022 style and render them.

One row per (device, model, backend, delegate, precision). Repeated results of a configuration
are pooled when their identity matches that of the latest one (input size, threads, runtime and
version, artifact, device): the row's median is that of every raw timing pooled, its interval
covers the run-to-run spread too (:func:`edgebench.stats.pool`). Results whose identity differs
are never pooled; the row counts them and says what differs (pyperf refuses such runs the same
way). The score is the MAI challenge's ``2^(2·PSNR) / (C · runtime)``; C only rescales (it never
changes an order), and edgebench uses C = 2^56 so that a 28 dB model running in 1 ms scores 1.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sqlite3
from typing import Any, Iterable

from . import stats

SCORE_C = 2.0**56
FORMULA = "score = 2^(2·PSNR) / (C · runtime_ms), C = 2^56 (a 28 dB model at 1 ms scores 1)"
KEY = ("device", "model", "backend", "delegate", "precision")

# device_info keys that make two results incomparable when they differ (pyperf's _CHECKED_METADATA);
# volatile figures (free memory, uptime, battery) are deliberately left out.
DEVICE_IDENTITY_KEYS = ("hostname", "serial", "manufacturer", "model", "soc", "hardware", "cpu_model", "machine",
                        "os", "kernel", "abi", "sdk", "cores_logical", "governor")
UNSTABLE = ("hot-start", "thermal", "drift", "run-spread", "high-cv")  # the median itself is in doubt; most specific first
CAUTION = ("partial-delegation", "delegation", "quality-host-cpu", "outliers", "few-runs",
           "resolution")  # the median holds but look closer: what ran, where quality was measured


def mai_score(psnr: float | None, runtime_ms: float | None, c: float = SCORE_C) -> float | None:
    if psnr is None or runtime_ms is None or runtime_ms <= 0 or math.isinf(psnr):
        return None
    return 2.0 ** (2.0 * psnr) / (c * runtime_ms)


def identity(result: dict[str, Any], run: dict[str, Any] | None = None) -> dict[str, Any]:
    """What must be equal for two results of one configuration to be pooled or compared."""
    runtime = result.get("runtime") or {}
    ident: dict[str, Any] = {
        "input": f"{result.get('input_h')}x{result.get('input_w')}",
        "threads": result.get("threads"),
        "runtime": " ".join(str(runtime[k]) for k in ("runtime", "version") if runtime.get(k)) or None,
        "artifact": result.get("artifact_sha"),
    }
    info = (run or {}).get("device_info") or {}
    if isinstance(info, dict):
        ident.update({f"device.{k}": info[k] for k in DEVICE_IDENTITY_KEYS if k in info})
    return ident


def _identity_key(result: dict[str, Any], runs: dict[int, dict[str, Any]]) -> tuple:
    """The identity as a hashable tuple; the device part is computed once per run (big boards)."""
    run = runs.get(result["run_id"]) or {}
    device = run.get("_identity")
    if device is None:
        info = run.get("device_info") or {}
        device = tuple((k, repr(info[k])) for k in DEVICE_IDENTITY_KEYS if isinstance(info, dict) and k in info)
        if run:
            run["_identity"] = device
    runtime = result.get("runtime") or {}
    return (result.get("input_h"), result.get("input_w"), result.get("threads"), runtime.get("runtime"),
            runtime.get("version"), result.get("artifact_sha"), device)


def identity_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human-readable differences between two identities, e.g. ``threads 4 ≠ 2``."""
    return [f"{k} {a.get(k)} ≠ {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


_BOARD_COLUMNS = ("id", "run_id", "device", "model", "backend", "delegate", "precision", "params", "artifact_size",
                  "artifact_sha", "input_h", "input_w", "threads", "median_ms", "ci_low_ms", "ci_high_ms", "n_runs",
                  "mean_ms", "std_ms", "timings", "mem_peak_bytes", "psnr", "psnr_y", "ssim", "warnings")


def load_results(db: sqlite3.Connection, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Results with only the columns the board needs, ordered by id: fast on stores of 10^4 results."""
    cols = ", ".join(_BOARD_COLUMNS)
    # the runtime's name and version are all the board reads of that JSON column
    sql = (f"SELECT {cols}, json_extract(runtime, '$.runtime'), json_extract(runtime, '$.version') FROM results"
           + (f" WHERE {where}" if where else "") + " ORDER BY id")
    out = []
    loads = json.loads
    for values in db.execute(sql, list(params)):
        r = dict(zip(_BOARD_COLUMNS, values))
        if r["timings"]:
            r["timings"] = loads(r["timings"])
        r["warnings"] = loads(r["warnings"]) if r["warnings"] and r["warnings"] != "[]" else []
        r["runtime"] = {"runtime": values[-2], "version": values[-1]}
        out.append(r)
    return out


def load_runs(db: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Run id -> {device_info} for identity checks."""
    return {row[0]: {"device_info": json.loads(row[1]) if row[1] else {}}
            for row in db.execute("SELECT id, device_info FROM runs")}


def device_infos(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Device name -> the device_info of the newest run among the rows (for page headings)."""
    out: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["run_id"]):
        found = db.execute("SELECT device_info FROM runs WHERE id = ?", [row["run_id"]]).fetchone()
        if found and found[0]:
            out[row["device"]] = json.loads(found[0])
    return out


def board_rows(results: Iterable[dict[str, Any]], runs: dict[int, dict[str, Any]] | None = None,
               pool: bool = True) -> list[dict[str, Any]]:
    """One scored row per configuration, ranked by score within each device.

    ``results`` come ordered by id; ``runs`` (id -> run row) adds the device to the identity check.
    ``pool=False`` ranks only the latest result of each configuration.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(tuple(r[k] for k in KEY), []).append(r)
    runs = runs or {}
    rows = [_row(group, runs, pool) for group in groups.values()]
    fp32 = {tuple(row[k] for k in KEY[:4]): row for row in rows if row["precision"] == "fp32"}
    for row in rows:
        ref = fp32.get(tuple(row[k] for k in KEY[:4]))
        if row["precision"] != "fp32" and ref and ref.get("psnr") is not None and row.get("psnr") is not None:
            row["psnr_drop"] = ref["psnr"] - row["psnr"]
    rows.sort(key=lambda x: (x["device"], -(x["score"] if x["score"] is not None else -math.inf), x["median_ms"] or 0))
    rank: dict[str, int] = {}
    for row in rows:
        rank[row["device"]] = rank.get(row["device"], 0) + 1
        row["rank"] = rank[row["device"]]
    for device in rank:
        mark_pareto([row for row in rows if row["device"] == device])
    return rows


def _row(group: list[dict[str, Any]], runs: dict[int, dict[str, Any]], pool: bool) -> dict[str, Any]:
    latest = group[-1]
    ident = identity(latest, runs.get(latest["run_id"]))
    members, others = [latest], []
    if len(group) > 1:
        key = _identity_key(latest, runs)
        for r in reversed(group[:-1]):
            (members if pool and _identity_key(r, runs) == key else others).append(r)
        members.reverse()
    row: dict[str, Any] = {k: latest[k] for k in KEY}
    if all(m.get("timings") for m in members):
        pooled = stats.pool([m["timings"] for m in members])
    else:  # a result without raw timings: use its stored summary
        pooled = {"median_ms": latest.get("median_ms"), "ci_low_ms": latest.get("ci_low_ms"),
                  "ci_high_ms": latest.get("ci_high_ms"), "n_runs": latest.get("n_runs"), "n_pooled": 1,
                  "run_medians": [latest["median_ms"]] if latest.get("median_ms") is not None else [],
                  "run_cv": 0.0}
    mems = [m["mem_peak_bytes"] for m in members if m.get("mem_peak_bytes") is not None]
    details = _warnings(members, pooled)
    row.update(
        psnr=latest.get("psnr"), psnr_y=latest.get("psnr_y"), ssim=latest.get("ssim"), psnr_drop=None,
        median_ms=pooled["median_ms"], ci_low_ms=pooled["ci_low_ms"], ci_high_ms=pooled["ci_high_ms"],
        mem_peak_mb=statistics.median(mems) / 2**20 if mems else None,
        params=latest.get("params"),
        artifact_kb=(latest["artifact_size"] / 1024) if latest.get("artifact_size") else None,
        score=mai_score(latest.get("psnr"), pooled["median_ms"]), n_results=len(group),
        n_pooled=pooled["n_pooled"], n_runs=pooled["n_runs"], run_cv=pooled["run_cv"],
        run_median_min_ms=min(pooled["run_medians"], default=None),
        run_median_max_ms=max(pooled["run_medians"], default=None),
        input=ident["input"], threads=latest.get("threads"), runtime=ident["runtime"],
        warnings=[w["code"] for w in details], warning_details=details,
        result_id=latest["id"], run_id=latest["run_id"], pooled_result_ids=[m["id"] for m in members],
        not_pooled=len(others), not_pooled_reason=None,
    )
    if others and pool:
        diff = identity_diff(identity(others[0], runs.get(others[0]["run_id"])), ident)
        row["not_pooled_reason"] = "; ".join(diff)
    row["flag"], row["hint"] = _flag(details)
    return row


def _warnings(members: list[dict[str, Any]], pooled: dict[str, Any]) -> list[dict[str, Any]]:
    """Stored warnings of the pooled results plus drift and run-spread, one entry per code."""
    by_code: dict[str, dict[str, Any]] = {}
    for m in members:
        found = list(m.get("warnings") or [])
        slow = stats.drift(m["timings"]) if m.get("timings") else None
        if slow:
            found.append(slow.to_dict())
        for w in found:  # later results overwrite the message: the newest wording wins
            entry = by_code.setdefault(w["code"], {"count": 0})
            entry.update(w, count=entry["count"] + 1)
    spread = stats.run_spread(pooled)
    if spread:
        by_code[spread.code] = {**spread.to_dict(), "count": 1}
    for entry in by_code.values():
        entry["of"] = len(members)
    order = {code: i for i, code in enumerate(UNSTABLE + CAUTION)}
    return sorted(by_code.values(), key=lambda w: order.get(w["code"], len(order)))


def _flag(details: list[dict[str, Any]]) -> tuple[str, str]:
    """'unstable', 'caution' or 'ok', and the hint of the most serious warning."""
    for level, codes in (("unstable", UNSTABLE), ("caution", CAUTION)):
        for w in details:
            if w["code"] in codes:
                return level, w.get("hint", "")
    return "ok", ""


def mark_pareto(rows: list[dict[str, Any]]) -> None:
    """Set ``pareto`` on rows no other row beats on both latency (lower) and PSNR (higher)."""
    for row in rows:
        row["pareto"] = False
    points = sorted((r for r in rows if r.get("psnr") is not None and r.get("median_ms") is not None
                     and not math.isinf(r["psnr"])), key=lambda r: (r["median_ms"], -r["psnr"]))
    best = -math.inf
    for r in points:
        if r["psnr"] > best:
            r["pareto"], best = True, r["psnr"]


COLUMNS = [  # (key, header, format)
    ("rank", "#", "{}"), ("device", "Device", "{}"), ("model", "Model", "{}"), ("backend", "Backend", "{}"),
    ("delegate", "Delegate", "{}"), ("precision", "Prec.", "{}"), ("psnr", "PSNR dB", "{:.2f}"),
    ("psnr_drop", "Δ int8", "{:+.2f}"), ("ssim", "SSIM", "{:.4f}"), ("median_ms", "Median ms", "{:.2f}"),
    ("ci", "95% CI ms", ""), ("mem_peak_mb", "Peak MB", "{:.1f}"), ("params", "Params", "{:,}"),
    ("artifact_kb", "Size KB", "{:.0f}"), ("score", "Score", "{:.3g}"), ("n_pooled", "n", "{}"),
    ("flag", "Stability", "{}"),
]


def fmt_ms(value: float) -> str:
    """Milliseconds: two decimals from 1 ms up, three significant digits below."""
    return f"{value:.2f}" if value >= 1 else f"{value:#.3g}"


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    if key == "ci":
        if row.get("ci_low_ms") is None:
            return "–"
        return f"{fmt_ms(row['ci_low_ms'])}–{fmt_ms(row['ci_high_ms'])}"
    if key == "median_ms" and row.get(key) is not None:
        return fmt_ms(row[key])
    if key == "flag":
        return {"ok": "ok", "unstable": "⚠ unstable", "caution": "caution"}.get(row.get("flag") or "ok", "ok")
    value = row.get(key)
    if value is None:
        return "–"
    if key == "psnr_drop":
        value = -value  # shown as the change from fp32: negative = lost dB
    return fmt.format(value)


NOTES = ("runtime = median latency at input {inputs}; PSNR on RGB with a `scale` px border crop; "
         "Δ int8 = int8 PSNR minus fp32 PSNR. 95% CI: interval of the median (order statistics), widened to "
         "the spread of per-result medians when n > 1 results are pooled.")


def notes(rows: list[dict[str, Any]]) -> str:
    """What the figures mean (everything but the formula)."""
    return NOTES.format(inputs=", ".join(sorted({r["input"] for r in rows})))


def footer(rows: list[dict[str, Any]]) -> str:
    return f"{FORMULA}. {notes(rows)}"


def row_label(row: dict[str, Any]) -> str:
    return f"{row['device']} {row['model']} {row['backend']} {row['delegate']} {row['precision']}"


def row_problems(row: dict[str, Any]) -> tuple[list[str], str]:
    """The row's stability messages (with how many pooled results showed each) and its hint."""
    messages = []
    for w in row.get("warning_details") or []:
        if w["code"] in UNSTABLE + CAUTION:
            share = f" in {w['count']} of {w['of']} results" if w.get("of", 1) > 1 and w["code"] != "run-spread" else ""
            messages.append(w["message"] + share)
    if row.get("not_pooled"):
        messages.append(f"{row['not_pooled']} older result(s) not pooled: {row['not_pooled_reason']}")
    return messages, row.get("hint") or ""


def warning_lines(rows: list[dict[str, Any]], limit: int | None = None) -> list[str]:
    """One line per flagged row: what is wrong and what to do."""
    lines = []
    for r in rows:
        messages, hint = row_problems(r)
        if messages:
            lines.append(f"{row_label(r)}: {'; '.join(messages)}" + (f". Hint: {hint}" if hint else ""))
    if limit is not None and len(lines) > limit:
        lines = lines[:limit] + [f"… {len(lines) - limit} more: `edgebench leaderboard --format json` lists all"]
    return lines


def render_markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_cell(r, k, f) for k, _, f in COLUMNS) + " |" for r in rows]
    flagged = [f"- {line}" for line in warning_lines(rows)]
    return "\n".join([head, sep, *body, "", footer(rows) if rows else "No results.", "",
                      *(flagged + [""] if flagged else [])])


CSV_FIELDS = ["rank", "device", "model", "backend", "delegate", "precision", "psnr", "psnr_y", "psnr_drop", "ssim",
              "median_ms", "ci_low_ms", "ci_high_ms", "mem_peak_mb", "params", "artifact_kb", "score", "input",
              "threads", "runtime", "n_results", "n_pooled", "n_runs", "run_cv", "flag", "hint", "pareto"]


def render_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return out.getvalue()


def render_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps({"formula": FORMULA, "C": SCORE_C, "rows": rows}, indent=1, default=str)


def top_rows(rows: list[dict[str, Any]], top: int | None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The best ``top`` rows of each device (all when None or 0) and how many each device left out."""
    if not top:
        return rows, {}
    kept, hidden = [], {}
    for r in rows:
        if r["rank"] <= top:
            kept.append(r)
        else:
            hidden[r["device"]] = hidden.get(r["device"], 0) + 1
    return kept, hidden


def render_rich(rows: list[dict[str, Any]], console: Any, top: int | None = None) -> None:
    """A rich table; with ``top``, only each device's best ``top`` rows (rich needs ~1 ms per row)."""
    from rich.table import Table
    from rich.text import Text

    shown, hidden = top_rows(rows, top)
    table = Table(title="edgebench leaderboard", title_justify="left")
    for key, header, _ in COLUMNS:
        table.add_column(header, justify="left" if key in KEY or key == "flag" else "right", no_wrap=True)
    previous = None
    for r in shown:
        if previous is not None and r["device"] != previous:
            table.add_section()
        previous = r["device"]
        cells = [Text(_cell(r, k, f)) for k, _, f in COLUMNS]  # Text: no markup parsing of stored names
        table.add_row(*cells, style={"unstable": "yellow", "caution": "dim yellow"}.get(r.get("flag", "ok")))
    console.print(table)
    for device, n in hidden.items():
        console.print(f"… {n} more configuration(s) on {device}: --top 0 shows all, --format html/csv/json "
                      "always do", style="dim", highlight=False, markup=False)
    if shown:
        console.print(footer(shown), style="dim", highlight=False, markup=False)
        for line in warning_lines(shown, limit=12):
            console.print(line, style="yellow", highlight=False, markup=False)
