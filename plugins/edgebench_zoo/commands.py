"""``edgebench train MODEL`` and ``edgebench study NAME`` (click only here; torch loads inside)."""

from __future__ import annotations

from pathlib import Path

import click

from . import ENTRIES
from .studies import STUDIES


@click.command(name="train")
@click.argument("model", type=click.Choice(sorted(ENTRIES)))
@click.option("--data", type=click.Path(exists=True, file_okay=False), help="HR training photos: a folder or DIV2K layout (default: bundled train photos).")
@click.option("--steps", type=int, help="Training steps (default: the model's recipe).")
@click.option("--batch-size", type=int)
@click.option("--patch", type=int, help="LR patch side in pixels.")
@click.option("--lr", type=float, help="Adam learning rate.")
@click.option("--device", help="cuda or cpu (default: cuda when torch sees one).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Weights file (default: the zoo data dir, where the model loads it from).")
@click.option("--init", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Start from these weights (fine-tune a trained model) instead of the initial ones.")
@click.option("--fresh", is_flag=True, help="Ignore an existing checkpoint and start over (default: resume).")
@click.option("--quick", is_flag=True, help="A few tiny steps: a smoke test (writes <model>-quick weights, not the model's).")
@click.option("--distill", is_flag=True, help="Contrastive distillation from --teacher (L = L1 + 10·L_contrastive).")
@click.option("--teacher", "teacher_name", default="edsr", show_default=True, help="Teacher model for --distill.")
@click.option("--no-clip", is_flag=True, help="QAT models: fake quantization without weight clipping/regularisation.")
@click.option("--half", is_flag=True, help="Store the weights as float16 (half the size; they load into float32).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def train_command(model: str, data: str | None, steps: int | None, batch_size: int | None, patch: int | None,
                  lr: float | None, device: str | None, seed: int, out: Path | None, init: Path | None, fresh: bool,
                  quick: bool, distill: bool, teacher_name: str, no_clip: bool, half: bool, no_progress: bool) -> None:
    """Train a zoo model (L1, Adam, random HR crops with bicubic LR; resumable)."""
    from .train import train_cli

    try:
        record = train_cli(model, quick=quick, out=out, init=init, fresh=fresh, distill=distill,
                           teacher_name=teacher_name, no_clip=no_clip, data=data, steps=steps,
                           batch_size=batch_size, patch=patch, lr=lr, device=device, seed=seed, half=half,
                           progress=not no_progress)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    e, b = record["eval"], record["bicubic"]
    click.echo(f"{model}: {record['params']:,} params, {record['recipe']['steps']} steps on {record['data']} "
               f"({record['device']}, {record['wall_s']:.0f} s)")
    click.echo(f"held-out PSNR {e['psnr']:.3f} dB (bicubic {b['psnr']:.3f}, {e['psnr'] - b['psnr']:+.3f}), SSIM {e['ssim']:.4f}")
    click.echo(f"weights: {record['weights']}")


@click.command(name="study")
@click.argument("name", type=click.Choice(sorted(STUDIES)))
@click.option("--quick", is_flag=True, help="Tiny architectures and a few steps: a smoke test of the study.")
@click.option("--steps", type=int, help="Training steps per model (default: the study's).")
@click.option("--data", type=click.Path(exists=True, file_okay=False), help="HR training photos (default: bundled).")
@click.option("--batch-size", type=int, help="Training batch size for every model (default: each model's recipe).")
@click.option("--patch", type=int, help="LR patch side for every model (default: each model's recipe).")
@click.option("--size", default=None, help="Latency input HEIGHTxWIDTH (default 180x320; quick 16x16).")
@click.option("--runs", type=int, help="Timed runs per latency.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the table and JSON (default: zoo data dir/studies).")
@click.option("--progress", is_flag=True, help="Show training progress bars.")
def study_command(name: str, quick: bool, steps: int | None, data: str | None, batch_size: int | None,
                  patch: int | None, size: str | None, runs: int | None, out: Path | None, progress: bool) -> None:
    """Reproduce a seed paper's study; writes a Markdown table and a JSON record."""
    from .studies import Options, run_study

    opt = Options(quick=quick, steps=steps, data=data, progress=progress, batch_size=batch_size, patch=patch)
    if size:
        try:
            h, w = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise click.BadParameter("expected HEIGHTxWIDTH", param_hint="--size") from None
        opt.latency_size = (h, w)
    if runs:
        opt.runs = runs
    table, path = run_study(name, opt, out)
    click.echo(table.markdown())
    click.echo(f"results: {path}")
