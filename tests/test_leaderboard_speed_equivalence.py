"""The board from the store's per-configuration summaries (edgebench.board_pools) is byte for byte the board
the raw results gave before (issue 18, part 5).

``reference_board`` below is a frozen copy of the pure-Python pooling the leaderboard used up to 0.1
(load every result with its raw timings, group, pool, rank). Every test builds a varied store and checks
that ``board_from_store`` and the CLI render exactly what the reference renders from the same results,
also after imports, deletes, updates, a changed device_info and the migration of an older store.
"""

from __future__ import annotations

import math
import random
import re
import sqlite3
import statistics
from typing import Any

import pytest
from click.testing import CliRunner

from edgebench import board_pools, stats
from edgebench import store as store_mod
from edgebench.cli import cli
from edgebench.leaderboard import (DEVICE_IDENTITY_KEYS, FLAGGED, KEY, ROW_KEY, UNSTABLE, CAUTION, _flag,
                                   _section_order, board_from_store, identity, identity_diff, load_results,
                                   load_runs, mai_score, render_csv, render_json, render_markdown)
from edgebench import quality_guards, ranking
from edgebench.store import Store

from board_helpers import HOST_INFO, add_result, add_run


# -- the reference: the board as edgebench 0.1 computed it (frozen; do not "fix") -------------------

def _ref_pool(groups):
    groups = [g for g in groups if g]
    values = [v for g in groups for v in g]
    values.sort()
    lo, hi = stats.median_ci(values)
    run_medians = sorted(statistics.median(g) for g in groups)
    out = {"median_ms": statistics.median(values), "n_runs": len(values),
           "n_pooled": len(groups), "run_medians": run_medians, "run_cv": 0.0}
    if len(groups) > 1:
        run_lo, run_hi = stats.median_ci(run_medians)
        lo, hi = min(lo, run_lo), max(hi, run_hi)
        mean = statistics.fmean(run_medians)
        var = sum((m - mean) ** 2 for m in run_medians) / (len(run_medians) - 1)
        out["run_cv"] = math.sqrt(var) / mean if mean else 0.0
    out["ci_low_ms"], out["ci_high_ms"] = lo, hi
    return out


def _ref_identity_key(result, runs):
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


def _ref_warnings(members, pooled):
    by_code = {}
    for m in members:
        found = list(m.get("warnings") or [])
        slow = stats.drift(m["timings"]) if m.get("timings") else None
        if slow:
            found.append(slow.to_dict())
        for w in found:
            entry = by_code.setdefault(w["code"], {"count": 0})
            entry.update(w, count=entry["count"] + 1)
    spread = stats.run_spread(pooled)
    if spread:
        by_code[spread.code] = {**spread.to_dict(), "count": 1}
    for entry in by_code.values():
        entry["of"] = len(members)
    order = {code: i for i, code in enumerate(FLAGGED + UNSTABLE + CAUTION)}
    return sorted(by_code.values(), key=lambda w: order.get(w["code"], len(order)))


def _ref_row(group, runs, pool):
    latest = group[-1]
    ident = identity(latest, runs.get(latest["run_id"]))
    members, others = [latest], []
    if len(group) > 1:
        key = _ref_identity_key(latest, runs)
        for r in reversed(group[:-1]):
            (members if pool and _ref_identity_key(r, runs) == key else others).append(r)
        members.reverse()
    row = {k: latest[k] for k in KEY}
    row.update(scale=latest.get("scale"), quick=bool(latest.get("quick")), affinity=latest.get("affinity") or None,
               input_h=latest.get("input_h"), input_w=latest.get("input_w"), dataset=latest.get("dataset"),
               n_images=latest.get("n_images"), baseline_psnr=latest.get("baseline_psnr"))
    if all(m.get("timings") for m in members):
        pooled = _ref_pool([m["timings"] for m in members])
    else:
        pooled = {"median_ms": latest.get("median_ms"), "ci_low_ms": latest.get("ci_low_ms"),
                  "ci_high_ms": latest.get("ci_high_ms"), "n_runs": latest.get("n_runs"), "n_pooled": 1,
                  "run_medians": [latest["median_ms"]] if latest.get("median_ms") is not None else [],
                  "run_cv": 0.0}
    mems = [m["mem_peak_bytes"] for m in members if m.get("mem_peak_bytes") is not None]
    details = _ref_warnings(members, pooled)
    row.update(
        psnr=latest.get("psnr"), psnr_y=latest.get("psnr_y"), ssim=latest.get("ssim"),
        delta_int8_db=None, psnr_drop=None,
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
    row["section"], row["setting"] = ranking.section_of(row), ranking.setting_of(row)
    return row


def reference_board(results, runs=None, pool=True, include_quick=False, include_flagged=False,
                    max_int8_drop=quality_guards.MAX_INT8_DROP_DB, best_setting=False):
    groups = {}
    for r in results:
        groups.setdefault(tuple(r.get(k) for k in ROW_KEY), []).append(r)
    runs = runs or {}
    rows = [_ref_row(group, runs, pool) for group in groups.values()]
    quality_guards.apply(rows, max_int8_drop)
    for row in rows:
        row["flag"], row["hint"] = _flag(row["warning_details"])
    if best_setting:
        rows = ranking.best_settings(rows)
    if not include_quick:
        rows = [row for row in rows if not row["quick"]]
    rows.sort(key=_section_order)
    by_section = {}
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


def reference_of(db: sqlite3.Connection, where: str = "", params: list[Any] | None = None, **kw: Any):
    """The reference board of the store's raw results."""
    return reference_board(load_results(db, where, params or []), load_runs(db), **kw)


# -- a varied store ---------------------------------------------------------------------------------

OTHER_HOST = {**HOST_INFO, "hostname": "box-b", "cores_logical": 16}
WARN_A = {"code": "outliers", "message": "2 of 30 runs are outliers", "hint": "rerun"}
WARN_B = {"code": "busy", "message": "load 3.1 before the run", "hint": "close programs", "load": 3.1}
WARN_C = {"code": "made-up", "message": "a code no list knows", "hint": ""}
WARN_Q = {"code": "constant-output", "message": "output is constant", "hint": "check the model"}


def fill_varied(store: Store, seed: int = 0, runs: int = 20) -> None:
    """Runs on three devices of pooled, unpooled, quick, flagged, swept and summary-only results."""
    rng = random.Random(seed)
    for i in range(runs):
        device = ("host", "pixel", "rpi4")[i % 3]
        info = OTHER_HOST if i == 4 else {**HOST_INFO, "hostname": device}
        if i == runs - 7:
            info = {**info, "kernel": 6}  # an int in device_info: identity by repr
        run = add_run(store, device, info=info)
        version = "1.32.0" if i < 5 else "1.33.0"  # an upgrade: older results stop pooling
        for model, base, psnr in (("fsrcnn", 8.0, 28.3), ("espcn", 5.0, 27.9), ("bicubic", 1.0, 27.0),
                                  ("broken", 6.0, 12.0)):
            for precision, factor, drop in (("fp32", 1.0, 0.0), ("int8", 0.6, 0.2 if model != "espcn" else 1.4)):
                if rng.random() < 0.15:
                    continue  # not every run measures everything
                spread = 0.01 if rng.random() < 0.8 else 0.2
                timings = [base * factor * (1 + rng.gauss(0, spread)) for _ in range(rng.choice((12, 30, 240)))]
                if rng.random() < 0.1:  # throttling: the last third slower (drift)
                    timings = timings[:len(timings) // 3] + [t * 1.4 for t in timings[len(timings) // 3:]]
                warnings = rng.choice(([], [WARN_A], [WARN_B, WARN_A], [WARN_C], [{**WARN_A, "message": "newer"}]))
                if model == "broken" and precision == "int8":
                    warnings = [WARN_Q]
                fields: dict[str, Any] = dict(
                    device=device, precision=precision, psnr=psnr - drop, baseline_psnr=27.0 if i % 2 else None,
                    runtime={"runtime": "onnxruntime", "version": version, "providers": ["CPU"]},
                    warnings=warnings, dataset="set5", n_images=5,
                    mem_peak_bytes=None if rng.random() < 0.2 else rng.choice((12, 13, 14)) * 2**20,
                    artifact_sha=f"{model}-{precision}" + ("-v2" if i == 11 and model == "fsrcnn" else ""))
                add_result(store, run, model=model, timings=timings, **fields)
                if model == "fsrcnn" and precision == "fp32":
                    for threads, affinity in ((1, None), (2, "f0"), (4, "0f")):  # a settings sweep
                        add_result(store, run, model=model, timings=[t * 4 / threads for t in timings[:12]],
                                   threads=threads, affinity=affinity, **fields)
                if model == "espcn" and i % 4 == 0:  # a --quick smoke test at 48x64
                    add_result(store, run, model=model, timings=timings[:5], input_h=48, input_w=64, quick=1,
                               **fields)
                if model == "espcn" and precision == "fp32" and i % 2 == 1:  # a second size, x2
                    add_result(store, run, model=model, timings=timings, input_h=180, input_w=320, scale=2,
                               **fields)
        if i % 4 == 2:  # a native tool's summary, no raw timings (pooled with timed results of its config)
            summary = {"median_ms": 3.2, "ci_low_ms": 3.0, "ci_high_ms": 3.5, "n_runs": 50, "min_ms": 2.9,
                       "mean_ms": 3.25, "p90_ms": 3.6, "max_ms": 4.0, "std_ms": 0.2}
            add_result(store, run, model="espcn", timings=None, delegate="gpu", **summary)
            add_result(store, run, model="espcn", timings=[3.0, 3.1, 3.3, 3.2, 3.4, 3.0, 3.2], delegate="gpu",
                       median_ms=3.2)
        twins = [6.0 + 0.01 * k for k in range(12)]  # identical rows tie: the board keeps their first-seen order
        for twin in (("twin-a", "twin-b") if i % 2 == 0 else ("twin-b", "twin-a")):
            add_result(store, run, model=twin, timings=twins, device=device, artifact_sha="twin", warnings=[],
                       psnr=27.5)
        if i % 6 == 1:  # hand-written timings: ints must stay ints
            add_result(store, run, model="handmade", timings=[4, 5, 5, 6, 4, 5, 5, 7, 6], delegate="nnapi",
                       runtime={"runtime": "tflite", "version": 2})


# -- comparing ---------------------------------------------------------------------------------------

VARIANTS = [
    {}, {"pool": False}, {"include_quick": True}, {"include_flagged": True}, {"best_setting": True},
    {"max_int8_drop": 0.1, "include_quick": True},
]


def assert_same_board(db: sqlite3.Connection, where: str = "", params: list[Any] | None = None) -> None:
    for kw in VARIANTS:
        want = reference_of(db, where, params, **kw)
        got = board_from_store(db, where, params or [], **kw)
        assert render_json(got) == render_json(want), kw
        assert render_markdown(got) == render_markdown(want), kw
        assert render_csv(got) == render_csv(want), kw


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "board.db")
    yield s
    s.close()


def test_the_summaries_give_the_reference_board_of_a_varied_store(store):
    fill_varied(store)
    assert not store.db.execute("SELECT count(*) FROM board_dirty").fetchone()[0]  # add_result kept them up
    rows = reference_of(store.db, include_quick=True)
    # the store is as varied as meant: pooled and unpooled rows, sweeps, summaries, flags, several sections
    assert {r["device"] for r in rows} == {"host", "pixel", "rpi4"} and len({r["section"] for r in rows}) >= 8
    assert any(r["n_pooled"] > 3 for r in rows) and any(r["not_pooled"] for r in rows)
    assert any(r["flag"] == "flagged" for r in rows) and any("drift" in r["warnings"] for r in rows)
    assert any("run-spread" in r["warnings"] for r in rows) and any(r["delegate"] == "gpu" for r in rows)
    assert any(isinstance(r["median_ms"], int) for r in rows)  # the int timings
    assert any(r["affinity"] for r in rows) and any(r["delta_int8_db"] for r in rows)
    assert any(r["rank_label"].startswith("=") and r["model"] == "twin-a" for r in rows)
    assert_same_board(store.db)
    assert_same_board(store.db, "device IN (?, ?)", ["pixel", "rpi4"])
    assert_same_board(store.db, "model IN (?) AND backend IN (?)", ["fsrcnn", "onnxruntime"])


def test_the_cli_renders_the_reference_board(store, monkeypatch):
    fill_varied(store, seed=1, runs=8)
    monkeypatch.setenv("EDGEBENCH_DB", str(store.path))
    runner = CliRunner()

    def cli_out(*args: str) -> str:
        result = runner.invoke(cli, ["leaderboard", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    want = reference_of(store.db)
    assert cli_out("-f", "json") == render_json(want)
    assert cli_out("-f", "markdown") == render_markdown(want)
    assert cli_out("-f", "csv", "--latest") == render_csv(reference_of(store.db, pool=False))
    assert cli_out("-f", "json", "-d", "pixel", "--best-setting") == render_json(
        reference_of(store.db, "device IN (?)", ["pixel"], best_setting=True))
    from edgebench.leaderboard import device_infos
    from edgebench.report_html import render_html

    page = cli_out("-f", "html")
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    assert stamp.sub("T", page) == stamp.sub("T", render_html(want, device_info=device_infos(store.db, want),
                                                               source=str(store.path)))
    # the terminal table: the same rows give the same text
    table = cli_out("--top", "0")
    assert "fsrcnn" in table and "edgebench leaderboard: host" in table


def test_imports_deletes_updates_and_device_info_changes_keep_the_board(store, tmp_path):
    fill_varied(store, seed=2, runs=9)
    db = store.db
    # an import (raw inserts: the triggers note them, the import command folds them in)
    other = Store.open(tmp_path / "other.db")
    fill_varied(other, seed=3, runs=6)
    from edgebench.exchange import export_doc, import_doc

    import_doc(store, export_doc(other))
    other.close()
    assert db.execute("SELECT count(*) FROM board_dirty").fetchone()[0] > 0
    assert_same_board(db)  # the board folds them in itself
    assert not db.execute("SELECT count(*) FROM board_dirty").fetchone()[0]
    with db:  # whatever edits the store: a delete, a changed timing, a moved result, a new device_info
        db.execute("DELETE FROM results WHERE id IN (SELECT max(id) FROM results GROUP BY model)")
        db.execute("DELETE FROM results WHERE id = 3")
    assert_same_board(db)
    with db:
        db.execute("UPDATE results SET timings = '[100.0, 101.0, 99.0]' WHERE id = 5")
        db.execute("UPDATE results SET threads = 8 WHERE id = 7")
        db.execute("UPDATE results SET runtime = json_set(runtime, '$.version', '0.9') WHERE id = 9")
    assert_same_board(db)
    store.update_run(2, device_info={**HOST_INFO, "hostname": "renamed"})
    assert_same_board(db)
    # and new results after all that fold in incrementally again
    run = add_run(store, "host")
    for seed in range(3):
        add_result(store, run, model="fsrcnn", precision="fp32", seed=seed, median=8.1,
                   artifact_sha="fsrcnn-fp32", psnr=28.3)
    assert not db.execute("SELECT count(*) FROM board_dirty").fetchone()[0]
    assert_same_board(db)


def test_a_store_from_before_the_summaries_gets_them_on_open(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        m.setattr(store_mod, "MIGRATIONS", [s for s in store_mod.MIGRATIONS if s.__name__ < "m004"])
        old = Store.open(path)
        fill_varied(old, seed=4, runs=7)
        old.close()
        assert not sqlite3.connect(path).execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'board_pools'").fetchone()[0]
    s = Store.open(path)  # m004 builds the summaries of everything stored
    assert not s.db.execute("SELECT count(*) FROM board_dirty").fetchone()[0]
    assert s.db.execute("SELECT sum(n) FROM board_pools").fetchone()[0] == s.count()
    assert_same_board(s.db)
    s.close()


def test_a_read_only_store_is_ranked_from_its_raw_results(store, tmp_path):
    fill_varied(store, seed=5, runs=4)
    with store.db:
        store.db.execute("DELETE FROM results WHERE id = 2")  # leaves a note to fold in
    ro = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    assert ro.execute("SELECT count(*) FROM board_dirty").fetchone()[0]
    want = reference_of(ro)
    assert render_json(board_from_store(ro)) == render_json(want)
    ro.close()


def test_a_failing_summary_never_loses_a_result(store, monkeypatch):
    run = add_run(store)

    def boom(*a: Any, **k: Any) -> int:
        raise RuntimeError("summary bug")

    monkeypatch.setattr(board_pools, "_refresh", boom)
    add_result(store, run, model="m")
    assert store.count() == 1 and store.db.execute("SELECT count(*) FROM board_dirty").fetchone()[0] == 1
    monkeypatch.undo()
    assert render_json(board_from_store(store.db)) == render_json(reference_of(store.db))


def test_the_summary_keeps_only_a_few_hundred_rows_for_the_board(store):
    """The point of it all: the board reads one row per pool, never the raw timings."""
    run = add_run(store)
    for seed in range(40):
        add_result(store, run, model=f"m{seed % 4}", seed=seed)
    assert store.db.execute("SELECT count(*) FROM board_pools").fetchone()[0] == 4
    (ids,) = store.db.execute("SELECT result_ids FROM board_pools WHERE model = 'm1'").fetchone()
    assert board_pools._unpack(ids) == list(range(2, 41, 4))
