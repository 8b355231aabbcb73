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
@click.option("--threads", "threads_spec", metavar="N[,N...]",
              help="Runtime threads; a list (1,2,4) sweeps them, each its own row (default: the device profile's; "
                   "0 = runtime default).")
@click.option("--affinity", "affinities", multiple=True, metavar="big|mid|little|all|MASK",
              help="Pin to a core cluster, a hex mask (f0) or a cpu list (4-7); repeat or comma-separate to sweep "
                   "(× --threads), each its own row. Default: the profile's affinity.")
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
@click.option("--no-cpu-baseline", is_flag=True,
              help="Do not also measure the CPU (xnnpack/cpu) path of an accelerator delegate's artifact.")
@click.option("--no-conditions", is_flag=True,
              help="Do not record load, frequencies and battery before and after each result.")
@click.option("--require-full-delegation", is_flag=True,
              help="Fail a job whose delegate leaves part of the graph to the CPU (default: store it, marked partial).")
@click.option("--timeout", type=float, default=900.0, show_default=True, help="Per-model timeout on the device (s).")
@click.option("--devices-dir", type=click.Path(file_okay=False, path_type=Path), multiple=True,
              help="Extra folder of device profiles.")
@click.option("--serial", help="adb: the phone to use (serial, or host:port in TCP mode); overrides the profile.")
@click.option("--device-option", "device_options", multiple=True, metavar="KEY=VALUE",
              help="Override one of the profile's [options] for this run, e.g. host=10.0.0.7 or port=2222.")
@click.pass_context
def run(ctx: click.Context, device: str, models: tuple[str, ...], backends: tuple[str, ...],
        precisions: tuple[str, ...], delegates: tuple[str, ...], threads_spec: str | None,
        affinities: tuple[str, ...], no_cpu_baseline: bool, no_conditions: bool, size: str, runs: int,
        warmup: int, min_time: float, cooldown: float, cool_to: float | None, cool_timeout: float, quick: bool, dataset: str, quality_images: int | None,
        no_quality: bool, require_full_delegation: bool, timeout: float, devices_dir: tuple[Path, ...], serial: str | None,
        device_options: tuple[str, ...]) -> None:
    """Export, deploy and measure models on a device; store every result."""
    from .cpus import parse_threads, sweep
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
    thread_list = parse_threads(threads_spec) if threads_spec else []
    masks = [m.strip() for spec in affinities for m in spec.split(",") if m.strip()]
    grid = sweep(masks or [None], thread_list or [None])  # type: ignore[list-item]
    jobs = plan(selected_models, selected_backends, precisions or ("fp32", "int8"), delegates or None, profile,
                settings=grid, cpu_baseline=not no_cpu_baseline)
    common = dict(warmup=warmup, runs=runs, min_time=min_time, cooldown=cooldown, cool_to=cool_to,
                  cool_timeout=cool_timeout, threads=thread_list[0] if len(thread_list) == 1 else None,
                  dataset=dataset, quality=not no_quality, timeout=timeout,
                  require_full_delegation=require_full_delegation, cpu_baseline=not no_cpu_baseline,
                  conditions=not no_conditions)
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

    # this run's own rows, --quick ones included (unranked): the user asked for them
    rows = board_rows(store.results("run_id = ?", [run_id]), include_quick=True)
    console = _console()
    if rows:
        render_rich(rows, console)
    for line in failures:
        click.secho(f"Skipped: {line}", fg="yellow", err=True)
    click.echo(f"Run {run_id}: {len(rows)} result(s) stored in {store.path}", err=True)
    if failures and not rows:
        sys.exit(1)


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
@click.option("--serial", help="adb: the phone to check (serial, or host:port in TCP mode); overrides the profile.")
@click.option("--device-option", "device_options", multiple=True, metavar="KEY=VALUE",
              help="Override one of the profile's [options] for the check, e.g. server_port=5038.")
@click.argument("names", nargs=-1)
def devices(check: bool, devices_dir: tuple[Path, ...], show_path: bool, serial: str | None,
            device_options: tuple[str, ...], names: tuple[str, ...]) -> None:
    """List device profiles (built-in, user dir, --devices-dir), or only NAMES."""
    from .devices import builtin_devices_dir, load_profiles, user_devices_dir
    from .errors import UnknownName

    if show_path:
        click.echo(str(user_devices_dir()))
        return
    overrides = _option_overrides(device_options) | ({"serial": serial} if serial else {})
    if overrides and not names:
        raise click.UsageError("--serial / --device-option apply to the devices you name: devices --check NAME ...")
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
        profile.options.update(overrides)
        source = profile.source.parent.resolve() if profile.source else None
        cells = [name, profile.transport, profile.description, ", ".join(profile.delegates),
                 "built-in" if source == builtin else str(profile.source or "")]
        if check:
            cells.append(_reachable(profile))
        table.add_row(*cells)
    _console().print(table)


def _reachable(profile) -> str:  # type: ignore[no-untyped-def]
    from .transports.remote import check

    # the transport's own probe: fast answers for an absent device, and (adb) no server left behind
    ok, message = check(profile)
    return "yes" if ok else f"no: {message}"


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


from . import cli_results  # noqa: E402,F401  (registers its commands on `cli`)


def _register_plugin_commands() -> None:
    from .plugins import call_each

    call_each("edgebench_register_commands", cli=cli)


_register_plugin_commands()


def main() -> None:
    cli(prog_name="edgebench")
