"""Every hook has a docstring, a docs section and a test here that really calls it (datasette style).

Each ``test_hook_<name>`` registers a throwaway plugin and drives edgebench the way a user would
(the CLI, the harness); an autouse fixture then checks that the hook ``<name>`` of a plugin
registered by that test was actually called, so a hook test cannot pass without its hook.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import click
import pytest

from edgebench import DatasetSpec, ModelSpec, hookimpl, plugins
from edgebench.devices import DeviceProfile
from edgebench.testing import invoke_cli, measure_one, registered, tiny_model
from edgebench.transports.local import LocalTransport

ROOT = Path(__file__).resolve().parent.parent
HOOKS_DOC = ROOT / "docs" / "hooks.md"
TEMPLATE = ROOT / "edgebench" / "scaffold" / "template"


def hook_names() -> list[str]:
    return sorted(name for name in dir(plugins.pm.hook) if name.startswith("edgebench_"))


# -- the meta-tests ---------------------------------------------------------------------------

@pytest.mark.parametrize("hook", hook_names())
def test_plugin_hooks_have_docstrings(hook):
    spec = getattr(plugins.pm.hook, hook).spec
    assert spec is not None and (spec.function.__doc__ or "").strip(), f"hookspec {hook} has no docstring"


@pytest.mark.parametrize("hook", hook_names())
def test_plugin_hooks_are_documented(hook):
    spec = getattr(plugins.pm.hook, hook).spec
    heading = f"## {hook}({', '.join(spec.argnames)})"
    headings = [line for line in HOOKS_DOC.read_text().splitlines() if line.startswith("## ")]
    assert heading in headings, f"docs/hooks.md needs a section headed {heading!r}"


@pytest.mark.parametrize("hook", hook_names())
def test_plugin_hooks_have_tests(hook):
    tree = ast.parse(Path(__file__).read_text())
    tests = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert f"test_hook_{hook}" in tests, f"add test_hook_{hook} to {Path(__file__).name}"


def test_every_hookspec_is_an_edgebench_hook():
    from edgebench import hookspecs

    specs = {name for name, value in vars(hookspecs).items() if hasattr(value, "edgebench_spec")}
    assert specs == set(hook_names()) and all(name.startswith("edgebench_register_") for name in specs)


# -- recording which hooks the hook tests call ----------------------------------------------

@pytest.fixture(autouse=True)
def _hook_must_be_called(request, monkeypatch):
    if not request.node.name.startswith("test_hook_"):
        yield
        return
    called: set[str] = set()
    original = plugins.register_plugin

    def recording(plugin, name):
        original(plugin, name)
        for caller in plugins.pm.get_hookcallers(plugins.pm.get_plugin(name)) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function = _recorder(impl.function, caller.name, called)

    monkeypatch.setattr(plugins, "register_plugin", recording)
    yield
    hook = re.sub(r"\[.*\]$", "", request.node.name)[len("test_hook_"):]
    assert hook in called, f"{request.node.name} never called {hook} on a plugin it registered"


def _recorder(function, hook, called):
    def wrapper(*args, **kwargs):
        called.add(hook)
        return function(*args, **kwargs)

    return wrapper


@pytest.fixture
def plainconv(monkeypatch):
    """The tutorial's plugin (edgebench/scaffold/template), imported from its folder."""
    monkeypatch.syspath_prepend(str(TEMPLATE))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ inside the template
    import edgebench_plainconv

    yield edgebench_plainconv
    for name in [m for m in sys.modules if m.startswith("edgebench_plainconv")]:
        del sys.modules[name]


def cubic(name="hook-cubic"):
    from edgebench_plainconv.model import build

    return ModelSpec(name=name, scale=3, build=build, description="test copy of the tutorial's model")


# -- one test per hook ------------------------------------------------------------------------

def test_hook_edgebench_register_backends(plainconv, edgebench_store):
    from edgebench_plainconv.backend import PlainconvBackend

    class Runtimes:
        __name__ = "hook-backends"

        @hookimpl
        def edgebench_register_backends(self, register):
            register(PlainconvBackend())

    with registered(Runtimes()):
        listing = invoke_cli("backends").output
        row = measure_one(cubic(), "plainconv", "int8", store=edgebench_store)
    assert re.search(r"│ plainconv\s+│ [\d.]+\s+│ cpu\s+│ fp32, int8 │ hook-backends\s+│ ok", listing), listing
    assert row["backend"] == "plainconv" and row["precision"] == "int8" and row["psnr"] > 24
    assert row["runtime"]["runtime"] == "plainconv"  # the adapter's describe() came back from the runner


def test_hook_edgebench_register_models(tmp_path):
    class Models:
        __name__ = "hook-models"

        @hookimpl
        def edgebench_register_models(self, register):
            register(tiny_model("hook-tiny", scale=2, channels=4))

    with registered(Models()):
        listing = invoke_cli("models").output
        result = invoke_cli("run", "--quick", "-m", "hook-tiny", "-p", "fp32")
        assert result.exit_code == 0, result.output
        board = invoke_cli("leaderboard", "--include-quick", "--format", "csv", "-m", "hook-tiny").output
    # params (3*4*9+4 + 4*12*9+12), MACs at 360x640 (360*640*(4*3*9 + 12*4*9)), no weights file
    assert re.search(r"│ hook-tiny\s+│ x2\s+│\s+556 │\s+124M │ untrained\s+│\s+│ hook-models\s+│", listing), listing
    assert len(board.splitlines()) == 2 and ",hook-tiny,onnxruntime," in board.splitlines()[1]


class CountingTransport(LocalTransport):
    """The local transport, counting what the harness asks of it."""

    calls: list[str] = []

    def run(self, argv, *, timeout, cwd=None):
        # the runner, or a shell line reading the device's conditions before and after it
        CountingTransport.calls.append("run" if any("runner.py" in str(a) for a in argv) else "shell")
        return super().run(argv, timeout=timeout, cwd=cwd)

    def push(self, local, remote):
        CountingTransport.calls.append("push")
        super().push(local, remote)


def test_hook_edgebench_register_transports(plainconv, edgebench_store):
    from edgebench_plainconv.backend import PlainconvBackend

    class Counting:
        __name__ = "hook-transports"

        @hookimpl
        def edgebench_register_transports(self, register):
            register("counting", CountingTransport)

        @hookimpl
        def edgebench_register_backends(self, register):
            register(PlainconvBackend())

    CountingTransport.calls.clear()
    device = DeviceProfile(name="counted", transport="counting", python="{python}")
    with registered(Counting()):
        assert plugins.transports.get("counting").plugin == "hook-transports"
        row = measure_one(cubic(), "plainconv", "fp32", store=edgebench_store, device=device)
    assert row["device"] == "counted" and row["median_ms"] > 0
    assert CountingTransport.calls.count("run") == 1 and CountingTransport.calls.count("push") >= 4
    assert CountingTransport.calls.count("shell") == 2  # the conditions before and after


def test_hook_edgebench_register_datasets(plainconv, edgebench_store):
    from edgebench.data import photos
    from edgebench_plainconv.backend import PlainconvBackend

    class Photos:
        __name__ = "hook-datasets"

        @hookimpl
        def edgebench_register_datasets(self, register):
            register(DatasetSpec("two-train-photos", load=lambda: [img for _, img in photos("train")[:2]]))

        @hookimpl
        def edgebench_register_backends(self, register):
            register(PlainconvBackend())

    with registered(Photos()):
        row = measure_one(cubic(), "plainconv", "fp32", store=edgebench_store, dataset="two-train-photos",
                          quality_images=None)
    assert row["dataset"] == "two-train-photos" and row["n_images"] == 2 and row["psnr"] > 20


def test_hook_edgebench_register_commands():
    from edgebench.cli import cli

    class Commands:
        __name__ = "hook-commands"

        @hookimpl
        def edgebench_register_commands(self, cli):
            @cli.command(name="hook-hello")
            @click.argument("who")
            def hello(who):
                """Say hello."""
                click.echo(f"hello {who}")

    try:
        with registered(Commands()):
            plugins.call_each("edgebench_register_commands", cli=cli)  # what importing edgebench.cli does
            result = invoke_cli("hook-hello", "board")
            assert "hook-hello" in invoke_cli("--help").output
    finally:
        cli.commands.pop("hook-hello", None)
    assert result.exit_code == 0 and result.output == "hello board\n"


def test_hook_edgebench_register_power_meters(edgebench_store):
    import os
    import threading
    import time

    from edgebench import PowerMeter, PowerTrace
    from edgebench.testing.power_load import LoadPower, descendants_of

    load = LoadPower(descendants_of(os.getpid()))  # the host's runner is a child of this process

    class ChildPower(PowerMeter):
        """Samples the stand-in's power at 20 Hz on the host's clock."""

        def start(self):
            self.samples, self.done = [], threading.Event()
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()

        def _poll(self):
            while not self.done.wait(0.05):
                self.samples.append((time.time(), load.watts()))

        def stop(self):
            self.done.set()
            self.thread.join()
            return PowerTrace(self.samples, clock="host", units={"power": "W"})

    class Meters:
        __name__ = "hook-power-meters"

        @hookimpl
        def edgebench_register_power_meters(self, register):
            register("child-power", ChildPower)

    with registered(Meters()), load:
        assert plugins.power_meters.get("child-power").plugin == "hook-power-meters"
        row = measure_one("bicubic", "onnxruntime", "int8", store=edgebench_store, power="child-power",
                          height=120, width=160, runs=10, min_time=1.5, quality=False)
    energy = row["energy"]
    assert energy["meter"] == "child-power" and energy["units"] == {"power": "W"} and energy["n_run"] >= 10
    start, end = energy["runner_window"]["wall"]
    truth = load.excess_energy(start, end) / (end - start) * row["median_ms"]
    assert truth > 0 and abs(row["energy_mj"] / truth - 1) < 0.05, (row["energy_mj"], truth)
