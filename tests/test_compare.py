"""`edgebench compare`: statistics, the regression rule, run resolution, and the CI guard end to end."""

import itertools
import json
import random
import subprocess

import pytest
from click.testing import CliRunner

from edgebench import stats
from edgebench.cli import cli
from edgebench.compare import Side, compare, parse_threshold, resolve
from edgebench.errors import EdgebenchError
from edgebench.store import Store

from board_helpers import add_result, add_run, install_slowable
from helpers import EDGEBENCH, subprocess_env


# -- the statistics --------------------------------------------------------------------------------
def brute_force_p(a, b):
    """Two-sided exact p of U by enumerating every split of the pooled values."""
    pooled, m = a + b, len(a)
    u0 = sum(x > y for x in a for y in b)
    us = []
    for idx in itertools.combinations(range(len(pooled)), m):
        left = [pooled[i] for i in idx]
        right = [pooled[i] for i in range(len(pooled)) if i not in idx]
        us.append(sum(x > y for x in left for y in right))
    return min(1.0, 2 * min(sum(u <= u0 for u in us), sum(u >= u0 for u in us)) / len(us))


def test_mann_whitney_exact_matches_enumeration():
    rng = random.Random(7)
    for _ in range(25):
        a = [rng.random() for _ in range(rng.randint(1, 6))]
        b = [rng.random() + rng.choice([0, 0.3]) for _ in range(rng.randint(1, 6))]
        result = stats.mann_whitney(a, b)
        assert result.method == "exact"
        assert result.p == pytest.approx(brute_force_p(a, b), abs=1e-12)
    assert stats.mann_whitney([1, 2, 3], [4, 5, 6]).p == pytest.approx(0.1)  # 2 / C(6, 3)


def test_mann_whitney_normal_approximation_with_ties():
    same = stats.mann_whitney([1.0] * 40, [1.0] * 40)
    assert same.p == 1.0
    rng = random.Random(1)
    a = [round(rng.gauss(10, 1), 1) for _ in range(300)]  # rounding makes ties
    b = [round(rng.gauss(10.5, 1), 1) for _ in range(300)]
    shifted = stats.mann_whitney(a, b)
    assert shifted.method == "normal" and shifted.p < 1e-3
    noise = stats.mann_whitney(a, [round(rng.gauss(10, 1), 1) for _ in range(300)])
    assert noise.p > 0.01


def test_bootstrap_interval_is_seeded_and_covers_the_ratio():
    rng = random.Random(3)
    a = [rng.gauss(10, 0.3) for _ in range(40)]
    b = [rng.gauss(12, 0.3) for _ in range(40)]
    lo, hi = stats.bootstrap_ratio_ci(a, b)
    assert lo < 1.2 < hi and hi - lo < 0.1
    assert stats.bootstrap_ratio_ci(a, b) == (lo, hi)


# -- the decision rule ----------------------------------------------------------------------------
def side(label, median, n=30, spread=0.01, seed=0, **fields):
    rng = random.Random(seed)
    timings = [median * (1 + rng.gauss(0, spread)) for _ in range(n)]
    row = {"id": 1, "run_id": 1, "device": "host", "model": "m", "backend": "ort", "delegate": "cpu",
           "precision": "int8", "input_h": 360, "input_w": 640, "threads": 4, "timings": timings,
           "median_ms": sorted(timings)[n // 2], "psnr": 28.0, "warnings": [], **fields}
    return Side(label, [row], {1: {"device_info": {"hostname": "box"}}})


@pytest.mark.parametrize("b_median, threshold, status", [
    (11.0, 0.05, "regression"),        # 10 % slower, significant, beyond 5 %
    (11.0, 0.20, "slower (small)"),    # real but within the threshold
    (9.0, 0.05, "improved"),
    (10.0, 0.05, "no change"),
])
def test_regression_needs_size_and_significance(b_median, threshold, status):
    (row,) = compare(side("A", 10.0), side("B", b_median, seed=1), threshold=threshold)
    assert row.status == status
    assert row.failed == (status == "regression")
    if status != "no change":
        assert row.p_value < 0.05
    assert row.ratio_low <= row.ratio <= row.ratio_high


def test_too_few_runs_are_never_significant_and_say_so():
    (row,) = compare(side("A", 10.0, n=3), side("B", 20.0, n=3, seed=1))
    assert row.status == "no change"
    assert any("too few runs" in note for note in row.notes)


def test_quality_regression_and_incomparable_sizes():
    (row,) = compare(side("A", 10.0), side("B", 10.0, seed=1, psnr=27.0), max_psnr_drop=0.5)
    assert row.status == "quality regression" and row.failed and row.psnr_delta == pytest.approx(-1.0)
    (row,) = compare(side("A", 10.0), side("B", 30.0, seed=1, input_h=720))
    assert row.status == "incomparable" and not row.failed


def test_rows_only_on_one_side():
    a, b = side("A", 10.0), side("B", 10.0, model="other")
    assert sorted(r.status for r in compare(a, b)) == ["only in A", "only in B"]


def test_threshold_parsing():
    assert parse_threshold("5%") == pytest.approx(0.05) and parse_threshold("0.2") == 0.2
    with pytest.raises(EdgebenchError):
        parse_threshold("fast")


# -- which runs --------------------------------------------------------------------------------------
def test_last_and_previous_follow_shared_configurations(tmp_path):
    store = Store.open(tmp_path / "c.db")
    r1 = add_run(store)
    add_result(store, r1, model="x")
    r2 = add_run(store)
    add_result(store, r2, model="y")  # nothing in common with the next run
    add_run(store)  # a run that stored nothing
    r4 = add_run(store)
    add_result(store, r4, model="x", seed=2)
    assert resolve(store, "last").run_id == r4
    assert resolve(store, "previous").run_id == r1
    assert resolve(store, str(r2)).label == f"run {r2}"
    with pytest.raises(EdgebenchError, match="has no stored results"):
        resolve(store, "3")
    with pytest.raises(EdgebenchError, match="neither a run id"):
        resolve(store, "nosuch.json")


# -- end to end: a slowed backend trips the guard, an unchanged rerun does not ------------------------
def test_compare_guards_against_a_slowed_backend(tmp_path):
    root = install_slowable(tmp_path / "site")
    db = tmp_path / "guard.db"
    base = [*EDGEBENCH, "--db", str(db)]

    def measure(sleep_ms):
        # a real adapter sleeping inside invoke: 10 ms normally (so scheduler noise of a busy test
        # machine is small beside it), 40 ms when "regressed"
        proc = subprocess.run([*base, "run", "--quick", "--runs", "15", "-m", "cmp-tiny", "-b", "slowable",
                               # a shared test machine's own load must not decide this test's verdict:
                               # busy rows and compare are tested in test_settings_sweep
                               "-p", "fp32", "--no-quality", "--no-conditions"], capture_output=True, text=True,
                              timeout=300,
                              env=subprocess_env(root, EDGEBENCH_TEST_SLEEP_MS=str(sleep_ms)))
        assert proc.returncode == 0, proc.stderr

    def guard(*args):
        return subprocess.run([*base, "compare", *args], capture_output=True, text=True, timeout=120,
                              env=subprocess_env(root))

    measure(10)
    measure(10)
    # a threshold a 4x regression clears easily but scheduler noise on a shared test machine does not
    unchanged = guard("previous", "last", "--threshold", "30%", "--format", "json")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    (row,) = json.loads(unchanged.stdout)["rows"]
    assert row["status"] != "regression" and 0.7 < row["ratio"] < 1.3
    measure(40)
    slowed = guard("--threshold", "30%")
    assert slowed.returncode == 1, slowed.stdout + slowed.stderr
    assert "regression" in slowed.stdout and "1 regression(s): cmp-tiny slowable fp32" in slowed.stderr
    detail = json.loads(guard("2", "3", "--threshold", "30%", "--format", "json").stdout)
    (row,) = detail["rows"]
    assert row["status"] == "regression" and row["ratio"] > 2.5 and row["ratio_low"] > 2 and row["p_value"] < 1e-4
    assert detail["regressions"] == 1
    # an export of the good run works as the baseline too
    export = tmp_path / "baseline.json"
    assert CliRunner().invoke(cli, ["--db", str(db), "export", "--run", "1", "-o", str(export)]).exit_code == 0
    assert guard(str(export), "last", "--threshold", "30%").returncode == 1
    assert guard(str(export), "2", "--threshold", "30%").returncode == 0
