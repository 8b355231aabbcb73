import pytest

from edgebench import stats


def test_summary_figures():
    s = stats.summarize([float(v) for v in range(1, 11)], first_ms=50.0)
    assert s["median_ms"] == 5.5 and s["min_ms"] == 1 and s["max_ms"] == 10
    assert s["p90_ms"] == pytest.approx(9.1)
    # n=10: P(B<=1) = 0.0107 <= 0.025 < P(B<=2) -> interval [x(2), x(9)] (1-based)
    assert (s["ci_low_ms"], s["ci_high_ms"]) == (2.0, 9.0)


def test_median_ci_widens_for_few_runs():
    assert stats.median_ci([1.0, 2.0, 3.0]) == (1.0, 3.0)


def test_stable_runs_give_no_warning():
    s = stats.summarize([10.0, 10.1, 9.9, 10.05, 9.95, 10.0, 10.02, 9.98])
    assert stats.check(s) == []


def test_unstable_runs_are_flagged_with_hints():
    s = stats.summarize([10.0, 10.1, 9.9, 10.0, 10.05, 9.95, 10.0, 30.0], first_ms=100.0)
    codes = {w.code for w in stats.check(s, {"before": {"z0": 40.0}, "after": {"z0": 52.0}})}
    assert {"high-cv", "outliers", "slow-first", "thermal"} <= codes
    assert all(w.hint for w in stats.check(s))


def test_summary_needs_runs():
    with pytest.raises(ValueError):
        stats.summarize([])
