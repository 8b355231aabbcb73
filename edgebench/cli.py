"""The edgebench command line. Thin: parse, call harness / store / leaderboard, render.

Heavy modules (torch, runtimes, numpy, rich) are imported inside the commands that need them so
``edgebench --help`` starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import EdgebenchError


class EdgebenchGroup(click.Group):
    """Turns every EdgebenchError into one ``Error: ...`` line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgebenchError as exc:
            err = click.ClickException(str(exc))
            err.exit_code = exc.exit_code
            raise err from None


@click.group(cls=EdgebenchGroup)
@click.version_option(__version__, prog_name="edgebench")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), envvar="EDGEBENCH_DB",
              help="Results database (default: edgebench.db in the user data dir; env EDGEBENCH_DB).")
@click.pass_context
def cli(ctx: click.Context, db: Path | None) -> None:
    """Benchmark int8 super-resolution models on edge devices and rank them MAI-style."""
    ctx.obj = {"db": db}


def _store(ctx: click.Context):  # type: ignore[no-untyped-def]
    from .store import Store

    return Store.open(ctx.obj.get("db") if ctx.obj else None)


def _warn_plugin_problems() -> None:
    from .plugins import failures, hook_errors

    for name, error in failures.items():
        click.secho(f"Warning: plugin {name!r} failed to load and was skipped: {error}", fg="yellow", err=True)
    for line in dict.fromkeys(hook_errors):
        click.secho(f"Warning: {line}", fg="yellow", err=True)
    hook_errors.clear()
    failures.clear()


def _size(value: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value.lower().split("x"))
        if h <= 0 or w <= 0:
            raise ValueError
        return h, w
    except ValueError:
        raise click.BadParameter(f"{value!r} is not HEIGHTxWIDTH, e.g. 360x640") from None


def _option_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE strings -> profile options; VALUE is read as TOML (port=2222 is an int), else a string."""
    import tomllib

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--device-option")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


@cli.command()
@click.option("-d", "--device", default="host", show_default=True, help="Device profile name.")
@click.option("-m", "--model", "models", multiple=True, help="Model(s) to measure (default: the default set).")
@click.option("-b", "--backend", "backends", multiple=True, help="Backend(s) (default: onnxruntime).")
@click.option("-p", "--precision", "precisions", multiple=True, type=click.Choice(["fp32", "int8"]),
              help="Precision(s) (default: fp32 and int8).")
@click.option("--delegate", "delegates", multiple=True, help="Delegate(s), e.g. cpu, xnnpack, nnapi, gpu.")
@click.option("--threads", type=int, help="Runtime threads (default: the device profile's; 0 = runtime default).")
@click.option("--size", default="360x640", show_default=True, help="Timing input HEIGHTxWIDTH (MAI: 360x640).")
@click.option("--runs", type=int, default=10, show_default=True, help="Timed runs (at least).")
@click.option("--warmup", type=int, default=3, show_default=True, help="Untimed warm-up runs.")
@click.option("--min-time", type=float, default=0.0, show_default=True, help="Keep timing for at least this many s.")
@click.option("--cooldown", type=float, default=0.0, show_default=True, help="Pause (s) before each timed run.")
@click.option("--cool-to", type=float, metavar="DEGREES",
              help="Before each model, wait until the device's hottest thermal zone is below this (°C).")
@click.option("--cool-timeout", type=float, default=300.0, show_default=True,
              help="Longest wait for --cool-to (s); a result that starts hotter is flagged.")
@click.option("--quick", is_flag=True, help="Tiny input and few runs: a smoke test, not a benchmark.")
@click.option("--dataset", default="bundled", show_default=True,
              help="Quality photos: a registered dataset or a folder (HR images, or DIV2K layout).")
@click.option("--quality-images", type=int, help="Use only the first N quality images.")
@click.option("--no-quality", is_flag=True, help="Skip PSNR/SSIM.")
@click.option("--timeout", type=float, default=900.0, show_default=True, help="Per-model timeout on the device (s).")
@click.option("--devices-dir", type=click.Path(file_okay=False, path_type=Path), multiple=True,
              help="Extra folder of device profiles.")
@click.option("--serial", help="adb: the phone to use (serial, or host:port in TCP mode); overrides the profile.")
@click.option("--device-option", "device_options", multiple=True, metavar="KEY=VALUE",
              help="Override one of the profile's [options] for this run, e.g. host=10.0.0.7 or port=2222.")
@click.pass_context
def run(ctx: click.Context, device: str, models: tuple[str, ...], backends: tuple[str, ...],
        precisions: tuple[str, ...], delegates: tuple[str, ...], threads: int | None, size: str, runs: int,
        warmup: int, min_time: float, cooldown: float, cool_to: float | None, cool_timeout: float, quick: bool, dataset: str, quality_images: int | None,
        no_quality: bool, timeout: float, devices_dir: tuple[Path, ...], serial: str | None,
        device_options: tuple[str, ...]) -> None:
    """Export, deploy and measure models on a device; store every result."""
    from .devices import get_profile
    from .harness import Harness, Settings, plan
    from .plugins import backends as backend_registry
    from .plugins import models as model_registry

    height, width = _size(size)
    profile = get_profile(device, list(devices_dir))
    profile.options.update(_option_overrides(device_options) | ({"serial": serial} if serial else {}))
    selected_backends = [backend_registry.get(b) for b in (backends or ("onnxruntime",))]
    selected_models = ([model_registry.get(m) for m in models] if models
                       else [m for m in model_registry.all().values() if m.default])
    if not selected_models:
        raise EdgebenchError("no models selected and no default models registered (see `edgebench models`)")
    for backend in selected_backends:
        reason = backend.unavailable_reason()
        if reason:
            raise EdgebenchError(f"backend {backend.name!r} cannot run here: {reason}")
    _warn_plugin_problems()
    jobs = plan(selected_models, selected_backends, precisions or ("fp32", "int8"), delegates or None, profile)
    common = dict(warmup=warmup, runs=runs, min_time=min_time, cooldown=cooldown, cool_to=cool_to,
                  cool_timeout=cool_timeout, threads=threads,
                  dataset=dataset, quality=not no_quality, timeout=timeout)
    if quick:  # --runs / --warmup given on the command line still count
        explicit = {k for k in ("warmup", "runs")
                    if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
        settings = Settings.quick(**{k: v for k, v in common.items() if k not in ("warmup", "runs") or k in explicit})
        if quality_images:
            settings.quality_images = quality_images
    else:
        settings = Settings(height=height, width=width, quality_images=quality_images, **common)

    from .progress import ProgressReporter

    console = _console(stderr=True)
    store = _store(ctx)
    harness = None
    try:
        with ProgressReporter(console, len(jobs), profile.name) as reporter:
            harness = Harness(store, profile, settings, reporter=reporter)
            harness.run(jobs, argv=sys.argv)
    except KeyboardInterrupt:
        kept = store.count_run(harness.run_id) if harness and harness.run_id else 0
        click.secho(f"Interrupted: {kept} finished result(s) kept in {store.path}", fg="yellow", err=True)
        sys.exit(130)
    _print_run(store, harness.run_id, harness.failures)


def _console(stderr: bool = False):  # type: ignore[no-untyped-def]
    """A rich console; when output is piped, wide enough that tables are never truncated."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=max(console.width, 200))
    return console


def _print_run(store, run_id: int, failures: list[str]) -> None:  # type: ignore[no-untyped-def]
    from .leaderboard import board_rows, render_rich

    rows = board_rows(store.results("run_id = ?", [run_id]))
    console = _console()
    if rows:
        render_rich(rows, console)
    for line in failures:
        click.secho(f"Skipped: {line}", fg="yellow", err=True)
    click.echo(f"Run {run_id}: {len(rows)} result(s) stored in {store.path}", err=True)
    if failures and not rows:
        sys.exit(1)


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
           latest: bool = False) -> tuple[Any, list[dict[str, Any]]]:
    from .leaderboard import board_rows, load_results, load_runs

    store = _store(ctx)
    where, params = _filters(devices, models, backends)
    return store, board_rows(load_results(store.db, where, params), load_runs(store.db), pool=not latest)


_FILTERS = [
    click.option("-d", "--device", "devices", multiple=True, help="Only these devices."),
    click.option("-m", "--model", "models", multiple=True, help="Only these models."),
    click.option("-b", "--backend", "backends", multiple=True, help="Only these backends."),
]


def _with_filters(f):  # type: ignore[no-untyped-def]
    for option in reversed(_FILTERS):
        f = option(f)
    return f


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
@click.pass_context
def leaderboard(ctx: click.Context, fmt: str, devices: tuple[str, ...], models: tuple[str, ...],
                backends: tuple[str, ...], latest: bool, top: int | None, output: Path | None) -> None:
    """Rank stored results (one row per device, model, backend, delegate, precision).

    Repeated results of a configuration are pooled when input size, threads, runtime version,
    artifact and device match the latest one's (docs/leaderboard.md); others are counted, not pooled.
    """
    from .leaderboard import render_csv, render_json, render_markdown, render_rich, top_rows

    store, rows = _board(ctx, devices, models, backends, latest)
    if fmt == "rich" and output is None:
        if not rows:
            click.echo("No results stored yet: run `edgebench run` first.")
            return
        render_rich(rows, _console(), top=30 if top is None else top)
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
@click.pass_context
def plot(ctx: click.Context, output: Path, devices: tuple[str, ...], models: tuple[str, ...],
         backends: tuple[str, ...], latest: bool) -> None:
    """PSNR-vs-latency plot per device with the Pareto front marked (needs matplotlib)."""
    from .plot import plot_pareto

    _, rows = _board(ctx, devices, models, backends, latest)
    n = plot_pareto(rows, output)
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
    from .exchange import import_doc, read

    store = _store(ctx)
    for path in files:
        counts = import_doc(store, read(path))
        click.echo(f"{path}: imported {counts['results']} result(s) in {counts['runs']} new run(s), "
                   f"skipped {counts['duplicates']} already present")


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include edgebench's own built-in plugins.")
@click.option("--hook", "hooks", multiple=True, help="Only plugins implementing this hook.")
def plugins(show_all: bool, hooks: tuple[str, ...]) -> None:
    """List installed plugins, their versions, hooks, what they registered and any load error."""
    from .plugins import backends as b, datasets as d, models as m, plugin_rows, transports as t

    rows = plugin_rows()
    registered: dict[str, dict[str, list[str]]] = {}
    for kind, registry in (("backends", b), ("models", m), ("transports", t), ("datasets", d)):
        for name, obj in registry.all().items():
            registered.setdefault(obj.plugin, {}).setdefault(kind, []).append(name)
    out = []
    for row in rows:
        if not show_all and row["name"].startswith("builtin_"):
            continue
        if hooks and not set(hooks) & set(row["hooks"]):
            continue
        row.update(registered.get(row["name"], {}))
        out.append(row)
    click.echo(json.dumps(out, indent=2))
    _warn_plugin_problems()


@cli.command()
@click.option("--check", is_flag=True, help="Try to reach each device.")
@click.option("--devices-dir", type=click.Path(file_okay=False, path_type=Path), multiple=True)
@click.option("--path", "show_path", is_flag=True, help="Print the folder for your own profiles.")
@click.argument("names", nargs=-1)
def devices(check: bool, devices_dir: tuple[Path, ...], show_path: bool, names: tuple[str, ...]) -> None:
    """List device profiles (built-in, user dir, --devices-dir), or only NAMES."""
    from .devices import builtin_devices_dir, load_profiles, user_devices_dir
    from .errors import UnknownName

    if show_path:
        click.echo(str(user_devices_dir()))
        return
    from rich.table import Table

    table = Table(title="devices", title_justify="left")
    for col in ("Name", "Transport", "Description", "Delegates", "Source", *(["Reachable"] if check else [])):
        table.add_column(col)
    profiles = load_profiles(list(devices_dir))
    for unknown in set(names) - set(profiles):
        raise UnknownName("device", unknown, list(profiles))
    builtin = builtin_devices_dir().resolve()
    for name, profile in sorted(profiles.items()):
        if names and name not in names:
            continue
        source = profile.source.parent.resolve() if profile.source else None
        cells = [name, profile.transport, profile.description, ", ".join(profile.delegates),
                 "built-in" if source == builtin else str(profile.source or "")]
        if check:
            cells.append(_reachable(profile))
        table.add_row(*cells)
    _console().print(table)


def _reachable(profile) -> str:  # type: ignore[no-untyped-def]
    try:
        transport = profile.transport_obj()
        transport.open()
        try:
            transport.run(["true"], timeout=15)
        finally:
            transport.close()
    except EdgebenchError as exc:
        return f"no: {exc}"
    return "yes"


@cli.command()
def models() -> None:
    """List registered models."""
    from rich.table import Table

    from .plugins import models as registry

    table = Table(title="models", title_justify="left")
    for col in ("Name", "Scale", "Default", "Weights", "Plugin", "Description"):
        table.add_column(col)
    for name, spec in sorted(registry.all().items()):
        weights = "none" if spec.weights is None else ("yes" if Path(spec.weights).is_file() else "missing")
        table.add_row(name, f"x{spec.scale}", "yes" if spec.default else "", weights, spec.plugin, spec.description)
    _console().print(table)
    _warn_plugin_problems()


@cli.command()
def backends() -> None:
    """List registered backends, their runtime versions and delegates."""
    from rich.table import Table

    from .plugins import backends as registry

    table = Table(title="backends", title_justify="left")
    for col in ("Name", "Version", "Delegates", "Precisions", "Plugin", "Status"):
        table.add_column(col)
    for name, backend in sorted(registry.all().items()):
        reason = backend.unavailable_reason()
        version = "–" if reason else backend.version()
        table.add_row(name, version, ", ".join(backend.delegates), ", ".join(backend.precisions), backend.plugin,
                      reason or "ok")
    _console().print(table)
    _warn_plugin_problems()


@cli.command()
@click.argument("action", type=click.Choice(["path", "clear"]), default="path")
def cache(action: str) -> None:
    """Show or clear the exported-artifact cache."""
    from .artifacts import ArtifactCache

    store = ArtifactCache()
    if action == "path":
        click.echo(str(store.root))
    else:
        click.echo(f"Removed {store.clear()} cached file(s) from {store.root}")


def _register_plugin_commands() -> None:
    from .plugins import call_each

    call_each("edgebench_register_commands", cli=cli)


_register_plugin_commands()


def main() -> None:
    cli(prog_name="edgebench")
