"""`edgebench run --runs / --warmup / --min-time / --cooldown` really control the timed loop.

A real adapter that sleeps a known time per inference makes the figures predictable: the stored
raw timings show how many runs happened, how long they took and that a cool-down pause is kept
out of the timed region.
"""

import json

import pytest
from click.testing import CliRunner

from edgebench import hookimpl
from edgebench.cli import cli
from edgebench.store import Store
from edgebench.testing import registered, tiny_model
from edgebench_onnxruntime import OnnxRuntimeBackend

from board_helpers import SLOWABLE_ADAPTER

SLEEP_MS = 5.0


@pytest.fixture
def slowable(tmp_path, monkeypatch):
    adapter = tmp_path / "adapter_slowable.py"
    adapter.write_text(SLOWABLE_ADAPTER)
    monkeypatch.setenv("EDGEBENCH_TEST_SLEEP_MS", str(SLEEP_MS))  # the runner inherits it

    class Slowable(OnnxRuntimeBackend):
        name = "slowable"

        def adapter_path(self):
            return adapter

    class Plugin:
        __name__ = "controls-slowable"

        @hookimpl
        def edgebench_register_backends(self, register):
            register(Slowable())

        @hookimpl
        def edgebench_register_models(self, register):
            register(tiny_model("ctl-tiny"))

    with registered(Plugin()):
        yield tmp_path / "controls.db"


def measure(db, *options):
    result = CliRunner().invoke(cli, ["--db", str(db), "run", "--quick", "-m", "ctl-tiny", "-b", "slowable",
                                      "-p", "fp32", "--no-quality", *options], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    store = Store.open(db)
    row = store.results()[-1]
    settings = store.runs()[-1]["settings"]
    store.close()
    return row, settings


def test_runs_and_warmup_are_honoured_even_with_quick(slowable):
    row, settings = measure(slowable, "--runs", "9", "--warmup", "4")
    assert row["n_runs"] == len(row["timings"]) == 9 and len(row["warmup"]) == 4
    assert (settings["runs"], settings["warmup"]) == (9, 4)
    assert all(t >= SLEEP_MS for t in row["timings"] + row["warmup"])  # the sleep is inside invoke


def test_min_time_keeps_timing_past_the_run_count(slowable):
    row, _ = measure(slowable, "--runs", "2", "--min-time", "0.4")
    # 0.4 s of ~5 ms inferences: far more than 2 runs, and together they last about 0.4 s
    assert row["n_runs"] >= 40
    assert 0.35 <= sum(row["timings"]) / 1000 <= 0.6


def test_cooldown_pauses_between_runs_outside_the_timed_region(slowable):
    row, settings = measure(slowable, "--runs", "1", "--min-time", "0.5", "--cooldown", "0.1")
    # each timed run costs ~0.105 s of wall time, so 0.5 s buys about five runs, not a hundred...
    assert 3 <= row["n_runs"] <= 6 and settings["cooldown"] == 0.1
    # ...while every timing stays near the 5 ms inference: the pause is not counted
    assert max(row["timings"]) < 50


def test_leaderboard_shows_the_interval_of_a_real_run(slowable):
    measure(slowable, "--runs", "12")
    measure(slowable, "--runs", "12")
    out = CliRunner().invoke(cli, ["--db", str(slowable), "leaderboard", "--include-quick", "-f", "json"]).output
    (row,) = json.loads(out)["rows"]
    assert row["n_pooled"] == 2 and row["n_runs"] == 24
    assert row["ci_low_ms"] <= row["median_ms"] <= row["ci_high_ms"] and row["median_ms"] >= SLEEP_MS
