"""Android devices through the real ``adb`` client (USB serial or ``host:port`` in TCP mode).

Profile options::

    [options]
    serial = "R3CN30XXXX"        # or "192.168.1.20:5555"; empty: $ANDROID_SERIAL / the only device
    adb = "adb"                  # the client binary
    server_port = 5037           # the adb server's port (ANDROID_ADB_SERVER_PORT)
    workdir = "/data/local/tmp"  # scratch dirs are made below it
    connect_timeout = 20         # seconds to wait for the device to come online
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from .remote import Dropped, Raw, ShellTransport

# adb's own words for a transport that went away (the exit status cannot be trusted alone)
_GONE = re.compile(r"device offline|device '[^']*' not found|no devices/emulators found|"
                   r"device not found|closed|connection reset|protocol fault|broken pipe|"
                   r"failed to connect|cannot connect", re.I)


class AdbTransport(ShellTransport):
    name = "adb"
    kind = "adb"
    default_workdir_base = "/data/local/tmp"

    def __init__(self, profile):  # type: ignore[no-untyped-def]
        super().__init__(profile)
        self.serial = str(self.options.get("serial", "") or "")
        self._we_connected = False

    def address(self) -> str:
        return self.serial or os.environ.get("ANDROID_SERIAL", "") or "default device"

    # -- the client ----------------------------------------------------------------------------
    def _adb(self, select: bool = True) -> list[str]:
        exe = str(self.options.get("adb", "adb"))
        path = shutil.which(exe)
        if path is None:
            raise self.unreachable(f"the adb client {exe!r} is not installed (Debian/Ubuntu: apt install adb)")
        argv = [path]
        if self.options.get("server_port"):
            argv += ["-P", str(self.options["server_port"])]
        if self.serial and select:
            argv += ["-s", self.serial]
        return argv

    def _call(self, args: list[str], timeout: float, what: str, select: bool = True) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run([*self._adb(select), *args], capture_output=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise self.timed_out(what, timeout) from None

    @property
    def _is_tcp(self) -> bool:
        return bool(re.fullmatch(r"[^:\s]+:\d+", self.serial))

    # -- connection ----------------------------------------------------------------------------
    def _connect(self) -> None:
        limit = float(self.options.get("connect_timeout", 20))
        if self._is_tcp:
            self._tcp_connect(limit)
        deadline = time.monotonic() + limit
        offline_since: float | None = None
        state = ""
        while time.monotonic() < deadline:
            proc = self._call(["get-state"], timeout=limit, what="adb get-state")
            state = (proc.stdout + proc.stderr).decode(errors="replace").strip()
            if proc.returncode == 0 and state.splitlines()[-1:] == ["device"]:
                return
            if "unauthorized" in state:
                raise self.unreachable("unauthorized: accept this computer's RSA key on the phone")
            if "more than one" in state:
                raise self.unreachable("more than one device is connected: set options.serial or --serial")
            if "offline" in state and self._is_tcp:
                # the server keeps a dead TCP device 'offline' and retries it slowly: start afresh
                offline_since = offline_since or time.monotonic()
                if time.monotonic() - offline_since > 1.0:
                    self._call(["disconnect", self.serial], timeout=10, what="adb disconnect", select=False)
                    self._tcp_connect(limit)
                    offline_since = None
            time.sleep(0.2)
        raise self.unreachable(state.splitlines()[-1] if state else "no device")

    def _tcp_connect(self, limit: float) -> None:
        proc = self._call(["connect", self.serial], timeout=limit, what="adb connect", select=False)
        text = (proc.stdout + proc.stderr).decode(errors="replace").strip()
        # `adb connect` exits 0 when it fails: only its words tell
        if not re.search(r"\b(already )?connected to\b", text) or re.search(r"fail|cannot|unable", text, re.I):
            raise self.unreachable(text or f"adb connect exited {proc.returncode}")
        self._we_connected = True

    def _disconnect(self) -> None:
        if self._we_connected:
            self._we_connected = False
            try:
                subprocess.run([*self._adb(select=False), "disconnect", self.serial],
                               capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
            except (subprocess.TimeoutExpired, OSError):
                pass

    # -- commands and files --------------------------------------------------------------------
    def _exec(self, script: str, timeout: float) -> Raw:
        # one argument: adb joins its arguments with spaces and the device's sh parses the result
        proc = self._call(["shell", script], timeout=timeout, what="the command")
        if b"@@EB-EXIT-" not in proc.stdout:  # 'device offline', or adb's silent exit 0 after a drop
            err = proc.stderr.decode(errors="replace").strip()
            raise Dropped(err.splitlines()[-1] if err else "no exit marker (the device dropped mid-command)")
        return Raw(proc.returncode, proc.stdout, proc.stderr)

    def _transfer(self, args: list[str], timeout: float, what: str) -> None:
        proc = self._call(args, timeout=timeout, what=what)
        text = (proc.stdout + proc.stderr).decode(errors="replace").strip()
        if proc.returncode != 0 or re.search(r"^adb: error|error:", text, re.M):
            if _GONE.search(text):
                raise Dropped(text)
            raise self.failed(f"{what} failed: {text.splitlines()[-1] if text else proc.returncode}")

    def _push(self, local: Path, remote: str, timeout: float) -> None:
        # the sync protocol carries the path as bytes: no shell sees it, nothing to quote
        self._transfer(["push", str(local), remote], timeout, f"adb push {local.name}")

    def _pull(self, remote: str, local: Path, timeout: float) -> None:
        self._transfer(["pull", remote, str(local)], timeout, f"adb pull {remote}")
        if not local.is_file():
            raise self.failed(f"adb pull {remote} wrote nothing")

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
