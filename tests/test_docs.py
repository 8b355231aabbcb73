"""The plugin docs cannot drift: generated API blocks are current, examples run, links resolve."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
import types
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import edgebench.errors
from doc_blocks import examples, mismatches
from edgebench import plugins
from edgebench.devices import DeviceProfile
from edgebench.errors import ArtifactError, DeviceUnreachable
from edgebench.scaffold import apidoc
from edgebench.testing import registered, tiny_model

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TEMPLATE = ROOT / "edgebench" / "scaffold" / "template"


@pytest.mark.parametrize("name", apidoc.DOCS)
def test_generated_api_blocks_are_current(name):
    text = (ROOT / name).read_text()
    fresh = apidoc.update(text)
    diff = "".join(difflib.unified_diff(text.splitlines(True), fresh.splitlines(True), name, "regenerated"))
    assert not diff, f"{name} is stale: run python -m edgebench.scaffold.apidoc\n{diff}"


def test_every_hook_object_and_testing_helper_has_a_generated_block():
    texts = [(ROOT / name).read_text() for name in apidoc.DOCS]
    assert apidoc.missing(texts) == []
    documented = {name for kind, name in set().union(*map(apidoc.blocks, texts)) if kind == "class"}
    assert documented == set(edgebench.__all__) - {"hookimpl", "__version__"}


def test_a_public_object_without_a_docstring_fails_the_generator(tmp_path, monkeypatch):
    source = tmp_path / "api.py"
    source.write_text('class Thing:\n    """Documented."""\n\n    def go(self) -> None:\n        pass\n')
    monkeypatch.setitem(apidoc.SOURCES, "class", source)
    apidoc._parse.cache_clear()
    try:
        with pytest.raises(apidoc.ApidocError, match="Thing.go has no docstring"):
            apidoc.render_class("Thing")
    finally:
        apidoc._parse.cache_clear()


def test_apidoc_check_exits_1_on_a_stale_file_and_leaves_it_alone(tmp_path):
    stale = tmp_path / "hooks.md"
    stale.write_text("<!-- [[[apidoc hook edgebench_register_models]]] -->\nold text\n<!-- [[[end]]] -->\n")
    check = subprocess.run([sys.executable, "-m", "edgebench.scaffold.apidoc", "--check", str(stale)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "stale" in check.stderr and "old text" in stale.read_text()
    fix = subprocess.run([sys.executable, "-m", "edgebench.scaffold.apidoc", str(stale)],
                         capture_output=True, text=True, timeout=60)
    assert fix.returncode == 0 and "## edgebench_register_models(register)" in stale.read_text()
    repo = subprocess.run([sys.executable, "-m", "edgebench.scaffold.apidoc", "--check"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert repo.returncode == 0, repo.stderr


def test_every_error_class_is_in_the_errors_table():
    text = (DOCS / "hooks.md").read_text()
    table = text[text.index("## Errors"):]
    errors = {name for name, value in vars(edgebench.errors).items()
              if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == "edgebench.errors"}
    assert errors and all(f"| `{name}` |" in table for name in errors), sorted(errors)


def test_plugin_environment_variables_are_documented():
    names = set(re.findall(r"EDGEBENCH_\w+", plugins.__doc__))
    assert names == {"EDGEBENCH_LOAD_PLUGINS", "EDGEBENCH_DISABLE_PLUGINS", "EDGEBENCH_TRACE_PLUGINS"}
    for doc in ("plugins.md", "hooks.md"):
        assert all(name in (DOCS / doc).read_text() for name in names), doc


@pytest.mark.parametrize("doc", ["plugins.md", "hooks.md", "testing.md"])
def test_relative_links_resolve(doc):
    prose = re.sub(r"^```.*?^```", "", (DOCS / doc).read_text(), flags=re.M | re.S)
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", prose)
    assert targets, f"{doc} links to none of the other plugin docs"
    for target in targets:
        assert (DOCS / target).exists(), f"{doc} links to missing {target}"


# -- the examples in hooks.md and testing.md run -----------------------------------------------

def example_plugin(doc: str, name: str, tmp_path: Path) -> types.ModuleType:
    code = examples((DOCS / doc).read_text())[name]
    module = types.ModuleType(f"example_{name}")
    module.__file__ = str(tmp_path / f"example_{name}.py")
    exec(compile(code, f"docs/{doc} example {name}", "exec"), module.__dict__)
    return module


def test_each_hook_has_an_example():
    assert set(examples((DOCS / "hooks.md").read_text())) == {h for h in dir(plugins.pm.hook) if h.startswith("edgebench_")}


def test_backends_example_registers_the_tutorial_backend(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TEMPLATE))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ inside the template
    try:
        with registered(example_plugin("hooks.md", "edgebench_register_backends", tmp_path), "ex-backends"):
            backend = plugins.backends.get("plainconv")
            assert backend.plugin == "ex-backends" and backend.unavailable_reason() is None
            assert backend.adapter_path().is_file()
    finally:
        for name in [m for m in sys.modules if m.startswith("edgebench_plainconv")]:
            del sys.modules[name]


def test_models_example_builds_espcn_and_names_missing_weights(tmp_path):
    with registered(example_plugin("hooks.md", "edgebench_register_models", tmp_path), "ex-models"):
        spec = plugins.models.get("mylab-espcn")
        assert spec.plugin == "ex-models" and spec.scale == 3
        assert spec.params == (3 * 32 * 25 + 32) + (32 * 16 * 9 + 16) + (16 * 27 * 9 + 27)
        with pytest.raises(ArtifactError, match="weights for model 'mylab-espcn' not found"):
            spec.load()


def test_transports_example_is_a_transport_that_reports_an_unreachable_device(tmp_path):
    with registered(example_plugin("hooks.md", "edgebench_register_transports", tmp_path), "ex-transports"):
        profile = DeviceProfile(name="board", transport="docker", options={"container": "edgebench-no-such-box"})
        transport = profile.transport_obj()
        assert type(transport).plugin == "ex-transports"
        with pytest.raises(DeviceUnreachable, match="device 'board'"):
            transport.make_workdir()  # no docker here, or no such container: one clear error either way


def test_datasets_example_loads_a_folder(tmp_path, monkeypatch):
    from edgebench.data import dataset_pairs, photos

    for name, image in photos("train")[:2]:
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    monkeypatch.setenv("MYLAB_PHOTOS", str(tmp_path))
    with registered(example_plugin("hooks.md", "edgebench_register_datasets", tmp_path), "ex-datasets"):
        label, pairs = dataset_pairs("mylab-photos", 3)
    assert label == "mylab-photos" and len(pairs) == 2
    lr, hr = pairs[0]
    assert hr.shape[0] == 3 * lr.shape[0] and hr.dtype == np.uint8


def test_commands_example_adds_a_working_command(tmp_path):
    group = click.Group("edgebench")
    with registered(example_plugin("hooks.md", "edgebench_register_commands", tmp_path), "ex-commands"), \
            registered(type("M", (), {"__name__": "ex-tiny", "edgebench_register_models": staticmethod(
                plugins.hookspecs.hookimpl(lambda register: register(tiny_model("ex-tiny"))))})(), "ex-tiny"):
        plugins.call_each("edgebench_register_commands", cli=group)
        result = CliRunner().invoke(group, ["params", "ex-tiny"])
    assert result.exit_code == 0, result.output
    assert result.output == f"ex-tiny: {tiny_model('ex-tiny').params} parameters\n"


def test_testing_example_passes(tmp_path, edgebench_register):
    module = example_plugin("testing.md", "test", tmp_path)
    module.test_registered_models_run(tmp_path, edgebench_register)


# -- the output comparison the tutorial test relies on -----------------------------------------

TABLE = """\
┃ Name  ┃ Version ┃ Plugin ┃ Status ┃
│ alpha │ 1.2.3   │ first  │ ok     │
│ beta  │ 0.1     │ second │ broken │
"""


@pytest.mark.parametrize("documented, ok", [
    (["┃ Name ┃ Plugin ┃", "│ beta │ second │"], True),  # columns left out
    (["┃ Name ┃ Version ┃", "│ alpha │ … │"], True),  # wildcard cell
    (["┃ Name ┃ Plugin ┃", "│ beta │ first │"], False),  # cells from two rows
    (["┃ Name ┃ Owner ┃", "│ beta │ second │"], False),  # a column the real table lacks
    (["Run …: 2 result(s) stored in …"], True),
    (["Run 3: 2 result(s) stored in …"], False),
    (["…", "Run …: 2 result(s) stored in …", "…"], True),
])
def test_documented_output_comparison(documented, ok):
    real = TABLE + "Run 2: 2 result(s) stored in /tmp/x.db\n"
    assert (mismatches(documented, real, "") == []) is ok


def test_documented_json_rows_must_be_among_the_real_ones():
    real = '[{"name": "a", "hooks": []}, {"name": "b", "hooks": ["x"]}]'
    assert mismatches(['[{"name": "b", "hooks": ["x"]}]'], real, "") == []
    assert mismatches(['[{"name": "b", "hooks": []}]'], real, "") != []


def test_virtual_devices_example_passes(tmp_path, edgebench_phone, edgebench_board):
    module = example_plugin("testing.md", "virtual-devices", tmp_path)
    module.test_on_the_phone_and_the_board(tmp_path, edgebench_phone, edgebench_board)


def test_power_meters_example_reads_a_supply_and_keeps_what_came_before_it_was_unplugged(tmp_path):
    import os
    import time

    from edgebench.errors import PowerMeterError
    from edgebench.testing.power_meters import _PtyPair

    class Supply(_PtyPair):  # answers MEAS:POW? like a bench supply drawing 2.5 W
        def _serve(self):
            buffer = b""
            while not self._stop.is_set():
                try:
                    buffer += os.read(self.fd, 64)
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip() == b"MEAS:POW?":
                            os.write(self.fd, b"2.500\n")
                except OSError:
                    return

    with registered(example_plugin("hooks.md", "edgebench_register_power_meters", tmp_path), "ex-power"):
        meter_class = plugins.power_meters.get("scpi")
        with pytest.raises(PowerMeterError, match="needs its port"):
            meter_class({}, None).check()
        with Supply(tmp_path, "ttyUSB-supply") as supply:
            meter = meter_class({"port": supply.port}, None)
            meter.start()
            time.sleep(0.5)
            supply.kill()
            time.sleep(0.3)
            trace = meter.stop()
    assert len(trace.samples) >= 3 and {w for _, w in trace.samples} == {2.5}
    assert trace.error and trace.clock == "host"
