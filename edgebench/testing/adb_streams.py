"""The virtual phone's ADB transport: one TCP connection from an adb server, its streams and the
``shell:`` / ``exec:`` service (see :mod:`edgebench.testing.adb_endpoint`; ``sync:`` is in adb_sync)."""

from __future__ import annotations

import ctypes
import itertools
import os
import secrets
import signal
import socket
import struct
import subprocess
import threading
from typing import TYPE_CHECKING

from . import adb_wire as w

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .adb_endpoint import AdbEndpoint

try:  # resolved here, in the parent: the forked child must not dlopen anything
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def die_with_parent() -> None:
    """Child set-up: own process group, killed if the endpoint dies (no orphaned commands)."""
    os.setsid()
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


class Connection(threading.Thread):
    """One TCP connection from an adb server: the transport layer and its streams."""

    def __init__(self, endpoint: AdbEndpoint, sock: socket.socket):
        super().__init__(name="adb-endpoint-conn", daemon=True)
        self.endpoint, self.sock = endpoint, sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.version = w.A_VERSION_MIN
        self.max_payload = 4096
        self.streams: dict[int, Stream] = {}
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._online = False
        self.closed = threading.Event()

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        packet = w.Message(command, arg0, arg1, data).pack(checksum=self.version < w.A_VERSION_SKIP_CHECKSUM)
        with self._send_lock:
            if self.closed.is_set():
                raise ConnectionError("connection closed")
            self.sock.sendall(packet)

    def abort(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for stream in list(self.streams.values()):
            stream.on_close()

    def run(self) -> None:
        try:
            while not self.closed.is_set():
                self.handle(w.read_message(self.sock))
        except (OSError, ConnectionError, w.ProtocolError):
            pass
        finally:
            self.abort()
            self.sock.close()
            self.endpoint._forget(self)

    def _banner(self) -> bytes:
        props = ";".join(f"{k}={self.endpoint.props.get(k, '')}"
                         for k in ("ro.product.name", "ro.product.model", "ro.product.device"))
        return f"device::{props};features={','.join(self.endpoint.features)}".encode()

    def _online_now(self) -> None:
        self._online = True
        self.send(w.A_CNXN, self.version, self.max_payload, self._banner())

    def handle(self, msg: w.Message) -> None:
        if msg.command == w.A_CNXN:
            self.version = min(msg.arg0, w.A_VERSION_SKIP_CHECKSUM)
            self.max_payload = min(msg.arg1, w.MAX_PAYLOAD)
            if self.endpoint.auth:
                self.send(w.A_AUTH, w.AUTH_TOKEN, 0, secrets.token_bytes(20))
            else:
                self._online_now()
        elif msg.command == w.A_AUTH:
            # a real phone checks the signature against its trusted keys; this one trusts everyone
            if msg.arg0 in (w.AUTH_SIGNATURE, w.AUTH_RSAPUBLICKEY) and not self._online:
                self._online_now()
        elif not self._online:
            raise w.ProtocolError(f"{msg.name} before the connection is up")
        elif msg.command == w.A_OPEN:
            local = next(self._ids)
            service = msg.data.rstrip(b"\0").decode(errors="replace")
            stream = open_stream(self, local, msg.arg0, service)
            if stream is None:
                self.send(w.A_CLSE, 0, msg.arg0)
                return
            self.streams[local] = stream
            self.send(w.A_OKAY, local, msg.arg0)
            stream.start()
        elif msg.command == w.A_OKAY:
            stream = self.streams.get(msg.arg1)
            if stream:
                stream.remote = msg.arg0
                stream.ready.set()
        elif msg.command == w.A_WRTE:
            stream = self.streams.get(msg.arg1)
            if stream is None:
                self.send(w.A_CLSE, 0, msg.arg0)
                return
            self.send(w.A_OKAY, msg.arg1, msg.arg0)
            stream.on_data(msg.data)
        elif msg.command == w.A_CLSE:
            stream = self.streams.pop(msg.arg1, None)
            if stream:
                stream.on_close()


class Stream:
    """One OPENed service; ``send`` keeps to ADB flow control (one WRTE in flight)."""

    def __init__(self, conn: Connection, local: int, remote: int):
        self.conn, self.local, self.remote = conn, local, remote
        self.ready = threading.Event()
        self.ready.set()
        self.closed = threading.Event()
        self._write_lock = threading.Lock()

    def start(self) -> None:
        pass

    def send(self, data: bytes) -> None:
        step = max(1, self.conn.max_payload)
        with self._write_lock:
            for offset in range(0, len(data), step):
                while not self.ready.wait(0.2):
                    if self.closed.is_set() or self.conn.closed.is_set():
                        raise ConnectionError("stream closed")
                if self.closed.is_set():
                    raise ConnectionError("stream closed")
                self.ready.clear()
                self.conn.send(w.A_WRTE, self.local, self.remote, data[offset:offset + step])

    def finish(self) -> None:
        """Close from this side."""
        if not self.closed.is_set():
            self.closed.set()
            self.conn.streams.pop(self.local, None)
            try:
                self.conn.send(w.A_CLSE, self.local, self.remote)
            except (OSError, ConnectionError):
                pass

    def on_data(self, data: bytes) -> None:
        pass

    def on_close(self) -> None:
        self.closed.set()


def open_stream(conn: Connection, local: int, remote: int, service: str) -> Stream | None:
    name, _, rest = service.partition(":")
    head, *args = name.split(",")
    if head == "shell":
        return ShellStream(conn, local, remote, rest, v2="v2" in args, merge=True)
    if head == "exec":
        return ShellStream(conn, local, remote, rest, v2=False, merge=False)
    if service == "sync:":
        from .adb_sync import SyncStream  # (it builds on Stream, defined here)

        return SyncStream(conn, local, remote)
    return None  # reboot:, tcpip:, root: ... are not part of this phone


class ShellStream(Stream):
    def __init__(self, conn: Connection, local: int, remote: int, command: str, v2: bool, merge: bool):
        super().__init__(conn, local, remote)
        self.command, self.v2, self.merge = command, v2, merge
        self.proc: subprocess.Popen[bytes] | None = None
        self._inbuf = bytearray()
        self.trip = conn.endpoint.tripwire("shell", command, conn)

    def start(self) -> None:
        argv, env, cwd = self.conn.endpoint.command_argv(self.command or None)
        stderr = subprocess.PIPE if self.v2 else (subprocess.STDOUT if self.merge else subprocess.DEVNULL)
        try:
            # started from the connection's thread: PDEATHSIG follows that thread's life
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                         env=env, cwd=cwd, preexec_fn=die_with_parent)
        except OSError as exc:
            threading.Thread(target=self._fail, args=(str(exc),), daemon=True).start()
            return
        pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, w.SHELL_STDOUT), daemon=True)]
        if self.v2:
            pumps.append(threading.Thread(target=self._pump, args=(self.proc.stderr, w.SHELL_STDERR), daemon=True))
        for pump in pumps:
            pump.start()
        threading.Thread(target=self._wait, args=(pumps,), daemon=True).start()

    def _fail(self, reason: str) -> None:
        try:
            if self.v2:
                self.send(w.shell_packet(w.SHELL_STDERR, reason.encode() + b"\n") + w.shell_packet(w.SHELL_EXIT, b"\x7f"))
            else:
                self.send(reason.encode() + b"\n")
        except (OSError, ConnectionError):
            pass
        self.finish()

    def _pump(self, pipe, kind: int) -> None:  # type: ignore[no-untyped-def]
        room = max(1, self.conn.max_payload - (5 if self.v2 else 0))
        try:
            while True:
                chunk = os.read(pipe.fileno(), room)
                if not chunk:
                    return
                allowed = self.trip.allow(len(chunk))
                for part in (chunk[:allowed], chunk[allowed:]):
                    if part:
                        self.send(w.shell_packet(kind, part) if self.v2 else part)
                    if allowed < len(chunk) and not self.trip.struck:
                        self.trip.strike()  # a fault: after the bytes it lets through
                    if self.trip.dropped:
                        return
        except (OSError, ConnectionError):
            self._kill()

    def _wait(self, pumps: list[threading.Thread]) -> None:
        assert self.proc is not None
        code = self.proc.wait()
        for pump in pumps:
            pump.join()
        if not self.trip.before_completion():
            return  # a fault dropped the connection: no exit status ever arrives
        if self.v2 and not self.closed.is_set():
            try:
                self.send(w.shell_packet(w.SHELL_EXIT, bytes([code & 0xFF if code >= 0 else 128 - code])))
            except (OSError, ConnectionError):
                pass
        self.finish()

    def on_data(self, data: bytes) -> None:
        if self.proc is None or self.proc.stdin is None:
            return
        if not self.v2:
            self._write_stdin(data)
            return
        self._inbuf += data
        while len(self._inbuf) >= 5:
            kind, length = struct.unpack("<BI", self._inbuf[:5])
            if len(self._inbuf) < 5 + length:
                break
            payload = bytes(self._inbuf[5:5 + length])
            del self._inbuf[:5 + length]
            if kind == w.SHELL_STDIN:
                self._write_stdin(payload)
            elif kind == w.SHELL_CLOSE_STDIN:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass

    def _write_stdin(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):
            pass

    def on_close(self) -> None:
        super().on_close()
        self._kill()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


__all__ = ["Connection", "ShellStream", "Stream", "die_with_parent", "open_stream"]
