"""Every backend on a stock phone: a virtual phone with no Python, measured through the native tools.

The phone (``edgebench_stock_phone``) answers ``python3`` like Android's shell ("inaccessible or not found",
exit 127). The binaries edgebench pushes are the test doubles of ``benchmark_model``, ``onnxruntime_perf_test``
and ExecuTorch's ``executor_runner``: each runs the artifact for real with this machine's runtime and prints the
real tool's format (their own tests check the formats; the parsers are tested on published outputs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

import pytest

from edgebench import hookimpl
from edgebench.store import Store
from edgebench.testing import invoke_cli, measure_one, registered, tiny_model
from edgebench.testing.benchmark_model_tool import write_benchmark_model
from edgebench.testing.executor_runner_tool import write_executor_runner
from edgebench.testing.ort_perf_test_tool import write_ort_perf_test

from conftest_remote import workdir  # noqa: F401  (fixture)

# the model of tests/test_android_benchmark_model.py: its exports are shared through the session cache
SPEC = tiny_model("bm-phone-tiny", scale=2, channels=8)
ENV = ("EDGEBENCH_BENCHMARK_BINARY", "EDGEBENCH_ORT_PERF_TEST", "EDGEBENCH_EXECUTOR_RUNNER")


class Models:
    __name__ = "stock-phone-models"

    @hookimpl
    def edgebench_register_models(self, register):
        register(SPEC)


@pytest.fixture
def stock(edgebench_stock_phone, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return dataclasses.replace(edgebench_stock_phone, delegates=("cpu", "xnnpack", "nnapi", "gpu"))


def _profile_file(phone, folder):
    folder.mkdir(exist_ok=True)
    options = "\n".join(f"{k} = {json.dumps(v)}" for k, v in phone.options.items())
    (folder / "stock-phone.toml").write_text(
        f'name = "stock-phone"\ntransport = "adb"\npython = "python3"\n'
        f'delegates = ["cpu", "xnnpack", "nnapi"]\n[options]\n{options}\n')
    return folder


def test_all_three_backends_store_int8_results_scored_on_a_phone_without_python(stock, tmp_path):
    """The issue's "done when": tflite, onnxruntime and executorch, int8, quality_on: device, no Python used."""
    bm = write_benchmark_model(tmp_path / "tools" / "benchmark_model")
    ort = write_ort_perf_test(tmp_path / "tools" / "onnxruntime_perf_test", debug_node_io=True)
    et = write_executor_runner(tmp_path / "tools" / "executor_runner")
    devices = _profile_file(stock, tmp_path / "profiles")
    with registered(Models()):
        result = invoke_cli("run", "--quick", "-d", "stock-phone", "--devices-dir", str(devices), "-m", SPEC.name,
                            "-b", "tflite", "-b", "onnxruntime", "-b", "executorch", "-p", "int8",
                            "--quality-images", "1", "--no-conditions",
                            "--benchmark-binary", str(bm), "--ort-perf-test", str(ort), "--executor-runner", str(et))
    assert result.exit_code == 0, result.output
    with contextlib.closing(Store.open()) as store:
        rows = {row["backend"]: row for row in store.results()}
    assert set(rows) == {"tflite", "onnxruntime", "executorch"}, result.output
    for backend, row in rows.items():
        assert row["precision"] == "int8" and row["quality_on"] == "device", (backend, row["quality_on"])
        assert row["psnr"] > 20 and row["n_images"] == 1
        assert row["median_ms"] > 0 and row["n_runs"] >= 1
    ort_row, et_row = rows["onnxruntime"], rows["executorch"]
    # perf_test -v prints every timed run; executor_runner 1.4 prints each iteration (the warm-up dropped)
    assert len(ort_row["timings"]) == 6 and len(et_row["timings"]) == 6
    assert ort_row["runtime"]["runtime"] == "onnxruntime_perf_test"
    assert ort_row["runtime"]["provider_nodes"]["CPUExecutionProvider"] > 0
    assert ort_row["mem_peak_bytes"] and ort_row["mem_source"] == "onnxruntime_perf_test"
    # the .pte the runner ran is a fixed-size export of the same model, counted on the host
    runtime = et_row["runtime"]
    assert runtime["delegate_name"] == "XnnpackBackend" and runtime["partitions"] >= 1, runtime
    # what stays on ExecuTorch's CPU kernels is named
    assert runtime["delegation_kind"] == ("partial" if runtime["cpu_kernel_calls"] else "full"), runtime
    assert len(runtime.get("fallback_ops") or []) <= runtime["cpu_kernel_calls"], runtime
    assert et_row["extra"]["artifact"]["fixed_size"] == [48, 64]
    assert et_row["memory"]["planned_bytes"] > 0
    # the same images through each runtime on this machine's CPU agree with the phone's
    for backend in ("onnxruntime", "executorch"):  # tflite's: tests/test_android_benchmark_model.py
        row, host = rows[backend], measure_one(SPEC, backend, "int8", quality_images=1, conditions=False)
        assert abs(row["psnr"] - host["psnr"]) < 0.05, (backend, row["psnr"], host["psnr"])


def test_an_nnapi_request_the_tool_cannot_satisfy_is_one_line_naming_the_provider(stock, tmp_path):
    ort = write_ort_perf_test(tmp_path / "onnxruntime_perf_test")
    devices = _profile_file(stock, tmp_path / "profiles")
    with registered(Models()):
        result = invoke_cli("run", "--quick", "-d", "stock-phone", "--devices-dir", str(devices), "-m", SPEC.name,
                            "-b", "onnxruntime", "-p", "int8", "--delegate", "nnapi", "--no-cpu-baseline",
                            "--no-quality", "--ort-perf-test", str(ort))
    assert result.exit_code != 0
    # the progress line as it happens, and once in the summary; each a whole line naming the provider
    lines = [ln for ln in result.output.splitlines() if "NNAPI is not supported in this build" in ln]
    summary = [ln for ln in lines if ln.startswith("Skipped:")]
    assert len(summary) == 1, result.output
    assert summary[0].endswith("device 'stock-phone': onnxruntime_perf_test: execution provider unavailable: "
                               "NNAPI is not supported in this build")


def test_without_a_tool_the_backend_says_where_to_point_edgebench(stock, edgebench_store):
    with pytest.raises(AssertionError, match=r"has no Python that can run onnxruntime \(no python3 on the device "
                                             r".*inaccessible or not found.*--ort-perf-test, "
                                             r"\$EDGEBENCH_ORT_PERF_TEST or the profile's options.onnxruntime_perf_test"):
        measure_one(SPEC, "onnxruntime", "int8", device=stock, store=edgebench_store, quality=False)
    with pytest.raises(AssertionError, match=r"has no Python that can run executorch .*--executor-runner"):
        measure_one(SPEC, "executorch", "int8", device=stock, store=edgebench_store, quality=False)


def test_a_release_perf_test_times_on_the_phone_and_scores_on_the_host_saying_why(stock, tmp_path, monkeypatch,
                                                                                 edgebench_store):
    monkeypatch.setenv("EDGEBENCH_ORT_PERF_TEST", str(write_ort_perf_test(tmp_path / "onnxruntime_perf_test")))
    row = measure_one(SPEC, "onnxruntime", "int8", device=stock, store=edgebench_store, quality_images=1)
    assert row["quality_on"] == "host-cpu" and row["psnr"] > 20
    warning = next(w for w in row["warnings"] if w["code"] == "quality-host-cpu")
    assert "onnxruntime_DEBUG_NODE_INPUTS_OUTPUTS" in warning["message"] + warning.get("hint", "")


@pytest.mark.parametrize("behaviour, message", [
    ({"backends": ()}, r"ExecuTorch runner has no XnnpackBackend registered \(build the runner with "
                       r"-DEXECUTORCH_BUILD_XNNPACK=ON"),
    ({"logging": False}, r"EXECUTORCH_ENABLE_LOGGING=ON"),
    ({"fail": "alloc"}, r"could not allocate memory for the .pte: Memory allocation failed"),
    ({"fail": "missing-op"}, r"has no kernel for 1 operator"),
])
def test_executor_runner_failures_are_one_line_each(stock, tmp_path, monkeypatch, edgebench_store, behaviour,
                                                    message):
    monkeypatch.setenv("EDGEBENCH_EXECUTOR_RUNNER", str(write_executor_runner(tmp_path / "executor_runner",
                                                                              **behaviour)))
    with pytest.raises(AssertionError, match=message) as failure:
        measure_one(SPEC, "executorch", "int8", device=stock, store=edgebench_store, quality=False)
    assert "\n" not in str(failure.value).strip()
    assert edgebench_store.results() == []


def test_a_phone_with_a_usable_python_keeps_the_runner(edgebench_phone, edgebench_store, tmp_path, monkeypatch):
    # a perf_test that would fail if used: the probe must find this machine's Python with onnxruntime
    monkeypatch.setenv("EDGEBENCH_ORT_PERF_TEST", "/bin/false")
    row = measure_one(SPEC, "onnxruntime", "int8", device=edgebench_phone, store=edgebench_store, quality=False)
    assert row["runtime"].get("runtime") != "onnxruntime_perf_test" and row["timings"]


@pytest.mark.parametrize("fail, message", [
    ("alloc", r"onnxruntime_perf_test: out of memory: Failed to allocate memory for requested buffer"),
    ("unsupported-op", r"onnxruntime_perf_test: unsupported operator: Could not find an implementation for "
                       r"\w+\(\d+\) node with name"),
])
def test_perf_test_failures_are_one_line_each(stock, tmp_path, monkeypatch, edgebench_store, fail, message):
    tool = write_ort_perf_test(tmp_path / "onnxruntime_perf_test", fail=fail)
    monkeypatch.setenv("EDGEBENCH_ORT_PERF_TEST", str(tool))
    with pytest.raises(AssertionError, match=r"device 'virtual-phone': " + message) as failure:
        measure_one(SPEC, "onnxruntime", "int8", device=stock, store=edgebench_store, quality=False)
    assert "\n" not in str(failure.value).strip() and edgebench_store.results() == []


def test_perf_test_runs_the_aarch64_onnxruntime_on_an_arm64_phone_without_python(tmp_path, workdir,  # noqa: F811
                                                                               monkeypatch):
    """The arm64 userland has onnxruntime for aarch64: the double runs it there (under qemu), by path, while
    python3 on the phone's PATH answers "not found"; timing and quality both come from the arm64 runtime."""
    from pathlib import Path

    from conftest_remote import need, need_rootfs
    from edgebench.testing.remote_devices import virtual_pixel

    need("adb")
    rootfs = need_rootfs()
    tool = write_ort_perf_test(tmp_path / "onnxruntime_perf_test", debug_node_io=True, interpreter="/usr/bin/python3")
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    with registered(Models()), virtual_pixel(workdir, rootfs, python=False) as phone:
        phone.write_profile(Path(os.environ["EDGEBENCH_DEVICES_DIR"]))
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", phone.env["ANDROID_ADB_SERVER_PORT"])
        result = invoke_cli("run", "--device", "pixel-test", "-m", SPEC.name, "-b", "onnxruntime", "-p", "int8",
                            "--quick", "--quality-images", "1", "--no-conditions", "--ort-perf-test", str(tool))
        assert result.exit_code == 0, result.output
        assert not list((phone.endpoint.rootfs / "tmp").iterdir())  # the cached userland untouched
    with contextlib.closing(Store.open()) as store:
        (row,) = store.results()
        info = store.runs()[0]["device_info"]
    assert info["kernel"].endswith("aarch64") and info["abi"] == "arm64-v8a"
    assert row["runtime"]["runtime"] == "onnxruntime_perf_test" and row["quality_on"] == "device"
    assert len(row["timings"]) == 6 and row["psnr"] > 20


def test_a_native_tools_energy_on_a_stock_phone_is_within_5_percent(tmp_path, workdir, monkeypatch):  # noqa: F811
    """--power battery with onnxruntime_perf_test: the timed region comes from the tool's exit stamp and its
    own loop time; the truth is the battery stand-in's power over where the double's loop really ran."""
    from pathlib import Path

    from conftest_remote import need
    from edgebench.testing.power_load import LoadPower, cwd_under
    from edgebench.testing.remote_devices import virtual_pixel

    need("adb")
    loop = tmp_path / "loop.txt"
    monkeypatch.setenv("EDGEBENCH_DOUBLE_LOOP_FILE", str(loop))
    tool = write_ort_perf_test(tmp_path / "onnxruntime_perf_test")
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    with virtual_pixel(workdir, python=False) as phone:
        phone.write_profile(Path(os.environ["EDGEBENCH_DEVICES_DIR"]))
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", phone.env["ANDROID_ADB_SERVER_PORT"])
        phone.endpoint.set_android_state(plugged="none")
        load = LoadPower(cwd_under(phone.endpoint.root))
        with load:
            phone.endpoint.simulate_battery(load.watts, current_unit="uA", discharge_negative=True)
            result = invoke_cli("run", "--device", "pixel-test", "--model", "bicubic", "-p", "int8", "-b",
                                "onnxruntime", "--size", "180x320", "--runs", "10", "--warmup", "2", "--min-time", "3",
                                "--no-quality", "--power", "battery", "--ort-perf-test", str(tool))
            phone.endpoint.stop_battery()
    assert result.exit_code == 0, result.output
    with contextlib.closing(Store.open()) as store:
        (row,) = store.results()
    assert row["runtime"]["runtime"] == "onnxruntime_perf_test" and row["energy_mj"] is not None, row["extra"]
    window = row["energy"]["runner_window"]
    assert window["source"].startswith("native tool") and window["error_s"] >= 0
    start, end = map(float, loop.read_text().split())
    placed = window["wall"]
    assert abs(placed[0] - start) < 0.25 and abs(placed[1] - end) < 0.25, (placed, start, end)
    truth = load.excess_energy(start, end) / (end - start) * row["median_ms"]
    print(f"perf_test + battery: {row['energy_mj']:.3f} mJ/frame, truth {truth:.3f} "
          f"({row['energy_mj'] / truth - 1:+.1%}); window placed {placed[0] - start:+.3f} / {placed[1] - end:+.3f} s, "
          f"stored error {window['error_s']:.3f} s")
    assert truth > 0.1 and abs(row["energy_mj"] / truth - 1) < 0.05, (row["energy_mj"], truth)
