"""docs/farm.md says what the code does: every `edgebench` command it shows parses with the real CLI,
and its profile and groups examples load."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from edgebench.cli import cli
from edgebench.devices import DeviceProfile, expand_devices

FARM_MD = (Path(__file__).resolve().parent.parent / "docs" / "farm.md").read_text()


def blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", FARM_MD, flags=re.M | re.S)


def commands() -> list[str]:
    return [line.split("#")[0].strip() for block in blocks("bash") for line in block.splitlines()
            if line.strip().startswith("edgebench ")]


def test_the_guide_shows_the_two_host_setup():
    shown = commands()
    assert any(c.startswith("edgebench farm head") for c in shown)
    assert sum(c.startswith("edgebench farm join") for c in shown) >= 2
    assert any("--farm" in c for c in shown) and any(c.startswith("edgebench farm status") for c in shown)


@pytest.mark.parametrize("line", commands())
def test_each_command_in_the_guide_parses(line):
    args = shlex.split(line)[1:]
    command: click.Command = cli
    while isinstance(command, click.Group):  # the doc puts no group option before a subcommand
        name, args = args[0], args[1:]
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"{line}: no command {name!r}"
        command = sub
    command.make_context(command.name, list(args))  # raises on an unknown option or a missing argument


def test_the_profile_and_groups_examples_load(tmp_path, monkeypatch):
    toml = blocks("toml")
    groups, profile = toml[0], toml[1]
    (tmp_path / "rpi4-a.toml").write_text(profile)
    loaded = DeviceProfile.from_file(tmp_path / "rpi4-a.toml")
    assert loaded.keys == ("cortex-a72", "rpi4") and loaded.health == {"max_temp_c": 75, "min_free_mb": 200}
    monkeypatch.setenv("EDGEBENCH_DEVICES_DIR", str(tmp_path))
    (tmp_path / "groups.toml").write_text(groups)
    assert expand_devices(["lab", "boards"]) == ["pixel", "rpi4", "rpi5"]
