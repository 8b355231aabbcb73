"""tflite on the virtual phone through a benchmark_model double that really runs the artifact.

The phone is the project's ADB endpoint reached with the real adb client; the binary edgebench
pushes is :mod:`edgebench.testing.benchmark_model_double`, which runs the .tflite with ai-edge-litert
and prints a chosen benchmark_model generation's output. These tests drive the whole path: flag
probe, timing pass, delegate identity, quality on the device, the CPU agreement, and the fallbacks.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from edgebench.testing import invoke_cli, measure_one, registered, tiny_model
from edgebench.testing.benchmark_model_tool import write_benchmark_model

from conftest_remote import workdir  # noqa: F401  (fixture)

from edgebench import hookimpl

SPEC = tiny_model("bm-phone-tiny", scale=2, channels=8)


@pytest.fixture
def phone(edgebench_phone, monkeypatch):
    monkeypatch.delenv("EDGEBENCH_BENCHMARK_BINARY", raising=False)
    return dataclasses.replace(edgebench_phone, delegates=("cpu", "xnnpack", "nnapi", "gpu"), thermal=True)


def _binary(tmp_path, monkeypatch, name="benchmark_model", **behaviour):
    path = write_benchmark_model(tmp_path / name, **behaviour)
    monkeypatch.setenv("EDGEBENCH_BENCHMARK_BINARY", str(path))
    return path


def test_int8_quality_is_measured_on_the_phone_and_matches_the_host(phone, edgebench_store, tmp_path, monkeypatch):
    _binary(tmp_path, monkeypatch)
    host = measure_one(SPEC, "tflite", "int8", store=edgebench_store, runs=3)
    row = measure_one(SPEC, "tflite", "int8", device=phone, store=edgebench_store, runs=7)
    assert row["quality_on"] == "device" and host["quality_on"] == "device"
    assert row["n_images"] == host["n_images"] == 2
    assert abs(row["psnr"] - host["psnr"]) <= 0.05, (row["psnr"], host["psnr"])
    assert row["delegate"] == "xnnpack" and row["runtime"]["delegation_kind"] == "full"
    # the tool's own summary, honestly: its count, never one figure repeated
    assert row["timings"] == [] and row["n_runs"] == 7
    assert row["min_ms"] <= row["median_ms"] <= row["max_ms"] and row["std_ms"] is not None
    assert row["extra"]["native"]["summary_only"] is True
    # XNNPACK's int8 kernels round like the reference kernels, give or take one step
    assert row["runtime"]["cpu_agreement"]["max_abs_diff"] <= 1
    cpu = measure_one(SPEC, "tflite", "int8", device=phone, delegate="cpu", store=edgebench_store)
    assert "cpu_agreement" not in cpu["runtime"] and cpu["psnr"] == pytest.approx(host["psnr"], abs=0.05)


def test_accelerator_stores_its_agreement_with_the_cpu(phone, edgebench_store, tmp_path, monkeypatch):
    _binary(tmp_path, monkeypatch, drift=3)
    row = measure_one(SPEC, "tflite", "int8", device=phone, delegate="gpu", store=edgebench_store)
    assert row["delegate"] == "gpu" and row["quality_on"] == "device"
    agreement = row["runtime"]["cpu_agreement"]
    assert 1 <= agreement["max_abs_diff"] <= 3 and not agreement["identical"]
    assert agreement["psnr_db"] is not None and agreement["psnr_db"] > 30


def test_partial_delegation_is_stored_marked_or_refused(phone, edgebench_store, tmp_path, monkeypatch):
    _binary(tmp_path, monkeypatch, delegates={"nnapi": "partial:3"})
    row = measure_one(SPEC, "tflite", "int8", device=phone, delegate="nnapi", store=edgebench_store,
                      quality=False)
    assert row["delegate"] == "nnapi" and row["runtime"]["delegation_kind"] == "partial"
    assert "partial-delegation" in [w["code"] for w in row["warnings"]]
    with pytest.raises(AssertionError, match="nnapi.*(only|whole graph).*require-full-delegation"):
        measure_one(SPEC, "tflite", "int8", device=phone, delegate="nnapi", store=edgebench_store,
                    quality=False, require_full_delegation=True)


@pytest.mark.parametrize("behaviour, message", [
    ("fail-apply", r"delegate 'nnapi' failed on device 'virtual-phone': .*Failed to apply NNAPI delegate"),
    ("prepare-fail", r"failed to prepare"),
])
def test_delegate_failures_keep_the_tools_cause(phone, edgebench_store, tmp_path, monkeypatch, behaviour, message):
    _binary(tmp_path, monkeypatch, delegates={"nnapi": behaviour})
    with pytest.raises(AssertionError, match=message):
        measure_one(SPEC, "tflite", "int8", device=phone, delegate="nnapi", store=edgebench_store, quality=False)
    assert edgebench_store.results() == []


def test_an_old_binary_falls_back_to_the_host_cpu_with_its_own_python(phone, edgebench_store, tmp_path, monkeypatch):
    _binary(tmp_path, monkeypatch, generation="tf2.4")  # no --output_filepath, no --signature_to_run_for
    # the phone's python does not exist: the host-cpu pass must use this machine's own
    old_phone = dataclasses.replace(phone, python="/nonexistent/python3")
    row = measure_one(SPEC, "tflite", "int8", device=old_phone, store=edgebench_store, height=360, width=640,
                      runs=2, warmup=1)
    assert row["quality_on"] == "host-cpu" and row["psnr"] is not None
    warning = next(w for w in row["warnings"] if w["code"] == "quality-host-cpu")
    assert "--output_filepath" in warning["message"]


class Models:
    __name__ = "bm-phone-models"

    @hookimpl
    def edgebench_register_models(self, register):
        register(SPEC)


def test_parse_and_import_commands(phone, tmp_path, monkeypatch, edgebench_env):
    import subprocess

    from edgebench.artifacts import ArtifactCache
    from edgebench.plugins import backends

    binary = _binary(tmp_path, monkeypatch, generation="tf2.18")
    artifact = ArtifactCache().get(SPEC, backends.get("tflite"), "int8")
    out = subprocess.run([str(binary), f"--graph={artifact.path}", "--num_runs=5", "--warmup_runs=1",
                          "--signature_to_run_for=serving_48x64"], capture_output=True, text=True, timeout=300)
    log = tmp_path / "run.log"
    log.write_text(out.stdout + out.stderr)
    bad = tmp_path / "bad.log"
    bad.write_text("INFO: Loaded model x.tflite\nERROR: Failed to apply NNAPI delegate.\nBenchmarking failed.\n")
    parsed = json.loads(invoke_cli("benchmark-model", "parse", "--json", str(log), str(bad)).output)
    assert [list(p) for p in parsed] == [["file", "failed", "error", "inference_avg_us", "init_us", "first_us",
                                          "warmup_avg_us", "memory_overall_mb", "delegate", "delegated_nodes",
                                          "total_nodes", "partitions", "delegation"]] * 2
    assert parsed[0]["failed"] is False and parsed[0]["inference_avg_us"] > 0
    assert parsed[1]["failed"] is True and "Failed to apply NNAPI delegate" in parsed[1]["error"]
    text = invoke_cli("benchmark-model", "parse", str(log), str(bad)).output
    assert "inference avg" in text and "failed: " in text
    with registered(Models()):
        result = invoke_cli("benchmark-model", "import", str(log), "--device", "pixel7", "--model", SPEC.name,
                            "--precision", "int8", "--size", "48x64")
        assert result.exit_code == 0, result.output
        refused = invoke_cli("benchmark-model", "import", str(bad), "--device", "pixel7", "--model", SPEC.name,
                             "--precision", "int8")
    assert refused.exit_code != 0 and "Failed to apply NNAPI delegate" in refused.output
    board = json.loads(invoke_cli("leaderboard", "--include-quick", "--format", "json").output)["rows"]
    (row,) = [r for r in board if r["device"] == "pixel7"]
    from edgebench_litert.benchmark_model import parse

    runs = parse(log.read_text())["runs"]  # --num_runs=5 and the tool's default --min_secs=1: its own count
    assert row["n_runs"] == runs["count"] >= 5 and row["delegate"] == "xnnpack" and "imported" in row["warnings"]
    assert row["median_ms"] == pytest.approx(runs["median"] / 1000)


def test_arm64_phone_measures_and_scores_through_the_double(workdir, tmp_path, monkeypatch):
    """The phone over the arm64 userland: the double runs as aarch64 Python under qemu."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from conftest_remote import need, need_rootfs
    from edgebench.testing.remote_devices import virtual_pixel

    need("adb")
    rootfs = need_rootfs()
    binary = _binary(tmp_path, monkeypatch, drift=2, interpreter="/usr/bin/python3")  # the arm64 userland's
    photos = tmp_path / "photos"  # one 96x128 crop: one 48x64 tile at x2, so few qemu start-ups
    photos.mkdir()
    crop = np.asarray(Image.open(Path(__file__).parents[1] / "edgebench" / "photos" / "chelsea.png").convert("RGB"))
    Image.fromarray(crop[100:196, 150:278]).save(photos / "chelsea-crop.png")
    common = ["--model", SPEC.name, "-b", "tflite", "-p", "int8", "--quick", "--dataset", str(photos),
              "--benchmark-binary", str(binary)]
    with registered(Models()), virtual_pixel(workdir, rootfs) as phone:
        phone.write_profile(Path(os.environ["EDGEBENCH_DEVICES_DIR"]))
        phone.endpoint.set_temperature(0, 41.5, "BIG")
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", phone.env["ANDROID_ADB_SERVER_PORT"])
        # cpu, not xnnpack: XNNPACK's int8 kernels compute wrong values under qemu-user (the
        # agreement check of an xnnpack row shows it), a fault of the emulator, not of edgebench
        for delegate in ("cpu", "gpu"):
            result = invoke_cli("run", "--device", "pixel-test", "--delegate", delegate, *common)
            assert result.exit_code == 0, result.output
        host = invoke_cli("run", *common)
        assert host.exit_code == 0, host.output
        assert not list((phone.endpoint.root / "data/local/tmp").glob("edgebench-*"))
    from edgebench.store import Store

    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        rows = {(r["device"], r["delegate"]): r for r in store.results()}
    finally:
        store.close()
    phone_row, host_row = rows[("pixel-test", "cpu")], rows[("host", "xnnpack")]
    assert phone_row["quality_on"] == "device" and phone_row["environment"]["exit_status"] == 0
    # the same int8 artifact through the tool on aarch64 gives the host's pixels
    assert abs(phone_row["psnr"] - host_row["psnr"]) <= 0.05, (phone_row["psnr"], host_row["psnr"])
    # the phone's zones, read before and after the timed runs on this path too
    assert phone_row["thermal"]["before"] == phone_row["thermal"]["after"] == {"thermal_zone0:BIG": 41.5}
    # the "gpu" moves pixels by at most 2 (drift=2): its agreement with the CPU kernels says so
    gpu = rows[("pixel-test", "gpu")]
    assert gpu["quality_on"] == "device" and 1 <= gpu["runtime"]["cpu_agreement"]["max_abs_diff"] <= 2
    assert gpu["psnr"] != phone_row["psnr"]


def test_a_gpu_run_measures_its_cpu_baseline_and_the_board_sets_them_side_by_side(phone, edgebench_store, tmp_path,
                                                                                   monkeypatch):
    from edgebench.harness import Harness, Settings, plan
    from edgebench.leaderboard import board_rows, load_results, load_runs
    from edgebench.plugins import backends

    _binary(tmp_path, monkeypatch)
    jobs = plan([SPEC], [backends.get("tflite")], ["int8"], ["gpu"], phone)
    assert [(j.delegate, j.baseline_for) for j in jobs] == [("gpu", None), ("xnnpack", "gpu")]
    harness = Harness(edgebench_store, phone, Settings.quick(runs=8, quality=False))
    harness.run(jobs)
    assert harness.failures == []
    stored = {r["delegate"]: r for r in edgebench_store.results()}
    assert set(stored) == {"gpu", "xnnpack"} and stored["xnnpack"]["extra"]["cpu_baseline_for"] == "gpu"
    rows = {r["delegate"]: r for r in board_rows(load_results(edgebench_store.db), load_runs(edgebench_store.db),
                                                 include_quick=True)}
    gpu, cpu = rows["gpu"], rows["xnnpack"]
    assert gpu["vs_cpu"] == pytest.approx(cpu["median_ms"] / gpu["median_ms"]) and cpu["vs_cpu"] is None
    slower = gpu["ci_low_ms"] > cpu["ci_high_ms"]
    assert ("slower-than-cpu" in gpu["warnings"]) == slower
    # the phone's conditions were read through its own shell: battery, screen and clusters
    conditions = stored["gpu"]["conditions"]
    assert conditions["before"]["android"]["battery_level"] == 80 and conditions["after"]["android"]["screen"] == "on"
    assert conditions["source"] == "snapshots" and conditions["before"]["clusters"]
