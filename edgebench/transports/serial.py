"""Boards on a serial login console (UART, USB-serial) through pyserial.

A console has no exit status, no separate stderr and no file transfer, so each command is one
line: the script travels base64-encoded (no character of it can reach the tty's line discipline),
stdout is framed by begin/end markers carrying the exit status, stderr goes to a file that is
printed after a second marker, and files move as base64 chunks (small files: models, the runner).

Profile options::

    [options]
    port = "/dev/ttyUSB0"     # required
    baud = 115200
    user = "root"             # answer a login: prompt (optional)
    password = ""             # answer a Password: prompt (optional)
    workdir = "/tmp"          # scratch dirs and temporary files go below it
    chunk = 2048              # base64 characters per line sent
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from pathlib import Path
from typing import Any

from . import shell_join
from .remote import Dropped, Raw, ShellTransport
from .ssh import LINUX_PROBE, parse_linux_info

_LINE_LIMIT = 3000  # the tty's canonical line buffer holds 4095 characters


class SerialTransport(ShellTransport):
    name = "serial"
    kind = "serial"
    default_workdir_base = "/tmp"

    def __init__(self, profile):  # type: ignore[no-untyped-def]
        super().__init__(profile)
        self.port = str(self.options.get("port", ""))
        self.baud = int(self.options.get("baud", 115200))
        self._serial: Any = None
        self._buffer = b""

    def address(self) -> str:
        return f"{self.port}@{self.baud}"

    # -- the port ------------------------------------------------------------------------------
    def _connect(self) -> None:
        import serial  # pyserial: imported here, not at CLI start-up

        if not self.port:
            raise self.unreachable("profile option 'port' is missing")
        try:
            self._serial = serial.Serial(self.port, self.baud, timeout=0.05, write_timeout=30,
                                         exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self.unreachable(str(exc)) from None
        self._buffer = b""
        limit = float(self.options.get("connect_timeout", 15))
        try:
            self._write(b"\n")  # wake the console (a getty prints its prompt again)
            self._login(limit)
            # no echo: our own lines would come back interleaved with the output
            self._write(b"stty -echo 2>/dev/null; PS1=''; PS2=''\n")
            try:
                self._sync(min(limit, 3.0))
            except TimeoutError:  # a half-typed line or a program holds the console: Ctrl-C it
                self._write(b"\x03\n")
                self._write(b"stty -echo 2>/dev/null; PS1=''; PS2=''\n")
                self._sync(limit)
        except Dropped as exc:
            self._close_port()
            raise self.unreachable(f"the console closed ({exc})") from None
        except TimeoutError:
            self._close_port()
            raise self.unreachable(f"no shell answered on the console within {limit:g} s") from None
        except BaseException:
            self._close_port()  # a refused login: the port must not stay locked
            raise

    def _login(self, limit: float) -> None:
        """Answer a getty's login:/Password: prompts; a console already logged in goes straight on."""
        user = self.options.get("user")
        if not user:
            return
        login = re.compile(rb"login:\s*$", re.I | re.M)
        seen = self._collect(login, 1.0)
        if not login.search(seen):
            self._write(b"\n")
            seen += self._collect(login, 1.0)
            if not login.search(seen):
                return  # a shell, not a getty (still logged in from before)
        self._write(str(user).encode() + b"\n")
        seen = self._collect(re.compile(rb"password:\s*$|[$#>] ?$", re.I | re.M), limit)
        if re.search(rb"password:\s*$", seen, re.I | re.M):
            self._write(str(self.options.get("password", "")).encode() + b"\n")
            seen = self._collect(re.compile(rb"incorrect|denied|failed|[$#>] ?$", re.I | re.M), 1.5)
            if re.search(rb"incorrect|denied|failed", seen, re.I):
                text = seen.decode(errors="replace").strip().splitlines()
                raise self.unreachable(f"login as {user!r} refused: {text[0] if text else 'Login incorrect'}")

    def _collect(self, pattern: re.Pattern[bytes], seconds: float) -> bytes:
        """What arrives until ``pattern`` shows up or ``seconds`` pass (no error either way)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not pattern.search(self._buffer):
            self._buffer += self._read_some()
        data, self._buffer = self._buffer, b""
        return data

    def _sync(self, limit: float) -> None:
        nonce = secrets.token_hex(6)
        self._write(f"printf '@@EB-READY-%s@@\\n' {nonce}\n".encode())
        self._read_until(re.compile(f"@@EB-READY-{nonce}@@\r?\n".encode()), limit)

    def _disconnect(self) -> None:
        self._close_port()

    def _close_port(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except Exception:  # the port is already gone
                pass
            self._serial = None

    def _write(self, data: bytes) -> None:
        import serial

        if self._serial is None:
            raise Dropped("the port is closed")
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise Dropped(str(exc)) from None

    def _read_some(self) -> bytes:
        import serial

        if self._serial is None:
            raise Dropped("the port is closed")
        try:
            return self._serial.read(65536)
        except (serial.SerialException, OSError) as exc:
            raise Dropped(str(exc) or "the console went away") from None

    def _read_until(self, pattern: re.Pattern[bytes], limit: float) -> bytes:
        """Everything up to and including the first match; raise TimeoutError after ``limit`` s."""
        deadline = time.monotonic() + limit
        while True:
            found = pattern.search(self._buffer)
            if found:
                data, self._buffer = self._buffer[: found.end()], self._buffer[found.end():]
                return data
            if time.monotonic() > deadline:
                raise TimeoutError
            self._buffer += self._read_some()

    # -- commands ------------------------------------------------------------------------------
    def _tmp(self, nonce: str, suffix: str) -> str:
        return f"{self.workdir_base()}/.edgebench-{nonce}.{suffix}"

    def _upload_b64(self, text: str, target: str, limit: float) -> None:
        """Append base64 text to ``target`` in short lines, waiting for an ack every few lines."""
        chunk = min(int(self.options.get("chunk", 2048)), _LINE_LIMIT)
        quoted = shell_join([target])
        self._write(f": > {quoted}\n".encode())
        pieces = [text[i:i + chunk] for i in range(0, len(text), chunk)] or [""]
        for batch_start in range(0, len(pieces), 8):
            lines = "".join(f"printf %s {p} >> {quoted}\n" for p in pieces[batch_start:batch_start + 8] if p)
            nonce = secrets.token_hex(6)
            self._write((lines + f"printf '@@EB-ACK-%s@@\\n' {nonce}\n").encode())
            try:
                self._read_until(re.compile(f"@@EB-ACK-{nonce}@@\r?\n".encode()), limit)
            except TimeoutError:
                raise self.timed_out("sending data over the console", limit) from None

    def _exec(self, script: str, timeout: float) -> Raw:
        nonce = secrets.token_hex(6)
        encoded = base64.b64encode(script.encode()).decode()
        err = shell_join([self._tmp(nonce, "err")])
        if len(encoded) <= _LINE_LIMIT - 400:
            source = f'"$(printf %s {encoded} | base64 -d)"'
            cleanup = ""
        else:  # a long script goes to a file first
            holder = self._tmp(nonce, "sh.b64")
            self._upload_b64(encoded, holder, min(timeout, 120))
            source = f'"$(base64 -d {shell_join([holder])})"'
            cleanup = f" {shell_join([holder])}"
        # a subshell: the script's cd, variables and exit must not touch the console's own shell;
        # `| cat`: programs see a pipe, as over adb or ssh, not a terminal (ls would quote names)
        line = (f"printf '@@EB-BEGIN-%s@@\\n' {nonce}; (eval {source}) </dev/null 2>{err} | cat; "
                f"printf '\\n@@EB-ERR-%s@@\\n' {nonce}; cat {err} 2>/dev/null; rm -f {err}{cleanup}; "
                f"printf '\\n@@EB-END-%s@@\\n' {nonce}\n")
        self._write(line.encode())
        try:
            data = self._read_until(re.compile(f"@@EB-END-{nonce}@@\r?\n".encode()), timeout)
        except TimeoutError:
            self._interrupt()
            raise self.timed_out("the command", timeout) from None
        data = data.replace(b"\r\n", b"\n")
        begin = data.find(f"@@EB-BEGIN-{nonce}@@\n".encode())
        mid = data.rfind(f"\n@@EB-ERR-{nonce}@@\n".encode())
        end = data.rfind(f"\n@@EB-END-{nonce}@@".encode())
        if begin < 0 or mid < begin:
            raise Dropped("the console output lost its frame")
        stdout = data[begin + len(f"@@EB-BEGIN-{nonce}@@\n"):mid]
        stderr = data[mid + len(f"\n@@EB-ERR-{nonce}@@\n"):end]
        return Raw(0, stdout, stderr)

    def _interrupt(self) -> None:
        """Ctrl-C the running command and wait for the shell to answer again (best effort)."""
        try:
            self._write(b"\x03")
            time.sleep(0.2)
            self._write(b"\n")
            self._buffer = b""
            self._sync(10)
        except (Dropped, TimeoutError):
            self._reset()

    # -- files ---------------------------------------------------------------------------------
    def _push(self, local: Path, remote: str, timeout: float) -> None:
        nonce = secrets.token_hex(6)
        holder = self._tmp(nonce, "b64")
        self._upload_b64(base64.b64encode(local.read_bytes()).decode(), holder, min(timeout, 120))
        result = self.script(f"base64 -d {shell_join([holder])} > {shell_join([remote])}; s=$?; "
                             f"rm -f {shell_join([holder])}; exit $s", timeout=timeout)
        if result.returncode != 0:
            raise self.failed(f"writing {remote} failed: {result.stderr.strip() or result.returncode}")

    def _pull(self, remote: str, local: Path, timeout: float) -> None:
        result = self.script(f"base64 < {shell_join([remote])}", timeout=timeout)
        if result.returncode != 0:
            raise self.failed(f"reading {remote} failed: {result.stderr.strip() or result.returncode}")
        try:
            data = base64.b64decode("".join(result.stdout.split()), validate=True)
        except ValueError:
            raise Dropped(f"garbled base64 while pulling {remote}") from None
        local.write_bytes(data)

    # -- description ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        info = parse_linux_info(self.script(LINUX_PROBE, timeout=60).stdout)
        info["console"] = self.address()
        return info
