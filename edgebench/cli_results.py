"""The commands that read stored results: leaderboard, plot, compare, export, import.

Registered on the group of :mod:`edgebench.cli`, which imports this module once the group exists.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .cli import _console, _store, cli
from .errors import EdgebenchError

def _filters(devices: tuple[str, ...] = (), models: tuple[str, ...] = (), backends: tuple[str, ...] = (),
             run_ids: tuple[int, ...] = ()) -> tuple[str, list[Any]]:
    """SQL WHERE clause and parameters for the usual --device/--model/--backend/--run options."""
    clauses, params = [], []
    for column, values in (("device", devices), ("model", models), ("backend", backends), ("run_id", run_ids)):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    return " AND ".join(clauses), params


def _board(ctx: click.Context, devices: tuple[str, ...], models: tuple[str, ...], backends: tuple[str, ...],
           latest: bool = False, **ranking: Any) -> tuple[Any, list[dict[str, Any]]]:
    from .leaderboard import board_from_store

    store = _store(ctx)
    where, params = _filters(devices, models, backends)  # row-key columns only: the summaries have them
    return store, board_from_store(store.db, where, params, pool=not latest, **ranking)


_RANKING = [
    click.option("--include-quick", is_flag=True, help="Also list --quick smoke tests (never ranked)."),
    click.option("--include-flagged", is_flag=True,
                 help="Rank rows whose output is flagged (int8 collapse, below bicubic, constant or NaN) too."),
    click.option("--max-int8-drop", type=float, default=0.5, show_default=True, metavar="DB",
                 help="Flag int8 rows losing more than this many dB against fp32 (and delegates against the CPU)."),
    click.option("--best-setting", is_flag=True,
                 help="Only each configuration's fastest core mask × threads setting, with the setting shown."),
]


def _with_ranking(f):  # type: ignore[no-untyped-def]
    for option in reversed(_RANKING):
        f = option(f)
    return f


_FILTERS = [
    click.option("-d", "--device", "devices", multiple=True, help="Only these devices."),
    click.option("-m", "--model", "models", multiple=True, help="Only these models."),
    click.option("-b", "--backend", "backends", multiple=True, help="Only these backends."),
]


def _with_filters(f):  # type: ignore[no-untyped-def]
    for option in reversed(_FILTERS):
        f = option(f)
    return f


def _parse_columns(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """--columns NAMES -> column keys; an unknown name is a usage error that lists the valid ones."""
    from .board_terminal import parse_columns

    if value is None:
        return None
    try:
        return parse_columns(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@cli.command()
@click.option("-f", "--format", "fmt", type=click.Choice(["rich", "markdown", "csv", "json", "html"]), default="rich",
              show_default=True)
@_with_filters
@click.option("--latest", is_flag=True,
              help="Rank each configuration's latest result alone instead of pooling its repeated results.")
@click.option("--top", type=click.IntRange(min=0),
              help="Only the best N configurations per device (0 = all). Default: 30 in the terminal table, "
                   "all in files and other formats.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option("--wide", is_flag=True,
              help="Terminal table: every column, however wide the terminal (default: the columns that fit).")
@click.option("--columns", "columns", metavar="NAMES", callback=_parse_columns,
              help="Terminal table: these columns in this order, comma-separated, e.g. rank,model,psnr,median,score.")
@_with_ranking
@click.pass_context
def leaderboard(ctx: click.Context, fmt: str, devices: tuple[str, ...], models: tuple[str, ...],
                backends: tuple[str, ...], latest: bool, top: int | None, output: Path | None, wide: bool,
                columns: list[str] | None, **ranking: Any) -> None:
    """Rank stored results: one row per device, model, backend, delegate, precision and setting.

    Rows rank only against rows of the same device, input size and scale (a section); --quick
    results and rows with broken output are listed unranked. Repeated results are pooled when
    runtime version, artifact and device match the latest one's (docs/leaderboard.md).
    """
    from .board_terminal import render_rich, top_rows
    from .leaderboard import render_csv, render_json, render_markdown

    store, rows = _board(ctx, devices, models, backends, latest, **ranking)
    if fmt == "rich" and output is None:
        if not rows:
            click.echo("No results stored yet: run `edgebench run` first.")
            return
        render_rich(rows, _console(), top=30 if top is None else top, columns=columns, wide=wide)
        return
    rows, _ = top_rows(rows, top)
    if fmt == "html":
        from .leaderboard import device_infos
        from .report_html import render_html

        text = render_html(rows, device_info=device_infos(store.db, rows), source=str(store.path))
    else:
        text = {"markdown": render_markdown, "csv": render_csv, "json": render_json}.get(fmt, render_markdown)(rows)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {len(rows)} rows to {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("pareto.png"),
              show_default=True, help="Image file; the suffix picks the format (png, svg, pdf).")
@_with_filters
@click.option("--latest", is_flag=True, help="Latest result per configuration instead of pooled results.")
@_with_ranking
@click.option("--y", "y_axis", type=click.Choice(["psnr", "energy"]), default="psnr", show_default=True,
              help="What to plot against latency: PSNR (Pareto front marked) or energy per inference (mJ/frame).")
@click.pass_context
def plot(ctx: click.Context, output: Path, devices: tuple[str, ...], models: tuple[str, ...],
         backends: tuple[str, ...], latest: bool, y_axis: str = "psnr", **ranking: Any) -> None:
    """PSNR-vs-latency plot per section (device, input, scale) with the Pareto front marked (needs matplotlib)."""
    from .plot import plot_energy, plot_pareto

    _, rows = _board(ctx, devices, models, backends, latest, **ranking)
    n = (plot_energy if y_axis == "energy" else plot_pareto)(rows, output)
    click.echo(f"Wrote {output} ({n} configurations)", err=True)


@cli.command()
@click.argument("run_a", default="previous")
@click.argument("run_b", default="last")
@click.option("--threshold", default="5%", show_default=True,
              help="Slowdown (B/A - 1) that counts as a regression when significant: 5% or 0.05.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level of the U test.")
@click.option("--max-psnr-drop", type=float, help="Also fail when PSNR falls by more than this many dB.")
@click.option("-f", "--format", "fmt", type=click.Choice(["rich", "markdown", "json"]), default="rich",
              show_default=True)
@click.pass_context
def compare(ctx: click.Context, run_a: str, run_b: str, threshold: str, alpha: float, max_psnr_drop: float | None,
            fmt: str) -> None:
    """Compare run B with run A: latency ratio with its interval, U test, PSNR change.

    RUN_A and RUN_B are run ids, "last", "previous" (the latest earlier run sharing a configuration
    with the last) or export files. Exits 1 when a row regresses beyond --threshold with
    significance, so it can guard a model in CI.
    """
    from .compare import compare as compare_sides, parse_threshold, render_json, render_rich, render_text, resolve

    limit = parse_threshold(threshold)
    store = _store(ctx)
    b = resolve(store, run_b)
    a = resolve(store, run_a, other=b.run_id)
    rows = compare_sides(a, b, limit, alpha, max_psnr_drop)
    if not rows:
        raise EdgebenchError(f"{a.label} and {b.label} have no results to compare")
    if fmt == "json":
        click.echo(render_json(rows, a, b, limit, alpha))
    elif fmt == "markdown":
        click.echo(render_text(rows, a, b, limit, alpha), nl=False)
    else:
        render_rich(rows, a, b, limit, alpha, _console())
    failed = [r for r in rows if r.failed]
    if failed:
        click.secho(f"{len(failed)} regression(s): " + ", ".join(f"{r.model} {r.backend} {r.precision}"
                                                                for r in failed), fg="red", err=True)
        sys.exit(1)


@cli.command()
@click.option("-f", "--format", "fmt", type=click.Choice(["json"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (.gz compresses); default: standard output.")
@_with_filters
@click.option("--run", "run_ids", type=int, multiple=True, help="Only these run ids.")
@click.pass_context
def export(ctx: click.Context, fmt: str, output: Path | None, devices: tuple[str, ...], models: tuple[str, ...],
           backends: tuple[str, ...], run_ids: tuple[int, ...]) -> None:
    """Write every result with its environment as versioned JSON (docs/leaderboard.md)."""
    from .exchange import dumps, export_doc, write

    where, params = _filters(devices, models, backends, run_ids)
    doc = export_doc(_store(ctx), where, params)
    n = sum(len(r["results"]) for r in doc["runs"])
    if output:
        write(doc, output)
        click.echo(f"Exported {n} result(s) of {len(doc['runs'])} run(s) to {output}", err=True)
    else:
        click.echo(dumps(doc), nl=False)


@cli.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Merge `edgebench export` files into the store; results already present are skipped."""
    from .board_pools import refresh
    from .exchange import import_doc, read

    store = _store(ctx)
    for path in files:
        counts = import_doc(store, read(path))
        refresh(store.db)  # pool what came in now, not on the next board
        click.echo(f"{path}: imported {counts['results']} result(s) in {counts['runs']} new run(s), "
                   f"skipped {counts['duplicates']} already present")
