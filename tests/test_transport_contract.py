"""What every remote transport promises, checked against a real endpoint for each:
adb (real client, virtual phone), ssh (real OpenSSH, arm64 Pi stand-in), serial (pyserial, socat)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from edgebench.errors import DeviceError, DeviceTimeout
from edgebench.thermal import cool_down, read_temperatures
from edgebench.transports.remote import check

from conftest_remote import board, phone, pi, workdir  # noqa: F401  (fixtures)

DEVICES = ["phone", "pi", "board"]
HOSTILE = "x; rm -rf \"$HOME\" 'q' $(touch PWNED) `touch PWNED2` *.onnx"


@pytest.fixture(params=DEVICES)
def device(request, workdir):  # noqa: F811
    dev = request.getfixturevalue(request.param)
    profile = dev.profile(workdir / "profiles")
    transport = profile.transport_obj()
    transport.open()
    yield dev, profile, transport
    transport.close()


def test_exit_status_stdout_and_stderr_come_back_apart(device):
    _, _, t = device
    result = t.run(["sh", "-c", "echo out; echo err >&2; printf 'no newline'; exit 7"], timeout=30)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (7, "out\nno newline", "err")
    assert t.run(["true"], timeout=30).returncode == 0


def test_arguments_and_cwd_reach_the_device_literally(device):
    _, _, t = device
    work = t.make_workdir()
    try:
        echoed = t.run(["printf", "%s|", HOSTILE, "", "two words"], timeout=30)
        assert echoed.stdout == f"{HOSTILE}||two words|"
        # (the host-shell phone shows its real folder: /data/local/tmp lives under its root)
        assert t.run(["pwd"], timeout=30, cwd=work).stdout.strip().endswith(work)
        # no PWNED files anywhere we ran (only the owner file that marks the dir as this run's)
        assert t.run(["ls", "-A"], timeout=30, cwd=work).stdout.split() == [".edgebench-owner"]
    finally:
        t.remove(work)
    assert t.run(["ls", "-d", work], timeout=30).returncode != 0


def test_hostile_file_name_is_pushed_run_and_pulled_literally(device, tmp_path):
    _, _, t = device
    payload = os.urandom(150_000) + b"\n\x00\r\n\x03\x04 end"
    local = tmp_path / "in.bin"
    local.write_bytes(payload)
    work = t.make_workdir()
    try:
        canary = f"{work}/canary"
        t.run(["touch", canary], timeout=30)
        remote = f"{work}/{HOSTILE} \\ back"
        t.push(local, remote)
        listed = t.run(["ls", "-A"], timeout=30, cwd=work).stdout.splitlines()
        assert sorted(listed) == sorted([".edgebench-owner", "canary", f"{HOSTILE} \\ back"])
        size = t.run(["wc", "-c", remote], timeout=30)
        assert size.returncode == 0 and size.stdout.split()[0] == str(len(payload))
        back = tmp_path / "it's \"back\".bin"
        t.pull(remote, back)
        assert back.read_bytes() == payload
        assert t.run(["ls", canary], timeout=30).returncode == 0
    finally:
        t.remove(work)


def test_a_hanging_command_times_out_and_is_killed_on_the_device(device):
    dev, profile, t = device
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match=f"device '{profile.name}'.*: sleep 31.4159 ran past the 2 s timeout$"):
        t.run(["sleep", "31.4159"], timeout=2)
    assert time.monotonic() - started < 15
    deadline = time.monotonic() + 10
    while t.run(["sh", "-c", "ps -eo args | grep -c '^sleep 31.4159'"], timeout=30).stdout.strip() != "0":
        assert time.monotonic() < deadline, "the timed-out command still runs on the device"
        time.sleep(0.3)
    assert t.run(["echo", "still here"], timeout=30).stdout == "still here\n"


def test_missing_remote_file_is_a_device_error_naming_the_profile(device, tmp_path):
    _, profile, t = device
    with pytest.raises(DeviceError, match=f"'{profile.name}'"):
        t.pull("/nonexistent/edgebench/file", tmp_path / "x")


def test_info_and_reachability(device):
    dev, profile, t = device
    info = t.info()
    assert info.get("kernel") and info.get("cores_logical", 0) >= 1
    if dev.template == "pixel-test":
        assert (info["model"], info["soc"], info["android"], info["abi"]) == ("Pixel 7", "GS201", "14", "arm64-v8a")
    if dev.template == "rpi-test":
        assert info["machine"] == "aarch64" and info["python_machine"] == "aarch64"
    t.close()  # a serial port opens once at a time
    ok, message = check(profile)
    assert ok and profile.transport in message


@pytest.mark.parametrize("name", ["phone", "pi"])
def test_temperatures_and_cool_down(request, workdir, name):  # noqa: F811
    dev = request.getfixturevalue(name)
    t = dev.profile(workdir / "profiles").transport_obj()
    dev.endpoint.set_temperature(0, 81.5, "cpu-thermal")
    dev.endpoint.set_temperature(1, 35.0, "battery")
    assert read_temperatures(t) == {"thermal_zone0:cpu-thermal": 81.5, "thermal_zone1:battery": 35.0}
    still_hot = cool_down(t, threshold_c=60, timeout_s=1.0, poll_s=0.2)
    assert not still_hot.reached and still_hot.hot and still_hot.readings >= 2

    threading.Timer(1.0, dev.endpoint.set_temperature, args=(0, 45.0)).start()
    cooled = cool_down(t, threshold_c=60, timeout_s=20, poll_s=0.2)
    assert cooled.reached and 0.8 < cooled.waited_s < 20
    assert cooled.start["thermal_zone0:cpu-thermal"] == 81.5 and cooled.end["thermal_zone0:cpu-thermal"] == 45.0
    t.close()


def test_a_device_without_thermal_zones_is_unknown_and_not_waited_for(phone, workdir):  # noqa: F811
    t = phone.profile(workdir / "profiles").transport_obj()
    assert read_temperatures(t) == {}
    result = cool_down(t, threshold_c=1, timeout_s=30)
    # nothing to wait for, but unknown is not cool: reached is None and the result is marked
    assert result.reached is None and not result.hot and result.readings == 1 and result.waited_s < 5
    t.close()


def test_unreachable_device_is_one_line_naming_the_profile(phone, tmp_path):
    from edgebench.devices import DeviceProfile

    server = phone.values["server_port"]  # a live adb server: a dead one would be started anew
    dead = [
        DeviceProfile(name="dead-phone", transport="adb", options={"serial": "127.0.0.1:9", "server_port": server}),
        DeviceProfile(name="dead-pi", transport="ssh", options={"host": "127.0.0.1", "port": 9,
                                                               "known_hosts": str(tmp_path / "kh")}),
        DeviceProfile(name="dead-board", transport="serial", options={"port": str(tmp_path / "ttyNONE")}),
    ]
    for profile in dead:
        ok, message = check(profile)
        assert not ok and f"device '{profile.name}'" in message and "\n" not in message, message
