"""Train and evaluate any super-resolution module that follows edgebench's model convention.

One entry point, :func:`train`, for every registered model: L1 loss (plus optional extra terms
from a caller's hook, e.g. distillation or quantization regularisers), Adam, cosine or step
learning-rate decay, random aligned LR/HR patches with flips and 90° rotations, resumable
checkpoints. :func:`evaluate` scores a module on full images the way a runtime would (outputs
clipped and rounded to uint8, ``scale`` pixels of border cropped).

Reproducibility: all randomness of the data pipeline comes from one seeded ``torch.Generator``
whose state is checkpointed together with the model, optimizer, scheduler and step, so a run
resumed from a checkpoint ends with the same weights as an uninterrupted one (same device and
thread count). The module's initial weights are the caller's: seed before building it.

torch is imported lazily (inside functions) so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

import numpy as np

from .errors import ArtifactError, EdgebenchError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

log = logging.getLogger("edgebench.training")

CHECKPOINT_NAME = "last.pt"
CHECKPOINT_FORMAT = 1
SCHEDULES = ("cosine", "step", "constant")


@dataclass
class StepContext:
    """What a loss hook sees at each step (tensors on the training device, NCHW in [0, 1])."""

    module: "torch.nn.Module"
    lr: "torch.Tensor"  # low-resolution input batch
    hr: "torch.Tensor"  # high-resolution target batch
    sr: "torch.Tensor"  # the module's output for ``lr``
    step: int  # 0-based index of the step being computed
    steps: int  # total steps of the run


#: A loss hook returns one extra scalar term, or several named terms, added to the L1 loss.
LossHook = Callable[[StepContext], Union["torch.Tensor", dict[str, "torch.Tensor"]]]


@dataclass(frozen=True)
class TrainConfig:
    """The settings that define a run; a checkpoint only resumes a run with the same ones."""

    scale: int
    steps: int
    batch_size: int
    patch: int
    lr: float
    schedule: str
    min_lr: float
    decay_every: int
    decay_gamma: float
    seed: int


@dataclass
class TrainResult:
    steps: int  # steps completed (== config.steps)
    loss: float  # mean total loss over the last logging window
    wall_s: float  # training time, summed over resumed sessions
    resumed_from: int  # step the run started from in this call (0: fresh)
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss) per log window
    out: Path | None = None
    config: TrainConfig | None = None


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class PatchSampler:
    """Random aligned LR/HR patches of a fixed set of HR photos.

    The LR image of each photo is computed once with :func:`edgebench.data.downscale` (the same
    degradation evaluation uses); an LR patch at ``(y, x)`` pairs with the HR patch at
    ``(y*scale, x*scale)``. Photos are drawn in proportion to their number of patch positions, so
    every LR pixel is equally likely; each patch gets one of the 8 flips/rotations.
    """

    def __init__(self, hr_images: Sequence[np.ndarray], scale: int, patch: int, device: str, seed: int):
        import torch

        from .data import downscale, modcrop

        if not hr_images:
            raise EdgebenchError("training needs at least one HR image")
        self.scale, self.patch = scale, patch
        self.lrs: list[torch.Tensor] = []
        self.hrs: list[torch.Tensor] = []
        positions = []
        for i, hr in enumerate(hr_images):
            if hr.ndim != 3 or hr.shape[2] != 3 or hr.dtype != np.uint8:
                raise EdgebenchError(f"training image {i} must be uint8 HxWx3, got {hr.dtype} {hr.shape}")
            hr = modcrop(hr, scale)
            lr = downscale(hr, scale)
            if lr.shape[0] < patch or lr.shape[1] < patch:
                raise EdgebenchError(
                    f"training image {i} ({hr.shape[1]}x{hr.shape[0]}) is smaller than a {patch}px LR patch at x{scale}"
                )
            self.lrs.append(_to_tensor(lr, device))
            self.hrs.append(_to_tensor(hr, device))
            positions.append((lr.shape[0] - patch + 1) * (lr.shape[1] - patch + 1))
        self.weights = torch.tensor(positions, dtype=torch.float64)
        self.generator = torch.Generator().manual_seed(seed)  # CPU: same stream on every device

    def sample(self, batch: int) -> tuple["torch.Tensor", "torch.Tensor"]:
        import torch

        g, p, s = self.generator, self.patch, self.scale
        which = torch.multinomial(self.weights, batch, replacement=True, generator=g).tolist()
        unit = torch.rand(batch, 2, generator=g).tolist()
        flips = torch.randint(0, 8, (batch,), generator=g).tolist()
        lrs, hrs = [], []
        for i, (fy, fx), aug in zip(which, unit, flips):
            lr_img, hr_img = self.lrs[i], self.hrs[i]
            y = min(int(fy * (lr_img.shape[1] - p + 1)), lr_img.shape[1] - p)
            x = min(int(fx * (lr_img.shape[2] - p + 1)), lr_img.shape[2] - p)
            lr = lr_img[:, y : y + p, x : x + p]
            hr = hr_img[:, y * s : (y + p) * s, x * s : (x + p) * s]
            lrs.append(_augment(lr, aug))
            hrs.append(_augment(hr, aug))
        return torch.stack(lrs), torch.stack(hrs)


def _to_tensor(image: np.ndarray, device: str) -> "torch.Tensor":
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(device).float().div_(255.0)


def _augment(img: "torch.Tensor", code: int) -> "torch.Tensor":
    """One of the 8 symmetries of the square: bit 0 flips x, bit 1 flips y, bit 2 transposes."""
    if code & 1:
        img = img.flip(-1)
    if code & 2:
        img = img.flip(-2)
    if code & 4:
        img = img.transpose(-1, -2)
    return img


def _make_scheduler(optimizer: Any, config: TrainConfig) -> Any:
    import torch

    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps, eta_min=config.min_lr)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.decay_every, gamma=config.decay_gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def _atomic_save(obj: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a truncated checkpoint


def _cpu_state(module: "torch.nn.Module") -> dict[str, Any]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a training checkpoint; a corrupt or foreign file is an :class:`ArtifactError`."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(f"training checkpoint {path} cannot be read: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ArtifactError(f"{path} is not an edgebench training checkpoint (format {CHECKPOINT_FORMAT})")
    return state


def train(
    module: "torch.nn.Module",
    scale: int,
    *,
    steps: int = 2000,
    batch_size: int = 16,
    patch: int = 32,
    lr: float = 1e-3,
    hr_images: Sequence[np.ndarray] | None = None,
    out: Path | str | None = None,
    checkpoint_dir: Path | str | None = None,
    checkpoint_every: int = 500,
    resume: bool = True,
    device: str | None = None,
    seed: int = 0,
    progress: bool = True,
    loss_hook: LossHook | None = None,
    schedule: str = "cosine",
    min_lr: float | None = None,
    decay_every: int | None = None,
    decay_gamma: float = 0.5,
    log_every: int = 100,
    trainable: Sequence["torch.nn.Parameter"] | None = None,
) -> TrainResult:
    """Train ``module`` (NCHW [0, 1] in, ``scale``× image out) in place and return a summary.

    Args:
        steps, batch_size, patch (LR patch side), lr: the optimisation budget (Adam).
        hr_images: uint8 HWC RGB photos; default the bundled "train" split.
        out: where to write the final ``state_dict`` (CPU tensors, ``torch.save``).
        checkpoint_dir: where ``last.pt`` is written every ``checkpoint_every`` steps and at the
            end; with ``resume`` an existing one is continued (it must come from the same
            settings, else :class:`EdgebenchError`).
        device: "cuda" when torch sees one, else "cpu", unless given.
        seed: seeds the patch sampler (crops, flips); seed torch yourself before building the
            module for reproducible initial weights.
        progress: show a rich progress bar.
        loss_hook: ``hook(StepContext) -> tensor | {name: tensor}``, added to the L1 loss.
        schedule: "cosine" (down to ``min_lr``, default lr/100), "step" (× ``decay_gamma`` every
            ``decay_every`` steps, default steps/4) or "constant".
        trainable: the parameters to optimise (default: every parameter that requires grad).
    """
    import torch

    if schedule not in SCHEDULES:
        raise EdgebenchError(f"unknown learning-rate schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    if steps < 1 or batch_size < 1 or patch < 1:
        raise EdgebenchError("steps, batch_size and patch must be positive")
    config = TrainConfig(
        scale=scale, steps=steps, batch_size=batch_size, patch=patch, lr=float(lr), schedule=schedule,
        min_lr=float(lr / 100 if min_lr is None else min_lr),
        decay_every=int(decay_every or max(1, steps // 4)), decay_gamma=float(decay_gamma), seed=seed,
    )
    device = device or default_device()
    if hr_images is None:
        from .data import photos

        hr_images = [img for _, img in photos("train")]
    sampler = PatchSampler(hr_images, scale, patch, device, seed)
    module.to(device).train()
    params = list(trainable) if trainable is not None else [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise EdgebenchError("the module has no trainable parameters")
    optimizer = torch.optim.Adam(params, lr=config.lr)
    scheduler = _make_scheduler(optimizer, config)

    start, wall_before, history = 0, 0.0, []
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if ckpt is not None and resume and ckpt.is_file():
        state = load_checkpoint(ckpt)
        saved = state.get("config", {})
        diff = {k: (saved.get(k), v) for k, v in asdict(config).items() if saved.get(k) != v}
        if diff:
            changes = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in sorted(diff.items()))
            raise EdgebenchError(
                f"checkpoint {ckpt} comes from different settings ({changes}); use another checkpoint "
                "directory or resume=False"
            )
        try:
            module.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except Exception as exc:
            raise ArtifactError(f"checkpoint {ckpt} does not fit this model: {type(exc).__name__}: {exc}") from None
        sampler.generator.set_state(state["sampler_rng"])
        start, wall_before = int(state["step"]), float(state.get("wall_s", 0.0))
        history = [tuple(h) for h in state.get("history", [])]
        log.info("resuming from %s at step %d/%d", ckpt, start, steps)

    def save_checkpoint(step: int, wall: float) -> None:
        if ckpt is None:
            return
        _atomic_save(
            {
                "format": CHECKPOINT_FORMAT,
                "config": asdict(config),
                "step": step,
                "model": _cpu_state(module),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "sampler_rng": sampler.generator.get_state(),
                "wall_s": wall,
                "history": [list(h) for h in history],
            },
            ckpt,
        )

    started = time.perf_counter()
    window: list[float] = []
    bar = _progress_bar(progress, steps, start)
    # some exporters switch autograd off for the whole process (seen after a litert/executorch
    # export in the same process): training must not depend on what ran before it
    with torch.enable_grad():
        try:
            for step in range(start, steps):
                lr_batch, hr_batch = sampler.sample(batch_size)
                sr = module(lr_batch)
                loss = torch.nn.functional.l1_loss(sr, hr_batch)
                if loss_hook is not None:
                    extra = loss_hook(StepContext(module, lr_batch, hr_batch, sr, step, steps))
                    for term in extra.values() if isinstance(extra, dict) else [extra]:
                        loss = loss + term
                if not torch.isfinite(loss):
                    raise EdgebenchError(f"training diverged at step {step + 1}: loss is {loss.item()}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                window.append(loss.item())
                done = step + 1
                if done % log_every == 0 or done == steps:
                    mean = float(np.mean(window))
                    history.append((done, mean))
                    window = []
                    log.info("step %d/%d loss %.5f lr %.2e", done, steps, mean, scheduler.get_last_lr()[0])
                if bar is not None:
                    bar.update(done, loss.item())
                if done % checkpoint_every == 0 or done == steps:
                    save_checkpoint(done, wall_before + time.perf_counter() - started)
        finally:
            if bar is not None:
                bar.close()
    wall = wall_before + time.perf_counter() - started
    module.eval()
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        _atomic_save(_cpu_state(module), out_path)
    last = history[-1][1] if history else math.nan
    return TrainResult(steps, last, wall, start, history, out_path, config)


class _Bar:
    def __init__(self, steps: int, start: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(), TimeRemainingColumn(),
        )
        self.task = self.progress.add_task("train", total=steps, completed=start, loss="-")
        self.progress.start()

    def update(self, done: int, loss: float) -> None:
        self.progress.update(self.task, completed=done, loss=f"{loss:.4f}")

    def close(self) -> None:
        self.progress.stop()


def _progress_bar(enabled: bool, steps: int, start: int) -> _Bar | None:
    return _Bar(steps, start) if enabled else None


def super_resolve(module: "torch.nn.Module", lr: np.ndarray, device: str | None = None) -> np.ndarray:
    """Run ``module`` on one uint8 HWC image; clip and round to uint8 like a runtime adapter."""
    import torch

    device = device or next((p.device.type for p in module.parameters()), "cpu")
    x = _to_tensor(lr, device)[None]
    with torch.inference_mode():
        y = module(x)[0]
    out = torch.clamp(torch.round(y * 255.0), 0, 255).to(torch.uint8)
    return out.permute(1, 2, 0).cpu().numpy()


def evaluate(
    module: "torch.nn.Module",
    scale: int,
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    device: str | None = None,
) -> dict[str, float]:
    """Mean PSNR (RGB and Y) and SSIM of ``module`` on full (lr, hr) uint8 HWC pairs.

    Outputs are rounded and clipped to uint8 before scoring and ``scale`` pixels of border are
    cropped (:func:`edgebench.quality.score_images`). The module's train/eval mode is restored.
    """
    from .quality import score_images

    was_training = module.training
    module.eval()
    try:
        outputs = [super_resolve(module, lr, device) for lr, _ in pairs]
    finally:
        module.train(was_training)
    return score_images(outputs, [hr for _, hr in pairs], scale)
