"""A board that cannot mislead: comparable rows only, quality guards, shared ranks, a Pareto front
that ignores noise, delegates against the CPU, each model's best setting, load in `compare`."""

from __future__ import annotations

import contextlib
import json

import pytest
from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.compare import Side, compare
from edgebench.leaderboard import render_markdown
from edgebench.ranking import dominates, mark_pareto
from edgebench.store import Store

from board_helpers import add_result, add_run, rows_of


@pytest.fixture
def store(tmp_path):
    with contextlib.closing(Store.open(tmp_path / "board.db")) as s:
        yield s


def by_model(rows):
    return {(r["model"], r["precision"], r["delegate"]): r for r in rows}


def full_pair(store, run, model="abpn", fp32=27.3, int8=27.1, median=40.0, **kw):
    add_result(store, run, model=model, precision="fp32", psnr=fp32, median=median * 1.5, baseline_psnr=26.6, **kw)
    add_result(store, run, model=model, precision="int8", psnr=int8, median=median, baseline_psnr=26.6, seed=1, **kw)


def test_a_quick_row_is_never_ranked_next_to_a_full_one(store):
    run = add_run(store)
    full_pair(store, run)
    # the smoke test of the issue: tiny input, 0.25 ms, a score far above any real row's
    quick = dict(input_h=48, input_w=64, quick=1, dataset="bundled[:2]", n_images=2, baseline_psnr=26.6)
    add_result(store, run, model="bicubic", precision="fp32", psnr=30.0, median=0.25, **quick)
    add_result(store, run, model="abpn", precision="fp32", psnr=29.0, median=0.3, seed=2, **quick)
    rows = rows_of(store)
    assert {r["model"] for r in rows} == {"abpn"} and all(not r["quick"] for r in rows)
    assert [r["rank"] for r in rows] == [1, 2]
    int8 = by_model(rows)[("abpn", "int8", "cpu")]
    assert int8["psnr_drop"] == pytest.approx(0.2)  # against the full fp32 row, not the quick 29 dB one

    listed = rows_of(store, include_quick=True)
    quick_rows = [r for r in listed if r["quick"]]
    assert len(quick_rows) == 2 and all(r["rank"] is None and r["unranked"] == "quick" for r in quick_rows)
    assert {r["section"] for r in quick_rows} == {"host · 48x64 · x3 · quick"}
    assert [r["rank"] for r in listed if not r["quick"]] == [1, 2]
    # the quick abpn int8-less row has no Δ; the full int8 row still measures against full fp32
    assert by_model([r for r in listed if not r["quick"]])[("abpn", "int8", "cpu")]["psnr_drop"] == pytest.approx(0.2)
    text = render_markdown(listed)
    assert "### host · 360x640 · x3" in text and "### host · 48x64 · x3 · quick" in text


def test_sections_separate_input_sizes(store):
    run = add_run(store)
    add_result(store, run, model="a", median=10.0)
    add_result(store, run, model="b", median=40.0, input_h=720, input_w=1280, seed=1)
    rows = rows_of(store)
    assert [(r["section"], r["rank"]) for r in rows] == [("host · 720x1280 · x3", 1), ("host · 360x640 · x3", 1)]


@pytest.mark.parametrize("psnr, codes", [
    (5.2, {"int8-drop", "below-bicubic"}),  # a broken quantized PReLU
    (27.3 - 19.0, {"int8-drop", "below-bicubic"}),  # a −19 dB collapse
    (26.0, {"int8-drop", "below-bicubic"}),  # 1.3 dB lost and under bicubic's 26.6
])
def test_a_broken_int8_row_is_flagged_with_its_cause_and_unranked(store, psnr, codes):
    run = add_run(store)
    full_pair(store, run, int8=psnr)
    rows = rows_of(store)
    bad = by_model(rows)[("abpn", "int8", "cpu")]
    assert bad["flag"] == "flagged" and set(bad["quality_flags"]) == codes
    assert bad["rank"] is None and bad["unranked"] == "flagged" and bad["rank_label"] == "–"
    assert by_model(rows)[("abpn", "fp32", "cpu")]["rank"] == 1
    message = next(w["message"] for w in bad["warning_details"] if w["code"] == "int8-drop")
    assert "likely cause: a quantized op" in message and "PReLU" in message
    assert any("below bicubic" in line for line in render_markdown(rows).splitlines())
    ranked = by_model(rows_of(store, include_flagged=True))[("abpn", "int8", "cpu")]
    assert ranked["rank"] is not None and ranked["flag"] == "flagged"


def test_the_int8_limit_is_configurable_and_bicubic_rows_of_the_board_are_the_floor(store):
    run = add_run(store)
    full_pair(store, run, int8=26.9, fp32=27.3)  # 0.4 dB: inside the default 0.5
    assert by_model(rows_of(store))[("abpn", "int8", "cpu")]["flag"] != "flagged"
    assert by_model(rows_of(store, max_int8_drop=0.3))[("abpn", "int8", "cpu")]["quality_flags"] == ["int8-drop"]
    # without a stored baseline, the board's own bicubic row on the same images is the floor
    add_result(store, run, model="old", precision="fp32", psnr=25.0, seed=3)
    add_result(store, run, model="bicubic", precision="fp32", psnr=26.6, seed=4)
    assert by_model(rows_of(store))[("old", "fp32", "cpu")]["quality_flags"] == ["below-bicubic"]


def test_constant_and_nan_outputs_found_at_measurement_are_flagged(store):
    run = add_run(store)
    add_result(store, run, model="flat", psnr=12.0, warnings=[
        {"code": "constant-output", "message": "every output pixel has the same value", "hint": "h"}])
    (row,) = rows_of(store)
    assert row["flag"] == "flagged" and row["quality_flags"] == ["constant-output"] and row["rank"] is None


def test_rows_the_measurement_cannot_tell_apart_share_a_rank(store):
    run = add_run(store)
    add_result(store, run, model="a", median=10.0, psnr=28.000, spread=0.02)
    add_result(store, run, model="b", median=10.05, psnr=28.005, spread=0.02, seed=1)  # inside the noise
    add_result(store, run, model="c", median=10.02, psnr=28.3, spread=0.02, seed=2)  # 0.3 dB better
    add_result(store, run, model="d", median=30.0, psnr=28.0, spread=0.02, seed=3)
    rows = rows_of(store)
    ranks = {r["model"]: r["rank_label"] for r in rows}
    assert ranks == {"c": "1", "a": "=2", "b": "=2", "d": "4"}
    assert "| =2 |" in render_markdown(rows)


def test_the_pareto_front_drops_no_row_for_a_difference_inside_the_noise():
    def row(name, ms, psnr, half=0.01):
        return {"model": name, "median_ms": ms, "ci_low_ms": ms * (1 - half), "ci_high_ms": ms * (1 + half),
                "psnr": psnr}

    fast, slow = row("fast", 250.0, 28.0), row("slow", 460.0, 28.000001)
    close = row("close", 251.0, 27.995)  # slower and lower, but both inside the noise: kept
    sharper = row("sharper", 300.0, 28.4)
    rows = [slow, fast, close, sharper]
    mark_pareto(rows)
    assert {r["model"] for r in rows if r["pareto"]} == {"fast", "close", "sharper"}
    assert dominates(fast, slow) and not dominates(fast, close) and not dominates(close, fast)


def test_a_delegate_slower_than_the_cpu_is_flagged(store):
    run = add_run(store)
    add_result(store, run, model="abpn", delegate="xnnpack", median=10.0)
    add_result(store, run, model="abpn", delegate="gpu", median=20.0, seed=1)
    add_result(store, run, model="scsrn", delegate="xnnpack", median=10.0, seed=2)
    add_result(store, run, model="scsrn", delegate="nnapi", median=4.0, seed=3)
    rows = by_model(rows_of(store))
    gpu, nnapi = rows[("abpn", "int8", "gpu")], rows[("scsrn", "int8", "nnapi")]
    assert gpu["vs_cpu"] == pytest.approx(0.5, rel=0.03) and "slower-than-cpu" in gpu["warnings"]
    assert gpu["flag"] == "caution" and "2.0" in gpu["warning_details"][0]["message"]
    assert nnapi["vs_cpu"] == pytest.approx(2.5, rel=0.03) and "slower-than-cpu" not in nnapi["warnings"]
    assert "× vs CPU" in render_markdown(list(rows.values()))


def test_a_delegate_losing_quality_against_the_cpu_names_fp16(store):
    run = add_run(store)
    add_result(store, run, model="abpn", precision="fp32", delegate="xnnpack", psnr=28.0)
    add_result(store, run, model="abpn", precision="fp32", delegate="gpu", psnr=26.9, seed=1)
    gpu = by_model(rows_of(store))[("abpn", "fp32", "gpu")]
    assert gpu["quality_flags"] == ["delegate-drop"] and "fp16" in gpu["warning_details"][0]["message"]


def test_best_setting_keeps_each_models_fastest_mask_and_threads(store, tmp_path):
    run = add_run(store)
    for i, (mask, threads, ms) in enumerate([("f0", 1, 172.0), ("f0", 4, 143.0), ("f", 4, 281.0), ("ff", 4, 150.0)]):
        add_result(store, run, model="abpn", affinity=mask, threads=threads, median=ms, seed=i)
    rows = rows_of(store)
    assert len(rows) == 4 and len({r["setting"] for r in rows}) == 4
    (best,) = rows_of(store, best_setting=True)
    assert (best["affinity"], best["threads"], best["settings_tried"]) == ("f0", 4, 4)
    out = CliRunner().invoke(cli, ["--db", str(tmp_path / "board.db"), "leaderboard", "--best-setting",
                                   "--format", "markdown"], catch_exceptions=False).output
    assert "| Setting |" in out and "cores f0 · 4 threads" in out and out.count("| abpn |") == 1


def side(label, results):
    return Side(label, [{**r, "run_id": 0, "id": i} for i, r in enumerate(results)], {0: {"device_info": {}}})


def result(median, busy=False, seed=0):
    import random

    rng = random.Random(seed)
    timings = [median * (1 + rng.gauss(0, 0.01)) for _ in range(30)]
    return {"device": "host", "model": "m", "backend": "onnxruntime", "delegate": "cpu", "precision": "int8",
            "timings": timings, "median_ms": median, "input_h": 360, "input_w": 640, "threads": 4, "psnr": 28.0,
            "warnings": [{"code": "busy", "message": "others used 0.9 cores", "hint": ""}] if busy else [],
            "conditions": {"busy": busy}}


def test_compare_refuses_to_call_a_busy_row_improved():
    (row,) = compare(side("A", [result(20.0, busy=True)]), side("B", [result(10.0, seed=1)]))
    assert row.status == "not comparable (load)" and not row.failed
    assert any("A measured while other processes used the CPU" in n for n in row.notes)
    (row,) = compare(side("A", [result(20.0)]), side("B", [result(10.0, seed=1)]))
    assert row.status == "improved"


def test_compare_pairs_the_rows_of_a_sweep_by_setting():
    a = [{**result(10.0, seed=i), "threads": t, "affinity": m} for i, (m, t) in enumerate([("f0", 1), ("f0", 2)])]
    b = [{**result(10.0 * (1.5 if t == 2 else 1.0), seed=9 + i), "threads": t, "affinity": m}
         for i, (m, t) in enumerate([("f0", 1), ("f0", 2)])]
    rows = compare(side("A", a), side("B", b))
    assert sorted(r.status for r in rows) == ["no change", "regression"]


def test_board_json_says_why_a_row_is_unranked(store, tmp_path):
    run = add_run(store)
    full_pair(store, run, int8=5.2)
    out = CliRunner().invoke(cli, ["--db", str(tmp_path / "board.db"), "leaderboard", "--format", "json"],
                             catch_exceptions=False).output
    rows = json.loads(out)["rows"]
    bad = next(r for r in rows if r["precision"] == "int8")
    assert bad["unranked"] == "flagged" and bad["rank"] is None and "int8-drop" in bad["quality_flags"]


def test_a_run_without_quick_is_ranked_and_a_quick_one_is_not(tmp_path):
    from dataclasses import asdict

    from edgebench import hookimpl
    from edgebench.harness import Settings
    from edgebench.testing import registered, tiny_model

    assert Settings().smoke_test is False and Settings.quick().smoke_test is True
    json.dumps(asdict(Settings()))  # stored with the run: must be plain data

    class Tiny:
        __name__ = "honesty-tiny"

        @hookimpl
        def edgebench_register_models(self, register):
            register(tiny_model("honest-tiny"))

    db = str(tmp_path / "runs.db")
    with registered(Tiny()):
        for extra in ([], ["--quick"]):
            out = CliRunner().invoke(cli, ["--db", db, "run", "-m", "honest-tiny", "-p", "fp32", "--size", "24x32",
                                           "--runs", "6", "--quality-images", "1", *extra], catch_exceptions=False)
            assert out.exit_code == 0, out.output
    with contextlib.closing(Store.open(db)) as store:
        assert [r["quick"] for r in store.results()] == [0, 1]
        rows = rows_of(store, include_quick=True, include_flagged=True)  # the untrained tiny net is below bicubic
    assert [(r["input"], r["quick"], r["rank"]) for r in rows] == [("24x32", False, 1), ("48x64", True, None)]
    assert rows[0]["quality_flags"] == ["below-bicubic"] and rows[0]["baseline_psnr"] > rows[0]["psnr"]
