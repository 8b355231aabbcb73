"""The edgebench command line. Thin: parse, call harness / store / leaderboard, render.

Heavy modules (torch, runtimes, numpy, rich) are imported inside the commands that need them so
``edgebench --help`` starts fast.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import EdgebenchError, debug_enabled


class EdgebenchGroup(click.Group):
    """Turns every EdgebenchError into one ``Error: ...`` line and its exit code.

    Any other exception is a bug (often in a plugin): one ``Error:`` line naming its type and the
    plugin its traceback passes through, exit code 1; under ``--debug`` / ``EDGEBENCH_DEBUG=1`` the
    exception propagates with its full traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgebenchError as exc:
            err = click.ClickException(str(exc))
            err.exit_code = exc.exit_code
            raise err from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors, --help, ctrl-c (Abort and Exit are RuntimeErrors)
        except Exception as exc:
            if debug_enabled() or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
                raise  # the traceback the user asked for; a closed pipe is click's to handle
            raise click.ClickException(_unexpected_line(exc)) from None


def _unexpected_line(exc: BaseException) -> str:
    """``RuntimeError: boom (in plugin 'x'; rerun with edgebench --debug for the traceback)``."""
    from .plugins import plugin_in_traceback

    text = str(exc).strip().splitlines()
    where = plugin_in_traceback(exc)
    hint = (f"in plugin {where!r}; " if where else "") + "rerun with edgebench --debug for the traceback"
    return f"{type(exc).__name__}{': ' + text[0] if text else ''} ({hint})"


@click.group(cls=EdgebenchGroup)
@click.version_option(__version__, prog_name="edgebench")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), envvar="EDGEBENCH_DB",
              help="Results database (default: results.db in the user data dir, e.g. "
                   "~/.local/share/edgebench/results.db; env EDGEBENCH_DB).")
@click.option("--debug", is_flag=True,
              help="Show the full traceback of unexpected errors, plugins' included (env EDGEBENCH_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, db: Path | None, debug: bool) -> None:
    """Benchmark int8 super-resolution models on edge devices and rank them MAI-style."""
    ctx.obj = {"db": db}
    if debug:
        # through the environment: library code (artifact export) and child processes check it too
        previous = os.environ.get("EDGEBENCH_DEBUG")
        os.environ["EDGEBENCH_DEBUG"] = "1"

        def restore() -> None:  # in-process callers (CliRunner) get their environment back
            if previous is None:
                os.environ.pop("EDGEBENCH_DEBUG", None)
            else:
                os.environ["EDGEBENCH_DEBUG"] = previous

        ctx.call_on_close(restore)


def _store(ctx: click.Context):  # type: ignore[no-untyped-def]
    from .store import Store

    return Store.open(ctx.obj.get("db") if ctx.obj else None)


def _warn_plugin_problems() -> None:
    """One warning line per plugin that failed to load or raised in a hook; tracebacks under --debug."""
    from .plugins import failures, hook_errors, hook_tracebacks, plugin_info

    debug = debug_enabled()
    for name, error in failures.items():
        click.secho(f"Warning: plugin {name!r} failed to load and was skipped: {error}", fg="yellow", err=True)
        info = plugin_info.get(name)
        if debug and info is not None and info.traceback:
            click.echo(info.traceback.rstrip(), err=True)
    for line in dict.fromkeys(hook_errors):
        click.secho(f"Warning: {line}", fg="yellow", err=True)
        if debug and line in hook_tracebacks:
            click.echo(hook_tracebacks[line].rstrip(), err=True)
    hook_errors.clear()
    hook_tracebacks.clear()
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
@click.option("-d", "--device", "device_names", multiple=True, metavar="NAME",
              help="Device profile or group (groups.toml); repeat to measure on several devices at once "
                   "(default: host). With --farm: a profile name, a device id or a key such as a SoC.")
@click.option("--farm", "farm_address", metavar="ADDRESS",
              help="Run on a Ray device farm (edgebench farm head / join): jobs go to nodes owning a matching "
                   "device; results land in this host's store.")
@click.option("--quarantine-after", type=int, default=3, show_default=True,
              help="--farm: a device failing this many health probes in a row is quarantined.")
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
def run(ctx: click.Context, device_names: tuple[str, ...], farm_address: str | None, quarantine_after: int,
        models: tuple[str, ...], backends: tuple[str, ...],
        precisions: tuple[str, ...], delegates: tuple[str, ...], threads_spec: str | None,
        affinities: tuple[str, ...], no_cpu_baseline: bool, no_conditions: bool, size: str, runs: int,
        warmup: int, min_time: float, cooldown: float, cool_to: float | None, cool_timeout: float, quick: bool, dataset: str, quality_images: int | None,
        no_quality: bool, require_full_delegation: bool, timeout: float, devices_dir: tuple[Path, ...], serial: str | None,
        device_options: tuple[str, ...]) -> None:
    """Export, deploy and measure models on a device; store every result."""
    from .cpus import parse_threads, sweep
    from .devices import expand_devices, get_profile
    from .harness import Harness, Settings, plan
    from .plugins import backends as backend_registry
    from .plugins import models as model_registry

    height, width = _size(size)
    if farm_address:
        if serial or device_options:
            raise click.UsageError("--serial / --device-option change a local profile; with --farm each node "
                                   "measures with its own profiles")
        names = list(dict.fromkeys(device_names)) or ["host"]
        profiles = []  # the farm's nodes own the profiles: matched there
    else:
        names = expand_devices(device_names or ("host",), list(devices_dir))
        if serial and len(names) > 1:
            raise click.UsageError("--serial names one phone: use it with one --device")
        profiles = [get_profile(name, list(devices_dir)) for name in names]
        overrides = _option_overrides(device_options) | ({"serial": serial} if serial else {})
        for each in profiles:
            each.options.update(overrides)
    profile = profiles[0] if profiles else None
    selected_backends = [backend_registry.get(b) for b in (backends or ("onnxruntime",))]
    selected_models = ([model_registry.get(m) for m in models] if models
                       else [m for m in model_registry.all().values() if m.default])
    if not selected_models:
        raise EdgebenchError("no models selected and no default models registered (see `edgebench models`)")
    missing = {b.name: reason for b in selected_backends if (reason := b.unavailable_reason())}
    if missing and len(missing) == len(selected_backends):  # nothing could run: one line, the first cause
        name, reason = next(iter(missing.items()))
        raise EdgebenchError(f"backend {name!r} cannot run here: {reason}")
    for name, reason in missing.items():  # the other backends still measure
        click.secho(f"Skipped: backend {name!r} cannot run here: {reason}", fg="yellow", err=True)
    selected_backends = [b for b in selected_backends if b.name not in missing]
    _warn_plugin_problems()
    thread_list = parse_threads(threads_spec) if threads_spec else []
    masks = [m.strip() for spec in affinities for m in spec.split(",") if m.strip()]
    grid = sweep(masks or [None], thread_list or [None])  # type: ignore[list-item]

    def plan_for(target):  # type: ignore[no-untyped-def]
        return plan(selected_models, selected_backends, precisions or ("fp32", "int8"), delegates or None, target,
                    settings=grid, cpu_baseline=not no_cpu_baseline)

    if not farm_address and len(profiles) == 1:
        jobs = plan_for(profile)
        for skip in jobs.skipped:  # what a backend or the device cannot do: one line each, the rest runs
            click.secho(f"Skipped: {skip.reason}: {skip.jobs} job(s)", fg="yellow", err=True)
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

    if farm_address:
        from .farm.submit import run_on_farm

        run_on_farm(ctx, farm_address, names, plan_for, settings, quarantine_after=quarantine_after)
        return
    if len(profiles) > 1:
        if getattr(settings, "power", None):  # one meter sits between one device and its supply
            raise click.UsageError("a power meter measures one device: use --power with a single --device")
        _run_on_devices(ctx, profiles, plan_for, settings)
        return

    from .progress import ProgressReporter

    console = _console(stderr=True)
    store = _store(ctx)
    harness = Harness(store, profile, settings)
    try:
        # a bad --dataset is one Error line now: no run stored, no progress bar
        harness.load_datasets(jobs)
        for line in harness.dataset_warnings:
            click.secho(f"Warning: skipped unreadable image {line}", fg="yellow", err=True)
        with ProgressReporter(console, len(jobs), profile.name) as reporter:
            harness.reporter = reporter
            harness.run(jobs, argv=sys.argv)
    except KeyboardInterrupt:
        kept = store.count_run(harness.run_id) if harness.run_id else 0
        click.secho(f"Interrupted: {kept} finished result(s) kept in {store.path}", fg="yellow", err=True)
        sys.exit(130)
    _print_run(store, harness.run_id, harness.failed)


def _run_on_devices(ctx: click.Context, profiles: list, plan_for: Any, settings: Any) -> None:
    """``run --device A --device B``: one worker per device, one progress line each, results as they come."""
    import threading

    from .device_progress import DeviceLines
    from .harness import Harness
    from .multi_device import DeviceRun, run_on_devices

    from .errors import BackendUnavailable

    runs, refused = [], []
    for each in profiles:
        try:
            jobs = plan_for(each)
        except BackendUnavailable as exc:  # nothing asked for runs on this device: the others still measure
            refused.append(exc)
            click.secho(f"Skipped: device {each.name!r}: {exc}", fg="yellow", err=True)
            continue
        for skip in jobs.skipped:
            click.secho(f"Skipped: {each.name}: {skip.reason}: {skip.jobs} job(s)", fg="yellow", err=True)
        runs.append(DeviceRun(each, jobs))
    if not runs:
        raise refused[0]
    store = _store(ctx)  # migrated once here; each worker opens its own connection
    # a bad --dataset is one Error line before any device starts
    probe = Harness(store, profiles[0], settings)
    try:
        probe.load_datasets([job for run in runs for job in run.jobs])
        for line in probe.dataset_warnings:
            click.secho(f"Warning: skipped unreadable image {line}", fg="yellow", err=True)
    finally:
        probe._cleanup()
    stop = threading.Event()
    console = _console(stderr=True)

    workers: list[threading.Event] = []  # each device's "ended" event, once the workers started
    stopping = "Stopping: each device finishes the job it is on (Ctrl-C again to quit now)"

    def wait(ended: list[threading.Event]) -> None:
        workers[:] = ended
        # wait in short slices: the main thread must stay able to take Ctrl-C (the loop's test too
        # sits inside the try, or a signal landing there would skip the wait and count too early)
        while True:
            try:
                while not all(event.wait(0.2) for event in ended):
                    pass
                return
            except KeyboardInterrupt:
                if stop.is_set():  # a second Ctrl-C: leave now, what finished is already stored
                    raise
                stop.set()
                click.secho(stopping, fg="yellow", err=True)

    try:
        with DeviceLines(console) as lines:
            reporters = {id(run): lines.reporter(run.profile.name, len(run.jobs)) for run in runs}
            run_on_devices(store.path, runs, settings, reporter=lambda run: reporters[id(run)],
                           argv=sys.argv, stop=stop, wait=wait)
            for run in runs:
                reporters[id(run)].finish("interrupted" if run.interrupted else "failed" if run.error else "done")
    except KeyboardInterrupt:
        if not stop.is_set() and workers:  # the first Ctrl-C landed outside wait(): devices still finish their job
            stop.set()
            click.secho(stopping, fg="yellow", err=True)
            try:
                wait(workers)
            except KeyboardInterrupt:
                pass
        stop.set()
    if stop.is_set():
        # a worker still on its job after a second Ctrl-C has no run.run_id yet: its harness has
        run_ids = {run.run_id or (run.harness.run_id if run.harness else None) for run in runs}
        kept = sum(store.count_run(run_id) for run_id in run_ids if run_id)
        click.secho(f"Interrupted: {kept} finished result(s) kept in {store.path}", fg="yellow", err=True)
        sys.exit(130)
    _print_runs(store, runs)


def _print_runs(store, runs: list) -> None:  # type: ignore[no-untyped-def]
    """One table for every device's rows, then each device's failures; exit 1 if a device stored nothing."""
    from .board_terminal import render_rich
    from .leaderboard import board_rows

    ids = [run.run_id for run in runs if run.run_id is not None]
    marks = ", ".join("?" * len(ids))
    rows = board_rows(store.results(f"run_id IN ({marks})", ids), include_quick=True) if ids else []
    if rows:
        render_rich(rows, _console(), title=f"runs {', '.join(map(str, sorted(ids)))}: results")
    empty = []
    for run in runs:
        for line in _failure_lines(run.failed):
            click.secho(f"{run.profile.name}: {line}", fg="yellow", err=True)
        stored = store.count_run(run.run_id) if run.run_id else 0
        if run.error:
            click.secho(f"Failed: device {run.profile.name!r}: {run.error} ({stored} result(s) stored first)",
                        fg="red", err=True)
        if not stored:
            empty.append(run.profile.name)
        click.echo(f"{run.profile.name}: run {run.run_id}: {stored} result(s) in {run.seconds:.1f} s", err=True)
    click.echo(f"{len(rows)} result(s) stored in {store.path}", err=True)
    if empty:  # a device that measured nothing failed its run, whatever the others did
        sys.exit(1)


def _console(stderr: bool = False):  # type: ignore[no-untyped-def]
    """A rich console; when output is piped, wide enough for every column unless COLUMNS says otherwise."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():  # rich reads COLUMNS itself
        console = Console(stderr=stderr, width=max(console.width, 200))
    return console


def _print_run(store, run_id: int, failures: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """The run's table, then one ``Skipped`` line per cause of failure (``failures``: (job label, why))."""
    from .board_terminal import render_rich
    from .leaderboard import board_rows

    # this run's own rows, --quick ones included (unranked): the user asked for them
    rows = board_rows(store.results("run_id = ?", [run_id]), include_quick=True)
    console = _console()
    if rows:
        render_rich(rows, console, title=f"run {run_id}: results")
    for line in _failure_lines(failures):
        click.secho(line, fg="yellow", err=True)
    click.echo(f"Run {run_id}: {len(rows)} result(s) stored in {store.path}", err=True)
    if not rows:  # nothing stored: the run failed (and is stored as 'failed')
        sys.exit(1)


def _failure_lines(failures: list[tuple[str, str]], listed: int = 4) -> list[str]:
    """One line per cause: 'Skipped: <job>: <why>' for one job; 'Skipped (N jobs): <cause>' for a cause
    N jobs share (the message without the job's own label), naming the jobs when there are few."""
    by_cause: dict[str, list[tuple[str, str]]] = {}
    for label, message in failures:
        cause = message.replace(label, "").strip(" :") or message
        by_cause.setdefault(cause, []).append((label, message))
    lines = []
    for cause, jobs in by_cause.items():
        if len(jobs) == 1:
            lines.append(f"Skipped: {jobs[0][0]}: {jobs[0][1]}")
        else:
            names = f" [{'; '.join(label for label, _ in jobs)}]" if len(jobs) <= listed else ""
            lines.append(f"Skipped ({len(jobs)} jobs): {cause}{names}")
    return lines


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include edgebench's own built-in plugins.")
@click.option("--hook", "hooks", multiple=True, help="Only plugins implementing this hook.")
def plugins(show_all: bool, hooks: tuple[str, ...]) -> None:
    """List installed plugins, their versions, hooks, what they registered and any load error."""
    from .plugins import backends as b, datasets as d, models as m, plugin_rows, transports as t

    registered: dict[str, dict[str, list[str]]] = {}
    for kind, registry in (("backends", b), ("models", m), ("transports", t), ("datasets", d)):
        for name, obj in registry.all().items():
            registered.setdefault(obj.plugin, {}).setdefault(kind, []).append(name)
    rows = plugin_rows()  # after the registries: a hook that raised while filling them is each row's "error"
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
    from rich.text import Text

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
        table.add_row(*(Text(str(cell)) for cell in cells))  # profile text is literal, never rich markup
    _console().print(table)


def _reachable(profile) -> str:  # type: ignore[no-untyped-def]
    from .transports.remote import check

    # the transport's own probe: fast answers for an absent device, and (adb) no server left behind
    ok, message = check(profile)
    return "yes" if ok else f"no: {message}"


def _si(count: int | None) -> str:
    """41780 -> 41.8k, 9_756_288_000 -> 9.76G: three significant digits (more only past 999T)."""
    if count is None:
        return "–"
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if count >= size:
            value = count / size
            return f"{value:.3g}{unit}" if value < 1000 else f"{value:,.0f}{unit}"
    return str(count)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per model) instead of a table.")
def models(as_json: bool) -> None:
    """List registered models: parameters, MACs at the MAI input (360x640), scale and weights.

    Weights: shipped (in the plugin's package), trained here (a file outside any package, e.g.
    `edgebench train`'s), untrained (no file, though the model has parameters), none needed
    (no parameters, e.g. bicubic), missing (the file named does not exist).
    """
    from .modelinfo import model_rows
    from .plugins import models as registry

    specs = [spec for _, spec in sorted(registry.all().items())]
    rows = model_rows(specs, on_measure=lambda n: click.echo(
        f"Counting parameters and MACs of {n} model(s) (cached for the next listing)...", err=True))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        _warn_plugin_problems()
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="models", title_justify="left")
    for col in ("Name", "Scale", "Params", "MACs @360x640", "Weights", "Default", "Plugin", "Description"):
        table.add_column(col, justify="right" if col in ("Params", "MACs @360x640") else "left")
    for row in rows:
        # Text, never a markup string: names and descriptions come from plugins ("[untrained: ...]")
        about = Text(f"error: {row['error']}", style="red") if row["error"] else Text(row["description"])
        table.add_row(Text(row["name"]), f"x{row['scale']}", _si(row["params"]), _si(row["macs"]),
                      Text(row["weights"]), "yes" if row["default"] else "", Text(row["plugin"]), about)
    _console().print(table)
    _warn_plugin_problems()


@cli.command()
def backends() -> None:
    """List registered backends, their runtime versions and delegates."""
    from rich.table import Table
    from rich.text import Text

    from .plugins import backends as registry

    table = Table(title="backends", title_justify="left")
    for col in ("Name", "Version", "Delegates", "Precisions", "Plugin", "Status"):
        table.add_column(col)
    for name, backend in sorted(registry.all().items()):
        reason = backend.unavailable_reason()
        version = "–" if reason else backend.version()
        # Text: a plugin's strings are literal ("pip install 'edgebench[litert]'" is no markup tag)
        cells = [name, version, ", ".join(backend.delegates), ", ".join(backend.precisions), backend.plugin,
                 reason or "ok"]
        table.add_row(*(Text(str(cell)) for cell in cells))
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
from .farm.commands import farm as _farm  # noqa: E402  (click only: ray is imported by the commands)

cli.add_command(_farm)


def _register_plugin_commands() -> None:
    from .plugins import call_each

    call_each("edgebench_register_commands", cli=cli)


_register_plugin_commands()


def main() -> None:
    cli(prog_name="edgebench")
