"""The seed model zoo: registration, architectures, the bicubic filter and the shipped weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from edgebench import data  # noqa: E402
from edgebench.errors import ArtifactError  # noqa: E402
from edgebench.plugins import models  # noqa: E402
from edgebench.quality import psnr  # noqa: E402
from edgebench.training import super_resolve  # noqa: E402
from edgebench_sr_models import model_specs, nets  # noqa: E402


@pytest.fixture(scope="module")
def specs() -> dict:
    return {spec.name: spec for spec in model_specs()}


def test_registered_through_the_entry_point():
    registered = models.all()
    for name in ("bicubic", "abpn", "scsrn"):
        spec = registered[name]
        assert spec.plugin == "sr_models"
        assert spec.default and spec.scale == 3 and spec.description and spec.paper


def test_plugin_import_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, edgebench_sr_models; edgebench_sr_models.model_specs(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name, params", [("bicubic", 0), ("abpn", 42_539), ("scsrn", 41_780)])
def test_parameter_counts(specs, name, params):
    assert specs[name].params == params


# what every backend exports and quantizes cleanly (pixel shuffle = depth-to-space)
PORTABLE_OPS = {"conv2d", "relu", "cat", "add", "slice", "pixel_shuffle", "repeat_interleave"}


@pytest.mark.parametrize("name", ["bicubic", "abpn", "scsrn"])
def test_output_shape_and_exported_ops(specs, name):
    module = specs[name].build().eval()
    x = torch.rand(2, 3, 11, 17)
    with torch.no_grad():
        y = module(x)
    assert y.shape == (2, 3, 33, 51) and y.dtype == torch.float32
    graph = torch.export.export(module, (x,)).graph
    ops = {node.target._opname for node in graph.nodes if node.op == "call_function"}
    assert ops <= PORTABLE_OPS, ops - PORTABLE_OPS  # no clamp, no interpolate, no gather


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_equals_torch_interpolate(scale):
    x = torch.rand(2, 3, 19, 26)
    ref = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    with torch.no_grad():
        out = nets.Bicubic(scale)(x)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-5), (out - ref).abs().max()


def test_bicubic_has_no_trainable_weights():
    module = nets.Bicubic(3)
    assert sum(p.numel() for p in module.parameters() if p.requires_grad) == 0


def test_anchor_maps_each_output_pixel_to_its_own_lr_pixel():
    """With the residual body silenced, ABPN and SCSRN are nearest-neighbour upsampling."""
    x = torch.rand(1, 3, 5, 7)
    nearest = F.interpolate(x, scale_factor=3, mode="nearest")
    abpn = nets.ABPN(3)
    with torch.no_grad():
        abpn.body[-1].weight.zero_()
        abpn.body[-1].bias.zero_()
        assert torch.equal(abpn(x), nearest)
        scsrn = nets.SCSRN(3)
        scsrn.tail.weight[:, :24].zero_()
        scsrn.tail.bias.zero_()
        skip = scsrn.tail.weight[:, 24:]
        skip.zero_()
        skip[:, :, 1, 1] = torch.eye(3).repeat_interleave(9, dim=0)
        assert torch.allclose(scsrn(x), nearest, atol=1e-6)


def test_weights_load_through_the_spec(specs):
    for name in ("abpn", "scsrn"):
        spec = specs[name]
        assert spec.weights is not None and Path(spec.weights).is_file()
        module = spec.load()
        assert not module.training
        fresh = spec.build()
        # loading really replaced the random initial weights
        assert not torch.equal(module.state_dict()["body.0.weight"], fresh.state_dict()["body.0.weight"])
        assert spec.weights_sha not in ("none", "missing")
    assert specs["bicubic"].weights is None and specs["bicubic"].load() is not None


def test_corrupt_weights_raise_artifact_error(specs, tmp_path):
    bad = tmp_path / "abpn_x3.pt"
    bad.write_bytes(b"not a torch file")
    spec = specs["abpn"]
    broken = type(spec)(name=spec.name, scale=spec.scale, build=spec.build, weights=bad)
    with pytest.raises(ArtifactError, match="could not be loaded"):
        broken.load()
    mismatched = tmp_path / "wrong.pt"
    torch.save(nets.SCSRN(3).state_dict(), mismatched)
    with pytest.raises(ArtifactError):
        type(spec)(name="abpn", scale=3, build=spec.build, weights=mismatched).load()


@pytest.fixture(scope="module")
def eval_crops() -> list[tuple[np.ndarray, np.ndarray]]:
    """Four held-out photos, centre-cropped to 96x96 LR so the check stays fast."""
    pairs = []
    for _, hr in data.photos("eval"):
        lr, hr = data.make_pairs([hr], 3)[0]
        y, x = (lr.shape[0] - 96) // 2, (lr.shape[1] - 96) // 2
        pairs.append((lr[y : y + 96, x : x + 96], hr[3 * y : 3 * (y + 96), 3 * x : 3 * (x + 96)]))
    return pairs


def _mean_psnr(module, pairs) -> float:
    return float(np.mean([psnr(super_resolve(module, lr), hr, border=3) for lr, hr in pairs]))


def test_shipped_weights_beat_bicubic_on_held_out_photos(specs, eval_crops):
    base = _mean_psnr(specs["bicubic"].load(), eval_crops)
    for name in ("abpn", "scsrn"):
        gain = _mean_psnr(specs[name].load(), eval_crops) - base
        assert gain > 0.3, f"{name} gains only {gain:.3f} dB over bicubic ({base:.2f} dB)"


def test_int8_onnx_of_the_shipped_models_beats_bicubic_on_held_out_photos():
    from click.testing import CliRunner

    from edgebench.cli import cli
    from edgebench.store import Store

    pytest.importorskip("onnxruntime")
    result = CliRunner().invoke(cli, ["run", "-p", "int8", "--quick", "--quality-images", "4"])  # the defaults
    assert result.exit_code == 0, result.output
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        rows = store.results()
    finally:
        store.close()
    psnr_of = {r["model"]: r["psnr"] for r in rows}
    assert {r["n_images"] for r in rows} == {4} and {r["precision"] for r in rows} == {"int8"}
    assert set(psnr_of) == {"bicubic", "abpn", "scsrn"}
    for name in ("abpn", "scsrn"):  # artifact's own uint8 outputs on the full eval photos
        assert psnr_of[name] > psnr_of["bicubic"] + 0.5, psnr_of
