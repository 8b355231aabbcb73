"""The ONNX Runtime plugin's int8 export on graphs its symbolic shape inference cannot handle."""

import pytest

pytest.importorskip("onnxruntime")

from edgebench.artifacts import ArtifactCache  # noqa: E402
from edgebench.plugins import backends, models  # noqa: E402


def test_int8_of_a_gridsample_model_quantizes_and_leaves_the_working_dir_clean(tmp_path, monkeypatch):
    # TecoGAN warps with GridSample, which onnxruntime's symbolic shape inference has no rule for:
    # the export falls back to ONNX shape inference, and the failed attempt's temp files
    # (sym_shape_infer_temp.onnx, <uuid>.data) must not land in the user's folder
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    artifact = ArtifactCache(tmp_path / "cache").get(models.get("tecogan-srnet-b1"), backends.get("onnxruntime"), "int8")
    assert artifact.path.is_file() and artifact.meta["quantization"].startswith("static QDQ")
    assert list(work.iterdir()) == []
