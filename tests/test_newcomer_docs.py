"""What a newcomer reads must match what the code does (issue 16, items 8 and 13): the photo splits,
describe()'s role in pooling, the calibration arrays, the --db default, and skips that say why."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.data import SPLITS
from edgebench.store import default_db_path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS_MD = (ROOT / "docs" / "plugins.md").read_text()


def test_the_plugin_guide_names_each_photo_split_as_the_code_has_it():
    for split, names in SPLITS.items():
        found = re.search(rf"\*\*{split}\*\* \(([^)]*)", PLUGINS_MD)
        assert found, f"docs/plugins.md does not describe the {split!r} split"
        listed = [n.strip() for n in found.group(1).split(":")[0].replace("\n", " ").split(",")]
        assert listed == list(names), (split, listed)
    assert "never on an `eval` photo" in PLUGINS_MD


def test_the_guide_says_what_describe_returns_and_to_copy_calibration_images():
    assert '{"runtime": NAME, "version": VERSION' in PLUGINS_MD
    assert "part of a result's identity" in PLUGINS_MD  # why: they decide pooling
    assert "copy one" in PLUGINS_MD and "before changing it" in PLUGINS_MD


def test_db_help_names_the_real_default(monkeypatch):
    monkeypatch.delenv("EDGEBENCH_DB", raising=False)
    assert default_db_path().name == "results.db"
    text = " ".join(CliRunner().invoke(cli, ["--help"]).output.split())
    assert "default: results.db in the user data dir" in text and "edgebench.db" not in text


def test_every_test_run_lists_its_skips_with_reasons_and_the_slowest_tests():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    assert "-rs" in options.split() and "--durations=15" in options.split()
    zoo = (ROOT / "tests" / "test_zoo_models.py").read_text()
    assert "splitsr" in zoo and "not in CI" in zoo  # the one shipped-weights model left out says why
