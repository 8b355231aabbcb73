"""Rank stored results MAI-2022 style and render them.

One row per (device, model, backend, delegate, precision). Repeated results of a configuration
are pooled when their identity matches that of the latest one (input size, threads, runtime and
version, artifact, device): the row's median is that of every raw timing pooled, its interval
covers the run-to-run spread too (:func:`edgebench.stats.pool`). Results whose identity differs
are never pooled; the row counts them and says what differs (pyperf refuses such runs the same
way). The score is the MAI challenge's ``2^(2·PSNR) / (C · runtime)``; C only rescales (it never
changes an order), and edgebench uses C = 2^56 so that a 28 dB model running in 1 ms scores 1.

:func:`board_rows` pools results it is given; :func:`board_from_store` (the CLI's) gives the same rows
from the per-configuration summaries the store keeps (:mod:`edgebench.board_pools`), both through
:class:`Pool`, so a farm's 100,000 results rank without reading their raw timings.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sqlite3
from typing import Any, Iterable, Iterator

from . import quality_guards, ranking, stats

SCORE_C = 2.0**56
FORMULA = "score = 2^(2·PSNR) / (C · runtime_ms), C = 2^56 (a 28 dB model at 1 ms scores 1)"
KEY = ("device", "model", "backend", "delegate", "precision")
# a board row: the configuration, where it ranks (input, scale, quick) and how it ran (cores, threads)
ROW_KEY = (*KEY, "input_h", "input_w", "scale", "quick", "threads", "affinity")

# device_info keys that make two results incomparable when they differ (pyperf's _CHECKED_METADATA);
# volatile figures (free memory, uptime, battery) are deliberately left out.
DEVICE_IDENTITY_KEYS = ("hostname", "serial", "manufacturer", "model", "soc", "hardware", "cpu_model", "machine",
                        "os", "kernel", "abi", "sdk", "cores_logical", "governor")
FLAGGED = quality_guards.QUALITY  # the output is wrong: not ranked unless --include-flagged
UNSTABLE = ("busy", "hot-start", "thermal", "drift", "run-spread", "high-cv")  # the median itself is in doubt; most specific first
CAUTION = ("slower-than-cpu", "partial-delegation", "delegation", "quality-host-cpu", "outliers", "few-runs",
           "resolution", "battery-low", "thermal-status", "powersave", "thermal-unknown")  # the median holds but look closer: what ran, where quality was measured


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
                  "mean_ms", "std_ms", "timings", "mem_peak_bytes", "psnr", "psnr_y", "ssim", "warnings", "scale",
                  "quick", "affinity", "dataset", "n_images", "baseline_psnr", "quality_on", "energy_mj", "energy_low_mj",
                  "energy_high_mj")


def load_results(db: sqlite3.Connection, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Results with only the columns the board needs, ordered by id: fast on stores of 10^4 results."""
    return list(iter_results(db, where, params))


def iter_results(db: sqlite3.Connection, where: str = "", params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
    """:func:`load_results` one result at a time (a rebuild of the store's summaries never holds them all)."""
    cols = ", ".join(_BOARD_COLUMNS)
    # the runtime's name and version are all the board reads of that JSON column
    sql = (f"SELECT {cols}, json_extract(runtime, '$.runtime'), json_extract(runtime, '$.version') FROM results"
           + (f" WHERE {where}" if where else "") + " ORDER BY id")
    loads = json.loads
    for values in db.execute(sql, list(params)):
        r = dict(zip(_BOARD_COLUMNS, values))
        if r["timings"]:
            r["timings"] = loads(r["timings"])
        r["warnings"] = loads(r["warnings"]) if r["warnings"] and r["warnings"] != "[]" else []
        r["runtime"] = {"runtime": values[-2], "version": values[-1]}
        yield r


def load_runs(db: sqlite3.Connection, ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """Run id -> {device_info} for identity checks (every run, or only those of ``ids``)."""
    if ids is None:
        found: Iterable[Any] = db.execute("SELECT id, device_info FROM runs")
    else:
        found = [row for chunk in _chunks(sorted(set(ids)))
                 for row in db.execute(f"SELECT id, device_info FROM runs WHERE id IN ({_marks(chunk)})", chunk)]
    return {row[0]: {"device_info": json.loads(row[1]) if row[1] else {}} for row in found}


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """``IN (...)`` lists short enough for any SQLite build's variable limit."""
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _marks(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def device_infos(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Device name -> the device_info of the newest run among the rows (for page headings)."""
    out: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["run_id"]):
        found = db.execute("SELECT device_info FROM runs WHERE id = ?", [row["run_id"]]).fetchone()
        if found and found[0]:
            out[row["device"]] = json.loads(found[0])
    return out


def board_rows(results: Iterable[dict[str, Any]], runs: dict[int, dict[str, Any]] | None = None,
               pool: bool = True, include_quick: bool = False, include_flagged: bool = False,
               max_int8_drop: float = quality_guards.MAX_INT8_DROP_DB, best_setting: bool = False,
               ) -> list[dict[str, Any]]:
    """One scored row per configuration and setting, ranked by score within each section.

    ``results`` come ordered by id; ``runs`` (id -> run row) adds the device to the identity check.
    ``pool=False`` ranks only the latest result of each configuration. A section is a device, an
    input size and a scale (:mod:`edgebench.ranking`); ``--quick`` rows are left out unless
    ``include_quick`` and never ranked; rows with a quality flag stay unranked unless ``include_flagged``.
    :func:`board_from_store` gives the same rows from the store's per-configuration summaries.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(tuple(r.get(k) for k in ROW_KEY), []).append(r)
    runs = runs or {}
    rows = [_row(group, runs, pool) for group in groups.values()]
    return _rank(rows, include_quick, include_flagged, max_int8_drop, best_setting)


def board_from_store(db: sqlite3.Connection, where: str = "", params: Iterable[Any] = (), pool: bool = True,
                     include_quick: bool = False, include_flagged: bool = False,
                     max_int8_drop: float = quality_guards.MAX_INT8_DROP_DB, best_setting: bool = False,
                     ) -> list[dict[str, Any]]:
    """:func:`board_rows` of the stored results, read from the per-configuration summaries the store
    keeps (:mod:`edgebench.board_pools`): a few hundred rows instead of every raw timing, so a board
    of 100,000 results takes as long as one of 1,000. ``where`` may name only columns of the row key
    (``device IN (?)``...). A store that cannot bring its summaries up to date (read-only, locked)
    is ranked from its raw results, as before.
    """
    from . import board_pools

    options = (include_quick, include_flagged, max_int8_drop, best_setting)
    try:
        board_pools.refresh(db)
        pools = board_pools.load(db, where, params)
    except sqlite3.OperationalError:
        return board_rows(load_results(db, where, params), load_runs(db), pool, *options)
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in pools:
        groups.setdefault(p["group_key"], []).append(p)
    # board_rows meets its rows in the order of their first result: ties keep that order
    ordered = sorted(groups.values(), key=lambda ps: min(p["first_id"] for p in ps))
    tops = [max(ps, key=lambda p: p["latest_id"]) for ps in ordered]
    # the newest result each row leaves out: its identity says why (only pools that differ exist)
    others = [max((p for p in ps if p is not top), key=lambda p: p["latest_id"], default=None)
              for ps, top in zip(ordered, tops)]
    runs = load_runs(db, [p["latest"]["run_id"] for p in (*tops, *others) if p is not None])
    full: dict[int, dict[str, Any]] = {}
    if not pool:  # the latest result alone: its own raw timings, for the rows of the board only
        ids = [p["latest_id"] for p in tops]
        full = {r["id"]: r for chunk in _chunks(ids) for r in iter_results(db, f"id IN ({_marks(chunk)})", chunk)}
    rows = []
    for ps, top, other in zip(ordered, tops, others):
        latest = top["latest"]
        ident = identity(latest, runs.get(latest["run_id"]))
        n_results = sum(p["n"] for p in ps)
        if pool:
            summary, n_others, reason = top["summary"], n_results - top["n"], None
            if other is not None:
                reason = "; ".join(identity_diff(identity(other["latest"], runs.get(other["latest"]["run_id"])),
                                                 ident))
        else:
            acc = Pool()
            acc.add(full[top["latest_id"]])
            summary, n_others, reason = acc.summary(), n_results - 1, None
        rows.append(_make_row(latest, ident, summary, n_results, n_others, reason))
    return _rank(rows, *options)


def _rank(rows: list[dict[str, Any]], include_quick: bool, include_flagged: bool, max_int8_drop: float,
          best_setting: bool) -> list[dict[str, Any]]:
    """Quality guards, flags, sections and ranks of built rows (in the order of their first result)."""
    quality_guards.apply(rows, max_int8_drop)
    for row in rows:
        row["flag"], row["hint"] = _flag(row["warning_details"])
    if best_setting:
        rows = ranking.best_settings(rows)
    if not include_quick:
        rows = [row for row in rows if not row["quick"]]
    rows.sort(key=_section_order)
    by_section: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_section.setdefault(row["section"], []).append(row)
    ordered = []
    for section_rows in by_section.values():
        ranked = [r for r in section_rows if not r["quick"] and (include_flagged or r["flag"] != "flagged")]
        ranked.sort(key=lambda x: (-(x["score"] if x["score"] is not None else -math.inf), x["median_ms"] or 0))
        ranking.assign_ranks(ranked)
        ranking.mark_pareto(ranked)
        unranked = [r for r in section_rows if r not in ranked]
        for r in unranked:
            r["rank"], r["rank_label"], r["pareto"] = None, "–", False
            r["unranked"] = "quick" if r["quick"] else "flagged"
        ordered += ranked + sorted(unranked, key=lambda x: x["median_ms"] or 0)
    return ordered


def _section_order(row: dict[str, Any]) -> tuple:
    """Devices by name; full runs before quick ones; the larger input first (the MAI size leads)."""
    h, w = row.get("input_h") or 0, row.get("input_w") or 0
    return (row["device"], bool(row["quick"]), -(h * w), row.get("scale") or 0, row["section"])


class PoolSummary:
    """What a board row keeps of the results it pools: their ids, the pooled timings' order statistics
    (:func:`edgebench.stats.order_stats`), each result's median, the median peak memory and the merged
    warnings. Built by :class:`Pool`, or read back from the store (:mod:`edgebench.board_pools`)."""

    __slots__ = ("ids", "no_timings", "order", "medians", "mem_median", "by_code")

    def __init__(self, ids: list[int], no_timings: int, order: tuple[Any, int, Any, Any] | None,
                 medians: list[Any], mem_median: Any, by_code: dict[str, dict[str, Any]]) -> None:
        self.ids, self.no_timings, self.order, self.medians = ids, no_timings, order, medians
        self.mem_median, self.by_code = mem_median, by_code

    def pooled(self, latest: dict[str, Any]) -> dict[str, Any]:
        """:func:`edgebench.stats.pool` of the members, or the latest's stored summary when one has no raw timings."""
        if not self.no_timings and self.order is not None:
            return stats.pool_figures(*self.order, self.medians)
        return {"median_ms": latest.get("median_ms"), "ci_low_ms": latest.get("ci_low_ms"),
                "ci_high_ms": latest.get("ci_high_ms"), "n_runs": latest.get("n_runs"), "n_pooled": 1,
                "run_medians": [latest["median_ms"]] if latest.get("median_ms") is not None else [],
                "run_cv": 0.0}

    def warnings(self, pooled: dict[str, Any]) -> list[dict[str, Any]]:
        """Stored warnings of the pooled results plus drift and run-spread, one entry per code (consumes by_code)."""
        by_code = self.by_code
        spread = stats.run_spread(pooled)
        if spread:
            by_code[spread.code] = {**spread.to_dict(), "count": 1}
        for entry in by_code.values():
            entry["of"] = len(self.ids)
        order = {code: i for i, code in enumerate(FLAGGED + UNSTABLE + CAUTION)}
        return sorted(by_code.values(), key=lambda w: order.get(w["code"], len(order)))


class Pool:
    """Pools results of one row and identity, added in id order (a :func:`load_results` dict each).

    The in-memory board and the store's summaries both pool with this, so they agree to the last bit:
    the timings are sorted once they are all in (a stable sort of the concatenation, as stats.pool does).
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.values: list[Any] = []  # every raw timing of the members, sorted when `_sorted`
        self.medians: list[Any] = []
        self.mems: list[Any] = []
        self.by_code: dict[str, dict[str, Any]] = {}
        self.no_timings = 0  # members without raw timings: the row then shows the latest's stored summary
        self._sorted = True

    def add(self, member: dict[str, Any]) -> None:
        self.ids.append(member["id"])
        timings = member.get("timings")
        if timings:
            self.values.extend(timings)
            self._sorted = False
            self.medians.append(statistics.median(timings))
        else:
            self.no_timings += 1
        if member.get("mem_peak_bytes") is not None:
            self.mems.append(member["mem_peak_bytes"])
        found = list(member.get("warnings") or [])
        slow = stats.drift(timings) if timings else None
        if slow:
            found.append(slow.to_dict())
        for w in found:  # later results overwrite the message: the newest wording wins
            entry = self.by_code.setdefault(w["code"], {"count": 0})
            entry.update(w, count=entry["count"] + 1)

    def sorted_values(self) -> list[Any]:
        if not self._sorted:
            self.values.sort()
            self._sorted = True
        return self.values

    def summary(self) -> PoolSummary:
        order = stats.order_stats(self.sorted_values()) if self.values and not self.no_timings else None
        return PoolSummary(self.ids, self.no_timings, order, self.medians,
                           statistics.median(self.mems) if self.mems else None, self.by_code)


def _row(group: list[dict[str, Any]], runs: dict[int, dict[str, Any]], pool: bool) -> dict[str, Any]:
    latest = group[-1]
    ident = identity(latest, runs.get(latest["run_id"]))
    members, others = [latest], []
    if len(group) > 1:
        key = _identity_key(latest, runs)
        for r in reversed(group[:-1]):
            (members if pool and _identity_key(r, runs) == key else others).append(r)
        members.reverse()
    acc = Pool()
    for m in members:
        acc.add(m)
    reason = None
    if others and pool:
        reason = "; ".join(identity_diff(identity(others[0], runs.get(others[0]["run_id"])), ident))
    return _make_row(latest, ident, acc.summary(), len(group), len(others), reason)


def _make_row(latest: dict[str, Any], ident: dict[str, Any], summary: PoolSummary, n_results: int,
              n_others: int, reason: str | None) -> dict[str, Any]:
    """The board row of a configuration from its latest result and the summary of the results it pools."""
    row: dict[str, Any] = {k: latest[k] for k in KEY}
    row.update(scale=latest.get("scale"), quick=bool(latest.get("quick")), affinity=latest.get("affinity") or None,
               input_h=latest.get("input_h"), input_w=latest.get("input_w"), dataset=latest.get("dataset"),
               n_images=latest.get("n_images"), baseline_psnr=latest.get("baseline_psnr"))
    pooled = summary.pooled(latest)
    details = summary.warnings(pooled)
    row.update(
        psnr=latest.get("psnr"), psnr_y=latest.get("psnr_y"), ssim=latest.get("ssim"),
        delta_int8_db=None, psnr_drop=None,  # set against the fp32 row by quality_guards
        median_ms=pooled["median_ms"], ci_low_ms=pooled["ci_low_ms"], ci_high_ms=pooled["ci_high_ms"],
        mem_peak_mb=summary.mem_median / 2**20 if summary.mem_median is not None else None,
        params=latest.get("params"),
        artifact_kb=(latest["artifact_size"] / 1024) if latest.get("artifact_size") else None,
        score=mai_score(latest.get("psnr"), pooled["median_ms"]), n_results=n_results,
        n_pooled=pooled["n_pooled"], n_runs=pooled["n_runs"], run_cv=pooled["run_cv"],
        run_median_min_ms=min(pooled["run_medians"], default=None),
        run_median_max_ms=max(pooled["run_medians"], default=None),
        input=ident["input"], threads=latest.get("threads"), runtime=ident["runtime"],
        warnings=[w["code"] for w in details], warning_details=details,
        result_id=latest["id"], run_id=latest["run_id"], pooled_result_ids=list(summary.ids),
        not_pooled=n_others, not_pooled_reason=reason,
    )
    if latest.get("energy_mj") is not None:
        # the latest result's energy, like its PSNR: a figure with its own interval, not pooled across results;
        # only on rows that have one, so a board without --power results reads as it always did
        row.update(energy_mj=latest["energy_mj"], energy_low_mj=latest.get("energy_low_mj"),
                   energy_high_mj=latest.get("energy_high_mj"))
    row["section"], row["setting"] = ranking.section_of(row), ranking.setting_of(row)
    return row


def _flag(details: list[dict[str, Any]]) -> tuple[str, str]:
    """'flagged' (wrong output), 'unstable', 'caution' or 'ok', and the hint of the most serious warning."""
    for level, codes in (("flagged", FLAGGED), ("unstable", UNSTABLE), ("caution", CAUTION)):
        for w in details:
            if w["code"] in codes:
                return level, w.get("hint", "")
    return "ok", ""


mark_pareto = ranking.mark_pareto  # kept under its old name for callers of 0.x


COLUMNS = [  # (key, header, format)
    ("rank", "#", "{}"), ("device", "Device", "{}"), ("model", "Model", "{}"), ("backend", "Backend", "{}"),
    ("delegate", "Delegate", "{}"), ("precision", "Prec.", "{}"), ("psnr", "PSNR dB", "{:.2f}"),
    ("delta_int8_db", "Δ int8", "{:+.2f}"), ("ssim", "SSIM", "{:.4f}"), ("median_ms", "Median ms", "{:.2f}"),
    ("ci", "95% CI ms", ""), ("mem_peak_mb", "Peak MB", "{:.1f}"), ("params", "Params", "{:,}"),
    ("artifact_kb", "Size KB", "{:.0f}"), ("score", "Score", "{:.3g}"), ("n_pooled", "n", "{}"),
    ("flag", "Stability", "{}"),
]
SETTING_COLUMN = ("setting", "Setting", "{}")  # shown when a board holds more than one core mask / thread count
VS_CPU_COLUMN = ("vs_cpu", "× vs CPU", "{:.2f}×")  # shown when a board holds delegate rows with a CPU baseline
ENERGY_COLUMN = ("energy_mj", "mJ/frame", "{:.3g}")  # shown when a board holds a result measured with --power


def columns_for(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The columns a board needs: the setting and the speed-up over the CPU only where they say something."""
    cols = list(COLUMNS)
    at = [k for k, _, _ in cols].index("psnr")
    if len({r.get("setting") for r in rows}) > 1 or any(r.get("settings_tried") for r in rows):
        cols.insert(at, SETTING_COLUMN)
    if any(r.get("vs_cpu") is not None for r in rows):
        cols.insert([k for k, _, _ in cols].index("score") + 1, VS_CPU_COLUMN)
    if any(r.get("energy_mj") is not None for r in rows):
        cols.insert([k for k, _, _ in cols].index("mem_peak_mb"), ENERGY_COLUMN)
    return cols


def fmt_ms(value: float) -> str:
    """Milliseconds: two decimals from 1 ms up, three significant digits below (0.734, never ``0.7``)."""
    return f"{value:.2f}" if value >= 1 else stats.fmt_sig(value)


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    if key == "ci":
        if row.get("ci_low_ms") is None:
            return "–"
        return f"{fmt_ms(row['ci_low_ms'])}–{fmt_ms(row['ci_high_ms'])}"
    if key == "median_ms" and row.get(key) is not None:
        return fmt_ms(row[key])
    if key == "flag":
        return {"ok": "ok", "unstable": "⚠ unstable", "caution": "caution",
                "flagged": "✗ flagged"}.get(row.get("flag") or "ok", "ok")
    if key == "rank":
        return row.get("rank_label") or (str(row["rank"]) if row.get("rank") is not None else "–")
    value = row.get(key)
    if value is None:
        return "–"
    return fmt.format(value)


NOTES = ("runtime = median latency at input {inputs}; rows rank only against rows of the same device, input and "
         "scale (a section); =N: a rank shared with rows whose 95% intervals overlap and whose PSNR is within "
         "0.01 dB; –: not ranked (a --quick smoke test, or flagged output). PSNR on RGB with a `scale` px border "
         "crop; Δ int8 = int8 PSNR minus fp32 PSNR on the same images. 95% CI: interval of the median (order "
         "statistics), widened to the spread of per-result medians when n > 1 results are pooled.")


def notes(rows: list[dict[str, Any]]) -> str:
    """What the figures mean (everything but the formula)."""
    text = NOTES.format(inputs=", ".join(sorted({r["input"] for r in rows})))
    if any(r.get("energy_mj") is not None for r in rows):
        text += (" mJ/frame: (mean power during the timed runs - idle power) x median latency, from the result's "
                 "power meter (run --power; docs/energy.md).")
    return text


def footer(rows: list[dict[str, Any]]) -> str:
    return f"{FORMULA}. {notes(rows)}"


def row_label(row: dict[str, Any]) -> str:
    return f"{row['device']} {row['model']} {row['backend']} {row['delegate']} {row['precision']}"


def row_problems(row: dict[str, Any]) -> tuple[list[str], str]:
    """The row's stability messages (with how many pooled results showed each) and its hint."""
    messages = []
    for w in row.get("warning_details") or []:
        if w["code"] in FLAGGED + UNSTABLE + CAUTION:
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


def sections(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by section label, in board order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.get("section") or r["device"], []).append(r)
    return out


def render_markdown(rows: list[dict[str, Any]]) -> str:
    cols = columns_for(rows)
    parts = []
    for section, mine in sections(rows).items():
        parts += [f"### {section}", "", "| " + " | ".join(h for _, h, _ in cols) + " |",
                  "|" + "|".join("---" for _ in cols) + "|"]
        parts += ["| " + " | ".join(_cell(r, k, f) for k, _, f in cols) + " |" for r in mine]
        parts.append("")
    flagged = [f"- {line}" for line in warning_lines(rows)]
    return "\n".join([*parts, footer(rows) if rows else "No results.", "", *(flagged + [""] if flagged else [])])


CSV_FIELDS = ["rank", "device", "model", "backend", "delegate", "precision", "psnr", "psnr_y", "delta_int8_db", "ssim",
              "median_ms", "ci_low_ms", "ci_high_ms", "mem_peak_mb", "params", "artifact_kb", "score", "input",
              "threads", "runtime", "n_results", "n_pooled", "n_runs", "run_cv", "flag", "hint", "pareto",
              "rank_label", "section", "scale", "quick", "affinity", "setting", "vs_cpu", "cpu_median_ms",
              "quality_flags", "unranked", "energy_mj", "energy_low_mj", "energy_high_mj"]


def render_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "quality_flags": ";".join(r.get("quality_flags") or [])})
    return out.getvalue()


def render_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps({"formula": FORMULA, "C": SCORE_C, "rows": rows}, indent=1, default=str)
