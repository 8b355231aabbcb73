"""One training entry point for every zoo model (``edgebench train MODEL``).

Built on :func:`edgebench.training.train` (L1, Adam, cosine decay, random aligned HR crops with
bicubic LR, flips/rotations, checkpoints every N steps, resume, rich progress bar, GPU when
torch sees one). Extra modes:

* ``distill``: contrastive distillation (seed paper 004): ``L = L_rec + 10·L_CL`` with
  ``L_CL = Σ_i d(S_i, T_i) / Σ_k d(S_i, N_k)``, ``d`` = mean L1, ``T`` the teacher's SR output
  for the same LR patch (positive), ``N_k`` the bicubic upsampling of every LR patch of the
  batch (negatives).
* ``qat``: quantization-aware fine-tuning from float weights (seed paper 000), with or without
  weight clipping + regularisation (:mod:`edgebench_zoo.qat`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import ENTRIES, SHIPPED_DIR, weights_name, zoo_dir

log = logging.getLogger("edgebench_zoo")

#: full-length settings (GPU-sized); ``--steps`` etc. override, ``--quick`` shrinks everything
RECIPES: dict[str, dict[str, Any]] = {
    "msrn": {"steps": 20000, "batch_size": 16, "patch": 48, "lr": 2e-4},
    "smsrn": {"steps": 20000, "batch_size": 16, "patch": 48, "lr": 5e-4},
    "rcan": {"steps": 20000, "batch_size": 16, "patch": 48, "lr": 1e-4},
    "splitsr": {"steps": 20000, "batch_size": 16, "patch": 48, "lr": 2e-4},
    "edsr": {"steps": 20000, "batch_size": 16, "patch": 48, "lr": 1e-4},
    "edsr-baseline": {"steps": 20000, "batch_size": 16, "patch": 48, "lr": 2e-4},
    "scsrn-qat": {"steps": 2000, "batch_size": 16, "patch": 40, "lr": 1e-4},
    "abpn-qat": {"steps": 2000, "batch_size": 16, "patch": 40, "lr": 1e-4},
    **{name: {"steps": 20000, "batch_size": 16, "patch": 32, "lr": 2e-4} for name in ENTRIES if name.startswith("tecogan")},
}
QUICK = {"steps": 3, "batch_size": 2, "patch": 16}
DISTILL_WEIGHT = 10.0


@dataclass
class Trained:
    module: Any
    record: dict[str, Any]


def hr_images(data: str | Path | None, scale: int) -> tuple[str, list[np.ndarray]]:
    """Training HR photos: the bundled "train" split, or a user folder (DIV2K layout or plain HR images)."""
    from edgebench import data as eb_data

    if data is None:
        return "bundled train photos (5)", [hr for _, hr in eb_data.photos("train")]
    pairs = eb_data.folder_pairs(Path(data), scale)
    return f"{data} ({len(pairs)} images)", [hr for _, hr in pairs]


def eval_pairs(scale: int, limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    from edgebench import data as eb_data

    photos = [hr for _, hr in eb_data.photos("eval")][:limit]
    return eb_data.make_pairs(photos, scale)


def bicubic_scores(scale: int, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    from edgebench.training import evaluate

    from .nets import BicubicUp

    return evaluate(BicubicUp(scale), scale, pairs, device="cpu")


def contrastive_hook(teacher: Any, scale: int, weight: float = DISTILL_WEIGHT) -> Any:
    import torch
    import torch.nn.functional as F

    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def hook(ctx: Any) -> dict[str, Any]:
        with torch.no_grad():
            positive = teacher(ctx.lr)
            negatives = F.interpolate(ctx.lr, scale_factor=scale, mode="bicubic", align_corners=False)
        s = ctx.sr
        d_pos = (s - positive).abs().flatten(1).mean(1)  # (N,)
        d_neg = (s[:, None] - negatives[None]).abs().flatten(2).mean(2)  # (N, K)
        return {"contrastive": weight * (d_pos / d_neg.sum(1).clamp(min=1e-8)).sum()}

    return hook


def save_weights(module: Any, out: Path, *, half: bool = False) -> dict[str, Any]:
    """Write the state_dict and return what was written; ``half`` stores float tensors as float16
    (half the bytes, for shipped files).

    ``load_state_dict`` casts them back into the float32 parameters, so a loader needs no change.
    """
    import torch

    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    return state


def float_init_for_qat(name: str) -> Path | None:
    """The float weights QAT fine-tunes: the default-models plugin's shipped file, else a cached float run."""
    base = name.split("-")[0]
    try:
        import edgebench_sr_models

        shipped = Path(edgebench_sr_models.WEIGHTS_DIR) / f"{base}_x3.pt"
        if shipped.is_file():
            return shipped
    except ImportError:  # pragma: no cover - plugin removed
        pass
    cached = zoo_dir() / "weights" / f"{base}-float_x3.pt"
    return cached if cached.is_file() else None


def train_model(
    name: str,
    *,
    module: Any = None,
    steps: int | None = None,
    batch_size: int | None = None,
    patch: int | None = None,
    lr: float | None = None,
    quick: bool = False,
    data: str | Path | None = None,
    out: Path | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = True,
    device: str | None = None,
    progress: bool = True,
    seed: int = 0,
    teacher: Any = None,
    qat: str | None = None,
    init: Path | None = None,
    evaluate_on: int | None = None,
    half: bool = False,
) -> Trained:
    """Train one model (``module`` overrides the registered architecture, e.g. a reduced study size).

    ``qat``: None, "clip" or "noclip". ``teacher``: a trained torch module for contrastive
    distillation. ``init``: a state_dict file to start from. ``half``: store the weights as
    float16 (scored after the rounding, as they will load). Returns the trained module and a
    JSON-able record (settings, data, wall time, held-out PSNR/SSIM next to bicubic).
    """
    import torch

    from edgebench import training

    scale = ENTRIES[name].scale if name in ENTRIES else None
    if module is None:
        from . import nets

        torch.manual_seed(seed)
        module = nets.build(name)
    scale = scale or getattr(module, "scale", None)
    if scale is None:
        raise ValueError(f"unknown model {name!r}")
    recipe = dict(RECIPES.get(name, {"steps": 2000, "batch_size": 16, "patch": 32, "lr": 2e-4}))
    if quick:
        recipe.update(QUICK)
    for key, value in (("steps", steps), ("batch_size", batch_size), ("patch", patch), ("lr", lr)):
        if value is not None:
            recipe[key] = value
    if init is not None:
        module.load_state_dict(torch.load(init, map_location="cpu", weights_only=True))
    data_label, images = hr_images(data, scale)
    hook = None
    qat_state = None
    if qat is not None:
        from . import qat as qat_mod

        qat_state = qat_mod.prepare(module, clip=(qat == "clip"))

        def qat_hook(ctx: Any) -> Any:
            reg = qat_mod.regulariser(qat_state)
            return {} if reg is None else {"regulariser": reg}

        hook = qat_hook
    if teacher is not None:
        device_ = device or training.default_device()
        teacher.to(device_)
        hook = contrastive_hook(teacher, scale)
    result = training.train(
        module, scale, hr_images=images, checkpoint_dir=checkpoint_dir, resume=resume, device=device,
        progress=progress, seed=seed, loss_hook=hook, out=None, **recipe,
    )
    qat_scores = None
    pairs = eval_pairs(scale, evaluate_on)
    if qat_state is not None:
        qat_scores = training.evaluate(module, scale, pairs)  # with fake quantization active
        from . import qat as qat_mod

        qat_mod.finalize(module, qat_state)
    module.cpu().eval()
    if out is not None:
        state = save_weights(module, out, half=half)
        if half:  # score what the file holds
            module.load_state_dict(state)
    scores = training.evaluate(module, scale, pairs, device="cpu")
    record = {
        "model": name,
        "params": sum(p.numel() for p in module.parameters() if p.requires_grad),
        "scale": scale,
        "recipe": recipe,
        "data": data_label,
        "stored": "float16" if half else "float32",
        "init": str(init) if init else None,
        "mode": "qat-" + qat if qat else ("contrastive-distillation" if teacher is not None else "l1"),
        "device": device or training.default_device(),
        "wall_s": round(result.wall_s, 1),
        "resumed_from": result.resumed_from,
        "final_loss": result.loss,
        "eval": scores,
        "eval_images": len(pairs),
        "bicubic": bicubic_scores(scale, pairs),
        "weights": str(out) if out else None,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    if qat_scores is not None:
        record["eval_fake_quant"] = qat_scores
    return Trained(module, record)


def train_cli(
    name: str, *, quick: bool, out: Path | None, fresh: bool, distill: bool, teacher_name: str, no_clip: bool,
    init: Path | None = None, **overrides: Any,
) -> dict[str, Any]:
    """What ``edgebench train`` does: defaults for weights, checkpoints, teacher and QAT init."""
    import torch

    from . import model_spec, nets, weights_path

    if name not in ENTRIES:
        raise KeyError(name)
    tag = "-quick" if quick else ""
    out = out or zoo_dir() / "weights" / (weights_name(name) if not quick else f"{name}-quick_x{ENTRIES[name].scale}.pt")
    ckpt = zoo_dir() / "checkpoints" / f"{name}{tag}{'-kd' if distill else ''}{f'-from-{init.stem}' if init else ''}"
    teacher = None
    if distill:
        if teacher_name not in ENTRIES or ENTRIES[teacher_name].scale != ENTRIES[name].scale:
            raise ValueError(f"teacher {teacher_name!r} must be a zoo model at x{ENTRIES[name].scale}")
        if weights_path(teacher_name) is None and not quick:
            raise FileNotFoundError(f"teacher {teacher_name!r} has no trained weights: run `edgebench train {teacher_name}` first")
        teacher = model_spec(teacher_name).load() if weights_path(teacher_name) else nets.build(teacher_name).eval()
    qat = None
    if name.endswith("-qat"):
        qat = "noclip" if no_clip else "clip"
        init = init or float_init_for_qat(name)
        if init is None:  # no float weights anywhere: train them first (the "Scratch" stage)
            base = name.split("-")[0]
            float_out = zoo_dir() / "weights" / f"{base}-float_x3.pt"
            log.info("no float %s weights: training them first -> %s", base, float_out)
            torch.manual_seed(overrides.get("seed", 0))
            train_model(name, quick=quick, out=float_out, checkpoint_dir=zoo_dir() / "checkpoints" / f"{base}-float{tag}",
                        resume=not fresh, **{k: v for k, v in overrides.items() if k != "lr"})
            init = float_out
    trained = train_model(name, quick=quick, out=out, checkpoint_dir=ckpt, resume=not fresh, teacher=teacher, qat=qat,
                          init=init, **overrides)
    record = trained.record
    log_path = out.with_suffix(".json")
    log_path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def is_shipped(name: str) -> bool:
    return (SHIPPED_DIR / weights_name(name)).is_file()
