"""serial: pyserial against a socat pty pair with a shell (and a getty-like login) on the far end."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from edgebench.devices import DeviceProfile
from edgebench.errors import DeviceError, DeviceUnreachable
from edgebench.testing.remote_devices import virtual_board
from edgebench.transports.serial import SerialTransport

from conftest_remote import board, need, need_rootfs, workdir  # noqa: F401  (fixtures)


def serial_transport(port: str, **options) -> SerialTransport:  # type: ignore[no-untyped-def]
    return SerialTransport(DeviceProfile(name="serial-test", transport="serial", options={"port": port, **options}))


def test_login_prompt_is_answered(workdir):  # noqa: F811
    need("socat")
    with virtual_board(workdir, login=("root", "s3cret")) as dev:
        bad = serial_transport(dev.endpoint.port, user="root", password="wrong", connect_timeout=3)
        with pytest.raises(DeviceUnreachable, match=r"device 'serial-test' .*login as 'root' refused"):
            bad.open()
        t = serial_transport(dev.endpoint.port, user="root", password="s3cret")
        assert t.run(["echo", "in"], timeout=30).stdout == "in\n"
        t.close()
        again = serial_transport(dev.endpoint.port, user="root", password="s3cret")  # still logged in
        assert again.run(["echo", "again"], timeout=30).stdout == "again\n"
        again.close()


def test_the_console_shell_is_not_changed_by_commands(board):
    t = serial_transport(board.endpoint.port)
    assert t.run(["sh", "-c", "exit 4"], timeout=30).returncode == 4
    t.script("cd /; FOO=bar; exit 9", timeout=30)  # runs in a subshell: the console keeps going
    assert t.script('echo "[$FOO]"', timeout=30).stdout == "[]\n"
    t.close()


def test_long_scripts_travel_through_a_file(board):
    t = serial_transport(board.endpoint.port)
    words = [f"word{i}" for i in range(1500)]  # ~12 kB of script: more than a tty line holds
    assert t.run(["printf", "%s\\n", *words], timeout=60).stdout.split() == words
    t.close()


def test_cable_pulled_mid_run_is_a_device_error_naming_the_profile(board):
    t = serial_transport(board.endpoint.port, connect_timeout=3)
    t.open()
    caught: list[Exception] = []

    def run() -> None:
        try:
            t.run(["sleep", "30"], timeout=60)
        except Exception as exc:  # inspected below
            caught.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    time.sleep(1.0)
    board.endpoint.kill()
    runner.join(30)
    assert len(caught) == 1 and isinstance(caught[0], DeviceError), caught
    assert "device 'serial-test'" in str(caught[0]) and "\n" not in str(caught[0])
    t.close()


def test_console_into_the_arm64_userland(workdir):  # noqa: F811
    need("socat")
    rootfs = need_rootfs()
    with virtual_board(workdir, rootfs=rootfs) as dev:
        t = serial_transport(dev.endpoint.port)
        assert t.run(["uname", "-m"], timeout=60).stdout == "aarch64\n"
        assert t.info()["machine"] == "aarch64"
        t.close()


def test_the_python_probe_travels_over_the_console(board):
    from edgebench.device_python import probe

    t = serial_transport(board.endpoint.port)
    t.open()
    try:
        found = probe(t, sys.executable, ["numpy", "no_such_runtime_xyz"])
        missing = probe(t, "python3-not-installed", ["numpy"])
    finally:
        t.close()
    assert found.usable and found.modules == {"numpy": True, "no_such_runtime_xyz": False}, found
    assert not missing.usable and "python3-not-installed" in missing.reason
