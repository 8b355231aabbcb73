"""Core clusters, affinity × threads sweeps, the CPU baseline of a delegate and the load a result
ran under: through `edgebench run` on the virtual phone and on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench import plugins
from edgebench.cli import cli
from edgebench.devices import DeviceProfile
from edgebench.harness import plan
from edgebench.store import Store

from conftest_remote import phone, workdir  # noqa: F401  (fixtures)

QUICK = ["--model", "bicubic", "--precision", "int8", "--quick", "--quality-images", "1"]


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def results() -> tuple[list[dict], list[dict]]:
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        return store.results(), store.runs()
    finally:
        store.close()


def test_the_virtual_phones_clusters_are_discovered_and_a_2x2_sweep_stores_4_rows(phone):  # noqa: F811
    phone.write_profile(Path(os.environ["EDGEBENCH_DEVICES_DIR"]))
    # two clusters whatever this machine's core count: the masks must exist for taskset on the host
    cores = os.cpu_count() or 1
    if cores < 2:
        pytest.skip("a 2-cluster phone needs two host cores for taskset")
    phone.endpoint.set_cpus([(1, 1_800_000), (cores - 1, 2_850_000)])
    out = invoke("run", "--device", "pixel-test", *QUICK, "--affinity", "little,big", "--threads", "1,2")
    assert out.exit_code == 0, out.output
    rows, runs = results()
    assert len(rows) == 4
    big = format((2**cores - 1) & ~1, "x")
    assert sorted((r["affinity"], r["threads"]) for r in rows) == [("1", 1), ("1", 2), (big, 1), (big, 2)]
    for r in rows:  # the runner really ran on those cores
        assert r["environment"]["affinity"] == ([0] if r["affinity"] == "1" else list(range(1, cores)))
    clusters = runs[-1]["device_info"]["clusters"]
    assert clusters.startswith("little 0 @1.80 GHz, big 1") and "@2.85 GHz" in clusters

    board = json.loads(invoke("leaderboard", "--include-quick", "--format", "json").output)["rows"]
    assert len(board) == 4 and len({r["setting"] for r in board}) == 4
    (best,) = json.loads(invoke("leaderboard", "--include-quick", "--best-setting", "--format", "json").output)["rows"]
    assert best["settings_tried"] == 4 and best["median_ms"] == min(r["median_ms"] for r in board)
    text = invoke("leaderboard", "--include-quick", "--best-setting", "--format", "markdown").output
    assert "| Setting |" in text and best["setting"] in text


def test_a_mask_naming_absent_cores_fails_with_one_line(phone):  # noqa: F811
    phone.write_profile(Path(os.environ["EDGEBENCH_DEVICES_DIR"]))
    phone.endpoint.set_cpus([(2, 1_800_000)])
    bad = invoke("run", "--device", "pixel-test", *QUICK, "--affinity", "f00")
    assert bad.exit_code != 0
    (line,) = [ln for ln in bad.output.splitlines() if ln.strip()]
    assert line == "Error: affinity f00 names cpus 8-11, which device 'pixel-test' does not have (it has cpus 0-1)"
    # a profile whose own mask names absent cores fails the same way, before anything is measured
    profile = Path(os.environ["EDGEBENCH_DEVICES_DIR"]) / "pixel-test.toml"
    profile.write_text(profile.read_text().replace('affinity = "1"', 'affinity = "f0"'))
    bad = invoke("run", "--device", "pixel-test", *QUICK)
    assert bad.exit_code != 0 and "affinity f0 names cpus 4-7" in bad.output
    assert results()[0] == []


def test_a_delegate_job_brings_its_cpu_baseline_unless_told_not_to():
    pixel = DeviceProfile("pixel", "adb", delegates=("cpu", "xnnpack", "nnapi", "gpu"))
    litert, model = plugins.backends.get("tflite"), plugins.models.get("bicubic")
    jobs = plan([model], [litert], ["int8"], ["gpu", "nnapi"], pixel)
    assert [(j.delegate, j.baseline_for) for j in jobs] == [("gpu", None), ("xnnpack", "gpu"), ("nnapi", None)]
    assert [j.delegate for j in plan([model], [litert], ["int8"], ["gpu"], pixel, cpu_baseline=False)] == ["gpu"]
    asked = plan([model], [litert], ["int8"], ["gpu", "xnnpack"], pixel)  # the CPU job is there already
    assert [j.delegate for j in asked] == ["gpu", "xnnpack"]


SPIN = "import time\nend = time.time() + 120\nwhile time.time() < end: pass\n"


def test_a_run_on_a_busy_machine_is_flagged_and_compare_calls_it_not_comparable(tmp_path):
    db = str(tmp_path / "busy.db")
    base = ["--db", db, "run", *QUICK, "--runs", "40", "--min-time", "1.5", "--threads", "1", "--no-quality"]
    quiet = invoke(*base)
    assert quiet.exit_code == 0, quiet.output
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        busy = invoke(*base)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy.exit_code == 0, busy.output
    store = Store.open(db)
    try:
        first, second = store.results()
    finally:
        store.close()
    loaded = second["conditions"]
    assert loaded["busy"] is True and loaded["others_cores"] >= 0.5 and loaded["source"] == "runner"
    assert spinner.pid in [b["pid"] for b in loaded["busiest"]]  # named (others may share the machine)
    assert "busy" in [w["code"] for w in second["warnings"]]
    assert first["conditions"]["others_cores"] < loaded["others_cores"]
    compared = CliRunner().invoke(cli, ["--db", db, "compare", "1", "2", "--format", "json"])
    (row,) = json.loads(compared.output)["rows"]
    assert row["status"] == "not comparable (load)" and compared.exit_code == 0
