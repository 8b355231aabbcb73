"""Statistics from a tool's summary (benchmark_model rows) and Welch's test in `compare`."""

from __future__ import annotations

import math

import pytest

from edgebench.compare import Side, compare
from edgebench.summary_stats import summary_from_tool, t_quantile, two_sided_p, welch

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("t, df", [(0.5, 3), (2.1, 10.5), (-3.0, 40), (1.96, 1000), (10.0, 2), (0.01, 5)])
def test_student_t_matches_scipy(t, df):
    assert two_sided_p(t, df) == pytest.approx(2 * scipy_stats.t.sf(abs(t), df), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("p, df", [(0.975, 9), (0.975, 49), (0.995, 3)])
def test_t_quantile_matches_scipy(p, df):
    assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9)


def test_welch_matches_scipy():
    t, df, p = welch(10.0, 1.0, 50, 10.5, 1.2, 40)
    ref = scipy_stats.ttest_ind_from_stats(10.5, 1.2, 40, 10.0, 1.0, 50, equal_var=False)
    assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert df == pytest.approx(75.7597, abs=1e-3)


def test_summary_keeps_the_tools_own_figures():
    # TF 2.18-style summary (microseconds)
    s = summary_from_tool({"count": 50, "first": 36110.0, "min": 35218.0, "max": 49873.0, "avg": 36612.0,
                           "std": 2104.0, "p5": 35301.0, "median": 35804.0, "p95": 41127.0}, first_ms=45.0)
    assert (s["n_runs"], s["min_ms"], s["max_ms"], s["mean_ms"], s["std_ms"]) == (50, 35.218, 49.873, 36.612, 2.104)
    assert s["median_ms"] == 35.804 and s["latency_figure"] == "median"
    assert s["percentiles_ms"] == {"p5": 35.301, "p95": 41.127}
    half = scipy_stats.t.ppf(0.975, 49) * 2.104 / math.sqrt(50)
    assert (s["ci_low_ms"], s["ci_high_ms"]) == (pytest.approx(36.612 - half), pytest.approx(36.612 + half))
    # no percentiles: the mean fills the median column and says so; nothing printed is invented
    bare = summary_from_tool({"count": 1, "avg": 2950340.0})
    assert bare["median_ms"] == pytest.approx(2950.34) and bare["latency_figure"] == "mean"
    assert bare["std_ms"] is None and bare["min_ms"] is None and bare["ci_low_ms"] is None
    with pytest.raises(ValueError):
        summary_from_tool({"avg": 1.0})


def _row(run_id: int, mean: float, std: float, n: int) -> dict:
    return {"run_id": run_id, "id": run_id, "device": "pixel", "model": "abpn", "backend": "tflite",
            "delegate": "gpu", "precision": "int8", "input_h": 360, "input_w": 640, "threads": 4,
            "timings": [], "median_ms": mean, "mean_ms": mean, "std_ms": std, "n_runs": n,
            "psnr": None, "runtime": {"runtime": "benchmark_model"}, "artifact_sha": "x", "warnings": []}


def test_compare_judges_summary_only_rows_with_welch():
    a = Side("run 1", [_row(1, 40.0, 1.0, 50)], {1: {}, 2: {}}, 1)
    slower = Side("run 2", [_row(2, 46.0, 1.5, 50)], {1: {}, 2: {}}, 2)
    same = Side("run 2", [_row(2, 40.1, 1.0, 50)], {1: {}, 2: {}}, 2)
    (row,) = compare(a, slower)
    ref = scipy_stats.ttest_ind_from_stats(46.0, 1.5, 50, 40.0, 1.0, 50, equal_var=False)
    assert row.status == "regression" and row.p_value == pytest.approx(ref.pvalue)
    assert row.test.startswith("Welch's t") and row.ratio == pytest.approx(46.0 / 40.0)
    assert any("Welch" in note for note in row.notes)
    (row,) = compare(a, same)
    assert row.status == "no change" and row.p_value > 0.05
    lonely = Side("run 2", [_row(2, 46.0, 1.5, 1)], {1: {}, 2: {}}, 2)  # one run: nothing to test
    (row,) = compare(a, lonely)
    assert row.status == "incomparable"
