"""docs/plugins.md, followed by a test: build its package from the page's own code blocks, install
it the way the page says (into a private folder, not this environment), run every command it shows
and compare the output with what the page prints."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from doc_blocks import Command, FileBlock, apply, events, final_files, mismatches
from edgebench.scaffold import render
from helpers import EDGEBENCH, make_plugin_dist, subprocess_env

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
ENV_PREFIX = re.compile(r"^((?:[A-Z_]+=\S*\s+)*)(\S+)(.*)$")


def pip_install(package: Path, target: Path) -> Path:
    """pip install without touching the shared environment: a --target folder for PYTHONPATH.

    setuptools builds in the source folder (build/, *.egg-info), so never pass a folder of the repo.
    """
    assert ROOT not in package.resolve().parents, f"copy {package} out of the repository before installing it"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                          "--no-index", "-q", "--target", str(target), str(package)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return target


def copy_package(files: dict[str, str], folder: Path) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


class Reader:
    """Does what a reader of the tutorial does, one block at a time."""

    def __init__(self, tmp: Path):
        self.tmp, self.pkg = tmp, tmp / "edgebench-plainconv"
        self.pkg.mkdir()
        self.files: dict[str, str] = {}
        self.installed: dict[str, str] | None = None
        self.site: Path | None = None
        self.installs = 0
        self.env = {"EDGEBENCH_DB": str(tmp / "results.db"), "EDGEBENCH_CACHE": str(tmp / "cache"),
                    "EDGEBENCH_DEVICES_DIR": str(tmp / "devices"), "COLUMNS": "200"}

    def package_files(self) -> dict[str, str]:
        return {rel: text for rel, text in self.files.items() if not rel.startswith("tests/")}

    def install(self) -> None:
        # `pip install -e .` in the docs: here a fresh --target folder each time the package changes
        self.installs += 1
        self.site = pip_install(self.pkg, self.tmp / f"site-{self.installs}")
        self.installed = self.package_files()

    def write(self, block: FileBlock) -> None:
        apply(self.files, block)
        copy_package({block.path: self.files[block.path]}, self.pkg)

    def shell(self, line: str) -> subprocess.CompletedProcess[str]:
        if self.installed is not None and self.installed != self.package_files():
            self.install()  # an editable install would already see the new files
        env = subprocess_env(self.site, **self.env)
        prefix, program, rest = ENV_PREFIX.match(line).groups()
        if program == "edgebench":
            command = prefix + " ".join(shlex.quote(a) for a in EDGEBENCH) + rest
        elif program == "pytest":
            command = f"{prefix}{shlex.quote(sys.executable)} -m pytest -p no:cacheprovider{rest}"
        else:
            raise AssertionError(f"docs/plugins.md runs {line!r}, which this test does not know how to follow")
        return subprocess.run(["bash", "-c", command], cwd=self.pkg, env=env, capture_output=True, text=True,
                              timeout=300)


def test_tutorial_builds_installs_and_runs_from_its_own_code_blocks(tmp_path):
    text = DOC.read_text()
    finished = final_files(text)
    reader = Reader(tmp_path)
    ran = []
    for event in events(text):
        if isinstance(event, FileBlock):
            reader.write(event)
            continue
        assert isinstance(event, Command)
        line = event.line
        if line.startswith(("mkdir ", "cd ")):
            continue  # the test already works in the package folder
        if line.startswith("pip install -e"):
            reader.install()
            continue
        if line.startswith("edgebench plugin new "):
            # shown before the folder exists: run it in a scratch folder and compare with the blocks
            scratch = tmp_path / "scaffolded"
            scratch.mkdir()
            out = subprocess.run([*EDGEBENCH, *shlex.split(line)[1:]], cwd=scratch, capture_output=True,
                                 text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            folder = scratch / "edgebench-plainconv"
            written = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()}
            assert written == finished, "edgebench plugin new plainconv no longer writes the tutorial's files"
            assert not mismatches(event.output, out.stdout, out.stderr), out.stdout
            ran.append(line)
            continue
        assert reader.site is not None, f"{line!r} comes before the tutorial installs the package"
        out = reader.shell(line)
        assert out.returncode == 0, f"$ {line}\n{out.stdout}\n{out.stderr}"
        missing = mismatches(event.output, out.stdout, out.stderr)
        assert not missing, f"$ {line}: the docs show lines the command did not print:\n" + "\n".join(
            missing) + f"\n--- it printed:\n{out.stdout}\n{out.stderr}"
        if "EDGEBENCH_DISABLE_PLUGINS=plainconv" in line:
            assert "plainconv" not in out.stdout
        ran.append(line)

    assert reader.files == finished
    assert reader.installs >= 2, "the model-only stage and the finished package were both installed"
    # the checklist: each of these ran and matched the page
    for needed in ("edgebench plugins", "edgebench models", "edgebench backends", "edgebench run --quick",
                   "edgebench leaderboard", "pytest"):
        assert any(r.startswith(needed) for r in ran), f"the tutorial no longer runs {needed!r}"


def test_tutorial_package_is_the_scaffold_template():
    """What the page builds and what `edgebench plugin new plainconv` writes are the same files."""
    finished = final_files(DOC.read_text())
    assert render("plainconv") == finished
    assert set(finished) == {"pyproject.toml", "edgebench_plainconv/__init__.py", "edgebench_plainconv/model.py",
                             "edgebench_plainconv/backend.py", "edgebench_plainconv/adapter_plainconv.py",
                             "tests/test_plainconv.py"}


RAISES = """
from edgebench import hookimpl

@hookimpl
def edgebench_register_models(register):
    raise RuntimeError("weights server is down")
"""


@pytest.fixture(scope="module")
def installed_template(tmp_path_factory):
    package = copy_package(render("plainconv"), tmp_path_factory.mktemp("edgebench-plainconv"))
    return pip_install(package, tmp_path_factory.mktemp("template-site"))


def test_a_plugin_raising_in_a_hook_is_one_line_and_the_run_goes_on(installed_template, tmp_path):
    site = make_plugin_dist(tmp_path / "raising-site", "eb_raises", RAISES)
    env = subprocess_env(installed_template, EDGEBENCH_CACHE=str(tmp_path / "cache"))
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    out = subprocess.run([*EDGEBENCH, "run", "--quick", "-m", "plainconv-cubic", "-b", "plainconv", "-p", "fp32"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if "eb_raises" in line]
    assert warnings == ["Warning: plugin 'eb_raises' failed in edgebench_register_models: "
                        "RuntimeError: weights server is down"]
    assert "Run 1: 1 result(s) stored" in out.stderr and "plainconv-cubic" in out.stdout


def test_trace_names_the_tutorial_plugin_for_each_hook_it_implements(installed_template):
    out = subprocess.run([*EDGEBENCH, "plugins"], capture_output=True, text=True, timeout=120,
                         env=subprocess_env(installed_template, EDGEBENCH_TRACE_PLUGINS="1"))
    assert out.returncode == 0, out.stderr
    traced = re.findall(r"^edgebench trace: (\w+) \[plainconv\] \d+\.\d+ ms$", out.stderr, re.M)
    assert sorted(traced) == ["edgebench_register_backends", "edgebench_register_models"]
