"""`edgebench plugin new NAME`: the package it writes is renamed throughout, installs, and its tests pass."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib

import pytest

from edgebench.errors import EdgebenchError
from edgebench.scaffold import normalize, render, write_plugin
from edgebench.testing import invoke_cli
from helpers import subprocess_env
from test_tutorial import pip_install


@pytest.mark.parametrize("given, ident", [("mylab", "mylab"), ("my-lab", "my_lab"), ("Edgebench-ACME2", "acme2"),
                                          ("edgebench_npu_x", "npu_x")])
def test_names_become_identifiers(given, ident):
    assert normalize(given) == ident


@pytest.mark.parametrize("bad", ["", "9lives", "my lab", "lab!", "-lab", "lab-", "über", "a--b"])
def test_bad_names_are_one_clear_error(bad):
    with pytest.raises(EdgebenchError, match="must start with a letter"):
        normalize(bad)


def test_every_file_is_renamed_and_still_valid():
    files = render("my-lab")
    assert set(files) == {"pyproject.toml", "edgebench_my_lab/__init__.py", "edgebench_my_lab/model.py",
                          "edgebench_my_lab/backend.py", "edgebench_my_lab/adapter_my_lab.py", "tests/test_my_lab.py"}
    for rel, text in files.items():
        assert "plainconv" not in text.lower(), f"{rel} still mentions the template's name"
        if rel.endswith(".py"):
            ast.parse(text, rel)
    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["name"] == "edgebench-my-lab"
    assert project["project"]["dependencies"] == ["edgebench"]  # never an unpinned torch
    assert project["project"]["entry-points"]["edgebench"] == {"my_lab": "edgebench_my_lab"}
    assert "class MyLabBackend(Backend):" in files["edgebench_my_lab/backend.py"]
    assert 'name="my_lab-cubic"' in files["edgebench_my_lab/__init__.py"]
    assert 'with_name("adapter_my_lab.py")' in files["edgebench_my_lab/backend.py"]


def test_new_refuses_to_overwrite_and_lists_what_it_wrote(tmp_path):
    result = invoke_cli("plugin", "new", "mylab", "-d", str(tmp_path))
    assert result.exit_code == 0
    assert f"Wrote {tmp_path}/edgebench-mylab/ with model mylab-cubic and backend mylab:" in result.output
    assert "  edgebench_mylab/adapter_mylab.py" in result.output
    before = (tmp_path / "edgebench-mylab" / "pyproject.toml").read_text()
    again = invoke_cli("plugin", "new", "mylab", "-d", str(tmp_path))
    assert again.exit_code == 1 and "already exists and is not empty" in again.output
    assert (tmp_path / "edgebench-mylab" / "pyproject.toml").read_text() == before


def test_template_build_leftovers_are_not_copied(tmp_path, monkeypatch):
    import edgebench.scaffold as scaffold

    template = tmp_path / "template"
    (template / "pkg" / "__pycache__").mkdir(parents=True)
    (template / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (template / "pkg.egg-info").mkdir()
    (template / "pkg.egg-info" / "PKG-INFO").write_text("x")
    (template / "pkg" / "mod.py").write_text("NAME = 'plainconv'\n")
    monkeypatch.setattr(scaffold, "template_dir", lambda: template)
    target = write_plugin("zz", tmp_path / "out")
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == ["pkg/mod.py"]
    assert (target / "pkg" / "mod.py").read_text() == "NAME = 'zz'\n"


def test_a_new_plugin_installs_registers_and_passes_its_own_tests(tmp_path):
    package = write_plugin("my-lab", tmp_path)
    site = pip_install(package, tmp_path / "site")
    env = subprocess_env(site, EDGEBENCH_CACHE=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=package,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "6 passed" in out.stdout
