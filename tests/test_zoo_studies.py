"""`edgebench train` and `edgebench study` at --quick size: real training, real exports, real tables."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from edgebench.testing import invoke_cli  # noqa: E402
from edgebench_zoo import ENTRIES, model_spec, nets, qat  # noqa: E402


@pytest.fixture
def zoo_env(edgebench_env, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_ZOO_DIR", str(edgebench_env / "zoo"))
    return edgebench_env / "zoo"


def test_train_writes_weights_the_model_then_loads_and_resumes(zoo_env):
    args = ("train", "smsrn", "--steps", "2", "--batch-size", "2", "--patch", "16", "--no-progress")
    result = invoke_cli(*args)
    assert result.exit_code == 0, result.output
    weights = zoo_env / "weights" / "smsrn_x4.pt"
    assert weights.is_file() and f"weights: {weights}" in result.output and "bicubic" in result.output
    record = json.loads(weights.with_suffix(".json").read_text())
    assert record["params"] == ENTRIES["smsrn"].params and record["recipe"]["steps"] == 2
    assert record["resumed_from"] == 0 and record["data"].startswith("bundled")
    spec = model_spec("smsrn")  # registered spec now finds the trained file
    assert spec.weights == weights and "untrained" not in spec.tags
    loaded = spec.load()
    saved = torch.load(weights, weights_only=True)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in saved.items())
    # the checkpoint of a finished run resumes at its end: nothing retrains, same weights
    again = invoke_cli(*args)
    assert again.exit_code == 0
    assert json.loads(weights.with_suffix(".json").read_text())["resumed_from"] == 2
    # a changed setting is refused rather than silently mixing runs
    changed = invoke_cli("train", "smsrn", "--steps", "3", "--batch-size", "2", "--patch", "16", "--no-progress")
    assert changed.exit_code != 0
    # --init fine-tunes from a weights file, in a checkpoint of its own
    tuned = zoo_env / "tuned.pt"
    result = invoke_cli("train", "smsrn", "--init", str(weights), "--out", str(tuned), "--steps", "1", "--batch-size", "2",
                        "--patch", "16", "--no-progress")
    assert result.exit_code == 0, result.output
    record = json.loads(tuned.with_suffix(".json").read_text())
    assert record["init"] == str(weights) and record["resumed_from"] == 0 and record["recipe"]["steps"] == 1
    missing = invoke_cli("train", "smsrn", "--init", str(zoo_env / "nope.pt"), "--no-progress")
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_train_from_a_user_folder(zoo_env, tmp_path):
    from PIL import Image

    from edgebench import data

    folder = tmp_path / "DIV2K" / "DIV2K_train_HR"
    folder.mkdir(parents=True)
    Image.fromarray(data.photos("calib")[0][1]).save(folder / "0001.png")
    out = tmp_path / "w.pt"
    result = invoke_cli("train", "edsr-baseline", "--quick", "--data", str(tmp_path / "DIV2K"), "--out", str(out),
                        "--half", "--no-progress")
    assert result.exit_code == 0, result.output
    record = json.loads(out.with_suffix(".json").read_text())
    assert out.is_file() and "(1 images)" in record["data"] and record["stored"] == "float16"
    # --half: float16 on disk, loaded into the float32 module unchanged but for the rounding
    saved = torch.load(out, weights_only=True)
    assert {v.dtype for v in saved.values()} == {torch.float16}
    module = nets.build("edsr-baseline")
    module.load_state_dict(saved)
    assert all(p.dtype == torch.float32 for p in module.parameters())
    assert all(torch.equal(module.state_dict()[k], v.float()) for k, v in saved.items())


def test_contrastive_distillation_adds_the_term(zoo_env):
    from edgebench.training import StepContext

    from edgebench_zoo.train import contrastive_hook

    torch.manual_seed(0)
    teacher, student = nets.EDSR(2, feats=8, blocks=1), nets.EDSR(2, feats=8, blocks=1)
    lr = torch.rand(3, 3, 8, 8)
    sr = student(lr)
    term = contrastive_hook(teacher, 2)(StepContext(student, lr, None, sr, 0, 1))["contrastive"]
    with torch.no_grad():
        pos = (sr - teacher(lr)).abs().flatten(1).mean(1)
        neg = torch.stack([(sr - torch.nn.functional.interpolate(lr, scale_factor=2, mode="bicubic")[k]).abs().flatten(1).mean(1)
                           for k in range(3)], 1)
    assert term.item() == pytest.approx(10 * (pos / neg.sum(1)).sum().item(), rel=1e-5)
    term.backward()
    assert student.head.weight.grad is not None and teacher.head.weight.grad is None
    result = invoke_cli("train", "edsr-baseline", "--quick", "--distill", "--no-progress")
    assert result.exit_code == 0, result.output
    # without --quick a teacher must have been trained first
    refused = invoke_cli("train", "edsr-baseline", "--distill", "--steps", "1", "--no-progress")
    assert refused.exit_code != 0 and "edgebench train edsr" in refused.output


def test_qat_fake_quantizes_clips_and_finalizes():
    torch.manual_seed(0)
    from edgebench_sr_models import nets as sr_nets

    module = sr_nets.build_scsrn(3)
    ref = {k: v.clone() for k, v in module.state_dict().items()}
    state = qat.prepare(module, clip=True)
    module.train()
    module(torch.rand(2, 3, 8, 8))  # observers see activations
    w = module.body[0].weight  # parametrized: fake-quantized per channel
    scale = w.detach().abs().amax(dim=(1, 2, 3), keepdim=True) / 127
    assert torch.allclose(w / scale, torch.round(w / scale), atol=1e-3)
    assert qat.regulariser(state) is not None and qat.regulariser(state).item() >= 0
    assert qat.regulariser(qat.QATState([], [], [], reg_weight=0.0)) is None
    qat.finalize(module, state)
    assert set(module.state_dict()) == set(ref)  # plain architecture again: exports like the float model
    assert torch.allclose(module.body[0].weight, ref["body.0.weight"])  # clip at max|w|: unchanged float weights


def test_train_qat_starts_from_the_float_weights(zoo_env):
    for flag, mode in (((), "qat-clip"), (("--no-clip",), "qat-noclip")):
        result = invoke_cli("train", "abpn-qat", "--quick", "--no-progress", *flag)
        assert result.exit_code == 0, result.output
        record = json.loads((zoo_env / "weights" / "abpn-qat-quick_x3.json").read_text())
        assert record["mode"] == mode and "eval_fake_quant" in record
        # 3 QAT steps at lr 1e-4 from the shipped float ABPN keep it far above bicubic
        assert record["eval"]["psnr"] > record["bicubic"]["psnr"] + 0.5


STUDY_COLUMNS = {
    "quantization": 3,  # SCSRN w/o WC, SCSRN w/ WC, ABPN w/ WC
    "separable": 3,  # MSRN, SMSRN, bicubic
    "split-ratio": 3,  # RCAN + two alphas
    "pruning": 2,  # 10 and 1 blocks
    "distillation": 4,  # teacher, alone, distilled, bicubic
}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(STUDY_COLUMNS))
def test_study_quick(zoo_env, name):
    extra = ("--batch-size", "3", "--patch", "12") if name == "distillation" else ()
    result = invoke_cli("study", name, "--quick", *extra)
    assert result.exit_code == 0, result.output
    path = zoo_env / "studies" / f"{name}-quick.json"
    record = json.loads(path.read_text())
    assert record["quick"] and len(record["rows"]) == STUDY_COLUMNS[name]
    assert record["checks"] and all(isinstance(c["matches"], bool) for c in record["checks"])
    assert "QUICK" in " ".join(record["notes"]) and (zoo_env / "studies" / f"{name}-quick.md").is_file()
    assert "| model |" in result.output and str(path) in result.output
    for rec in record["records"]:  # every row was really trained and scored
        assert rec["recipe"]["steps"] >= 3 and rec["eval"]["psnr"] > 0 and rec["wall_s"] >= 0
    if extra:  # --batch-size / --patch reach every model's training and the table's note
        assert {(r["recipe"]["batch_size"], r["recipe"]["patch"]) for r in record["records"]} == {(3, 12)}
        assert "batch 3, LR patch 12" in " ".join(record["notes"])
    if name == "split-ratio":  # RCAN and the alphas train alike, so only the blocks differ
        assert len({r["recipe"]["lr"] for r in record["records"]}) == 1
    if name == "separable":
        msrn, smsrn = record["rows"][0], record["rows"][1]
        assert msrn[1] == sum(p.numel() for p in nets.MSRN(4, blocks=1, feats=8).parameters())
        assert smsrn[1] < msrn[1]
    if name == "pruning":
        assert [r[2] for r in record["rows"]] == [ENTRIES["tecogan-srnet"].params, ENTRIES["tecogan-srnet-b1"].params]
