"""The real ``adb`` client as edgebench uses it: one call, the server's device list, and adb's own
words read back (its exit status alone cannot be trusted).

What adb 29-35 print when a transfer or a command loses the device (from their issue threads and
the virtual phone): ``adb: error: failed to copy 'a' to 'b': couldn't read from device`` followed by
``a: 0 files pushed, 0 skipped. 172.4 MB/s (...)`` (the summary comes last, even on failure),
``failed to read copy response: EOF``, ``failed to get feature set: device offline``,
``protocol fault (couldn't read status): connection reset``, ``error: closed``,
``error: device 'X' not found``, ``error: no devices/emulators found``; a pull that loses the
device may print nothing but its progress line and exit 1, and ``adb shell`` exits 0.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass

# a reason that means the device went away: worth one reconnect and retry
GONE = re.compile(
    r"couldn't read from device|remote couldn't read|failed to read copy response|protocol fault|"
    r"device offline|device '[^']*' not found|no devices/emulators found|device not found|"
    r"no such device|error: closed|\bclosed\b|connection reset|broken pipe|failed to get feature set|"
    r"device still (?:connecting|authorizing)|\bEOF\b|cannot connect|failed to connect", re.I)
# adb's own summary and progress lines: never the reason for a failure
_NOISE = re.compile(r"\d+ files? (?:pushed|pulled)|^\[\s*\d+%\]|^\* daemon|^adb server version", re.I)
_FAILURE = re.compile(r"\berror\b|fail|fault|offline|not found|closed|refused|denied|reset|"
                      r"read-only|no space|does not exist|no such|couldn't|cannot|unable", re.I)
# states `adb devices` shows while a device is on its way: worth waiting for
TRANSIENT = ("offline", "connecting", "authorizing")


def failure_line(text: str) -> str:
    """adb's line that says what went wrong ('' when it said nothing), shortened to the reason."""
    for line in text.splitlines():
        line = line.strip()
        if not line or _NOISE.search(line) or not _FAILURE.search(line):
            continue
        line = re.sub(r"^(?:adb(?:\.exe)?: )?(?:error: )?", "", line)
        # 'failed to copy 'a' to 'b': couldn't read from device': the caller names the files already
        copied = re.match(r"failed to copy '.*?' to '.*?': (.+)$", line)
        return copied.group(1) if copied else line
    return ""


def parse_devices(text: str) -> dict[str, str]:
    """``adb devices`` output -> {serial: state}, in adb's order."""
    listing: dict[str, str] = {}
    for line in text.splitlines():
        serial, tab, state = line.partition("\t")
        if tab and serial.strip() and not line.startswith(("List of devices", "*")):
            listing[serial.strip()] = state.strip()
    return listing


def describe(listing: dict[str, str]) -> str:
    """'adb sees: emulator-5554 (device), 127.0.0.1:4000 (offline)' or 'adb sees no device'."""
    if not listing:
        return "adb sees no device"
    return "adb sees: " + ", ".join(f"{serial} ({state})" for serial, state in listing.items())


def is_tcp(serial: str) -> bool:
    return bool(re.fullmatch(r"[^:\s]+:\d+", serial))


@dataclass
class AdbClient:
    """``adb [-P port] [-s serial] ...`` for one server and, optionally, one device."""

    exe: str = "adb"
    server_port: int | None = None  # None: $ANDROID_ADB_SERVER_PORT or 5037, as adb itself decides

    def path(self) -> str | None:
        return shutil.which(self.exe)

    def argv(self, serial: str = "") -> list[str]:
        argv = [self.path() or self.exe]
        if self.server_port:
            argv += ["-P", str(self.server_port)]
        if serial:
            argv += ["-s", serial]
        return argv

    def call(self, args: list[str], timeout: float, serial: str = "") -> subprocess.CompletedProcess[bytes]:
        """Raises subprocess.TimeoutExpired; the caller words it."""
        return subprocess.run([*self.argv(serial), *args], capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def text(self, args: list[str], timeout: float, serial: str = "") -> tuple[int, str]:
        proc = self.call(args, timeout, serial)
        return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace").strip()

    def devices(self, timeout: float = 10) -> dict[str, str]:
        return parse_devices(self.text(["devices"], timeout)[1])

    @property
    def port(self) -> int | None:
        """The server's TCP port on this host; None when $ADB_SERVER_SOCKET points elsewhere."""
        if os.environ.get("ADB_SERVER_SOCKET"):
            return None
        return int(self.server_port or os.environ.get("ANDROID_ADB_SERVER_PORT") or 5037)

    def server_running(self) -> bool | None:
        """Whether a server answers on its port (None: cannot tell). Starts nothing."""
        port = self.port
        if port is None:
            return None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def kill_server(self) -> None:
        try:
            self.call(["kill-server"], timeout=10)
        except (subprocess.TimeoutExpired, OSError):
            pass


__all__ = ["AdbClient", "GONE", "TRANSIENT", "describe", "failure_line", "is_tcp", "parse_devices"]
