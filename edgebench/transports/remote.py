"""What adb, ssh and serial share: a POSIX shell on the far side, reached through a client that
may lie about how the command ended.

Every remote command is sent as one shell script that ends by printing a marker with the command's
exit status (``adb shell`` in Debian's 29.0.6 exits 0 when the device drops mid-command; a serial
console has no exit status at all). A missing marker means the connection broke: the transport
waits for the device (:meth:`ShellTransport._recover`) and retries once, then raises one line
naming the profile, the operation and the client's own reason; once the device is lost for good,
later calls fail at once until :meth:`close`. Timeouts name the command and the caller's limit.
The first work dir of a session removes the stale ones earlier runs left (see :mod:`.workdirs`).
"""

from __future__ import annotations

import math
import os
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
from .workdirs import OWNER_FILE, listing_script, owner_text, stale_workdirs


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
        self._swept = False  # stale work dirs removed (once per transport object)
        self._workdirs: set[str] = set()  # made by this transport: commands in them are the benchmark
        self._lost = ""  # why the device is gone for good this session: later calls fail at once

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
        error = DeviceUnreachable(f"{self.where()} is unreachable: {_one_line(reason)}")
        error.reason = _one_line(reason)  # type: ignore[attr-defined]
        return error

    def failed(self, reason: str) -> DeviceError:
        return DeviceError(f"{self.where()}: {_one_line(reason)}")

    def timed_out(self, what: str, timeout: float, option: str = "") -> DeviceTimeout:
        """``option``: the setting that gave the limit, so the user knows what to raise."""
        return DeviceTimeout(f"{self.where()}: {_one_line(what)} ran past the {timeout:g} s timeout"
                             + (f" ({option})" if option else ""))

    # -- Transport API -------------------------------------------------------------------------
    @property
    def transfer_timeout(self) -> float:
        return float(self.options.get("transfer_timeout", 300))

    def open(self) -> None:
        if self._lost:
            raise DeviceUnreachable(self._lost)
        if not self._connected:
            self._connect()
            self._connected = True

    def close(self) -> None:
        self._lost = ""
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
        label = short_command(argv)
        # what runs in a work dir this transport made is the benchmark itself (the harness and the
        # native backends run there), and its limit is the user's --timeout
        option = "--timeout" if cwd is not None and cwd.rstrip("/") in self._workdirs else ""
        command = shell_join(argv)
        if self._has_timeout and self.options.get("remote_timeout", True):
            # the device kills the command itself: a killed client may leave it running there
            command = f"timeout -s KILL {math.ceil(timeout)} {command}"
        if cwd:
            command = f"cd {shell_join([cwd])} && {command}"
        started = time.monotonic()
        try:
            # the client gets a grace period on top, for the device's own kill to come back
            result = self.script(command, timeout=timeout + float(self.options.get("timeout_grace", 10)),
                                 label=f"running {label}")
        except DeviceTimeout:
            if time.monotonic() - started < timeout:
                raise  # something else ran out (reconnecting, say), not the command
            raise self.timed_out(label, timeout, option) from None
        if self._has_timeout and result.returncode in (124, 137) and time.monotonic() - started >= timeout:
            raise self.timed_out(label, timeout, option)
        return result

    def script(self, script: str, *, timeout: float, label: str | None = None) -> CommandResult:
        """Run a shell snippet as it is (callers quote); stdout, stderr and the exit status back.
        ``label`` names it in messages (default: 'running a command')."""
        self.open()
        nonce = secrets.token_hex(6)
        # a subshell, so an `exit` in the script still reaches the marker; printf's format keeps
        # the marker out of an echoed command line (serial consoles echo)
        wrapped = f"(\n{script}\n)\nprintf '@@EB-EXIT-%s@@ %s\\n' {nonce} \"$?\""
        raw = self._with_retry(lambda: self._exec(wrapped, timeout), what=label or "running a command")
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
                         what=f"pushing {local.name} to {remote}")

    def pull(self, remote: str, local: Path) -> None:
        self.open()
        self._with_retry(lambda: self._pull(remote, Path(local).resolve(), self.transfer_timeout),
                         what=f"pulling {remote}")

    def workdir_base(self) -> str:
        return str(self.options.get("workdir", self.default_workdir_base)).rstrip("/") or "/"

    def make_workdir(self) -> str:
        """A fresh ``<base>/edgebench-<8 hex>`` with an owner file; the first call of a session
        first removes the stale dirs earlier runs left on this device."""
        self.open()
        if not self._swept:
            self._swept = True
            self._sweep()
        path = f"{self.workdir_base()}/edgebench-{secrets.token_hex(4)}"
        made = self.script(f"mkdir -p {shell_join([path])} && printf '%s' {shell_join([owner_text()])} > "
                           f"{shell_join([f'{path}/{OWNER_FILE}'])}", timeout=30, label=f"making {path}")
        if made.returncode != 0:
            reason = _tail((made.stderr or made.stdout).encode()) or f"exit status {made.returncode}"
            raise self.failed(f"cannot make the work dir {path}: {reason}")
        self._workdirs.add(path)
        return path

    def _sweep(self) -> None:
        """Remove this device's stale work dirs (best effort: a failure here must not stop a run)."""
        base = self.workdir_base()
        try:
            found = self.script(listing_script(base), timeout=30, label="listing old work dirs")
            stale = stale_workdirs(found.stdout)
            if stale:
                paths = shell_join([f"{base.rstrip('/')}/{name}" for name in stale])
                self.script(f"rm -rf -- {paths}", timeout=60, label="removing stale work dirs")
        except DeviceUnreachable:
            raise  # the make_workdir that follows would fail the same way
        except DeviceError:
            pass

    def remove(self, remote: str) -> None:
        if remote.rstrip("/") in ("", ".", "..") or not remote.startswith("/") or remote.rstrip("/").count("/") < 2:
            raise DeviceError(f"{self.where()}: refusing to remove {remote!r} (not a work path)")
        self.check_call(["rm", "-rf", "--", remote], timeout=60)
        self._workdirs.discard(remote.rstrip("/"))

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
        """Run ``action``; after a dropped connection wait for the device and try exactly once more."""
        try:
            return action()
        except Dropped as first:
            try:
                self._recover()
            except DeviceUnreachable as exc:
                reason = getattr(exc, "reason", str(exc))
                self._lost = (f"{self.where()} is unreachable: the connection dropped while {what} "
                              f"({_one_line(str(first))}); reconnecting failed: {reason}")
                raise DeviceUnreachable(self._lost) from None
            try:
                return action()
            except Dropped as second:
                self._reset()
                raise self.failed(f"{what} failed: {second} (again after reconnecting)") from None

    def _recover(self) -> None:
        """Bring the connection back after a drop; raise DeviceUnreachable when it does not come."""
        self._reset()
        self._connect()
        self._connected = True

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


def short_command(argv: Sequence[str], words: int = 3, width: int = 40) -> str:
    """The program's name and its first arguments, paths cut to their last part, for messages."""
    if len(argv) > 2 and os.path.basename(argv[0]) == "taskset":  # the core mask wrapper says little
        argv = argv[2:]
    parts = [os.path.basename(argv[0]) or argv[0]]
    for arg in argv[1:words]:
        key, eq, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
        if "/" in value.rstrip("/"):
            value = "…/" + value.rstrip("/").rsplit("/", 1)[-1]
        arg = f"{key}{eq}{value}"
        arg = arg if len(arg) <= width else arg[: width - 1] + "…"
        parts.append(shell_join([arg]) if re.search(r"[\s;&|<>()$`\"'*?\\]", arg) else arg)
    return " ".join(parts) + (" …" if len(argv) > words else "")
