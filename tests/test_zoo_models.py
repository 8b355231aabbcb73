"""The seed-paper zoo: exact parameter counts, registration, ONNX fp32/int8 through the harness."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgebench.plugins import models  # noqa: E402
from edgebench.testing import measure_one  # noqa: E402
from edgebench_zoo import ENTRIES, model_spec, nets, tecogan  # noqa: E402


def count(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# the papers' figures where they are exact; computed ones are explained in nets.py / docs/zoo.md
PAPER_COUNTS = {
    "msrn": 6_078_019,  # paper 001, x4 RGB without mean-shift
    "smsrn": 888_929,  # paper 001
    "edsr-baseline": 1_369_859,  # EDSR baseline x2 (paper 004 rounds to 1.5 M)
}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_parameter_count_of_every_model(name):
    module = nets.build(name)
    assert count(module) == ENTRIES[name].params
    if name in PAPER_COUNTS:
        assert count(module) == PAPER_COUNTS[name]


def test_counts_against_the_papers():
    assert round(count(nets.build("edsr")) / 1e6, 1) == 40.7  # paper 004 teacher
    assert 100 * count(nets.build("smsrn")) / count(nets.build("msrn")) == pytest.approx(14.63, abs=0.01)  # paper: 14.63 %
    teco = nets.build("tecogan-srnet")
    blocks = teco.srnet.body
    assert len(blocks) == 10 and all(count(b) == 73_856 for b in blocks)
    for b in (7, 5, 3, 1):  # pruned variants differ only by whole residual blocks
        pruned = nets.build(f"tecogan-srnet-b{b}")
        assert len(pruned.srnet.body) == b
        assert count(teco) - count(pruned) == (10 - b) * 73_856
    assert count(teco.fnet) == 1_745_506
    # SplitSR: only alpha·N channels are convolved in each lightweight block
    blk = nets.SplitSRBlock(64, 0.25)
    assert blk.k == 16 and count(blk.body) == 2 * (16 * 16 * 9 + 16)


def test_separable_block_structure():
    block = nets.MSRB(64, separable=True)
    dw = block.conv_5_2.depthwise
    assert dw.groups == 128 and dw.kernel_size == (5, 5) and block.conv_5_2.pointwise.kernel_size == (1, 1)


@pytest.mark.parametrize("alpha, expect", [(0.125, 8), (0.5, 32), (1.0, 64)])
def test_split_ratio_changes_only_the_convolved_width(alpha, expect):
    m = nets.RCAN(4, groups=1, blocks=2, alpha=alpha)
    assert m.body[0].body[0].k == expect
    x = torch.rand(1, 3, 8, 8)
    assert m(x).shape == (1, 3, 32, 32)


def test_split_block_passes_the_rest_and_keeps_the_deep_net_bounded():
    block = nets.SplitSRBlock(64, 0.25)
    x = torch.rand(1, 64, 6, 6)
    y = block(x)
    assert torch.equal(y[:, :48], x[:, 16:])  # passed channels move to the front untouched
    assert not torch.equal(y[:, 48:], x[:, :16])  # the convolved quarter goes last
    # the residual covers the processed part only: 200 blocks at init stay in range (they overflowed
    # to 1e17 when the passed channels were added to themselves in every block)
    torch.manual_seed(0)
    out = nets.build("splitsr").eval()(torch.rand(1, 3, 8, 8))
    assert out.abs().max() < 10
    # at alpha 1 a SplitSR block is an RCAB: same parameters as RCAN
    assert count(nets.RCAN(4, groups=2, blocks=2, alpha=1.0)) == count(nets.RCAN(4, groups=2, blocks=2))


def test_hybrid_index_mode_and_location():
    assert nets.lightweight_groups(4, 2, "lightweight-first") == [True, True, False, False]
    assert nets.lightweight_groups(4, 2, "standard-first") == [False, False, True, True]
    assert nets.lightweight_groups(4, 2, "alternate") == [False, True, False, True]
    full = count(nets.RCAN(4, groups=4, blocks=2))
    half = nets.RCAN(4, groups=4, blocks=2, alpha=0.25, hybrid_index=2)
    assert half.lightweight == [True, True, False, False] and count(half) < full
    up = nets.RCAN(4, groups=2, blocks=1, alpha=0.25, location="upsample")
    assert up.lightweight == [False, False] and count(up) < count(nets.RCAN(4, groups=2, blocks=1))
    assert up(torch.rand(1, 3, 6, 6)).shape == (1, 3, 24, 24)
    with pytest.raises(ValueError):
        nets.RCAN(4, alpha=0.25, location="nowhere")


def test_shapes_and_recurrence():
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        assert nets.build("smsrn")(x).shape == (1, 3, 64, 96)
        assert nets.build("edsr-baseline")(x).shape == (1, 3, 32, 48)
        teco = nets.build("tecogan-srnet-b1").eval()
        outs = teco.run_sequence([x, x.roll(1, dims=3), x.roll(2, dims=3)])
        assert [o.shape for o in outs] == [(1, 3, 64, 96)] * 3
        # the previous output matters: the recurrent step differs from a fresh start
        assert not torch.allclose(outs[1], teco.run_sequence([x.roll(1, dims=3)])[0])


def test_warp_moves_pixels_by_the_flow():
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, 3, 3] = 1.0
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 2.0  # sample 2 px to the right: the dot appears 2 px to the left
    out = tecogan.warp(img, flow)
    assert out[0, 0, 3, 1] == pytest.approx(1.0) and out[0, 0, 3, 3] == pytest.approx(0.0)


def test_registered_as_non_default_models():
    registered = models.all()
    for name in ENTRIES:
        spec = registered[name]
        assert spec.plugin == "zoo" and not spec.default and spec.paper and spec.scale == ENTRIES[name].scale
    defaults = sorted(n for n, s in registered.items() if s.default)
    assert not set(defaults) & set(ENTRIES)


def test_plugin_import_does_not_import_torch():
    code = ("import sys, edgebench_zoo, edgebench_zoo.commands; edgebench_zoo.model_specs(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_untrained_models_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_ZOO_DIR", str(tmp_path))
    spec = model_spec("msrn")  # never shipped (6 M parameters)
    assert spec.weights is None and "untrained" in spec.tags
    (tmp_path / "weights").mkdir()
    torch.save(nets.build("msrn").state_dict(), tmp_path / "weights" / "msrn_x4.pt")
    spec = model_spec("msrn")
    assert spec.weights == tmp_path / "weights" / "msrn_x4.pt" and "untrained" not in spec.tags
    assert spec.load() is not None


# Through the real harness (export → onnxruntime → quality on photos), fp32 and int8, tiny input.
# Models that are slow to export at full size run here at their paper size only when they are
# small; the deep ones (MSRN, RCAN, SplitSR, EDSR, TecoGAN 10/7/5/3) were run at full size through
# `edgebench run` (docs/zoo.md) and are checked here with the same classes at reduced depth.
FULL_SIZE = ["smsrn", "edsr-baseline", "tecogan-srnet-b1", "scsrn-qat", "abpn-qat"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", FULL_SIZE)
def test_runs_through_the_harness_fp32_and_int8(edgebench_env, monkeypatch, name):
    monkeypatch.setenv("EDGEBENCH_ZOO_DIR", str(edgebench_env / "zoo"))
    spec = model_spec(name)
    rows = {p: measure_one(spec, "onnxruntime", p, height=16, width=16, runs=2, quality_images=1) for p in ("fp32", "int8")}
    for precision, row in rows.items():
        assert row["model"] == name and row["precision"] == precision
        assert row["median_ms"] > 0 and np.isfinite(row["psnr"])
    # the shipped weights beat bicubic in fp32, and the int8 export keeps that: measured drops on the
    # first eval photo were 0.25 (smsrn), 0.28 (edsr-baseline), 0.47 (tecogan-srnet-b1), ~0 for QAT
    fp32, int8 = rows["fp32"]["psnr"], rows["int8"]["psnr"]
    assert fp32 > rows["fp32"]["baseline_psnr"] + 0.05
    assert abs(fp32 - int8) <= (0.1 if name.endswith("-qat") else 0.6), (name, fp32, int8)


REDUCED = {
    "msrn": lambda: nets.MSRN(4, blocks=2, feats=16),
    "rcan": lambda: nets.RCAN(4, groups=2, blocks=2, feats=16, reduction=4),
    "splitsr": lambda: nets.RCAN(4, groups=2, blocks=2, feats=16, reduction=4, alpha=0.25, location="both"),
    "edsr": lambda: nets.EDSR(2, feats=32, blocks=2, res_scale=0.1),
    "tecogan-srnet": lambda: tecogan.TecoGAN(2),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(REDUCED))
def test_reduced_depth_architectures_export_fp32_and_int8(edgebench_env, name):
    from edgebench import ModelSpec

    def build():  # type: ignore[no-untyped-def]
        torch.manual_seed(0)  # the same weights for fp32 and int8: one graph export serves both
        return REDUCED[name]()

    spec = ModelSpec(name=f"{name}-reduced", scale=ENTRIES[name].scale, build=build)
    for precision in ("fp32", "int8"):
        row = measure_one(spec, "onnxruntime", precision, height=16, width=16, runs=2, quality_images=1)
        assert row["median_ms"] > 0 and np.isfinite(row["psnr"])


DEEP = ["msrn", "rcan", "splitsr", "edsr", "tecogan-srnet", "tecogan-srnet-b7", "tecogan-srnet-b5", "tecogan-srnet-b3"]


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not __import__("os").environ.get("EDGEBENCH_ZOO_FULL"), reason=(
    "not in CI: the deep models at full size take ≈30 min on 2 cores, CI's whole budget (splitsr's int8 export "
    "alone took 21 min on a loaded 2-core machine); their reduced-depth twins run above. "
    "Set EDGEBENCH_ZOO_FULL=1 to run them"))
@pytest.mark.parametrize("name", DEEP)
def test_deep_models_at_full_size_through_the_harness(edgebench_env, monkeypatch, name):
    monkeypatch.setenv("EDGEBENCH_ZOO_DIR", str(edgebench_env / "zoo"))
    for precision in ("fp32", "int8"):
        row = measure_one(model_spec(name), "onnxruntime", precision, height=16, width=16, runs=2, quality_images=1)
        assert row["median_ms"] > 0 and np.isfinite(row["psnr"])


def test_every_shipped_model_beats_bicubic_on_held_out_photos(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_ZOO_DIR", str(tmp_path))  # no weights trained here: the shipped ones load
    from edgebench_zoo import SHIPPABLE_LIMIT, SHIPPED_DIR, weights_name
    from edgebench_zoo.train import bicubic_scores, eval_pairs, is_shipped

    from edgebench.training import evaluate

    shipped = sorted(filter(is_shipped, ENTRIES))
    assert shipped == sorted(n for n, e in ENTRIES.items() if e.params <= SHIPPABLE_LIMIT)  # every small model ships
    total = sum((SHIPPED_DIR / weights_name(n)).stat().st_size for n in shipped)
    assert total < 16_000_000  # float16 files: the wheel stays small
    bicubic = {}
    for name in shipped:
        spec = model_spec(name)
        assert spec.weights.parent == SHIPPED_DIR
        pairs = eval_pairs(spec.scale)
        if spec.scale not in bicubic:
            bicubic[spec.scale] = bicubic_scores(spec.scale, pairs)["psnr"]
        psnr = evaluate(spec.load(), spec.scale, pairs)["psnr"]
        assert psnr > bicubic[spec.scale] + 0.05, (name, psnr, bicubic[spec.scale])
        record = json.loads(spec.weights.with_suffix(".json").read_text())
        assert abs(record["eval"]["psnr"] - psnr) < 0.01  # the training record describes this very file
