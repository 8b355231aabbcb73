"""Plugin failures where the user meets them: unknown names, `plugins` JSON, one line or --debug.

Each plugin is installed the way pip would (``make_plugin_dist``) and the CLI runs in a subprocess,
as a user's shell would run it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from edgebench import hookimpl, plugins
from edgebench.errors import UnknownName
from edgebench.testing import registered

from helpers import EDGEBENCH, make_plugin_dist, subprocess_env

BROKEN_IMPORT = """
raise ImportError("No module named 'mylab_ops'")
"""

HOOK_RAISES = """
from edgebench import hookimpl

@hookimpl
def edgebench_register_models(register):
    raise RuntimeError("weights server down")
"""

# an exporter bug two calls deep inside the plugin, the kind a traceback is for
EXPORT_RAISES = """
from pathlib import Path

from edgebench import Backend, hookimpl
from edgebench.testing import tiny_model


def _pack(module):
    return _layout(module)


def _layout(module):
    raise RuntimeError("bad tensor layout")


class Failing(Backend):
    name = "eb-fail"
    suffix = ".bin"

    def version(self):
        return "1.0"

    def export(self, module, spec, precision, calibration, path):
        _pack(module)

    def adapter_path(self):
        return Path(__file__)


@hookimpl
def edgebench_register_models(register):
    register(tiny_model("eb-tiny"))


@hookimpl
def edgebench_register_backends(register):
    register(Failing())
"""

COMMAND_RAISES = """
import click

from edgebench import hookimpl


def _step():
    raise RuntimeError("calibration table is empty")


@click.command(name="eb-calibrate")
def calibrate():
    _step()


@hookimpl
def edgebench_register_commands(cli):
    cli.add_command(calibrate)
"""


def _edgebench(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGEBENCH, *args], capture_output=True, text=True, timeout=300,
                          env=subprocess_env(root, **env))


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_naming_a_model_of_a_plugin_that_failed_to_load_names_the_plugin_and_its_error(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_mylab", BROKEN_IMPORT)
    out = _edgebench(root, "run", "-m", "mylab-net", "--quick")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == _error_lines(out.stderr)  # one line, nothing else
    (line,) = _error_lines(out.stderr)
    assert line.startswith("Error: unknown model 'mylab-net'; choose from: ")
    assert line.endswith("; plugin 'eb_mylab' failed to load (ImportError: No module named 'mylab_ops') "
                         "and may have provided it")
    out = _edgebench(root, "run", "-b", "mylab-rt", "--quick")  # a backend name: the same hint
    assert out.returncode == 2 and "unknown backend 'mylab-rt'" in out.stderr
    assert "plugin 'eb_mylab' failed to load (ImportError: No module named 'mylab_ops')" in out.stderr


def test_a_hook_that_raised_is_the_plugins_error_and_named_for_its_models(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_hook", HOOK_RAISES)
    out = _edgebench(root, "plugins")
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["eb_hook"]["error"] == "edgebench_register_models: RuntimeError: weights server down"
    assert "error" not in rows["onnxruntime"]
    assert "Warning: plugin 'eb_hook' failed in edgebench_register_models" in out.stderr
    out = _edgebench(root, "run", "-m", "hook-net", "--quick")
    assert out.returncode == 2
    assert ("; plugin 'eb_hook' failed in edgebench_register_models (RuntimeError: weights server down) "
            "and may have provided it") in out.stderr


def test_unknown_name_without_failed_plugins_is_unchanged():
    class Fine:
        __name__ = "fine"

        @hookimpl
        def edgebench_register_datasets(self, register):
            pass

    with registered(Fine()):
        try:
            plugins.models.get("no-such-model")
        except UnknownName as exc:
            message = str(exc)
    assert "failed" not in message and message.startswith("unknown model 'no-such-model'; choose from: ")
    assert "failed" not in str(UnknownName("device", "pixel", ["host"]))  # devices come from profiles


def test_an_exporter_bug_is_one_line_and_its_traceback_is_behind_debug(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_export", EXPORT_RAISES)
    cache = str(tmp_path / "cache")  # never a cached artifact: the export must run every time
    args = ("run", "-m", "eb-tiny", "-b", "eb-fail", "-p", "fp32", "--quick", "--no-quality",
            "--no-conditions", "--no-cpu-baseline")
    quiet = _edgebench(root, *args, EDGEBENCH_CACHE=cache)
    assert quiet.returncode == 1, quiet.stderr  # nothing measured
    assert "cannot export 'eb-tiny' for eb-fail fp32: RuntimeError: bad tensor layout" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    for loud in (_edgebench(root, "--debug", *args, EDGEBENCH_CACHE=cache),
                 _edgebench(root, *args, EDGEBENCH_CACHE=cache, EDGEBENCH_DEBUG="1")):
        assert loud.returncode == 1, loud.stderr
        assert "Traceback (most recent call last)" in loud.stderr
        # the frames the plugin author needs: their file and the function that raised
        assert "eb_export.py" in loud.stderr and "in _layout" in loud.stderr
        assert "RuntimeError: bad tensor layout" in loud.stderr


def test_an_unexpected_exception_in_plugin_code_is_one_line_naming_the_plugin(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_cmd", COMMAND_RAISES)
    quiet = _edgebench(root, "eb-calibrate")
    assert quiet.returncode == 1
    assert quiet.stderr.strip().splitlines() == [
        "Error: RuntimeError: calibration table is empty "
        "(in plugin 'eb_cmd'; rerun with edgebench --debug for the traceback)"]
    for loud in (_edgebench(root, "--debug", "eb-calibrate"), _edgebench(root, "eb-calibrate", EDGEBENCH_DEBUG="1")):
        assert loud.returncode == 1
        assert loud.stderr.startswith("Traceback (most recent call last)")
        assert "in _step" in loud.stderr and loud.stderr.strip().endswith("RuntimeError: calibration table is empty")


def test_debug_shows_the_traceback_of_a_plugin_that_failed_to_import(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_mylab", BROKEN_IMPORT)
    quiet = _edgebench(root, "backends")
    assert quiet.returncode == 0 and "plugin 'eb_mylab' failed to load" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    loud = _edgebench(root, "backends", EDGEBENCH_DEBUG="1")
    assert "Traceback (most recent call last)" in loud.stderr and "eb_mylab.py" in loud.stderr
