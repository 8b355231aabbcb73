"""``edgebench benchmark-model parse|import``: read benchmark_model logs users already have.

``parse`` prints what edgebench reads from each log (``--json``: a list of objects with fixed
keys); ``import`` stores a hand-run log as a result, marked imported: no raw timings, no quality.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgebench.errors import EdgebenchError

JSON_KEYS = ("file", "failed", "error", "inference_avg_us", "init_us", "first_us", "warmup_avg_us",
             "memory_overall_mb", "delegate", "delegated_nodes", "total_nodes", "partitions", "delegation")


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise EdgebenchError(f"cannot read {path}: {exc.strerror or exc}") from None


def parsed_entry(path: Path) -> dict[str, Any]:
    from .benchmark_model import parse

    parsed = parse(_read(path))
    return {"file": str(path), **{k: parsed.get(k) for k in JSON_KEYS if k != "file"}}


def _describe(entry: dict[str, Any]) -> str:
    if entry["failed"]:
        return f"{entry['file']}: failed: {entry['error']}"

    def ms(key: str) -> str | None:
        return f"{entry[key] / 1000:.3f} ms" if entry.get(key) is not None else None

    parts = [f"inference avg {ms('inference_avg_us')}" if entry.get("inference_avg_us") is not None else None,
             f"init {ms('init_us')}" if entry.get("init_us") is not None else None,
             f"first {ms('first_us')}" if entry.get("first_us") is not None else None,
             f"warm-up avg {ms('warmup_avg_us')}" if entry.get("warmup_avg_us") is not None else None,
             f"memory {entry['memory_overall_mb']:g} MB" if entry.get("memory_overall_mb") is not None else None]
    if entry.get("delegate"):
        share = (f"{entry['delegated_nodes']} of {entry['total_nodes'] if entry.get('total_nodes') else '?'} nodes"
                 if entry.get("delegated_nodes") is not None else "nodes not counted")
        parts.append(f"{entry['delegate']}: {share}, {entry.get('delegation') or 'share unknown'}")
    else:
        parts.append("no delegate")
    return f"{entry['file']}: " + ", ".join(p for p in parts if p)


def register(cli: click.Group) -> None:
    if "benchmark-model" in cli.commands:
        return

    @cli.group("benchmark-model")
    def benchmark_model() -> None:
        """Read TFLite benchmark_model logs: print their figures, or store one as a result."""

    @benchmark_model.command("parse")
    @click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per log, fixed keys.")
    def parse_cmd(logs: tuple[Path, ...], as_json: bool) -> None:
        """Print what edgebench reads from each benchmark_model LOG (every tool generation)."""
        entries = [parsed_entry(path) for path in logs]
        if as_json:
            click.echo(json.dumps(entries, indent=2))
        else:
            for entry in entries:
                click.echo(_describe(entry))

    @benchmark_model.command("import")
    @click.argument("log", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("-d", "--device", required=True, help="The device the log came from (a profile name or any label).")
    @click.option("-m", "--model", required=True, help="The model that ran.")
    @click.option("-p", "--precision", required=True, type=click.Choice(["fp32", "int8"]))
    @click.option("--delegate", help="The delegate asked for; the one the log proves ran is stored.")
    @click.option("--size", help="Input HEIGHTxWIDTH the log measured (default: unknown).")
    @click.option("--threads", type=int, help="Threads it ran with (default: read from the log, else unknown).")
    @click.pass_context
    def import_cmd(ctx: click.Context, log: Path, device: str, model: str, precision: str, delegate: str | None,
                   size: str | None, threads: int | None) -> None:
        """Store a hand-run benchmark_model LOG as a result (marked imported: no raw timings, no quality)."""
        from edgebench.cli import _size, _store

        from .importing import import_log

        height, width = _size(size) if size else (None, None)
        store = _store(ctx)
        run_id, row = import_log(store, log, _read(log), device=device, model=model, precision=precision,
                                 delegate=delegate, height=height, width=width, threads=threads)
        click.echo(f"Imported {log} as run {run_id}: {row['model']} tflite {row['precision']} {row['delegate']} "
                   f"on {row['device']}, {row['median_ms']:.3f} ms ({row['n_runs']} runs, the tool's summary) "
                   f"into {store.path}", err=True)
