"""Plugin loading: throwaway plugins in-process, and installed-like plugins in a subprocess."""

import json
import statistics
import subprocess

import pytest

from edgebench import Backend, hookimpl, plugins
from edgebench.errors import PluginError, UnknownName
from edgebench.testing import registered, tiny_model

from helpers import EDGEBENCH, make_plugin_dist, subprocess_env


class EchoBackend(Backend):
    """Reuses the ONNX Runtime plugin's exporter and adapter under another name."""

    name = "echo-ort"
    suffix = ".onnx"

    def __init__(self):
        self.inner = plugins.backends.get("onnxruntime")

    def version(self):
        return "echo-" + self.inner.version()

    def export(self, module, spec, precision, calibration, path):
        return self.inner.export(module, spec, precision, calibration, path)

    def adapter_path(self):
        return self.inner.adapter_path()


class ThrowawayPlugin:
    __name__ = "throwaway"

    @hookimpl
    def edgebench_register_models(self, register):
        register(tiny_model("throwaway-tiny"))

    @hookimpl
    def edgebench_register_backends(self, register):
        register(EchoBackend())


def test_throwaway_plugin_model_and_backend_run_through_the_harness(edgebench_store):
    from edgebench.testing import measure_one

    with registered(ThrowawayPlugin()):
        spec = plugins.models.get("throwaway-tiny")
        assert spec.plugin == "throwaway" and plugins.backends.get("echo-ort").plugin == "throwaway"
        row = measure_one("throwaway-tiny", "echo-ort", "int8", store=edgebench_store)
        # the echo reuses ONNX Runtime's exporter and adapter: the very same pixels
        same = measure_one("throwaway-tiny", "onnxruntime", "int8", store=edgebench_store)
    assert row["backend"] == "echo-ort" and row["model"] == "throwaway-tiny"
    assert row["n_runs"] >= 6 and row["median_ms"] == pytest.approx(statistics.median(row["timings"]))
    assert row["psnr"] == pytest.approx(same["psnr"], abs=0.01) and 20 < row["psnr"] < 40
    with pytest.raises(UnknownName):
        plugins.models.get("throwaway-tiny")  # gone once unregistered


def test_duplicate_names_are_reported_naming_both_plugins():
    class Dup:
        __name__ = "dup"

        @hookimpl
        def edgebench_register_models(self, register):
            register(tiny_model("dup-model"))
            register(tiny_model("dup-model"))

    plugins.hook_errors.clear()
    with registered(Dup()):
        assert "dup-model" in plugins.models.all()
        assert any("registered by both 'dup' and 'dup'" in e for e in plugins.hook_errors)


def test_plugin_raising_in_a_hook_is_one_line_and_others_still_register():
    class Broken:
        __name__ = "broken-hook"

        @hookimpl
        def edgebench_register_models(self, register):
            raise RuntimeError("no weights today")

    plugins.hook_errors.clear()
    with registered(Broken()):
        models = plugins.models.all()
        assert "bicubic" in models or "tiny" not in models  # other plugins were still called
        assert plugins.hook_errors == [
            "plugin 'broken-hook' failed in edgebench_register_models: RuntimeError: no weights today"]


def test_registering_the_wrong_type_is_a_plugin_error():
    class Wrong:
        __name__ = "wrong-type"

        @hookimpl
        def edgebench_register_backends(self, register):
            register("not a backend")

    plugins.hook_errors.clear()
    with registered(Wrong()):
        plugins.backends.all()
    assert any("wrong-type" in e and "is not a Backend" in e for e in plugins.hook_errors)


BROKEN = """
raise ImportError("this plugin is broken on purpose")
"""

GOOD = """
from edgebench import hookimpl
from edgebench.testing import tiny_model

@hookimpl
def edgebench_register_models(register):
    register(tiny_model("installed-tiny"))
"""

MISSPELT = """
from edgebench import hookimpl

@hookimpl
def edgebench_register_modles(register):
    pass
"""


def _plugins_json(env):
    out = subprocess.run([*EDGEBENCH, "plugins"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return {row["name"]: row for row in json.loads(out.stdout)}, out.stderr


def test_broken_installed_plugin_is_listed_and_the_cli_still_runs(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_broken", BROKEN)
    make_plugin_dist(root, "eb_good", GOOD)
    rows, err = _plugins_json(subprocess_env(root))
    assert rows["eb_broken"]["error"] == "ImportError: this plugin is broken on purpose"
    assert rows["eb_good"]["models"] == ["installed-tiny"] and "error" not in rows["eb_good"]
    assert "plugin 'eb_broken' failed to load" in err
    out = subprocess.run([*EDGEBENCH, "models"], capture_output=True, text=True, env=subprocess_env(root), timeout=120)
    assert out.returncode == 0 and "installed-tiny" in out.stdout


def test_load_and_disable_environment_variables(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_good", GOOD)
    rows, _ = _plugins_json(subprocess_env(root, EDGEBENCH_DISABLE_PLUGINS="eb_good"))
    assert "eb_good" not in rows and "onnxruntime" in rows
    rows, _ = _plugins_json(subprocess_env(root, EDGEBENCH_LOAD_PLUGINS="eb_good"))
    assert set(rows) == {"eb_good"}
    rows, err = _plugins_json(subprocess_env(root, EDGEBENCH_LOAD_PLUGINS="eb_good,nosuch"))
    assert "'nosuch' in EDGEBENCH_LOAD_PLUGINS was not found" in err
    rows, _ = _plugins_json(subprocess_env(root, EDGEBENCH_LOAD_PLUGINS=""))
    assert rows == {}


def test_misspelt_hook_implementation_is_reported(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_typo", MISSPELT)
    rows, err = _plugins_json(subprocess_env(root, EDGEBENCH_LOAD_PLUGINS="eb_typo"))
    assert "edgebench_register_modles" in rows["eb_typo"]["error"]


def test_trace_shows_each_hook_call_with_plugin_and_duration(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_good", GOOD)
    out = subprocess.run([*EDGEBENCH, "models"], capture_output=True, text=True, timeout=120,
                         env=subprocess_env(root, EDGEBENCH_TRACE_PLUGINS="1", EDGEBENCH_LOAD_PLUGINS="eb_good"))
    assert out.returncode == 0
    assert "edgebench trace: edgebench_register_models [eb_good]" in out.stderr and " ms" in out.stderr
