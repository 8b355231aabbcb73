"""Leaderboard statistics: pooling of repeated results, identity checks, stability flags, Pareto front."""

import json
import statistics

import pytest
from click.testing import CliRunner

from edgebench import stats
from edgebench.cli import cli
from edgebench.leaderboard import board_rows, load_results, load_runs, mark_pareto, render_csv, render_markdown
from edgebench.store import Store

from board_helpers import HOST_INFO, add_result, add_run


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "board.db")
    yield s
    s.close()


def rows_of(store, **kw):
    return board_rows(load_results(store.db), load_runs(store.db), **kw)


def test_repeated_results_pool_every_raw_timing(store):
    timings = [[10.0 + i * 0.01 for i in range(12)], [10.3 + i * 0.01 for i in range(12)],
               [10.1 + i * 0.01 for i in range(12)]]
    for seed, t in enumerate(timings):
        add_result(store, add_run(store), timings=t, seed=seed)
    (row,) = rows_of(store)
    pooled = sorted(v for t in timings for v in t)
    assert row["median_ms"] == pytest.approx(statistics.median(pooled))
    assert (row["n_results"], row["n_pooled"], row["n_runs"]) == (3, 3, 36)
    run_medians = sorted(statistics.median(t) for t in timings)
    # fewer than 6 results: the interval spans at least the per-result medians' range
    assert row["ci_low_ms"] <= run_medians[0] and row["ci_high_ms"] >= run_medians[-1]
    assert (row["run_median_min_ms"], row["run_median_max_ms"]) == pytest.approx((run_medians[0], run_medians[-1]))
    assert row["pooled_result_ids"] == [1, 2, 3] and row["result_id"] == 3
    # the existing keys are still there
    for key in ("rank", "psnr", "psnr_drop", "score", "mem_peak_mb", "input", "threads", "warnings", "run_id"):
        assert key in row


def test_latest_only_when_asked(store):
    add_result(store, add_run(store), median=10.0)
    add_result(store, add_run(store), median=20.0, seed=1)
    (row,) = rows_of(store, pool=False)
    assert row["n_pooled"] == 1 and row["n_results"] == 2
    assert row["median_ms"] == pytest.approx(20.0, rel=0.02)


@pytest.mark.parametrize("change, expect", [
    ({"runtime": {"runtime": "onnxruntime", "version": "1.31.0"}}, "runtime onnxruntime 1.31.0 ≠ onnxruntime 1.32.0"),
    ({"artifact_sha": "other"}, "artifact other ≠ sha-m"),
])
def test_results_whose_identity_differs_are_not_pooled(store, change, expect):
    add_result(store, add_run(store), median=50.0, **change)
    add_result(store, add_run(store), median=10.0, seed=1)
    (row,) = rows_of(store)
    assert row["n_pooled"] == 1 and row["not_pooled"] == 1
    assert expect in row["not_pooled_reason"]
    assert row["median_ms"] == pytest.approx(10.0, rel=0.03)  # the 50 ms result did not leak in
    assert any("not pooled" in line for line in render_markdown([row]).splitlines())


@pytest.mark.parametrize("change, expect", [
    ({"threads": 2}, {"host · 360x640 · x3"}),
    ({"input_h": 720}, {"host · 360x640 · x3", "host · 720x640 · x3"}),
])
def test_threads_and_input_size_make_rows_of_their_own(store, change, expect):
    """A thread count is a setting of its own row; another input size is another section."""
    add_result(store, add_run(store), median=50.0, **change)
    add_result(store, add_run(store), median=10.0, seed=1)
    rows = rows_of(store)
    assert len(rows) == 2 and {r["section"] for r in rows} == expect
    assert all(r["n_pooled"] == 1 and r["not_pooled"] == 0 for r in rows)
    assert [r["rank"] for r in rows] == ([1, 2] if len(expect) == 1 else [1, 1])


def test_results_from_another_machine_are_not_pooled(store):
    add_result(store, add_run(store, info={**HOST_INFO, "hostname": "box-b"}), median=30.0)
    add_result(store, add_run(store), median=10.0, seed=1)
    add_result(store, add_run(store, info={**HOST_INFO, "free_mem": 123}), median=10.0, seed=2)  # volatile key
    (row,) = rows_of(store)
    assert (row["n_pooled"], row["not_pooled"]) == (2, 1)
    assert row["not_pooled_reason"] == "device.hostname box-b ≠ box-a"


def test_disagreeing_runs_are_flagged_with_a_hint(store):
    add_result(store, add_run(store), median=10.0, spread=0.002)
    add_result(store, add_run(store), median=13.0, spread=0.002, seed=1)
    (row,) = rows_of(store)
    assert row["flag"] == "unstable" and "run-spread" in row["warnings"]
    assert "--cooldown" in row["hint"]
    spread = next(w for w in row["warning_details"] if w["code"] == "run-spread")
    assert "by 19% (" in spread["message"] and "–13.0 ms)" in spread["message"]


def test_stable_results_are_ok(store):
    add_result(store, add_run(store), median=10.0, spread=0.002)
    add_result(store, add_run(store), median=10.01, spread=0.002, seed=1)
    (row,) = rows_of(store)
    assert row["flag"] == "ok" and row["warnings"] == [] and row["hint"] == ""


def test_slowdown_during_the_runs_is_flagged_as_throttling(store):
    timings = [10.0] * 10 + [11.0] * 10 + [12.5] * 10  # the device heats up
    add_result(store, add_run(store), timings=timings)
    (row,) = rows_of(store)
    assert "drift" in row["warnings"] and row["flag"] == "unstable"
    assert "throttling" in row["hint"]
    assert stats.drift([10.0] * 30) is None and stats.drift([10.0] * 5 + [20.0] * 3) is None  # too few runs


def test_stored_warnings_surface_with_counts(store):
    add_result(store, add_run(store), timings=[10.0 + 0.01 * i for i in range(29)] + [11.0])  # an outlier, CV 2 %
    add_result(store, add_run(store), timings=[10.0] * 30, seed=1)
    (row,) = rows_of(store)
    outliers = next(w for w in row["warning_details"] if w["code"] == "outliers")
    assert (outliers["count"], outliers["of"]) == (1, 2)
    assert row["flag"] == "caution"  # the median resists outliers: look closer, but it holds
    assert "--warmup" in row["hint"]


def test_pareto_front_is_the_undominated_set():
    rows = [{"model": n, "median_ms": t, "psnr": p} for n, t, p in
            [("fast", 1.0, 27.0), ("good", 3.0, 28.5), ("dominated", 3.5, 28.0), ("best", 10.0, 29.0),
             ("tie-slower", 1.2, 27.0), ("no-psnr", 0.5, None)]]
    mark_pareto(rows)
    assert {r["model"] for r in rows if r["pareto"]} == {"fast", "good", "best"}


def test_pareto_marked_per_device_and_csv_has_the_new_columns(store):
    add_result(store, add_run(store), model="a", median=5.0, psnr=28.0)
    add_result(store, add_run(store), model="b", median=10.0, psnr=27.0, seed=1)
    rows = rows_of(store)
    assert [(r["model"], r["pareto"], r["rank"]) for r in rows] == [("a", True, 1), ("b", False, 2)]
    header = render_csv(rows).splitlines()[0].split(",")
    assert header[:3] == ["rank", "device", "model"]
    assert {"ci_low_ms", "ci_high_ms", "n_pooled", "flag", "hint", "pareto"} <= set(header)


def test_cli_leaderboard_shows_interval_flag_and_hints(store, tmp_path):
    add_result(store, add_run(store), model="steady", median=10.0, spread=0.002)
    add_result(store, add_run(store), model="shaky", median=10.0, spread=0.3, seed=3)
    db = str(tmp_path / "board.db")
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", db, "leaderboard"], catch_exceptions=False).output
    assert "95% CI ms" in out and "⚠ unstable" in out and "Hint:" in out
    data = json.loads(runner.invoke(cli, ["--db", db, "leaderboard", "-f", "json"]).output)
    flags = {r["model"]: r["flag"] for r in data["rows"]}
    assert flags == {"steady": "ok", "shaky": "unstable"}
    md = runner.invoke(cli, ["--db", db, "leaderboard", "-f", "markdown", "--latest"]).output
    assert "| shaky |" in md and "- host shaky onnxruntime cpu int8: run-to-run spread" in md


def test_noise_without_a_trend_is_not_called_drift():
    import random

    def noisy(seed):
        rng = random.Random(seed)
        return [10 * (1 + rng.gauss(0, 0.2)) for _ in range(30)]

    assert sum(stats.drift(noisy(seed)) is not None for seed in range(100)) <= 3


def test_median_interval_for_thousands_of_pooled_timings():
    values = [float(v) for v in range(5000)]
    lo, hi = stats.median_ci(values)  # 2^5000 would overflow the exact binomial sum
    assert 2425 <= lo <= 2432 and 2567 <= hi <= 2574  # n/2 ± 1.96·√n/2
    small = [float(v) for v in range(200)]
    assert stats.median_ci(small) == (85.0, 114.0)  # exact branch, same ranks as the approximation
