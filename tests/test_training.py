"""edgebench.training: patches, the training loop, checkpoints and resume, evaluation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgebench import data, training  # noqa: E402
from edgebench.errors import ArtifactError, EdgebenchError  # noqa: E402
from edgebench.quality import psnr, score_images  # noqa: E402
from edgebench_sr_models import nets  # noqa: E402

SCALE = 2


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Small crops of two training photos keep every run fast."""
    return [hr[100:196, 150:246].copy() for _, hr in data.photos("train")[:2]]


def tiny_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return nets.ABPN(SCALE, features=8, blocks=1)


def fixed_batch(photos, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    sampler = training.PatchSampler(photos, SCALE, 12, "cpu", seed=123)
    return sampler.sample(n)


def l1(module, batch) -> float:
    with torch.no_grad():
        return torch.nn.functional.l1_loss(module(batch[0]), batch[1]).item()


KW = dict(steps=40, batch_size=4, patch=12, lr=3e-3, progress=False, device="cpu", log_every=10)


def test_a_few_steps_lower_the_loss_and_write_weights(photos, tmp_path):
    module, batch = tiny_net(), fixed_batch(photos)
    before = l1(module, batch)
    result = training.train(module, SCALE, hr_images=photos, out=tmp_path / "w.pt", **KW)
    assert l1(module, batch) < 0.8 * before
    assert result.steps == 40 and result.resumed_from == 0 and len(result.history) == 4
    assert not module.training
    reloaded = tiny_net(seed=1)
    reloaded.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    assert all(torch.equal(a, b) for a, b in zip(reloaded.state_dict().values(), module.state_dict().values()))


def test_trains_even_when_autograd_was_switched_off_in_this_process(photos):
    # a runtime adapter or exporter loaded in the same process may call torch.set_grad_enabled(False)
    torch.set_grad_enabled(False)
    try:
        module, batch = tiny_net(), fixed_batch(photos)
        before = l1(module, batch)
        training.train(module, SCALE, hr_images=photos, **KW)
        assert l1(module, batch) < 0.8 * before
        assert not torch.is_grad_enabled()  # the caller's mode is left as it was
    finally:
        torch.set_grad_enabled(True)


def test_resume_matches_an_uninterrupted_run(photos, tmp_path):
    straight = tiny_net()
    training.train(straight, SCALE, hr_images=photos, checkpoint_dir=tmp_path / "a", checkpoint_every=10, **KW)

    def crash_at_step_25(ctx):
        if ctx.step == 25:
            raise KeyboardInterrupt  # killed mid-run, after the step-20 checkpoint
        return torch.zeros(())

    interrupted = tiny_net()
    with pytest.raises(KeyboardInterrupt):
        training.train(interrupted, SCALE, hr_images=photos, checkpoint_dir=tmp_path / "b", checkpoint_every=10,
                       loss_hook=crash_at_step_25, **KW)
    resumed = tiny_net(seed=7)  # different initial weights: the checkpoint must replace them
    result = training.train(resumed, SCALE, hr_images=photos, checkpoint_dir=tmp_path / "b", checkpoint_every=10, **KW)
    assert result.resumed_from == 20
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert [s for s, _ in result.history] == [10, 20, 30, 40]


def test_resume_refuses_other_settings_and_corrupt_checkpoints(photos, tmp_path):
    training.train(tiny_net(), SCALE, hr_images=photos, checkpoint_dir=tmp_path, **{**KW, "steps": 5})
    with pytest.raises(EdgebenchError, match="lr 0.003 -> 0.01"):
        training.train(tiny_net(), SCALE, hr_images=photos, checkpoint_dir=tmp_path, **{**KW, "steps": 5, "lr": 1e-2})
    # resume=False starts over
    fresh = training.train(tiny_net(), SCALE, hr_images=photos, checkpoint_dir=tmp_path, resume=False,
                           **{**KW, "steps": 5, "lr": 1e-2})
    assert fresh.resumed_from == 0
    (tmp_path / training.CHECKPOINT_NAME).write_bytes(b"\x00garbage")
    with pytest.raises(ArtifactError, match="cannot be read"):
        training.train(tiny_net(), SCALE, hr_images=photos, checkpoint_dir=tmp_path, **KW)


def test_loss_hook_terms_are_added_and_see_the_batch(photos):
    seen = []

    def hook(ctx):
        seen.append((ctx.step, ctx.lr.shape, ctx.hr.shape, ctx.sr.shape))
        return {"const": torch.tensor(1.0), "zero": ctx.sr.mean() * 0}

    result = training.train(tiny_net(), SCALE, hr_images=photos, loss_hook=hook, **{**KW, "steps": 3, "log_every": 3})
    assert seen[0] == (0, (4, 3, 12, 12), (4, 3, 24, 24), (4, 3, 24, 24)) and len(seen) == 3
    assert 1.0 < result.loss < 1.5  # L1 (< 0.5) plus the constant term


def test_step_schedule_and_bad_arguments(photos):
    module = tiny_net()
    result = training.train(module, SCALE, hr_images=photos, schedule="step", decay_every=2, **{**KW, "steps": 4})
    assert result.config.schedule == "step" and result.config.decay_every == 2
    with pytest.raises(EdgebenchError, match="schedule"):
        training.train(module, SCALE, hr_images=photos, schedule="warmup", **KW)
    with pytest.raises(EdgebenchError, match="smaller than"):
        training.train(module, SCALE, hr_images=[photos[0][:10, :10]], **KW)
    with pytest.raises(EdgebenchError, match="no trainable"):
        training.train(nets.Bicubic(SCALE), SCALE, hr_images=photos, **KW)


def test_patches_are_aligned(photos):
    """An LR patch upsampled matches its HR patch; the same patch shifted by one LR pixel does not."""
    sampler = training.PatchSampler(photos, 3, 16, "cpu", seed=0)
    lr, hr = sampler.sample(16)
    assert lr.shape == (16, 3, 16, 16) and hr.shape == (16, 3, 48, 48)
    up = nets.Bicubic(3)(lr)
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    aligned = (up - hr)[inner].abs().mean()
    shifted = (up[..., 3:, :] - hr[..., :-3, :])[inner].abs().mean()
    assert aligned < 0.6 * shifted, (aligned, shifted)
    assert 0.0 <= float(lr.min()) and float(lr.max()) <= 1.0


def test_evaluate_scores_uint8_outputs_like_a_runtime(photos):
    pairs = data.make_pairs(photos, 3)
    module = nets.Bicubic(3).train()
    scores = training.evaluate(module, 3, pairs)
    assert module.training  # mode restored
    expected = []
    for lr, _ in pairs:
        x = torch.tensor(lr).permute(2, 0, 1)[None].float() / 255
        y = torch.nn.functional.interpolate(x, scale_factor=3, mode="bicubic", align_corners=False)
        expected.append(np.clip(np.rint(y[0].permute(1, 2, 0).numpy() * 255), 0, 255).astype(np.uint8))
    reference = score_images(expected, [hr for _, hr in pairs], 3)
    assert scores == pytest.approx(reference, abs=1e-3)
    assert scores["psnr"] == pytest.approx(np.mean([psnr(o, hr, 3) for o, (_, hr) in zip(expected, pairs)]), abs=1e-3)
