"""The harness path: runner in its own process, artifact cache, failures mid-run, result contents."""

import ast
import os
import sys
from pathlib import Path

import pytest

from edgebench import plugins
from edgebench.api import CommandResult
from edgebench.artifacts import ArtifactCache
from edgebench.errors import DeviceError
from edgebench.harness import RUNNER, Harness, Settings, parse_runner_output, plan
from edgebench.testing import host_device, measure_one, tiny_model
from edgebench.transports.local import LocalTransport

STDLIB = set(sys.stdlib_module_names)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_runner_and_adapter_need_only_stdlib_numpy_and_the_runtime():
    assert imported_modules(RUNNER) - STDLIB <= {"numpy"}
    adapter = plugins.backends.get("onnxruntime").adapter_path()
    assert imported_modules(adapter) - STDLIB <= {"numpy", "onnxruntime"}


def test_result_row_has_every_figure_and_the_conditions(edgebench_store):
    row = measure_one(tiny_model(), "onnxruntime", "int8", store=edgebench_store, runs=8)
    assert row["n_runs"] >= 8 and len(row["timings"]) == row["n_runs"]
    assert row["min_ms"] <= row["ci_low_ms"] <= row["median_ms"] <= row["ci_high_ms"] <= row["max_ms"]
    assert row["init_ms"] > 0 and row["first_ms"] > 0 and row["p90_ms"] >= row["median_ms"]
    # a ~1k-parameter model at 48x64: the session, its arena and the 3x output, never gigabytes
    assert 2**16 <= row["mem_peak_bytes"] <= 256 * 2**20 and row["mem_source"] == "/proc/self/status"
    memory = row["memory"]
    assert row["mem_peak_bytes"] == (memory["after_timing"]["VmHWM"] - memory["baseline"]["VmHWM"]) * 1024
    assert row["environment"]["pid"] != os.getpid()  # measured in the runner's own process
    assert row["runtime"]["runtime"] == "onnxruntime" and row["quality_on"] == "device"
    assert 20 < row["psnr"] < 60 and 0.5 < row["ssim"] <= 1 and row["dataset"] == "bundled"
    assert row["params"] == tiny_model().params
    from edgebench.artifacts import ArtifactCache
    import hashlib

    artifact = ArtifactCache().get(tiny_model(), plugins.backends.get("onnxruntime"), "int8")  # cached: no export
    # the stored size and SHA-256 are those of the bytes that ran
    assert row["artifact_size"] == artifact.path.stat().st_size
    assert row["artifact_sha"] == hashlib.sha256(artifact.path.read_bytes()).hexdigest()
    assert row["baseline_psnr"] is not None and abs(row["baseline_psnr"] - row["psnr"]) < 10
    run = edgebench_store.runs()[0]
    assert run["status"] == "finished" and run["host_info"]["cores_logical"] >= 1
    assert "onnxruntime" in run["plugins"] and run["edgebench_version"]


def test_artifacts_are_exported_once_and_reused(tmp_path):
    backend = plugins.backends.get("onnxruntime")
    cache, spec = ArtifactCache(tmp_path), tiny_model("cache-tiny")
    exports = []
    first = cache.get(spec, backend, "fp32", on_export=lambda: exports.append(1))
    again = ArtifactCache(tmp_path).get(spec, backend, "fp32", on_export=lambda: exports.append(1))
    assert first.path == again.path and exports == [1]
    assert again.meta["sha256"] and again.meta["opset"] == 20
    assert cache.path_for(spec, backend, "int8") != first.path


class DropsAfterFirstRun(LocalTransport):
    """The host transport, but the device 'goes away' after one measurement."""

    calls = 0

    def run(self, argv, *, timeout, cwd=None):
        DropsAfterFirstRun.calls += "runner.py" in argv  # the measurements, not the condition snapshots
        if DropsAfterFirstRun.calls > 1:
            raise DeviceError(f"device {self.profile.name!r}: connection lost")
        return super().run(argv, timeout=timeout, cwd=cwd)


def test_device_lost_mid_run_keeps_finished_results(edgebench_store):
    device = host_device("flaky")
    jobs = plan([tiny_model()], [plugins.backends.get("onnxruntime")], ["fp32", "int8"], None, device)
    harness = Harness(edgebench_store, device, Settings.quick(), transport=DropsAfterFirstRun(device))
    with pytest.raises(DeviceError, match="'flaky': connection lost"):
        harness.run(jobs)
    assert [r["precision"] for r in edgebench_store.results()] == ["fp32"]
    assert edgebench_store.runs()[0]["status"] == "failed"


def test_runner_output_without_result_is_an_error():
    with pytest.raises(DeviceError, match="printed no result"):
        parse_runner_output("some output\n@@EDGEBENCH_RESULT_BEGIN@@\n{\"timings_ms\"", "pixel")
    with pytest.raises(DeviceError, match="not valid JSON"):
        parse_runner_output("@@EDGEBENCH_RESULT_BEGIN@@\n{oops\n@@EDGEBENCH_RESULT_END@@", "pixel")
    ok = parse_runner_output('@@EDGEBENCH_RESULT_BEGIN@@\n{"timings_ms": [1.0]}\n@@EDGEBENCH_RESULT_END@@', "p")
    assert ok["timings_ms"] == [1.0]


def test_plan_refuses_delegates_the_device_or_backend_lacks():
    from edgebench.errors import BackendUnavailable

    ort = plugins.backends.get("onnxruntime")
    with pytest.raises(BackendUnavailable, match="has no delegate 'gpu'"):
        plan([tiny_model()], [ort], ["int8"], ["gpu"], host_device())
    device = host_device()
    device.delegates = ("gpu",)
    with pytest.raises(BackendUnavailable, match="none of which device 'host' lists"):
        plan([tiny_model()], [ort], ["int8"], None, device)
