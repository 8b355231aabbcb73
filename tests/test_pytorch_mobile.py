"""pytorch-mobile backend: real TorchScript lite-interpreter .ptl files (fp32, FX int8) run on the host.

Also the leaderboard: the same tiny model through ExecuTorch, the lite interpreter and ONNX Runtime
in one run, side by side, with a model that cannot be lowered skipped in one line per backend.
"""

import json
import zipfile

import numpy as np
import statistics

import pytest

from edgebench import hookimpl
from edgebench.artifacts import ArtifactCache
from edgebench.plugins import backends
from edgebench.quality import psnr
from edgebench.testing import (invoke_cli, measure_one, reference_output, registered, run_artifact, tiny_model,
                               untraceable_model)

TINY = tiny_model("ptl-tiny", scale=3, channels=8)


class TestModels:
    __name__ = "ptl-test-models"

    @hookimpl
    def edgebench_register_models(self, register):
        register(TINY)
        register(untraceable_model("ptl-branchy"))


def test_export_writes_lite_interpreter_bytecode():
    cache = ArtifactCache()
    backend = backends.get("pytorch-mobile")
    fp32, int8 = (cache.get(TINY, backend, p) for p in ("fp32", "int8"))
    for artifact in (fp32, int8):
        with zipfile.ZipFile(artifact.path) as archive:  # a .ptl is a zip with the mobile bytecode inside
            assert any(name.endswith("bytecode.pkl") for name in archive.namelist())
        assert any(op.startswith("aten::") for op in artifact.meta["operators"])
    assert "quantized_ops" not in fp32.meta or not fp32.meta["quantized_ops"]
    assert "quantized::conv2d_relu.new" in int8.meta["quantized_ops"], int8.meta
    assert int8.meta["qengine"] == "qnnpack" and int8.meta["calibration_images"] >= 2


def test_ptl_output_matches_torch():
    ref = reference_output(TINY)
    fp32 = run_artifact(TINY, "pytorch-mobile", "fp32")
    assert fp32.shape == ref.shape == (1, 72, 96, 3) and fp32.dtype == np.uint8
    assert np.abs(fp32.astype(int) - ref).max() <= 1
    int8 = run_artifact(TINY, "pytorch-mobile", "int8")
    assert psnr(int8[0], ref[0]) > 35, psnr(int8[0], ref[0])
    assert not np.array_equal(int8, fp32)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_measured_through_the_harness(precision):
    row = measure_one(TINY, "pytorch-mobile", precision)
    assert row["backend"] == "pytorch-mobile" and row["delegate"] == "cpu" and row["precision"] == precision
    assert row["n_runs"] >= 6 and row["median_ms"] == pytest.approx(statistics.median(row["timings"]))
    assert 2**12 <= row["mem_peak_bytes"] <= 512 * 2**20
    assert row["runtime"]["runtime"] == "torch lite interpreter"
    if precision == "int8":
        assert row["runtime"]["quantized_engine"] == "qnnpack"
    assert 20 < row["psnr"] < 60


def test_leaderboard_puts_the_mobile_backends_beside_onnxruntime_and_skips_what_cannot_lower():
    with registered(TestModels()):
        result = invoke_cli("run", "--quick", "-b", "onnxruntime", "-b", "executorch", "-b", "pytorch-mobile",
                            "-m", "ptl-branchy", "-m", "ptl-tiny", "-p", "fp32")
        assert result.exit_code == 0, result.output
        skipped = [line for line in result.output.splitlines() if line.startswith("Skipped:")]
        ptl = [line for line in skipped if " pytorch-mobile " in line]
        assert len(ptl) == 1, result.output
        assert ptl[0].startswith("Skipped: ptl-branchy pytorch-mobile fp32 cpu: cannot lower 'ptl-branchy' to the "
                                 "TorchScript lite interpreter (fp32): the trace would not generalise")
        assert any(line.startswith("Skipped: ptl-branchy executorch") for line in skipped)
        rows = json.loads(invoke_cli("leaderboard", "--include-quick", "--format", "json").output)["rows"]
        table = invoke_cli("leaderboard", "--include-quick", "--format", "markdown").output
    assert sorted(r["backend"] for r in rows if r["model"] == "ptl-tiny") == [
        "executorch", "onnxruntime", "pytorch-mobile"]
    for r in rows:  # the MAI formula of the row's own PSNR and median
        assert r["score"] == pytest.approx(2 ** (2 * r["psnr"]) / (2**56 * r["median_ms"]), rel=1e-9)
    assert "pytorch-mobile" in table and "executorch" in table and "xnnpack" in table


def test_int8_of_a_model_fx_cannot_trace_is_an_export_error():
    from edgebench.errors import ExportError

    spec = untraceable_model("ptl-branchy")
    with pytest.raises(ExportError, match=r"cannot quantize 'ptl-branchy' to int8 for PyTorch Mobile .*TraceError"):
        ArtifactCache().get(spec, backends.get("pytorch-mobile"), "int8")
