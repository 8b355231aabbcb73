"""`edgebench compare A B`: did B get slower than A, and is the difference real?

Per configuration present in both: the ratio of medians B/A with a seeded bootstrap interval, a
two-sided Mann-Whitney U test on the raw timings, and the PSNR change. A row is a regression
only when all three agree: the ratio exceeds 1 + threshold, p < alpha, and the ratio's interval
lies above 1. That makes `compare` usable as a CI guard: noise alone rarely trips it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import stats
from .errors import EdgebenchError
from .leaderboard import KEY, fmt_ms, identity, identity_diff
from .store import Store


@dataclass
class Side:
    """One side of a comparison: a run of this store or an export file."""

    label: str
    results: list[dict[str, Any]]  # latest result per configuration
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    run_id: int | None = None  # the store's run, when it is one


@dataclass
class Row:
    device: str
    model: str
    backend: str
    delegate: str
    precision: str
    status: str  # regression | improved | slower (small) | faster (small) | no change | incomparable | only in A/B
    median_a_ms: float | None = None
    median_b_ms: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    p_value: float | None = None
    test: str = ""
    psnr_a: float | None = None
    psnr_b: float | None = None
    psnr_delta: float | None = None
    n_a: int = 0
    n_b: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in ("regression", "quality regression")


SETTING = ("threads", "affinity")  # a sweep stores one result per setting of a configuration


def _latest(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[tuple, dict[str, Any]] = {}
    for r in results:
        latest[tuple(r.get(k) for k in (*KEY, *SETTING))] = r
    return list(latest.values())


def _match(a: list[dict[str, Any]], b: list[dict[str, Any]], key: Any) -> list[tuple[Any, Any]]:
    """Pairs (A, B) on the configuration and setting; a configuration measured at one setting on
    each side pairs across settings (the difference is listed as a note: often what is compared)."""
    def full(r: dict[str, Any]) -> tuple:
        return (*key(r), *(r.get(k) for k in SETTING))

    in_a, in_b = {full(r): r for r in a}, {full(r): r for r in b}
    pairs = [(in_a.get(k), in_b.get(k)) for k in dict.fromkeys([*in_a, *in_b])]
    only_a = {}
    for ra, rb in pairs:
        if rb is None:
            only_a.setdefault(key(ra), []).append(ra)
    only_b = {}
    for ra, rb in pairs:
        if ra is None:
            only_b.setdefault(key(rb), []).append(rb)
    out = []
    for ra, rb in pairs:
        if rb is None and len(only_a[key(ra)]) == 1 and len(only_b.get(key(ra), [])) == 1:
            out.append((ra, only_b[key(ra)][0]))
        elif ra is None and len(only_b[key(rb)]) == 1 and len(only_a.get(key(rb), [])) == 1:
            continue  # paired above
        else:
            out.append((ra, rb))
    return out


def _run_ids_with_results(store: Store) -> list[int]:
    return [row[0] for row in store.db.execute("SELECT DISTINCT run_id FROM results ORDER BY run_id")]


def _configs(store: Store, run_id: int) -> set[tuple]:
    return {tuple(r) for r in store.db.execute(
        f"SELECT {', '.join(KEY)} FROM results WHERE run_id = ?", [run_id])}


def resolve(store: Store, spec: str, other: int | None = None) -> Side:
    """A run id, ``last``, ``previous`` (the latest earlier run sharing a configuration with the
    last one) or the path of an ``edgebench export`` file."""
    ids = _run_ids_with_results(store)
    run_id: int | None = None
    if spec == "last":
        if not ids:
            raise EdgebenchError("no stored run has results: run `edgebench run` first")
        run_id = ids[-1]
    elif spec == "previous":
        if not ids:
            raise EdgebenchError("no stored run has results: run `edgebench run` first")
        last = ids[-1] if other is None else other
        mine = _configs(store, last)
        earlier = [i for i in ids if i < last and _configs(store, i) & mine]
        if not earlier:
            raise EdgebenchError(f"no run before run {last} measured any of its configurations")
        run_id = earlier[-1]
    elif spec.isdigit():
        run_id = int(spec)
        if run_id not in ids:
            raise EdgebenchError(f"run {run_id} has no stored results (runs with results: "
                                 f"{', '.join(map(str, ids[-10:])) or 'none'})")
    if run_id is not None:
        from .leaderboard import load_results, load_runs

        results = _latest(load_results(store.db, "run_id = ?", [run_id]))
        return Side(f"run {run_id}", results, load_runs(store.db), run_id)
    path = Path(spec)
    if not path.exists():
        raise EdgebenchError(f"{spec!r} is neither a run id, 'last', 'previous' nor an export file")
    from .exchange import read

    doc = read(path)
    results, runs = [], {}
    for i, run in enumerate(doc["runs"]):
        runs[i] = {"device_info": run.get("device_info") or {}}
        results.extend({**r, "run_id": i, "id": j} for j, r in enumerate(run.get("results", [])))
    return Side(path.name, _latest(results), runs)


def compare(a: Side, b: Side, threshold: float = 0.05, alpha: float = 0.05,
            max_psnr_drop: float | None = None, confidence: float = 0.95) -> list[Row]:
    """Row per configuration; matched on the full key when the sides share a device, else across devices."""
    same_device = bool({r["device"] for r in a.results} & {r["device"] for r in b.results})
    key_of = (lambda r: tuple(r[k] for k in KEY)) if same_device else (lambda r: tuple(r[k] for k in KEY[1:]))
    rows = []
    for ra, rb in _match(a.results, b.results, key_of):
        base = rb or ra
        assert base is not None
        row = Row(**{k: base[k] for k in KEY}, status="")
        if not same_device and ra and rb:
            row.device = f"{ra['device']} → {rb['device']}"
        if ra is None or rb is None:
            row.status = "only in B" if ra is None else "only in A"
            rows.append(row)
            continue
        _fill(row, ra, rb, a, b, threshold, alpha, max_psnr_drop, confidence)
        rows.append(row)
    return rows


def _fill(row: Row, ra: dict[str, Any], rb: dict[str, Any], a: Side, b: Side, threshold: float, alpha: float,
          max_psnr_drop: float | None, confidence: float) -> None:
    ta, tb = ra.get("timings") or [], rb.get("timings") or []
    row.n_a, row.n_b = len(ta), len(tb)
    row.median_a_ms, row.median_b_ms = ra.get("median_ms"), rb.get("median_ms")
    row.psnr_a, row.psnr_b = ra.get("psnr"), rb.get("psnr")
    if row.psnr_a is not None and row.psnr_b is not None and math.isfinite(row.psnr_a - row.psnr_b):
        row.psnr_delta = row.psnr_b - row.psnr_a
    ia, ib = identity(ra, a.runs.get(ra["run_id"])), identity(rb, b.runs.get(rb["run_id"]))
    if ia["input"] != ib["input"]:
        row.status = "incomparable"
        row.notes.append(f"input {ia['input']} vs {ib['input']}: latencies of different sizes do not compare")
        return
    row.notes.extend(identity_diff(ia, ib))
    if (ra.get("affinity") or None) != (rb.get("affinity") or None):
        row.notes.append(f"cores {ra.get('affinity') or 'all'} ≠ {rb.get('affinity') or 'all'}")
    busy = [side for side, r in (("A", ra), ("B", rb)) if _busy(r)]
    if busy:  # a shift in background load is not a change of the model: no verdict either way
        row.status = "not comparable (load)"
        row.notes.append(f"{' and '.join(busy)} measured while other processes used the CPU (busy): rerun on an "
                         "idle device")
        return
    if not ta or not tb:
        _fill_from_summaries(row, ra, rb, threshold, alpha)
        if row.status == "incomparable":
            return
    else:
        _fill_from_timings(row, ta, tb, threshold, alpha, confidence)
    for side, r in (("A", ra), ("B", rb)):
        codes = [w["code"] for w in r.get("warnings") or [] if w["code"] in ("high-cv", "outliers", "thermal")]
        if codes:
            row.notes.append(f"{side} unstable: {', '.join(codes)}")
    if max_psnr_drop is not None and row.psnr_delta is not None and -row.psnr_delta > max_psnr_drop:
        row.status = "quality regression" if row.status != "regression" else row.status
        row.notes.append(f"PSNR fell by {-row.psnr_delta:.2f} dB (> {max_psnr_drop:g})")


def _busy(result: dict[str, Any]) -> bool:
    if any(w.get("code") == "busy" for w in result.get("warnings") or []):
        return True
    conditions = result.get("conditions")
    return bool(isinstance(conditions, dict) and conditions.get("busy"))


def _fill_from_timings(row: Row, ta: list[float], tb: list[float], threshold: float, alpha: float,
                       confidence: float) -> None:
    """Raw timings on both sides: ratio of medians with a bootstrap interval, Mann-Whitney U."""
    import statistics

    row.median_a_ms, row.median_b_ms = statistics.median(ta), statistics.median(tb)
    row.ratio = row.median_b_ms / row.median_a_ms
    row.ratio_low, row.ratio_high = stats.bootstrap_ratio_ci(ta, tb, confidence)
    test = stats.mann_whitney(ta, tb)
    row.p_value, row.test = test.p, f"Mann-Whitney U ({test.method})"
    significant = test.p < alpha and (row.ratio_low > 1 or row.ratio_high < 1)
    _verdict(row, significant, threshold)
    if not significant and _min_p(len(ta), len(tb)) >= alpha:
        row.notes.append(f"too few runs ({len(ta)} and {len(tb)}) for p < {alpha:g}: use --runs 10 or more")


def _verdict(row: Row, significant: bool, threshold: float) -> None:
    if not significant:
        row.status = "no change"
    elif row.ratio > 1 + threshold:
        row.status = "regression"
    elif row.ratio < 1 / (1 + threshold):
        row.status = "improved"
    else:
        row.status = "slower (small)" if row.ratio > 1 else "faster (small)"


def _fill_from_summaries(row: Row, ra: dict[str, Any], rb: dict[str, Any], threshold: float, alpha: float) -> None:
    """Rows stored as a tool's summary (benchmark_model prints count, mean and std, not each run):
    Welch's t-test on (mean, std, n), and the ratio of the means."""
    from .summary_stats import welch

    sides = [(r.get("mean_ms"), r.get("std_ms"), r.get("n_runs")) for r in (ra, rb)]
    if any(v is None for side in sides for v in side) or min(side[2] for side in sides) < 2:
        row.status = "incomparable"
        row.notes.append("raw timings missing and no mean/std/count to test instead")
        return
    (ma, sa, na), (mb, sb, nb) = sides
    row.n_a, row.n_b = int(na), int(nb)
    row.ratio = mb / ma
    t, df, p = welch(ma, sa, int(na), mb, sb, int(nb))
    row.p_value, row.test = p, f"Welch's t on summaries (t={t:.2f}, df={df:.0f})"
    row.notes.append("no raw timings (a tool's summary): Welch's t on mean, std and n; the ratio is of means")
    _verdict(row, p < alpha, threshold)


def _min_p(m: int, n: int) -> float:
    """The smallest two-sided p an exact U test can give for these sample sizes."""
    return 2 / math.comb(m + n, m) if m + n < 60 else 0.0


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise EdgebenchError(f"threshold {text!r} is not a fraction (0.05) or a percentage (5%)") from None
    if value < 0:
        raise EdgebenchError("threshold must not be negative")
    return value


HEADERS = ("Device", "Model", "Backend", "Prec.", "A ms", "B ms", "B/A", "95% CI", "p", "PSNR Δ", "Status")


def cells(row: Row) -> list[str]:
    def ms(v: float | None) -> str:
        return "–" if v is None else fmt_ms(v)

    ratio = "–" if row.ratio is None else f"{row.ratio:.3f}"
    ci = "–" if row.ratio_low is None else f"{row.ratio_low:.3f}–{row.ratio_high:.3f}"
    p = "–" if row.p_value is None else (f"{row.p_value:.2g}" if row.p_value >= 1e-4 else "<1e-4")
    dpsnr = "–" if row.psnr_delta is None else f"{row.psnr_delta:+.2f}"
    return [row.device, row.model, row.backend, f"{row.precision}/{row.delegate}", ms(row.median_a_ms),
            ms(row.median_b_ms), ratio, ci, p, dpsnr, row.status]


def render_text(rows: list[Row], a: Side, b: Side, threshold: float, alpha: float) -> str:
    """A plain table (also valid Markdown) and the decision rule."""
    lines = [f"A = {a.label}, B = {b.label}", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    lines += ["", f"regression: B/A > {1 + threshold:g} with p < {alpha:g} (two-sided Mann-Whitney U on raw "
              "timings) and a 95% bootstrap interval of B/A above 1."]
    for r in rows:
        for note in r.notes:
            lines.append(f"- {r.model} {r.backend} {r.precision}: {note}")
    return "\n".join(lines) + "\n"


def render_json(rows: list[Row], a: Side, b: Side, threshold: float, alpha: float) -> str:
    return json.dumps({"a": a.label, "b": b.label, "threshold": threshold, "alpha": alpha,
                       "regressions": sum(r.failed for r in rows),
                       "rows": [asdict(r) for r in rows]}, indent=1)


def render_rich(rows: list[Row], a: Side, b: Side, threshold: float, alpha: float, console: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    # Text, never markup: labels, model and backend names come from stored results and plugins
    table = Table(title=Text(f"A = {a.label}, B = {b.label}"), title_justify="left")
    for h in HEADERS:
        table.add_column(h, justify="left" if h in ("Device", "Model", "Backend", "Prec.", "Status") else "right",
                         no_wrap=True)
    for r in rows:
        style = {"regression": "bold red", "quality regression": "bold red", "improved": "green"}.get(r.status)
        table.add_row(*(Text(cell) for cell in cells(r)), style=style)
    console.print(table)
    console.print(f"regression: B/A > {1 + threshold:g} with p < {alpha:g} (two-sided Mann-Whitney U on raw "
                  "timings) and a 95% bootstrap interval of B/A above 1.", style="dim", highlight=False)
    for r in rows:
        for note in r.notes:
            console.print(f"{r.model} {r.backend} {r.precision}: {note}", style="yellow", highlight=False,
                          markup=False)
