"""The seed papers' studies (``edgebench study NAME``), each a table + a JSON record.

Every study trains its models here (L1, Adam, bundled photos or ``--data``), scores them on the
held-out bundled "eval" photos (or the first N with ``--quick``), measures latency on the exported
onnxruntime artifact, and checks whether the paper's ordering holds. ``--quick`` shrinks the
architectures and the training to a smoke test (the table says so); the default ("paper") size
keeps the paper's architecture (except where noted) at the given training length.

Results go to ``<zoo dir>/studies/<name>[-quick].json`` and ``.md`` (or ``--out``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

STUDIES: dict[str, str] = {
    "quantization": "seed paper 000: SCSRN (and ABPN) Scratch / QAT / int8 PSNR with and without weight clipping; latency",
    "separable": "seed paper 001: MSRN vs SMSRN (depthwise-separable), parameters, PSNR/SSIM, latency",
    "split-ratio": "seed paper 002: SplitSR channel-split ratio alpha vs parameters / latency / PSNR",
    "pruning": "seed paper 003: TecoGAN SRNet residual blocks (10/7/5/3/1) vs parameters / latency / PSNR on frame sequences",
    "distillation": "seed paper 004: EDSR-baseline student alone vs contrastive distillation from the EDSR teacher",
}


@dataclass
class Options:
    quick: bool = False
    steps: int | None = None
    data: str | None = None
    progress: bool = False
    latency_size: tuple[int, int] = (180, 320)
    runs: int = 10
    eval_images: int | None = None
    seed: int = 0
    batch_size: int | None = None  # None: each model's recipe
    patch: int | None = None  # LR patch side; None: each model's recipe

    def __post_init__(self) -> None:
        if self.quick:
            self.steps = self.steps or 3
            self.latency_size = (16, 16)
            self.runs = 2
            self.eval_images = self.eval_images or 1


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)  # (paper ordering, holds here?)
    records: list[dict[str, Any]] = field(default_factory=list)

    def markdown(self) -> str:
        def fmt(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:,.3f}" if abs(v) < 1000 else f"{v:,.0f}"
            if isinstance(v, int):
                return f"{v:,}"
            return str(v)

        lines = [f"## {self.title}", "", "| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in self.rows]
        lines += [""] + [f"- {n}" for n in self.notes]
        lines += [f"- paper ordering: {c} — {'matches' if ok else 'does NOT match'} here" for c, ok in self.checks]
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "columns": self.columns, "rows": self.rows, "notes": self.notes,
                "checks": [{"ordering": c, "matches": ok} for c, ok in self.checks], "records": self.records}


def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _length_note(opt: Options, steps: int, recipe: dict[str, Any]) -> str:
    from .train import hr_images

    label = hr_images(opt.data, 2)[0] if opt.data else "bundled train photos (5)"
    return (f"training: {label}, {steps} steps, batch {recipe.get('batch_size')}, LR patch {recipe.get('patch')}, "
            f"L1 + Adam; eval: bundled held-out photos ({opt.eval_images or 4}), full images, RGB PSNR, scale px border"
            + (" — QUICK smoke-test size, not a result" if opt.quick else ""))


def _train(name: str, module: Any, opt: Options, steps: int, **kw: Any) -> Any:
    from .train import train_model

    return train_model(name, module=module, steps=steps, quick=opt.quick, data=opt.data, progress=opt.progress,
                       seed=opt.seed, evaluate_on=opt.eval_images, checkpoint_dir=None, batch_size=opt.batch_size,
                       patch=opt.patch, **kw)


def _latency(module: Any, name: str, scale: int, precision: str, opt: Options) -> float:
    from .runtime import artifact_latency_ms, spec_for

    spec, _ = spec_for(module, name, scale)
    return artifact_latency_ms(spec, precision, opt.latency_size, runs=opt.runs)


def _seeded(seed: int, make: Callable[[], Any]) -> Any:
    import torch

    torch.manual_seed(seed)
    return make()


# ------------------------------------------------------------------------------------------- 000


def study_quantization(opt: Options) -> Table:
    from edgebench_sr_models import nets as sr_nets

    from . import qat as _qat  # noqa: F401  (fail early without torch)
    from .runtime import artifact_scores, spec_for
    from .train import RECIPES, eval_pairs, float_init_for_qat

    steps = opt.steps or 1000
    table = Table("quantization", "Quantization with and without weight clipping (seed paper 000)",
                  ["model", "params", "Scratch PSNR", "PTQ int8 PSNR", "QAT PSNR", "int8 PSNR (onnxruntime)", "Scratch→int8 drop",
                   f"int8 latency ms {opt.latency_size[0]}x{opt.latency_size[1]}"])
    pairs = eval_pairs(3, opt.eval_images)
    results = {}
    for base in ("scsrn", "abpn"):
        import torch

        init = float_init_for_qat(f"{base}-qat")
        scratch = _seeded(opt.seed, lambda: getattr(sr_nets, f"build_{base}")(3))
        if init is not None and not opt.quick:
            scratch.load_state_dict(torch.load(init, map_location="cpu", weights_only=True))
            scratch_note = f"{base}: Scratch = shipped float weights {Path(init).name}"
        else:
            scratch = _train(f"{base}-qat", scratch, opt, steps * 2).module
            scratch_note = f"{base}: Scratch trained here for {steps * 2} steps"
        table.notes.append(scratch_note)
        from edgebench.training import evaluate

        scratch_psnr = evaluate(scratch, 3, pairs)["psnr"]
        ptq_spec, _ = spec_for(scratch, f"{base}-scratch", 3)
        ptq = artifact_scores(ptq_spec, "int8", pairs)["psnr"]  # int8 of the float weights, no QAT
        for clip in (("noclip", "clip") if base == "scsrn" else ("clip",)):
            module = getattr(sr_nets, f"build_{base}")(3)
            module.load_state_dict(scratch.state_dict())
            trained = _train(f"{base}-qat", module, opt, steps, qat=clip, lr=RECIPES[f"{base}-qat"]["lr"])
            spec, _ = spec_for(trained.module, f"{base}-qat-{clip}", 3)
            int8 = artifact_scores(spec, "int8", pairs)["psnr"]
            latency = _latency(trained.module, f"{base}-qat-{clip}", 3, "int8", opt)
            label = f"{base.upper()}_{'w/_WC' if clip == 'clip' else 'w/o_WC'}"
            qat_psnr = trained.record["eval_fake_quant"]["psnr"]
            table.rows.append([label, _params(trained.module), scratch_psnr, ptq, qat_psnr, int8, scratch_psnr - int8, latency])
            table.records.append(trained.record | {"label": label, "int8_psnr": int8, "ptq_int8_psnr": ptq, "latency_ms": latency})
            results[label] = {"int8": int8, "latency": latency, "drop": scratch_psnr - int8}
    table.notes.append(_length_note(opt, steps, table.records[0]["recipe"]))
    table.notes.append("PTQ int8: onnxruntime static QDQ artifact of the Scratch weights (no QAT); QAT PSNR: the "
                       "fine-tuned model with fake quantization active; int8: the artifact of the QAT weights")
    table.checks.append(("SCSRN w/ WC loses less Scratch→int8 than w/o WC (paper: 0.095 vs 0.133 dB)",
                         results["SCSRN_w/_WC"]["drop"] < results["SCSRN_w/o_WC"]["drop"]))
    table.checks.append(("SCSRN runs faster than ABPN in int8 (paper: skip concat saves 13.6 ms)",
                         results["SCSRN_w/_WC"]["latency"] < results["ABPN_w/_WC"]["latency"]))
    return table


# ------------------------------------------------------------------------------------------- 001


def study_separable(opt: Options) -> Table:
    from .nets import MSRN

    steps = opt.steps or 300
    table = Table("separable", "Depthwise-separable convolutions: MSRN vs SMSRN, x4 (seed paper 001)",
                  ["model", "params", "% of MSRN", "PSNR", "SSIM", f"fp32 latency ms {opt.latency_size[0]}x{opt.latency_size[1]}"])
    size = {"blocks": 1, "feats": 8} if opt.quick else {}
    rows = {}
    for name, sep in (("msrn", False), ("smsrn", True)):
        module = _seeded(opt.seed, lambda: MSRN(4, separable=sep, **size))
        trained = _train(name, module, opt, steps)
        latency = _latency(trained.module, name, 4, "fp32", opt)
        rows[name] = (_params(trained.module), trained.record["eval"], latency)
        table.records.append(trained.record | {"latency_ms": latency})
    for name, (params, ev, latency) in rows.items():
        table.rows.append([name.upper(), params, 100.0 * params / rows["msrn"][0], ev["psnr"], ev["ssim"], latency])
    bic = table.records[0]["bicubic"]
    table.rows.append(["bicubic", 0, 0.0, bic["psnr"], bic["ssim"], "-"])
    table.notes.append(("architecture: QUICK (1 block, 8 channels)" if opt.quick else "architecture: paper size (8 blocks, 64 ch)"))
    table.notes.append(_length_note(opt, steps, table.records[0]["recipe"]))
    table.checks.append(("SMSRN has ~14.6 % of MSRN's parameters", 10 < 100.0 * rows["smsrn"][0] / rows["msrn"][0] < 20))
    table.checks.append(("MSRN PSNR > SMSRN PSNR (paper: 28.64 vs 28.22 dB average)", rows["msrn"][1]["psnr"] > rows["smsrn"][1]["psnr"]))
    table.checks.append(("MSRN SSIM > SMSRN SSIM", rows["msrn"][1]["ssim"] > rows["smsrn"][1]["ssim"]))
    return table


# ------------------------------------------------------------------------------------------- 002


def study_split_ratio(opt: Options) -> Table:
    from .nets import RCAN
    from .train import RECIPES

    steps = opt.steps or 300
    backbone = {"groups": 1, "blocks": 1, "feats": 16, "reduction": 4} if opt.quick else {"groups": 4, "blocks": 5}
    alphas = (0.25, 1.0) if opt.quick else (0.125, 0.25, 0.5, 1.0)
    table = Table("split-ratio", "SplitSR channel-split ratio, x4 (seed paper 002)",
                  ["model", "alpha", "params", "PSNR", "SSIM", f"fp32 latency ms {opt.latency_size[0]}x{opt.latency_size[1]}"])
    results = []
    for alpha in (None, *alphas):
        module = _seeded(opt.seed, lambda: RCAN(4, alpha=alpha, **backbone))
        name = "rcan" if alpha is None else "splitsr"
        # one learning rate for every row: RCAN and alpha 1 are the same network, so any gap between
        # them is training noise (with the models' own recipes, 1e-4 vs 2e-4, it read as 0.9 dB)
        trained = _train(name, module, opt, steps, lr=RECIPES["splitsr"]["lr"])
        latency = _latency(trained.module, f"{name}-{alpha}", 4, "fp32", opt)
        ev = trained.record["eval"]
        table.rows.append(["RCAN (standard blocks)" if alpha is None else "SplitSR", "-" if alpha is None else alpha,
                           _params(trained.module), ev["psnr"], ev["ssim"], latency])
        table.records.append(trained.record | {"alpha": alpha, "latency_ms": latency})
        if alpha is not None:
            results.append((alpha, _params(trained.module), latency, ev["psnr"]))
    table.notes.append(f"backbone: RCAN {backbone} (the registered `rcan`/`splitsr` use 10 groups x 20 blocks)"
                       + ("; QUICK size" if opt.quick else "; reduced depth so a sweep trains on CPU"))
    table.notes.append("hybrid index = all groups lightweight, location = feature stage; every row trains at "
                       f"lr {RECIPES['splitsr']['lr']:g} (RCAN and alpha 1.0 are the same network: their gap is noise)")
    table.notes.append(_length_note(opt, steps, table.records[0]["recipe"]))
    by_alpha = sorted(results)
    table.checks.append(("parameters grow with alpha", all(a[1] < b[1] for a, b in zip(by_alpha, by_alpha[1:]))))
    table.checks.append(("latency grows with alpha", all(a[2] < b[2] for a, b in zip(by_alpha, by_alpha[1:]))))
    table.checks.append(("PSNR grows with alpha (accuracy/speed trade-off)", all(a[3] <= b[3] for a, b in zip(by_alpha, by_alpha[1:]))))
    return table


# ------------------------------------------------------------------------------------------- 003


def pan_sequences(scale: int, frames: int, crop: tuple[int, int], limit: int | None) -> list[list[tuple[Any, Any]]]:
    """Frame sequences from the held-out photos: an HR window panning 2·scale px right/down per frame.

    Each frame's LR is the bicubic downscale of its HR window (the same degradation as training),
    so a sequence has real image content and known, sub-LR-pixel motion.
    """
    from edgebench import data as eb_data

    sequences = []
    h, w = crop[0] * scale, crop[1] * scale
    step = 2 * scale + scale // 2
    for _, hr in eb_data.photos("eval")[:limit]:
        seq = []
        for t in range(frames):
            y, x = min(t * step // 2, hr.shape[0] - h), min(t * step, hr.shape[1] - w)
            window = hr[y : y + h, x : x + w]
            seq.append((eb_data.downscale(window, scale), window))
        sequences.append(seq)
    return sequences


def sequence_scores(module: Any, sequences: list[list[tuple[Any, Any]]], scale: int) -> dict[str, float]:
    """Mean PSNR (and LPIPS when the ``lpips`` package is installed) of the recurrent outputs."""
    import numpy as np
    import torch

    from edgebench.quality import psnr

    module.eval()
    psnrs, lp = [], []
    try:
        import lpips  # type: ignore[import-not-found]

        metric = lpips.LPIPS(net="alex", verbose=False)
    except Exception:  # not installed or no weights offline
        metric = None
    with torch.no_grad():
        for seq in sequences:
            frames = [torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None].float() / 255 for lr, _ in seq]
            outs = module.run_sequence(frames)
            for out, (_, hr) in zip(outs, seq):
                img = torch.clamp(torch.round(out[0] * 255), 0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
                psnrs.append(psnr(img, hr, scale))
                if metric is not None:
                    a = torch.from_numpy(img.transpose(2, 0, 1))[None].float() / 127.5 - 1
                    b = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))[None].float() / 127.5 - 1
                    lp.append(float(metric(a, b)))
    result = {"psnr": float(np.mean(psnrs))}
    if lp:
        result["lpips"] = float(np.mean(lp))
    return result


def study_pruning(opt: Options) -> Table:
    from .tecogan import TecoGAN

    steps = opt.steps or 300
    blocks = (10, 1) if opt.quick else (10, 7, 5, 3, 1)
    sequences = pan_sequences(4, 3 if opt.quick else 8, (24, 24) if opt.quick else (64, 64), opt.eval_images)
    table = Table("pruning", "TecoGAN SRNet block pruning, x4 video (seed paper 003)",
                  ["model", "residual blocks", "params", "SRNet params", "sequence PSNR", "LPIPS", "single-image PSNR",
                   f"fp32 latency ms/frame {opt.latency_size[0]}x{opt.latency_size[1]}"])
    results = []
    for b in blocks:
        module = _seeded(opt.seed, lambda: TecoGAN(b))
        name = "tecogan-srnet" + ("" if b == 10 else f"-b{b}")
        trained = _train(name, module, opt, steps)
        seq = sequence_scores(trained.module, sequences, 4)
        latency = _latency(trained.module, name, 4, "fp32", opt)
        table.rows.append([name, b, _params(trained.module), _params(trained.module.srnet), seq["psnr"], seq.get("lpips", "n/a"),
                           trained.record["eval"]["psnr"], latency])
        table.records.append(trained.record | {"sequence": seq, "latency_ms": latency, "blocks": b})
        results.append((b, _params(trained.module), latency, seq["psnr"]))
    table.notes.append(f"sequences: {len(sequences)} held-out photos, {len(sequences[0])} frames each, an HR window panning "
                       "~2.5 LR px per frame; first frame starts from a black previous output; LPIPS needs the `lpips` package")
    table.notes.append("training: single-image steady-state steps (previous frame = current); no GAN / temporal losses")
    table.notes.append(_length_note(opt, steps, table.records[0]["recipe"]))
    table.checks.append(("parameters fall with fewer blocks", all(a[1] > b_[1] for a, b_ in zip(results, results[1:]))))
    table.checks.append(("latency falls with fewer blocks", all(a[2] > b_[2] for a, b_ in zip(results, results[1:]))))
    table.checks.append(("10 blocks has the best sequence PSNR (paper: 30.75 dB vs 29.78 at 1 block)",
                         results[0][3] == max(r[3] for r in results)))
    return table


# ------------------------------------------------------------------------------------------- 004


def study_distillation(opt: Options) -> Table:
    from .nets import EDSR

    steps = opt.steps or 300
    if opt.quick:
        teacher_size, student_size = {"feats": 16, "blocks": 2}, {"feats": 8, "blocks": 1}
    else:  # the 40.7 M teacher cannot train on a CPU here: a reduced teacher, the paper's student
        teacher_size, student_size = {"feats": 128, "blocks": 8, "res_scale": 0.1}, {"feats": 64, "blocks": 16}
    table = Table("distillation", "Contrastive distillation, EDSR x2 (seed paper 004)",
                  ["model", "params", "PSNR", "SSIM", "vs student alone"])
    teacher = _train("edsr", _seeded(opt.seed, lambda: EDSR(2, **teacher_size)), opt, steps * 2)
    alone = _train("edsr-baseline", _seeded(opt.seed, lambda: EDSR(2, **student_size)), opt, steps)
    distilled = _train("edsr-baseline", _seeded(opt.seed, lambda: EDSR(2, **student_size)), opt, steps,
                       teacher=teacher.module)
    base = alone.record["eval"]["psnr"]
    for label, t in (("teacher", teacher), ("student alone", alone), ("student distilled (L1 + 10·contrastive)", distilled)):
        ev = t.record["eval"]
        table.rows.append([label, t.record["params"], ev["psnr"], ev["ssim"], ev["psnr"] - base])
        table.records.append(t.record | {"label": label})
    table.rows.append(["bicubic", 0, alone.record["bicubic"]["psnr"], alone.record["bicubic"]["ssim"], alone.record["bicubic"]["psnr"] - base])
    table.notes.append(f"teacher: EDSR {teacher_size} trained {steps * 2} steps (paper: 32 blocks x 256 ch, 40.7 M); "
                       f"student: EDSR {student_size}")
    table.notes.append(_length_note(opt, steps, alone.record["recipe"]))
    table.checks.append(("distilled student > student alone (paper: +0.06..0.29 dB)",
                         distilled.record["eval"]["psnr"] > base))
    return table


RUNNERS: dict[str, Callable[[Options], Table]] = {
    "quantization": study_quantization,
    "separable": study_separable,
    "split-ratio": study_split_ratio,
    "pruning": study_pruning,
    "distillation": study_distillation,
}


def run_study(name: str, opt: Options, out: Path | None = None) -> tuple[Table, Path]:
    """Run one study, write ``<out>/<name>[-quick].json`` and ``.md``; return the table and the JSON path."""
    from . import zoo_dir

    started = time.perf_counter()
    table = RUNNERS[name](opt)
    folder = out or zoo_dir() / "studies"
    folder.mkdir(parents=True, exist_ok=True)
    stem = name + ("-quick" if opt.quick else "")
    record = table.as_dict() | {"quick": opt.quick, "steps": opt.steps, "data": opt.data or "bundled",
                                "wall_s": round(time.perf_counter() - started, 1), "date": time.strftime("%Y-%m-%d %H:%M")}
    json_path = folder / f"{stem}.json"
    json_path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    (folder / f"{stem}.md").write_text(table.markdown())
    return table, json_path
