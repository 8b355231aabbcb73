"""TFLite / LiteRT backend: real .tflite exports run on the host, delegates, tiling, native path errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import statistics

import pytest

from edgebench import hookimpl
from edgebench.artifacts import ArtifactCache
from edgebench.devices import DeviceProfile
from edgebench.errors import BackendUnavailable, DeviceError
from edgebench.plugins import backends
from edgebench.testing import invoke_cli, measure_one, reference_output, registered, run_artifact, tiny_model

pytest.importorskip("ai_edge_litert")
pytest.importorskip("litert_torch")

SPEC = tiny_model("tiny-tfl", scale=3)


def interpreter(path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(model_path=str(path),
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def artifact(precision):
    return ArtifactCache().get(SPEC, backends.get("tflite"), precision)


def test_plugin_import_stays_light_and_backend_is_listed():
    code = ("import sys, edgebench_litert; heavy = {'torch', 'ai_edge_litert', 'litert_torch'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    out = invoke_cli("backends").output
    assert "tflite" in out


def test_int8_artifact_is_full_int8_with_the_8bit_image_in_and_out():
    art = artifact("int8")
    assert art.path.suffix == ".tflite" and art.meta["dtype"] == "int8"
    it = interpreter(art.path)
    assert set(it.get_signature_list()) == {"serving_360x640", "serving_48x64"}
    for key in it.get_signature_list():
        runner = it.get_signature_runner(key)
        for detail in [*runner.get_input_details().values(), *runner.get_output_details().values()]:
            assert detail["dtype"] == np.int8
            scale, zero = detail["quantization"]
            assert scale == pytest.approx(1 / 255) and zero == -128
    ops = {op["op_name"] for op in it._get_ops_details()}
    assert "CONV_2D" in ops and not ops & {"QUANTIZE", "DEQUANTIZE"}, ops  # nothing runs in float
    fp32 = interpreter(artifact("fp32").path)
    assert fp32.get_input_details()[0]["dtype"] == np.float32


def test_host_run_records_delegated_nodes_and_int8_stays_close_to_fp32(edgebench_store):
    rows = {(p, d): measure_one(SPEC, "tflite", p, delegate=d, store=edgebench_store)
            for p in ("fp32", "int8") for d in ("xnnpack", "cpu")}
    for (precision, delegate), row in rows.items():
        assert row["backend"] == "tflite" and row["delegate"] == delegate and row["precision"] == precision
        assert len(row["timings"]) >= 6 and row["quality_on"] == "device"
        assert row["median_ms"] == pytest.approx(statistics.median(row["timings"]))
        assert row["runtime"]["runtime"] == "ai_edge_litert" and row["runtime"]["delegate"] == delegate
        assert row["runtime"]["tiled_images"] == 2 and row["runtime"]["padded_images"] == 0
    xnn = rows["fp32", "xnnpack"]["runtime"]
    assert 0 < xnn["delegated_nodes"] <= xnn["total_nodes"]
    assert xnn["delegation"] == f"{xnn['delegated_nodes']} of {xnn['total_nodes']} nodes delegated"
    assert "delegation" not in rows["fp32", "cpu"]["runtime"]  # builtin kernels, no delegate
    for delegate in ("xnnpack", "cpu"):
        fp32, int8 = rows["fp32", delegate]["psnr"], rows["int8", delegate]["psnr"]
        assert fp32 > 20 and abs(fp32 - int8) < 0.5, (fp32, int8)
    # CPU kernels and XNNPACK compute the same model
    assert rows["fp32", "cpu"]["psnr"] == pytest.approx(rows["fp32", "xnnpack"]["psnr"], abs=0.05)


def test_tiled_photo_output_equals_the_torch_model():
    from edgebench.data import photos

    image = photos("eval")[0][1][40:140, 60:210]  # 100x150: not a signature size, runs as tiles
    ref = reference_output(SPEC, image).astype(int)
    fp32 = run_artifact(SPEC, "tflite", "fp32", image).astype(int)
    int8 = run_artifact(SPEC, "tflite", "int8", image).astype(int)
    assert fp32.shape == ref.shape == (1, 300, 450, 3)
    assert np.abs(fp32 - ref).max() <= 1  # tiles cut beyond the receptive field: no seams
    assert np.abs(int8 - ref).mean() < 2.0


def test_unavailable_delegate_says_so_in_one_line(edgebench_store):
    device = DeviceProfile(name="host-gpu", transport="local", python="{python}",
                           delegates=("cpu", "xnnpack", "nnapi", "gpu"))
    for delegate in ("gpu", "nnapi"):
        with pytest.raises(AssertionError) as info:
            measure_one(SPEC, "tflite", "fp32", delegate=delegate, device=device, store=edgebench_store)
        message = str(info.value)
        assert f"delegate '{delegate}' is not available on this device" in message and "\n" not in message
    assert edgebench_store.results() == []  # nothing silently measured on the CPU instead
    with pytest.raises(BackendUnavailable, match="delegate 'gpu' is not available on device 'host'"):
        from edgebench.harness import plan
        from edgebench.testing import host_device

        plan([SPEC], [backends.get("tflite")], ["fp32"], ["gpu"], host_device())


def test_a_size_without_a_signature_is_refused(edgebench_store):
    with pytest.raises(AssertionError, match=r"fixed input sizes \(360x640, 48x64\); --size 50x50"):
        measure_one(SPEC, "tflite", "fp32", store=edgebench_store, height=50, width=50)


def test_android_without_benchmark_model_or_with_a_broken_one_is_a_clear_error(edgebench_phone, edgebench_store,
                                                                               monkeypatch):
    monkeypatch.delenv("EDGEBENCH_BENCHMARK_BINARY", raising=False)
    phone = edgebench_phone
    with pytest.raises(AssertionError, match="measured with TFLite's benchmark_model: point edgebench at benchmark_model with "
                                             "--benchmark-binary, \\$EDGEBENCH_BENCHMARK_BINARY or the profile's "
                                             "options.benchmark_model"):
        measure_one(SPEC, "tflite", "int8", device=phone, store=edgebench_store, quality=False)
    phone.options["benchmark_model"] = "/data/local/tmp/no-such-benchmark_model"
    with pytest.raises(AssertionError, match="benchmark_model /data/local/tmp/no-such-benchmark_model cannot be "
                                             "started on device 'virtual-phone' \\(exit status 127"):
        measure_one(SPEC, "tflite", "int8", device=phone, store=edgebench_store, quality=False)
    phone.options["benchmark_model"] = "/bin/true"  # a real program that runs and prints no figure
    with pytest.raises(DeviceError, match="device 'virtual-phone': benchmark_model printed nothing"):
        measure_one(SPEC, "tflite", "int8", device=phone, store=edgebench_store, quality=False)
    assert edgebench_store.results() == []


class Models:
    __name__ = "litert-test-models"

    @hookimpl
    def edgebench_register_models(self, register):
        register(SPEC)


def test_one_run_puts_tflite_beside_onnxruntime_on_the_leaderboard():
    with registered(Models()):
        result = invoke_cli("run", "--quick", "-m", SPEC.name, "-b", "tflite", "-b", "onnxruntime")
        assert result.exit_code == 0, result.output
        # each tflite result line says how much of the graph the delegate took
        assert len(re.findall(r"tflite (fp32|int8) xnnpack: .* \d+ of \d+ nodes delegated", result.output)) == 2
        rows = json.loads(invoke_cli("leaderboard", "--include-quick", "--format", "json").output)["rows"]
    got = {(r["backend"], r["precision"]) for r in rows}
    assert got == {("tflite", "fp32"), ("tflite", "int8"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")}
    by = {(r["backend"], r["precision"]): r for r in rows}
    # the same torch module exported twice: the fp32 artifacts compute the same pixels
    assert by["tflite", "fp32"]["psnr"] == pytest.approx(by["onnxruntime", "fp32"]["psnr"], abs=0.02)
    for backend in ("tflite", "onnxruntime"):  # Δ int8: the difference of the two stored PSNRs
        assert by[backend, "int8"]["psnr_drop"] == pytest.approx(by[backend, "fp32"]["psnr"] - by[backend, "int8"]["psnr"])
    assert len({r["run_id"] for r in rows if "run_id" in r}) <= 1


@pytest.mark.parametrize("name", ["abpn", "scsrn"])
def test_trained_model_int8_loses_at_most_015_db(name, edgebench_store):
    from edgebench.plugins import models

    spec = models.get(name)
    if spec.weights_sha == "missing":
        pytest.skip(f"{name} weights not trained yet ({spec.weights})")
    # all bundled eval photos, each run by the artifact itself (tiled); timing at the quick size
    fp32 = measure_one(name, "tflite", "fp32", store=edgebench_store, quality_images=None, runs=3)
    int8 = measure_one(name, "tflite", "int8", store=edgebench_store, quality_images=None, runs=3)
    assert fp32["n_images"] == int8["n_images"] >= 4
    assert fp32["psnr"] > 26, fp32["psnr"]
    assert fp32["psnr"] - int8["psnr"] <= 0.15, (fp32["psnr"], int8["psnr"])


def test_benchmark_binary_option_reaches_the_phone(edgebench_phone, tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEBENCH_BENCHMARK_BINARY", raising=False)
    phone = edgebench_phone
    devices = tmp_path / "profiles"
    devices.mkdir()
    options = "\n".join(f"{k} = {json.dumps(v)}" for k, v in phone.options.items())
    (devices / "virtual-phone.toml").write_text(
        f'name = "virtual-phone"\ntransport = "adb"\npython = {json.dumps(phone.python)}\n'
        f'delegates = ["cpu", "xnnpack"]\n[options]\n{options}\n')
    assert "--benchmark-binary" in invoke_cli("run", "--help").output
    with registered(Models()):
        args = ("run", "--quick", "-d", "virtual-phone", "--devices-dir", str(devices), "-m", SPEC.name,
                "-b", "tflite", "-p", "int8", "--no-quality")
        missing = invoke_cli(*args)  # no binary anywhere: skipped with the reason
        assert ("--benchmark-binary, $EDGEBENCH_BENCHMARK_BINARY or the profile's options.benchmark_model"
                in " ".join(missing.output.split()))
        broken = invoke_cli(*args, "--benchmark-binary", "/bin/true")  # pushed, run, prints no figure
    assert broken.exit_code != 0
    assert "Error: device 'virtual-phone': benchmark_model printed nothing" in broken.output
    assert "EDGEBENCH_BENCHMARK_BINARY" not in __import__("os").environ
