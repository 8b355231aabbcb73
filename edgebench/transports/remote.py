"""What adb, ssh and serial share: a POSIX shell on the far side, reached through a client that
may lie about how the command ended.

Every remote command is sent as one shell script that ends by printing a marker with the command's
exit status (``adb shell`` in Debian's 29.0.6 exits 0 when the device drops mid-command; a serial
console has no exit status at all). A missing marker means the connection broke: the transport
reconnects and retries once, then raises :class:`DeviceError` naming the profile.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..api import CommandResult, Transport
from ..errors import DeviceError, DeviceTimeout, DeviceUnreachable, EdgebenchError
from . import shell_join


class Dropped(Exception):
    """The connection went away during an operation (internal: triggers the one retry)."""


@dataclass
class Raw:
    """What the client process returned, before the marker is looked for."""

    returncode: int
    stdout: bytes
    stderr: bytes


_MARK_RE = re.compile(rb"@@EB-EXIT-([0-9a-f]{12})@@ (-?\d+)\r?\n?$")


class ShellTransport(Transport):
    """Base for transports that reach a POSIX shell on the device.

    Subclasses implement :meth:`_exec` (run one script, return the client's raw output or raise
    :class:`Dropped`), :meth:`_connect` / :meth:`_disconnect`, :meth:`push_file` and
    :meth:`pull_file`. Quoting, markers, timeouts and the one retry live here.
    """

    default_workdir_base = "/tmp"
    kind = "remote"  # shown in messages: "device 'rpi4' (ssh pi@10.0.0.2)"

    def __init__(self, profile):  # type: ignore[no-untyped-def]
        super().__init__(profile)
        self.options: dict[str, Any] = dict(profile.options)
        self._connected = False
        self._has_timeout: bool | None = None

    # -- subclass interface --------------------------------------------------------------------
    @abstractmethod
    def address(self) -> str:
        """Where the device is, for messages (serial number, user@host:port, port)."""

    @abstractmethod
    def _connect(self) -> None:
        """Establish the connection; raise DeviceUnreachable with the reason."""

    def _disconnect(self) -> None:
        """Tear the connection down (best effort)."""

    @abstractmethod
    def _exec(self, script: str, timeout: float) -> Raw:
        """Run ``script`` in the device's shell; raise Dropped / DeviceTimeout."""

    @abstractmethod
    def _push(self, local: Path, remote: str, timeout: float) -> None: ...

    @abstractmethod
    def _pull(self, remote: str, local: Path, timeout: float) -> None: ...

    # -- messages ------------------------------------------------------------------------------
    def where(self) -> str:
        return f"device {self.profile.name!r} ({self.kind} {self.address()})"

    def unreachable(self, reason: str) -> DeviceUnreachable:
        return DeviceUnreachable(f"{self.where()} is unreachable: {_one_line(reason)}")

    def failed(self, reason: str) -> DeviceError:
        return DeviceError(f"{self.where()}: {_one_line(reason)}")

    def timed_out(self, what: str, timeout: float) -> DeviceTimeout:
        return DeviceTimeout(f"{self.where()}: {_one_line(what)} ran past its {timeout:g} s timeout")

    # -- Transport API -------------------------------------------------------------------------
    @property
    def transfer_timeout(self) -> float:
        return float(self.options.get("transfer_timeout", 300))

    def open(self) -> None:
        if not self._connected:
            self._connect()
            self._connected = True

    def close(self) -> None:
        if self._connected:
            self._connected = False
            self._disconnect()

    def run(self, argv: Sequence[str], *, timeout: float, cwd: str | None = None) -> CommandResult:
        argv = [self.profile.python if a == "{python}" else str(a) for a in argv]
        if not argv:
            raise ValueError("empty command")
        self.open()
        if self._has_timeout is None:
            self._has_timeout = self._probe_timeout()
        command = shell_join(argv)
        if self._has_timeout and self.options.get("remote_timeout", True):
            # the device kills the command itself: a killed client may leave it running there
            command = f"timeout -s KILL {math.ceil(timeout)} {command}"
        if cwd:
            command = f"cd {shell_join([cwd])} && {command}"
        started = time.monotonic()
        result = self.script(command, timeout=timeout + float(self.options.get("timeout_grace", 10)))
        if self._has_timeout and result.returncode in (124, 137) and time.monotonic() - started >= timeout:
            raise self.timed_out(Path(argv[0]).name, timeout)
        return result

    def script(self, script: str, *, timeout: float) -> CommandResult:
        """Run a shell snippet as it is (callers quote); stdout, stderr and the exit status back."""
        self.open()
        nonce = secrets.token_hex(6)
        # a subshell, so an `exit` in the script still reaches the marker; printf's format keeps
        # the marker out of an echoed command line (serial consoles echo)
        wrapped = f"(\n{script}\n)\nprintf '@@EB-EXIT-%s@@ %s\\n' {nonce} \"$?\""
        raw = self._with_retry(lambda: self._exec(wrapped, timeout), what="running a command")
        match = _MARK_RE.search(raw.stdout)
        if not match or match.group(1).decode() != nonce:
            raise self.failed(
                "the connection dropped before the command finished (no exit marker)"
                + (f": {_tail(raw.stderr)}" if raw.stderr.strip() else ""))
        stdout = raw.stdout[: match.start()]
        return CommandResult(int(match.group(2)), _text(stdout), _text(raw.stderr))

    def push(self, local: Path, remote: str) -> None:
        local = Path(local)
        if not local.is_file():
            raise EdgebenchError(f"cannot push {local}: not a file")
        self.open()
        self._with_retry(lambda: self._push(local.resolve(), remote, self.transfer_timeout),
                         what=f"pushing {local.name}")

    def pull(self, remote: str, local: Path) -> None:
        self.open()
        self._with_retry(lambda: self._pull(remote, Path(local).resolve(), self.transfer_timeout),
                         what=f"pulling {remote}")

    def workdir_base(self) -> str:
        return str(self.options.get("workdir", self.default_workdir_base)).rstrip("/") or "/"

    def make_workdir(self) -> str:
        path = f"{self.workdir_base()}/edgebench-{secrets.token_hex(4)}"
        self.check_call(["mkdir", "-p", path], timeout=30)
        return path

    def remove(self, remote: str) -> None:
        if remote.rstrip("/") in ("", ".", "..") or not remote.startswith("/") or remote.rstrip("/").count("/") < 2:
            raise DeviceError(f"{self.where()}: refusing to remove {remote!r} (not a work path)")
        self.check_call(["rm", "-rf", "--", remote], timeout=60)

    def check_call(self, argv: Sequence[str], *, timeout: float) -> CommandResult:
        """Run ``argv``; a non-zero exit is a DeviceError carrying its stderr."""
        result = self.run(argv, timeout=timeout)
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
            raise self.failed(f"{argv[0]} failed: {reason[0]}")
        return result

    def reachable(self) -> tuple[bool, str]:
        """Open and run ``true``: (True, 'reachable in 0.2 s') or (False, the one-line reason)."""
        started = time.monotonic()
        try:
            self.open()
            self.check_call(["true"], timeout=float(self.options.get("check_timeout", 20)))
        except EdgebenchError as exc:
            return False, str(exc)
        finally:
            try:
                self.close()
            except EdgebenchError:
                pass
        return True, f"reachable ({self.kind} {self.address()}, {time.monotonic() - started:.1f} s)"

    # -- internals -----------------------------------------------------------------------------
    def _probe_timeout(self) -> bool:
        # run it rather than look for it: old busybox spells the options differently (-t SECS)
        found = self.script("timeout -s KILL 5 true >/dev/null 2>&1 && echo yes || echo no", timeout=30)
        return found.stdout.strip().endswith("yes")

    def _with_retry(self, action, what: str):  # type: ignore[no-untyped-def]
        """Run ``action``; after a dropped connection reconnect and try exactly once more."""
        try:
            return action()
        except Dropped as first:
            self._reset()
            try:
                self._connect()
                self._connected = True
            except DeviceUnreachable as exc:
                raise DeviceUnreachable(f"{exc} (the connection dropped while {what})") from None
            try:
                return action()
            except Dropped as second:
                self._reset()
                raise self.failed(f"connection dropped twice while {what}: {second}") from None

    def _reset(self) -> None:
        self._connected = False
        try:
            self._disconnect()
        except Exception:  # the connection is already gone
            pass


def check(profile) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    """Reachability of a device profile for ``edgebench devices --check``: (ok, message)."""
    try:
        transport = profile.transport_obj()
    except EdgebenchError as exc:
        return False, str(exc)
    probe = getattr(transport, "reachable", None)
    if probe is not None:
        return probe()
    started = time.monotonic()
    try:
        transport.open()
        result = transport.run(["true"], timeout=15)
        if result.returncode != 0:
            return False, f"device {profile.name!r}: `true` exited {result.returncode}"
    except EdgebenchError as exc:
        return False, str(exc)
    finally:
        try:
            transport.close()
        except EdgebenchError:
            pass
    return True, f"reachable ({time.monotonic() - started:.1f} s)"


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _tail(data: bytes) -> str:
    lines = [line for line in _text(data).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())
