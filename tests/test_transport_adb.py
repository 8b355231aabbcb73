"""adb: the real Debian client against the virtual phone, its traps, and the endpoint itself."""

from __future__ import annotations

import os
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from edgebench.devices import DeviceProfile
from edgebench.errors import DeviceError, DeviceUnreachable
from edgebench.testing import adb_wire as w
from edgebench.testing.adb_endpoint import AdbEndpoint
from edgebench.testing.remote_devices import adb_server, free_port
from edgebench.transports.adb import AdbTransport, parse_getprop

from conftest_remote import IS_ROOT, need, phone, workdir  # noqa: F401  (fixtures)


def adb(server: int, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["adb", "-P", str(server), *args], capture_output=True, text=True, timeout=timeout)


def transport(serial: str, server: int, name: str = "pixel-test", **options) -> AdbTransport:
    return AdbTransport(DeviceProfile(name=name, transport="adb",
                                      options={"serial": serial, "server_port": server, **options}))


def test_adb_connect_failure_exits_0_and_is_still_caught(phone):
    server, dead = phone.values["server_port"], f"127.0.0.1:{free_port()}"
    raw = adb(server, "connect", dead)
    assert raw.returncode == 0 and "failed to connect" in raw.stdout + raw.stderr  # the trap itself
    with pytest.raises(DeviceUnreachable, match=rf"^device 'pixel-test' \(adb {dead}\) is unreachable: failed to connect"):
        transport(dead, server).open()


def test_getprop_info_of_a_phone(phone):
    t = transport(phone.values["serial"], phone.values["server_port"])
    props = parse_getprop(t.run(["getprop"], timeout=30).stdout)
    assert props["ro.product.model"] == "Pixel 7" and props["ro.board.platform"] == "gs201"
    assert t.run(["getprop", "ro.build.version.release"], timeout=30).stdout == "14\n"
    t.close()


def test_dropped_connections_are_retried_once(phone):
    t = transport(phone.values["serial"], phone.values["server_port"])
    assert t.run(["echo", "one"], timeout=30).stdout == "one\n"
    phone.endpoint.drop_connections()  # the cable wiggled: the next command reconnects
    assert t.run(["echo", "two"], timeout=30).stdout == "two\n"
    t.close()


def test_device_killed_mid_command_is_a_device_error_naming_the_profile(workdir):  # noqa: F811
    need("adb")
    if not IS_ROOT:
        pytest.skip("killing the endpoint with its children needs a PID namespace (root)")
    port = free_port()
    with adb_server(workdir / "adb-home") as server:
        # the endpoint in its own process and PID namespace: SIGKILL takes its commands along
        endpoint = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m",
                                     "edgebench.testing.adb_endpoint", "--port", str(port), "--root",
                                     str(workdir / "phone")], stdout=subprocess.PIPE, text=True)
        try:
            assert "listening on 127.0.0.1:" in endpoint.stdout.readline()
            serial = f"127.0.0.1:{port}"
            t = transport(serial, server, connect_timeout=3)
            t.open()
            # the trap: Debian's adb shell exits 0 when the device vanishes mid-command
            shell = subprocess.Popen(["adb", "-P", str(server), "-s", serial, "shell", "sleep 20; echo done"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            errors: list[Exception] = []
            runner = threading.Thread(target=lambda: _catch(errors, t.run, ["sleep", "20"], timeout=60))
            runner.start()
            time.sleep(1.5)
            endpoint.kill()
            endpoint.wait(10)
            runner.join(30)
            assert shell.wait(30) == 0 and b"done" not in shell.stdout.read()
            assert len(errors) == 1 and isinstance(errors[0], DeviceError)
            assert "device 'pixel-test'" in str(errors[0]) and "\n" not in str(errors[0])
        finally:
            if endpoint.poll() is None:
                endpoint.kill()
            endpoint.wait(10)


def _catch(errors: list[Exception], fn, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # the test inspects it
        errors.append(exc)


def test_phone_without_shell_v2_still_reports_exit_status(workdir):  # noqa: F811
    need("adb")
    with adb_server(workdir / "adb-home") as server, \
            AdbEndpoint(workdir / "old-phone", port=free_port(), features=(), auth=False) as old:
        raw = adb(server, "connect", old.serial)
        assert "connected" in raw.stdout
        status = adb(server, "-s", old.serial, "shell", "exit 3")
        assert status.returncode == 0  # without shell_v2 adb cannot know the exit status...
        t = transport(old.serial, server)
        result = t.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)
        assert result.returncode == 3 and "out" in result.stdout  # ...the marker does (stderr merged)
        t.close()


def test_endpoint_module_entry_point_serves_a_real_client(workdir):  # noqa: F811
    need("adb")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edgebench.testing.adb_endpoint", "--port", str(port),
                             "--root", str(workdir / "cli-phone"), "--prop", "ro.product.model=Test Phone"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == f"adb endpoint listening on 127.0.0.1:{port}"
        with adb_server(workdir / "adb-home") as server:
            assert "connected to" in adb(server, "connect", f"127.0.0.1:{port}").stdout
            t = transport(f"127.0.0.1:{port}", server)
            assert t.info()["model"] == "Test Phone"
            t.close()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_wire_protocol_auth_banner_and_unknown_services(workdir):  # noqa: F811
    with AdbEndpoint(workdir / "wire-phone", port=0) as endpoint:
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as sock:
            banner = b"host::features=shell_v2,cmd\0"
            sock.sendall(w.Message(w.A_CNXN, 0x01000001, 1024 * 1024, banner).pack())
            token = w.read_message(sock)
            assert (token.name, token.arg0, len(token.data)) == ("AUTH", w.AUTH_TOKEN, 20)
            sock.sendall(w.Message(w.A_AUTH, w.AUTH_SIGNATURE, 0, secrets.token_bytes(256)).pack())
            online = w.read_message(sock)
            kind, props = w.parse_banner(online.data)
            assert online.name == "CNXN" and kind == "device"
            assert props["ro.product.model"] == "Pixel 7" and "shell_v2" in props["features"].split(",")
            sock.sendall(w.Message(w.A_OPEN, 7, 0, b"reboot:\0").pack())
            refused = w.read_message(sock)
            assert (refused.name, refused.arg0, refused.arg1) == ("CLSE", 0, 7)
            sock.sendall(w.Message(w.A_OPEN, 8, 0, b"shell,v2,raw:echo hi; exit 5\0").pack())
            opened = w.read_message(sock)
            assert opened.name == "OKAY" and opened.arg1 == 8
            packets = b""
            while True:
                msg = w.read_message(sock)
                if msg.name == "CLSE":
                    break
                assert msg.name == "WRTE"
                packets += msg.data
                sock.sendall(w.Message(w.A_OKAY, 8, opened.arg0).pack())
            assert packets == w.shell_packet(w.SHELL_STDOUT, b"hi\n") + w.shell_packet(w.SHELL_EXIT, b"\x05")
            # a bad magic ends the connection, as the protocol says
            sock.sendall(struct.pack("<6I", w.A_OPEN, 9, 0, 0, 0, 0))
            assert sock.recv(100) == b""


def test_device_paths_cannot_escape_the_phone(workdir):  # noqa: F811
    endpoint = AdbEndpoint(workdir / "jail-phone")
    inside = endpoint.resolve("/data/local/tmp/../../../data/local/tmp/x", write=True)
    assert inside == endpoint.root / "data/local/tmp/x"
    assert endpoint.resolve("/../../data/x", write=True) == endpoint.root / "data/x"
    with pytest.raises(PermissionError):
        endpoint.resolve("/etc/passwd", write=True)
    assert os.path.isdir(endpoint.root / "system/bin")


def test_endpoint_faults_strike_only_what_they_match_and_a_restart_keeps_the_port(phone):
    endpoint = phone.endpoint
    with pytest.raises(ValueError):
        endpoint.fail_next("reboot")
    with pytest.raises(ValueError):
        endpoint.fail_next("push", action="explode")
    t = transport(phone.values["serial"], phone.values["server_port"])
    fault = endpoint.fail_next("shell", match="needle", after_bytes=1)
    assert t.run(["echo", "hay"], timeout=30).stdout == "hay\n" and fault.hits == 0
    assert t.run(["echo", "needle"], timeout=30).stdout == "needle\n"  # struck once, retried once
    assert fault.hits == 1 and fault.struck.is_set() and not fault.armed

    port = endpoint.port
    endpoint.restart(down_for=0.5)
    assert not endpoint.listening
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    deadline = time.monotonic() + 5
    while not endpoint.listening:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert endpoint.port == port and t.run(["echo", "back"], timeout=30).stdout == "back\n"
    t.close()
