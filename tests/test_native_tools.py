"""The pieces behind the native path on a phone without Python: the Python probe, the .pte counter, and the
doubles of onnxruntime_perf_test (test data sets, debug dumps) and executor_runner read by the real parsers."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edgebench.device_python import probe
from edgebench.devices import DeviceProfile
from edgebench.testing import tiny_model
from edgebench.transports.local import LocalTransport

from conftest import SESSION_CACHE

# the model of tests/test_android_*: its exports are shared through the session cache
SPEC = tiny_model("bm-phone-tiny", scale=2, channels=8)


def _local() -> LocalTransport:
    return LocalTransport(DeviceProfile(name="host", transport="local"))


def test_the_probe_reads_this_interpreter_and_a_missing_one():
    found = probe(_local(), sys.executable, ["numpy", "onnxruntime", "no_such_runtime_xyz"])
    assert found.usable and found.version.startswith("3.") and found.numpy == np.__version__
    assert found.can_import("onnxruntime") and not found.can_import("no_such_runtime_xyz")
    assert "has no module 'no_such_runtime_xyz'" in found.why_not("no_such_runtime_xyz")
    missing = probe(_local(), "/nonexistent/python3", ["onnxruntime"])
    assert not missing.usable and not missing.can_import("onnxruntime")
    assert "/nonexistent/python3" in missing.why_not("onnxruntime")


def test_the_probe_refuses_an_interpreter_without_numpy_or_too_old(tmp_path):
    # interpreters that answer the probe the way a bare or an old Python does (their own import error, their version)
    bare = tmp_path / "bare-python"
    bare.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; sys.modules[\"numpy\"] = None; "
                    f"code = sys.argv.pop(1); exec(code)' \"$2\" \"$3\"\n")
    bare.chmod(0o755)
    answer = probe(_local(), str(bare), ["onnxruntime"])
    assert not answer.usable and "cannot import numpy" in answer.reason
    old = tmp_path / "old-python"
    old.write_text('#!/bin/sh\necho \'@@EB-PYTHON@@{"version": [3, 6, 9], "numpy": "1.19.5", "modules": {}}\'\n')
    old.chmod(0o755)
    assert "needs 3.8 or newer" in probe(_local(), str(old), []).reason


@pytest.fixture(scope="module")
def pte(tmp_path_factory):
    from edgebench.artifacts import ArtifactCache
    from edgebench.plugins import backends

    pytest.importorskip("executorch")
    from edgebench_executorch import FixedSizeExecuTorch

    cache = ArtifactCache(SESSION_CACHE / "artifacts")
    return cache.get(SPEC, FixedSizeExecuTorch(48, 64), "int8"), cache.get(SPEC, backends.get("executorch"), "int8")


def test_the_pte_counter_reads_partitions_and_cpu_kernels_from_the_file(pte):
    from edgebench_executorch.pte_delegation import pte_delegation, runtime_fields

    fixed, dynamic = pte
    counted = pte_delegation(fixed.path)
    assert counted["delegate_calls"] == {"XnnpackBackend": fixed.meta["partitions"]}
    assert counted["kernel_calls"] == sum((fixed.meta.get("fallback_ops") or {}).values()) or counted["kernel_calls"]
    assert counted["planned_bytes"] == fixed.meta["planned_bytes"] > 0
    assert fixed.meta["fixed_size"] == [48, 64] and fixed.meta["tile_margin"] >= 1
    fields = runtime_fields(counted, fixed.meta)
    assert fields["delegate_name"] == "XnnpackBackend" and fields["delegation_source"] == ".pte on the host"
    # the fixed program plans less memory than the dynamic one planned for its upper bound
    assert counted["planned_bytes"] < pte_delegation(dynamic.path)["planned_bytes"]


def test_the_executor_runner_double_prints_what_the_parser_reads(pte, tmp_path):
    from edgebench.testing.executor_runner_tool import write_executor_runner
    from edgebench_executorch.pte_delegation import pte_delegation
    from edgebench_executorch.runner_output import parse

    fixed, _ = pte
    runner = write_executor_runner(tmp_path / "executor_runner")
    x = np.random.default_rng(0).random((1, 3, 48, 64), dtype=np.float32)
    (tmp_path / "in.bin").write_bytes(x.tobytes())
    proc = subprocess.run([str(runner), f"--model_path={fixed.path}", "--num_executions=4", "--inputs=in.bin",
                           "--output_file=out", "--print_output=none"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = parse(proc.stdout + proc.stderr)
    assert not parsed["failed"] and parsed["runs"] == 4 and len(parsed["timings_ms"]) == 4
    assert parsed["planned_bytes"] == pte_delegation(fixed.path)["planned_bytes"] and parsed["load_ms"] > 0
    out = np.frombuffer((tmp_path / "out-0.bin").read_bytes(), np.float32).reshape(1, 3, 96, 128)
    import torch
    from executorch.runtime import Runtime

    expected = Runtime.get().load_program(fixed.path).load_method("forward").execute([torch.from_numpy(x)])[0]
    assert np.array_equal(out, expected.numpy())
    usage = subprocess.run([str(runner), "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 1 and "    -output_file (" in usage.stdout and "-input_shapes" not in usage.stdout


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    from edgebench.artifacts import ArtifactCache
    from edgebench.plugins import backends

    return ArtifactCache(SESSION_CACHE / "artifacts").get(SPEC, backends.get("onnxruntime"), "fp32")


def _case(folder, model, x):
    from onnx import numpy_helper

    (folder / "test_data_set_0").mkdir(parents=True)
    (folder / "test_data_set_0" / "input_0.pb").write_bytes(numpy_helper.from_array(x, "lr").SerializeToString())
    (folder / "model.onnx").symlink_to(model)
    (folder / "dump").mkdir()


DUMP = {"ORT_DEBUG_NODE_IO_DUMP_OUTPUT_DATA": "1", "ORT_DEBUG_NODE_IO_DUMP_DATA_DESTINATION": "files"}


def test_a_debug_build_of_the_perf_test_double_dumps_the_output_a_release_one_does_not(onnx_model, tmp_path):
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from edgebench.testing.ort_perf_test_tool import write_ort_perf_test
    from edgebench_onnxruntime.perf_test import parse

    x = np.random.default_rng(1).random((1, 3, 20, 28), dtype=np.float32)
    _case(tmp_path / "img0", onnx_model.path, x)
    debug = write_ort_perf_test(tmp_path / "debug_perf_test", debug_node_io=True)
    release = write_ort_perf_test(tmp_path / "release_perf_test")
    argv = ["-e", "cpu", "-m", "times", "-r", "2", "-f", "height:20", "-f", "width:28", "img0/model.onnx"]
    env = {**os.environ, **DUMP, "ORT_DEBUG_NODE_IO_OUTPUT_DIR": "img0/dump"}
    refused = subprocess.run([str(debug), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 255 and "ORT_DEBUG_NODE_IO_DUMPING_DATA_TO_FILES_FOR_ALL_NODES_IS_OK" in refused.stderr
    env["ORT_DEBUG_NODE_IO_DUMPING_DATA_TO_FILES_FOR_ALL_NODES_IS_OK"] = "1"
    done = subprocess.run([str(debug), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and not parse(done.stderr + done.stdout)["failed"], done.stderr[-2000:]
    proto = onnx.TensorProto()
    proto.ParseFromString((tmp_path / "img0/dump/sr.tensorproto").read_bytes())
    session = ort.InferenceSession(str(onnx_model.path), providers=["CPUExecutionProvider"])
    assert np.array_equal(numpy_helper.to_array(proto), session.run(None, {"lr": x})[0]) and proto.name == "sr"
    (tmp_path / "img0/dump/sr.tensorproto").unlink()
    plain = subprocess.run([str(release), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0 and not (tmp_path / "img0/dump/sr.tensorproto").exists()


def test_dump_file_names_follow_ort(onnx_model):
    from edgebench_onnxruntime.device_quality import dump_file_name
    from edgebench_onnxruntime.native import free_dims, output_name

    assert dump_file_name("sr") == "sr.tensorproto" and dump_file_name("up/conv:0") == "up_conv_0.tensorproto"
    name, dims = free_dims(onnx_model.path)
    assert name == "lr" and [axis for _, axis in dims] == [2, 3] and output_name(onnx_model.path) == "sr"
