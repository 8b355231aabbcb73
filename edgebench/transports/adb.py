"""Android devices through the real ``adb`` client (USB serial or ``host:port`` in TCP mode).

Profile options::

    [options]
    serial = "R3CN30XXXX"        # or "192.168.1.20:5555"; empty: $ANDROID_SERIAL / the only device
    adb = "adb"                  # the client binary
    server_port = 5037           # the adb server's port (ANDROID_ADB_SERVER_PORT)
    workdir = "/data/local/tmp"  # scratch dirs are made below it
    connect_timeout = 20         # seconds to wait for a phone adb lists as offline / connecting /
                                 # authorizing, or for one that dropped to come back
    transfer_timeout = 300       # seconds for one push or pull
    check_probe_timeout = 1      # `devices --check`: seconds a TCP serial's port may take to answer

A serial adb does not list fails within about a second, naming what adb sees; a TCP serial that
refuses the connection fails at once. A push, pull or command cut off by a drop is retried once
after the phone is back (`adb wait-for-device`); a TCP phone this transport `adb connect`ed is
disconnected when it closes, one the user had connected stays connected.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from . import shell_join
from .adb_client import GONE, TRANSIENT, AdbClient, describe, failure_line, is_tcp, parse_devices
from .remote import Dropped, Raw, ShellTransport

# how long a serial adb does not list may take to show up: a re-plugged USB phone does within a
# second; a server that has just started is still finding its USB devices
ABSENT_GRACE_S = 1.0
ABSENT_GRACE_NEW_SERVER_S = 1.5
# `devices --check` of a TCP serial: a phone whose port does not answer within this is absent (a
# black-holed address would otherwise keep `adb connect` waiting for connect_timeout)
CHECK_PROBE_S = 1.0


class AdbTransport(ShellTransport):
    name = "adb"
    kind = "adb"
    default_workdir_base = "/data/local/tmp"

    def __init__(self, profile):  # type: ignore[no-untyped-def]
        super().__init__(profile)
        self.serial = str(self.options.get("serial", "") or "")
        port = self.options.get("server_port")
        self.client = AdbClient(str(self.options.get("adb", "adb")), int(port) if port else None)
        self._target = ""  # the phone in use once open: a second phone plugged in later changes nothing
        self._we_connected = False  # `adb connect`ed by this transport: the only kind it disconnects
        self._ownership_known = False
        self._server_known = False
        self._started_server = False  # no adb server ran before this transport's first call
        self.stop_started_server = False  # set for a check: leave no server behind that we started

    def address(self) -> str:
        return self.serial or os.environ.get("ANDROID_SERIAL", "") or self._target or "default device"

    @property
    def connect_timeout(self) -> float:
        return float(self.options.get("connect_timeout", 20))

    # -- the client ----------------------------------------------------------------------------
    def _need_client(self) -> None:
        if self.client.path() is None:
            raise self.unreachable(f"the adb client {self.client.exe!r} is not installed "
                                   "(Debian/Ubuntu: apt install adb)")

    def _call(self, args: list[str], timeout: float, what: str, select: bool = True,
              option: str = "") -> subprocess.CompletedProcess[bytes]:
        self._need_client()
        try:
            return self.client.call(args, timeout, (self._target or self.serial) if select else "")
        except subprocess.TimeoutExpired:
            raise self.timed_out(what, timeout, option) from None

    def _text(self, args: list[str], timeout: float, what: str, select: bool = False) -> tuple[int, str]:
        proc = self._call(args, timeout, what, select)
        return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace").strip()

    def _devices(self) -> dict[str, str]:
        return parse_devices(self._text(["devices"], 15, "adb devices")[1])

    # -- connection ----------------------------------------------------------------------------
    def _connect(self) -> None:
        self._need_client()
        if not self._server_known:
            self._server_known = True
            self._started_server = self.client.server_running() is False
        wanted = self._target or self.serial or os.environ.get("ANDROID_SERIAL", "")
        if wanted and is_tcp(wanted) and wanted not in self._devices():
            # the first connect decides whose connection it is; a later one only restores it
            self._tcp_connect(wanted, claim=not self._ownership_known)
        self._ownership_known = True
        self._await(wanted, self.connect_timeout)

    def _tcp_connect(self, serial: str, claim: bool = False) -> str:
        """`adb connect`; raises at once when refused. Returns '' or adb's reason for a retry."""
        code, text = self._text(["connect", serial], self.connect_timeout, "adb connect")
        # `adb connect` exits 0 when it fails: only its words tell
        if re.search(r"\balready connected to\b", text):
            return ""  # the user's connection (or adb's own): not ours to end
        if re.search(r"\bconnected to\b", text) and not re.search(r"fail|cannot|unable", text, re.I):
            self._we_connected = self._we_connected or claim
            return ""
        reason = text.splitlines()[-1] if text else f"adb connect exited {code}"
        if claim:
            raise self.unreachable(reason)
        return reason

    def _await(self, wanted: str, limit: float) -> None:
        """Wait for the phone: fail fast when adb does not list it, wait while it is on its way."""
        deadline = time.monotonic() + limit
        absent_since: float | None = None
        offline_since: float | None = None
        while True:
            listing = self._devices()
            if wanted:
                serial, state = wanted, listing.get(wanted)
            elif len(listing) > 1:
                raise self.unreachable(f"more than one device: set options.serial or --serial; {describe(listing)}")
            else:
                serial, state = next(iter(listing.items()), ("", None))
            now = time.monotonic()
            if state == "device":
                self._target = serial
                return
            if state is None:
                absent_since = absent_since or now
                grace = ABSENT_GRACE_NEW_SERVER_S if self._started_server else ABSENT_GRACE_S
                if now - absent_since >= grace or now >= deadline:
                    raise self.unreachable(f"no device {wanted!r}; {describe(listing)}" if wanted
                                           else f"no device; {describe(listing)}")
            elif state in TRANSIENT:
                absent_since = None
                offline_since = offline_since or now
                why = ""
                if state == "offline" and is_tcp(serial) and now - offline_since > 1.0:
                    why = self._kick_tcp(serial)
                if now >= deadline:
                    raise self.unreachable(f"{serial} is still {state} after {limit:g} s (connect_timeout)"
                                           + (f": {why}" if why else "") + f"; {describe(listing)}")
            elif state == "unauthorized":
                raise self.unreachable("unauthorized: accept this computer's RSA key on the phone")
            else:  # 'no permissions (...)', recovery, bootloader, sideload, ...
                raise self.unreachable(f"adb lists {serial} as {state!r}, not 'device'")
            time.sleep(0.2)

    def _kick_tcp(self, serial: str) -> str:
        """Reconnect an offline TCP device now, once its port answers: adb's own retries come
        seconds apart. Until then adb's offline entry stays (the user's connection, if theirs).
        Returns '' or why it is not back."""
        host, _, port = serial.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
        except OSError as exc:
            return f"{serial} does not answer ({exc.strerror or exc})"
        self._text(["disconnect", serial], 10, "adb disconnect")
        return self._tcp_connect(serial)

    def _recover(self) -> None:
        """After a drop: `adb wait-for-device`, bounded by connect_timeout (TCP: reconnect first)."""
        self._connected = False
        wanted = self._target or self.serial or os.environ.get("ANDROID_SERIAL", "")
        limit = self.connect_timeout
        deadline = time.monotonic() + limit
        if wanted and is_tcp(wanted):
            reason, state = "", self._devices().get(wanted)
            give_adb_until = time.monotonic() + 1.0  # adb itself often reconnects within a moment
            while state != "device":
                if time.monotonic() >= deadline:
                    reason = reason or f"{wanted} is {state or 'gone'}"
                    raise self.unreachable(f"{reason}; waited {limit:g} s (connect_timeout); {describe(self._devices())}")
                if time.monotonic() >= give_adb_until and state in (None, "offline"):
                    reason = self._kick_tcp(wanted) if state else self._tcp_connect(wanted)
                time.sleep(0.3)
                state = self._devices().get(wanted)
        try:
            self.client.call(["wait-for-device"], max(1.0, deadline - time.monotonic()), wanted)
        except subprocess.TimeoutExpired:
            raise self.unreachable(f"it did not come back within {limit:g} s (connect_timeout); "
                                   f"{describe(self._devices())}") from None
        self._connected = True

    def _reset(self) -> None:
        # the adb server owns the connection to the phone: nothing to tear down between tries
        self._connected = False

    def _disconnect(self) -> None:
        if self._we_connected:
            self._we_connected = False
            try:
                self.client.call(["disconnect", self._target or self.serial], timeout=10)
            except (subprocess.TimeoutExpired, OSError):
                pass

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.stop_started_server and self._started_server:
                self.client.kill_server()
            # a later open() looks afresh: whose connection it is, whose server
            self._ownership_known = self._server_known = self._started_server = False

    def reachable(self) -> tuple[bool, str]:
        self.stop_started_server = True  # a check must not leave an adb server of its own running
        wanted = self.serial or os.environ.get("ANDROID_SERIAL", "")
        if is_tcp(wanted):  # knock first: an absent phone answers nothing, and no server need start for it
            host, _, port = wanted.rpartition(":")
            limit = float(self.options.get("check_probe_timeout", CHECK_PROBE_S))
            try:
                socket.create_connection((host, int(port)), timeout=limit).close()
            except (socket.timeout, TimeoutError):
                return False, str(self.unreachable(f"{wanted} does not answer within {limit:g} s"))
            except OSError:
                pass  # refused, no route...: adb says so in its own words, at once
        return super().reachable()

    # -- commands and files --------------------------------------------------------------------
    def _exec(self, script: str, timeout: float) -> Raw:
        # one argument: adb joins its arguments with spaces and the device's sh parses the result
        proc = self._call(["shell", script], timeout=timeout, what="the command")
        if b"@@EB-EXIT-" not in proc.stdout:  # 'device offline', or adb's silent exit 0 after a drop
            reason = failure_line(proc.stderr.decode(errors="replace"))
            raise Dropped(reason or f"adb exited {proc.returncode} without the command's exit status: "
                                    "the device dropped mid-command")
        return Raw(proc.returncode, proc.stdout, proc.stderr)

    def _transfer(self, args: list[str], timeout: float, what: str) -> str:
        """Run adb push/pull; raise Dropped (worth a retry) or a DeviceError with adb's reason."""
        proc = self._call(args, timeout, f"adb {args[0]} {Path(args[1]).name}", option="options.transfer_timeout")
        text = (proc.stdout + proc.stderr).decode(errors="replace")
        reason = failure_line(text)  # never adb's '1 file pushed, 0 skipped' summary
        if reason and GONE.search(reason):
            raise Dropped(reason)
        if reason:
            raise self.failed(f"{what} failed: {reason}")
        if proc.returncode != 0:  # a pull cut off mid-file says nothing but its progress line
            raise Dropped(f"adb {args[0]} exited {proc.returncode} without saying why")
        return text

    def _push(self, local: Path, remote: str, timeout: float) -> None:
        # the sync protocol carries the path as bytes: no shell sees it, nothing to quote
        text = self._transfer(["push", str(local), remote], timeout, f"pushing {local.name} to {remote}")
        if not re.search(r"\b1 file pushed\b", text):  # an older adb, or words we do not know: look
            size = local.stat().st_size
            found = self.script(f"stat -c %s -- {shell_join([remote])} 2>/dev/null || wc -c < {shell_join([remote])}",
                                timeout=30, label=f"checking {remote}").stdout.split()
            if found[:1] != [str(size)]:
                raise Dropped(f"the file did not arrive whole ({found[0] if found else 'no file'} of {size} bytes "
                              "on the device)")

    def _pull(self, remote: str, local: Path, timeout: float) -> None:
        self._transfer(["pull", remote, str(local)], timeout, f"pulling {remote}")
        if not local.is_file():
            raise Dropped("the file did not arrive (adb pull wrote nothing)")

    # -- description ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        script = ("getprop; echo @@EB-SPLIT@@; uname -srm; echo @@EB-SPLIT@@; "
                  "grep -m1 MemTotal /proc/meminfo; echo @@EB-SPLIT@@; "
                  "cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq 2>/dev/null; "
                  "echo @@EB-SPLIT@@; nproc 2>/dev/null")
        out = self.script(script, timeout=30).stdout.split("@@EB-SPLIT@@")
        props = parse_getprop(out[0])
        info: dict[str, Any] = {
            "model": props.get("ro.product.model", ""),
            "manufacturer": props.get("ro.product.manufacturer", ""),
            "soc": props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware", ""),
            "soc_manufacturer": props.get("ro.soc.manufacturer", ""),
            "board": props.get("ro.board.platform", ""),
            "android": props.get("ro.build.version.release", ""),
            "sdk": props.get("ro.build.version.sdk", ""),
            "abi": props.get("ro.product.cpu.abi", ""),
            "build": props.get("ro.build.fingerprint", ""),
            "serial": self.serial,
        }
        if len(out) >= 5:
            info["kernel"] = out[1].strip()
            mem = re.search(r"(\d+)", out[2])
            if mem:
                info["memory_bytes"] = int(mem.group(1)) * 1024
            freqs = sorted({int(f) // 1000 for f in out[3].split() if f.isdigit()})
            if freqs:
                info["cpu_max_mhz"] = freqs  # one entry per cluster: big.LITTLE shows here
            if out[4].strip().isdigit():
                info["cores_logical"] = int(out[4].strip())
        if self.profile.affinity:
            info["affinity"] = self.profile.affinity
        return {k: v for k, v in info.items() if v not in ("", None)}


def parse_getprop(text: str) -> dict[str, str]:
    """``[ro.product.model]: [Pixel 7]`` lines -> {'ro.product.model': 'Pixel 7'}."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, re.M))


__all__ = ["AdbTransport", "parse_getprop"]
