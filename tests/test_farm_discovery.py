"""`edgebench farm join --adb-profile P` offers every phone `adb devices` lists, each under profile P with
its own serial (issue 18, part 2); without --device, join offers the user's own profiles, not the
built-in examples. No Ray needed: this is what join registers, before it starts a node."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from edgebench.errors import UnknownName
from edgebench.farm.nodes import local_devices

from conftest_remote import need, phone, workdir  # noqa: F401  (fixtures)


def test_join_offers_each_attached_phone_under_the_given_profile(phone, monkeypatch):
    folder = Path(os.environ["EDGEBENCH_DEVICES_DIR"])
    phone.write_profile(folder)
    for key, value in phone.env.items():  # the private adb server of the virtual phone
        monkeypatch.setenv(key, value)
    serial = phone.values["serial"]
    connected = subprocess.run(["adb", "connect", serial], capture_output=True, text=True, timeout=30)
    assert "connected" in connected.stdout, connected.stdout + connected.stderr
    # the profile's own serial emptied: a template for whatever phones are attached
    profile = folder / "pixel-test.toml"
    profile.write_text(profile.read_text().replace(f'serial = "{serial}"', 'serial = ""'))
    devices = local_devices(["host"], [], "lab1", "pixel-test")
    assert [d.id for d in devices] == ["host@lab1", f"pixel-test:{serial}@lab1"]
    assert devices[1].profile.options["serial"] == serial
    assert devices[1].profile.options["server_port"] == phone.values["server_port"]  # the rest of the profile
    # a phone a named profile already offers is not offered twice (two leases on one phone)
    profile.write_text(profile.read_text().replace('serial = ""', f'serial = "{serial}"'))
    assert [d.id for d in local_devices(["pixel-test"], [], "lab1", "pixel-test")] == ["pixel-test@lab1"]


def test_join_offers_the_users_own_profiles_by_default_and_names_unknown_ones():
    folder = Path(os.environ["EDGEBENCH_DEVICES_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.toml").write_text('name = "bench"\ntransport = "local"\n')
    assert [d.id for d in local_devices([], [], "lab1", None)] == ["bench@lab1"]  # not host, pixel, rpi4...
    with pytest.raises(UnknownName, match="unknown device 'nosuch'"):
        local_devices(["nosuch"], [], "lab1", None)
