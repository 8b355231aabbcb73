"""adb faults on the virtual phone (the real adb client): drops in push / pull / shell, a phone that
dies or reboots, unknown serials, connections that are not ours, stale work dirs, timeouts, and
`edgebench devices --check`. Every failure must be one line naming the device and the operation."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgebench.devices import DeviceProfile
from edgebench.errors import DeviceError, DeviceTimeout, DeviceUnreachable
from edgebench.testing.remote_devices import free_port
from edgebench.transports.adb import AdbTransport
from edgebench.transports.adb_client import GONE, describe, failure_line, parse_devices
from edgebench.transports.remote import short_command
from edgebench.transports.workdirs import stale_workdirs

from conftest_remote import need, phone, workdir  # noqa: F401  (fixtures)

SIZE = 300_000


def adb(server: int, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["adb", "-P", str(server), *args], capture_output=True, text=True, timeout=timeout)


def transport(serial: str, server: int, **options) -> AdbTransport:  # type: ignore[no-untyped-def]
    return AdbTransport(DeviceProfile(name="pixel-test", transport="adb",
                                      options={"serial": serial, "server_port": server, **options}))


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def t(phone):  # noqa: F811
    tr = transport(phone.values["serial"], phone.values["server_port"], connect_timeout=5)
    yield tr
    tr.close()


def on_phone(phone, device_path: str) -> Path:  # noqa: F811
    return phone.endpoint.root / device_path.lstrip("/")


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text, text
    assert "pushed, 0 skipped" not in text and "MB/s" not in text, text  # never adb's summary
    return text


# -- adb's words -------------------------------------------------------------------------------
def test_failure_line_finds_the_reason_not_the_summary():
    pushed = ("adb: error: failed to copy '/x/big.bin' to '/data/local/tmp/big.bin': couldn't read from device\n"
              "/x/big.bin: 0 files pushed, 0 skipped. 172.4 MB/s (3000000 bytes in 0.017s)\n")
    assert failure_line(pushed) == "couldn't read from device"
    assert failure_line("/x: 1 file pushed, 0 skipped. 217.0 MB/s (1 bytes in 0.001s)\n") == ""
    assert failure_line("[ 33%] /data/local/tmp/big.bin\n") == ""
    assert failure_line("* daemon not running; starting now at tcp:5037\nerror: device offline\n") == "device offline"
    assert failure_line("adb.exe: protocol fault (couldn't read status): connection reset") == \
        "protocol fault (couldn't read status): connection reset"
    assert parse_devices("List of devices attached\nemulator-5554\tdevice\n127.0.0.1:40001\toffline\n\n") == \
        {"emulator-5554": "device", "127.0.0.1:40001": "offline"}
    assert describe({"emulator-5554": "device", "127.0.0.1:40001": "offline"}) == \
        "adb sees: emulator-5554 (device), 127.0.0.1:40001 (offline)"
    assert describe({}) == "adb sees no device"


@pytest.mark.parametrize("text", [
    "adb: error: failed to copy 'a' to 'b': couldn't read from device",
    "adb: error: failed to copy 'a' to 'b': remote couldn't read from the local file",
    "adb: error: failed to read copy response: EOF",
    "adb: error: failed to get feature set: device offline",
    "adb.exe: protocol fault (couldn't read status): connection reset",
    "error: closed", "error: no devices/emulators found", "error: device 'R3CN30XXXX' not found",
    "error: device offline", "adb: error: connect failed: connection reset by peer",
])
def test_adbs_words_for_a_lost_device_are_recognised(text):
    assert GONE.search(failure_line(text)), failure_line(text)


@pytest.mark.parametrize("text", [
    "adb: error: failed to copy 'a' to 'b': remote couldn't create file: Read-only file system",
    "adb: error: failed to stat remote object '/x/y': No such file or directory",
    "adb: error: remote object '/x/y' does not exist",
    "adb: error: failed to copy 'a' to 'b': remote No space left on device",
])
def test_real_failures_are_not_taken_for_drops(text):
    reason = failure_line(text)
    assert reason and not GONE.search(reason), reason


def test_short_command_names_the_program_and_its_first_arguments():
    argv = ["/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/edgebench-0123abcd/model.tflite",
            "--num_threads=4", "--use_xnnpack=true"]
    assert short_command(argv) == "benchmark_model --graph=…/model.tflite --num_threads=4 …"
    assert short_command(["sleep", "30"]) == "sleep 30"
    assert short_command(["taskset", "f0", "python3", "runner.py", "job-x.json"]) == "python3 runner.py job-x.json"


# -- drops: retried once, then one line --------------------------------------------------------
@pytest.mark.parametrize("op", ["push", "pull", "shell"])
def test_a_drop_mid_transfer_or_command_is_retried_once(phone, t, payload, tmp_path, op):  # noqa: F811
    work = t.make_workdir()
    remote = f"{work}/big.bin"
    if op != "push":
        t.push(payload, remote)
    fault = phone.endpoint.fail_next(op, after_bytes=SIZE // 3, match="big.bin" if op != "shell" else "od -An")
    if op == "push":
        t.push(payload, remote)
        assert on_phone(phone, remote).read_bytes() == payload.read_bytes()
    elif op == "pull":
        t.pull(remote, tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == payload.read_bytes()
    else:  # od's 900 kB of output is cut after 100 kB: no exit marker, though adb exits 0
        result = t.run(["od", "-An", "-tx1", remote], timeout=30)
        assert result.returncode == 0 and len(result.stdout.splitlines()) == SIZE // 16
    assert fault.struck.is_set() and fault.hits == 1
    t.remove(work)


def test_a_push_that_drops_twice_is_one_line_with_adbs_reason(phone, t, payload):  # noqa: F811
    work = t.make_workdir()
    phone.endpoint.fail_next("push", after_bytes=SIZE // 2, match="big.bin", times=2)
    with pytest.raises(DeviceError) as caught:
        t.push(payload, f"{work}/big.bin")
    assert one_line(caught.value) == (
        f"device 'pixel-test' (adb {phone.values['serial']}): pushing big.bin to {work}/big.bin failed: "
        "couldn't read from device (again after reconnecting)")
    assert not on_phone(phone, f"{work}/big.bin").exists()
    assert sorted(p.name for p in on_phone(phone, work).iterdir()) == [".edgebench-owner"]  # no half file
    t.remove(work)


def test_a_pull_and_a_command_that_drop_twice_are_one_line(phone, t, payload, tmp_path):  # noqa: F811
    work = t.make_workdir()
    t.push(payload, f"{work}/big.bin")
    phone.endpoint.fail_next("pull", after_bytes=1000, match="big.bin", times=2)
    with pytest.raises(DeviceError) as caught:
        t.pull(f"{work}/big.bin", tmp_path / "back.bin")
    assert one_line(caught.value) == (
        f"device 'pixel-test' (adb {phone.values['serial']}): pulling {work}/big.bin failed: "
        "adb pull exited 1 without saying why (again after reconnecting)")
    assert not (tmp_path / "back.bin").exists()

    phone.endpoint.fail_next("shell", after_s=0.5, match="sleep 3", times=2)
    with pytest.raises(DeviceError) as caught:
        t.run(["sh", "-c", "sleep 3; echo done"], timeout=30)
    assert one_line(caught.value) == (
        f"device 'pixel-test' (adb {phone.values['serial']}): running sh -c 'sleep 3; echo done' failed: "
        "adb exited 0 without the command's exit status: the device dropped mid-command (again after reconnecting)")
    t.remove(work)  # the phone is still there: the run's dir goes as usual


FAKE_ADB = """#!/bin/sh
# adb as an older release (or a stranger build) would answer a push: no '1 file pushed' summary
for arg; do
  if [ "$arg" = push ]; then
    [ "$FAKE_ADB" = lose ] && exit 0  # says nothing and sends nothing
    adb "$@" | grep -v 'pushed'
    exit 0
  fi
done
exec adb "$@"
"""


def test_a_push_adb_is_vague_about_is_checked_on_the_device(phone, payload, tmp_path, monkeypatch):  # noqa: F811
    fake = tmp_path / "old-adb"
    fake.write_text(FAKE_ADB)
    fake.chmod(0o755)
    t = transport(phone.values["serial"], phone.values["server_port"], adb=str(fake))
    work = t.make_workdir()
    t.push(payload, f"{work}/big.bin")  # no summary: the size on the device says it arrived
    assert on_phone(phone, f"{work}/big.bin").stat().st_size == SIZE
    monkeypatch.setenv("FAKE_ADB", "lose")
    with pytest.raises(DeviceError) as caught:
        t.push(payload, f"{work}/other.bin")
    assert one_line(caught.value) == (
        f"device 'pixel-test' (adb {phone.values['serial']}): pushing big.bin to {work}/other.bin failed: "
        f"the file did not arrive whole (no file of {SIZE} bytes on the device) (again after reconnecting)")
    t.remove(work)
    t.close()


def test_a_phone_that_reboots_mid_push_is_waited_for(phone, t, payload):  # noqa: F811
    work = t.make_workdir()
    fault = phone.endpoint.fail_next("push", after_bytes=SIZE // 2, match="big.bin", down_for=2.0)
    started = time.monotonic()
    t.push(payload, f"{work}/big.bin")
    assert fault.struck.is_set() and 2.0 <= time.monotonic() - started < 5 + 3
    assert on_phone(phone, f"{work}/big.bin").stat().st_size == SIZE
    t.remove(work)


def test_a_phone_that_dies_fails_within_connect_timeout_and_then_at_once(phone, payload):  # noqa: F811
    serial = phone.values["serial"]
    t = transport(serial, phone.values["server_port"], connect_timeout=2)
    work = t.make_workdir()
    phone.endpoint.fail_next("push", after_bytes=SIZE // 2, match="big.bin", down_for=math.inf)
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable) as caught:
        t.push(payload, f"{work}/big.bin")
    assert time.monotonic() - started < 2 + 3
    assert one_line(caught.value) == (
        f"device 'pixel-test' (adb {serial}) is unreachable: the connection dropped while pushing big.bin to "
        f"{work}/big.bin (couldn't read from device); reconnecting failed: {serial} does not answer (Connection refused); "
        f"waited 2 s (connect_timeout); adb sees: {serial} (offline)")
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable) as again:  # the harness's clean-up does not wait all over again
        t.remove(work)
    assert str(again.value) == str(caught.value) and time.monotonic() - started < 0.5
    t.close()


def test_a_command_that_stalls_times_out_with_the_users_number(phone):  # noqa: F811
    t = transport(phone.values["serial"], phone.values["server_port"], timeout_grace=1)
    work = t.make_workdir()
    phone.endpoint.fail_next("shell", action="stall", stall_for=6, match="echo stalled")
    started = time.monotonic()
    with pytest.raises(DeviceTimeout) as caught:
        t.run(["sh", "-c", "echo stalled"], timeout=1, cwd=work)
    assert time.monotonic() - started < 4
    assert one_line(caught.value) == (
        f"device 'pixel-test' (adb {phone.values['serial']}): sh -c 'echo stalled' ran past the 1 s timeout (--timeout)")
    t.remove(work)
    t.close()


# -- timeouts name the command and the user's --timeout ----------------------------------------
@pytest.mark.parametrize("remote_timeout", [True, False])
def test_timeout_message_gives_the_users_number_and_the_command(phone, remote_timeout):  # noqa: F811
    t = transport(phone.values["serial"], phone.values["server_port"], remote_timeout=remote_timeout,
                  timeout_grace=1)
    work = t.make_workdir()
    started = time.monotonic()
    with pytest.raises(DeviceTimeout) as caught:
        t.run(["sh", "-c", "sleep 30", "/data/local/tmp/model.tflite"], timeout=1, cwd=work)
    assert time.monotonic() - started < 10
    assert one_line(caught.value) == (
        f"device 'pixel-test' (adb {phone.values['serial']}): sh -c 'sleep 30' … ran past the 1 s timeout (--timeout)")
    t.remove(work)
    t.close()


# -- serials: unknown, refused, offline --------------------------------------------------------
def test_an_unknown_serial_fails_within_3_s_naming_what_adb_sees(phone):  # noqa: F811
    server, serial = phone.values["server_port"], phone.values["serial"]
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable) as caught:
        transport("R3CN30XXXX", server).open()
    assert time.monotonic() - started < 3
    assert one_line(caught.value) == \
        "device 'pixel-test' (adb R3CN30XXXX) is unreachable: no device 'R3CN30XXXX'; adb sees no device"
    assert "connected to" in adb(server, "connect", serial).stdout
    with pytest.raises(DeviceUnreachable, match=rf"no device 'R3CN30XXXX'; adb sees: {serial} \(device\)$"):
        transport("R3CN30XXXX", server).open()
    refused = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match=rf"is unreachable: failed to connect to '{refused}': Connection refused$"):
        transport(refused, server).open()
    assert time.monotonic() - started < 1


def test_an_offline_phone_is_waited_for_up_to_connect_timeout(phone):  # noqa: F811
    server, serial = phone.values["server_port"], phone.values["serial"]
    assert "connected to" in adb(server, "connect", serial).stdout
    phone.endpoint.restart(down_for=2.0)
    deadline = time.monotonic() + 5
    while "offline" not in adb(server, "devices").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    t = transport(serial, server, connect_timeout=10)
    started = time.monotonic()
    assert t.run(["echo", "back"], timeout=30).stdout == "back\n"
    assert 1.0 < time.monotonic() - started < 10
    t.close()
    phone.endpoint.restart(down_for=math.inf)
    t = transport(serial, server, connect_timeout=1.5)
    with pytest.raises(DeviceUnreachable, match=r"is unreachable: .*connect_timeout"):
        t.open()


# -- only what edgebench connected is disconnected ---------------------------------------------
def test_a_phone_the_user_connected_stays_connected(phone):  # noqa: F811
    server, serial = phone.values["server_port"], phone.values["serial"]
    t = transport(serial, server)
    assert t.run(["true"], timeout=30).returncode == 0
    t.close()
    assert serial not in adb(server, "devices").stdout  # edgebench connected it: edgebench disconnects it

    assert "connected to" in adb(server, "connect", serial).stdout  # now the user connects it
    t = transport(serial, server)
    assert t.run(["true"], timeout=30).returncode == 0
    phone.endpoint.fail_next("shell", match="echo again")  # a drop and a reconnect on the way
    assert t.run(["echo", "again"], timeout=30).stdout == "again\n"
    t.close()
    assert f"{serial}\tdevice" in adb(server, "devices").stdout


# -- stale work dirs ---------------------------------------------------------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_work_dirs_go_and_live_ones_stay(phone, t):  # noqa: F811
    base = on_phone(phone, "/data/local/tmp")
    host, now = socket.gethostname(), int(time.time())

    def make(name: str, owner: str | None = None, age_s: float = 0) -> Path:
        folder = base / name
        folder.mkdir()
        (folder / "keep.txt").write_text("x")
        if owner is not None:
            (folder / ".edgebench-owner").write_text(owner)
        os.utime(folder, (now - age_s, now - age_s))
        return folder

    dropped = make("edgebench-0000000a", f"host={host}\npid={_dead_pid()}\nstarted={now - 60}\n")
    live = make("edgebench-0000000b", f"host={host}\npid={os.getpid()}\nstarted={now}\n")
    reused = make("edgebench-0000000c", f"host={host}\npid={os.getpid()}\nstarted={now - 10**6}\n")
    old_bare = make("edgebench-0000000d", age_s=2 * 3600)
    new_bare = make("edgebench-0000000e", age_s=600)
    far_old = make("edgebench-0000000f", f"host=elsewhere\npid=1\nstarted={now}\n", age_s=25 * 3600)
    far_new = make("edgebench-00000010", f"host=elsewhere\npid=1\nstarted={now}\n", age_s=3600)
    odd = [make("edgebench-notahex!", age_s=10**6), make("edgebench-0000001", age_s=10**6),
           make("Edgebench-00000011", age_s=10**6), make("other", age_s=10**6)]
    (base / "edgebench-00000012").write_text("a file, not a dir")
    os.utime(base / "edgebench-00000012", (0, 0))
    (base / "edgebench-00000013").symlink_to(old_bare)

    work = t.make_workdir()
    gone = {p.name for p in (dropped, reused, old_bare, far_old)}
    assert {p.name for p in base.iterdir()} == (
        {p.name for p in (live, new_bare, far_new, *odd)} | {"edgebench-00000012", "edgebench-00000013",
                                                             Path(work).name})
    owner = (on_phone(phone, work) / ".edgebench-owner").read_text()
    assert owner == f"host={host}\npid={os.getpid()}\nstarted={owner.split('started=')[1]}"
    assert not gone & {p.name for p in base.iterdir()}
    t.remove(work)


def test_stale_listing_parser_keeps_what_it_cannot_date():
    listing = ("1700000000\n@@EB-DIR edgebench-0000000a \n\n@@EB-DIR edgebench-0000000b 1699999000\nhost=x\n"
               "@@EB-DIR edgebench-0000000c 1600000000\nhost=x\n")
    # no mtime; an owner file without a pid is no owner: young stays, old goes
    assert stale_workdirs(listing, now_host="here") == ["edgebench-0000000c"]
    assert stale_workdirs("@@EB-DIR edgebench-0000000d 1\n\n", now_host="here") == []  # no device clock


def test_a_run_killed_mid_way_leaves_a_dir_the_next_session_removes(phone, t):  # noqa: F811
    serial, server = phone.values["serial"], phone.values["server_port"]
    code = ("import os, sys\nfrom edgebench.devices import DeviceProfile\nfrom edgebench.transports.adb import AdbTransport\n"
            f"t = AdbTransport(DeviceProfile(name='p', transport='adb', options={{'serial': {serial!r}, "
            f"'server_port': {server}}}))\nprint(t.make_workdir(), flush=True)\nos._exit(9)  # no clean-up: a lost run\n")
    left = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    assert left.startswith("/data/local/tmp/edgebench-") and on_phone(phone, left).is_dir()
    mine = t.make_workdir()
    assert not on_phone(phone, left).exists() and on_phone(phone, mine).is_dir()
    t.remove(mine)


# -- edgebench devices --check ------------------------------------------------------------------
def _check(args: list[str], home: Path) -> tuple[str, float]:
    env = {**os.environ, "HOME": str(home), "COLUMNS": "400"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "edgebench", *args],
                          capture_output=True, text=True, timeout=60, env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    return " ".join(proc.stdout.split()), elapsed


def _server_up(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_devices_check_with_serial_and_options_is_quick_and_leaves_no_server(phone, tmp_path):  # noqa: F811
    need("adb")
    port = free_port()  # no server runs there: the check starts one, and must stop it
    out, elapsed = _check(["devices", "--check", "pixel", "--serial", "NOPE123",
                           "--device-option", f"server_port={port}"], tmp_path / "home")
    assert "no: device 'pixel' (adb NOPE123) is unreachable: no device 'NOPE123'; adb sees no device" in out
    assert elapsed < 3 + 2  # (the interpreter's own start included)
    assert not _server_up(port)

    server, serial = phone.values["server_port"], phone.values["serial"]
    out, _ = _check(["devices", "--check", "pixel", "--serial", serial, "--device-option", f"server_port={server}",
                     "--device-option", "connect_timeout=5"], tmp_path / "home")
    assert "│ yes" in out or " yes " in out
    assert _server_up(server)  # not ours: still running
    assert serial not in adb(server, "devices").stdout  # the check connected it, so it disconnected it


# -- a whole run that loses its phone -----------------------------------------------------------
def test_a_run_that_loses_its_phone_says_one_line_keeps_its_result_and_its_dir_goes_next_time(phone, t, tmp_path):  # noqa: F811
    import sqlite3

    devices = Path(os.environ["EDGEBENCH_DEVICES_DIR"])
    phone.write_profile(devices)
    # the second job's runner loses the phone for good
    phone.endpoint.fail_next("shell", match="job-bicubic-onnxruntime-int8", down_for=math.inf)
    env = {**os.environ, "COLUMNS": "400"}
    proc = subprocess.run([sys.executable, "-m", "edgebench", "run", "--device", "pixel-test", "-m", "bicubic",
                           "-p", "fp32", "-p", "int8", "--quick", "--quality-images", "1",
                           "--device-option", "connect_timeout=2"], capture_output=True, text=True, env=env, timeout=300)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr
    serial = phone.values["serial"]
    assert errors[0].startswith(
        f"Error: device 'pixel-test' (adb {serial}) is unreachable: the connection dropped while running "
        "python3 runner.py job-bicubic-onnxruntime-int8-cpu.json (adb exited 0 without the command's exit status: "
        f"the device dropped mid-command); reconnecting failed: {serial} does not answer"), errors[0]
    db = sqlite3.connect(os.environ["EDGEBENCH_DB"])
    assert db.execute("SELECT precision FROM results").fetchall() == [("fp32",)]  # the finished one is kept
    left = [p.name for p in on_phone(phone, "/data/local/tmp").glob("edgebench-*")]
    assert len(left) == 1  # the phone was gone: nobody could remove it...

    phone.endpoint.restart(down_for=0)  # ...until the phone is back and the next session starts
    mine = t.make_workdir()
    assert [p.name for p in on_phone(phone, "/data/local/tmp").glob("edgebench-*")] == [Path(mine).name]
    t.remove(mine)
