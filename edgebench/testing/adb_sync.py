"""The virtual phone's ``sync:`` service: STAT, LIST, SEND (push) and RECV (pull), with the
faults of :mod:`edgebench.testing.adb_faults` applied to SEND and RECV."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import struct
import threading
from typing import TYPE_CHECKING

from . import adb_wire as w
from .adb_faults import Trip
from .adb_streams import Connection, Stream

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .adb_endpoint import AdbEndpoint


class SyncStream(Stream):
    """``sync:``: the file-transfer sub-protocol, one request after another."""

    def __init__(self, conn: Connection, local: int, remote: int):
        super().__init__(conn, local, remote)
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._out = bytearray()

    def start(self) -> None:
        threading.Thread(target=self._serve, name="adb-endpoint-sync", daemon=True).start()

    def on_data(self, data: bytes) -> None:
        with self._cond:
            self._buf += data
            self._cond.notify_all()

    def on_close(self) -> None:
        super().on_close()
        with self._cond:
            self._cond.notify_all()

    def _read(self, n: int) -> bytes:
        with self._cond:
            while len(self._buf) < n:
                if self.closed.is_set():
                    raise ConnectionError("sync stream closed")
                self._cond.wait(0.5)
            data = bytes(self._buf[:n])
            del self._buf[:n]
            return data

    def _request(self) -> tuple[str, int]:
        head = self._read(8)
        return head[:4].decode(errors="replace"), struct.unpack("<I", head[4:])[0]

    def _emit(self, data: bytes) -> None:
        self._out += data
        if len(self._out) >= self.conn.max_payload:
            self._flush()

    def _flush(self) -> None:
        if self._out:
            data, self._out = bytes(self._out), bytearray()
            self.send(data)

    def _fail(self, message: str) -> None:
        text = message.encode()
        self._emit(w.sync_header("FAIL", len(text)) + text)

    def _serve(self) -> None:
        endpoint = self.conn.endpoint
        try:
            while True:
                ident, length = self._request()
                if ident == "QUIT":
                    break
                if length > 4096:
                    self._fail(f"path too long ({length})")
                    break
                arg = self._read(length).decode(errors="surrogateescape")
                if ident == "STAT":
                    self._stat(endpoint, arg)
                elif ident == "LIST":
                    self._list(endpoint, arg)
                elif ident == "SEND":
                    self._recv_file(endpoint, arg)
                elif ident == "RECV":
                    self._send_file(endpoint, arg)
                else:
                    self._fail(f"unknown sync request {ident!r}")
                    self._flush()
                    break
                self._flush()
        except (OSError, ConnectionError):
            pass
        self.finish()

    def _stat(self, endpoint: AdbEndpoint, path: str) -> None:
        try:
            st = os.stat(endpoint.resolve(path))
            self._emit(b"STAT" + struct.pack("<III", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))
        except OSError:
            self._emit(b"STAT" + struct.pack("<III", 0, 0, 0))

    def _list(self, endpoint: AdbEndpoint, path: str) -> None:
        folder = endpoint.resolve(path)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for name in [".", "..", *names]:
            try:
                st = os.lstat(folder / name)
            except OSError:
                continue
            raw = name.encode(errors="surrogateescape")
            self._emit(b"DENT" + struct.pack("<IIII", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(raw)) + raw)
        self._emit(b"DONE" + bytes(16))

    def _recv_file(self, endpoint: AdbEndpoint, spec: str) -> None:
        path, _, mode_text = spec.rpartition(",")
        error = ""
        try:
            target = endpoint.resolve(path, write=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.adbtmp-{secrets.token_hex(3)}")
            out = open(tmp, "wb")
        except (OSError, PermissionError) as exc:
            error, out, tmp, target = f"{path}: {exc.strerror or exc}", None, None, None
        trip = endpoint.tripwire("push", path, self.conn) if out is not None else None

        def discard() -> None:  # a broken transfer leaves no half file behind
            with contextlib.suppress(OSError, ValueError):
                out.close()  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # type: ignore[arg-type]

        if trip is not None:
            trip.before_drop = discard  # gone before the client can see the connection drop
        try:
            mtime, error = self._receive(out, trip, error)
            if trip is not None and not trip.before_completion():
                raise ConnectionError("dropped by a fault")
        except BaseException:
            if out is not None:
                discard()
            raise
        if out is not None:
            out.close()
            if error:
                os.unlink(tmp)  # type: ignore[arg-type]
            else:
                try:
                    mode = int(mode_text) if mode_text.isdigit() else 0o644
                    os.chmod(tmp, stat.S_IMODE(mode) or 0o644)  # type: ignore[arg-type]
                    os.utime(tmp, (mtime, mtime))  # type: ignore[arg-type]
                    os.replace(tmp, target)  # type: ignore[arg-type]
                except OSError as exc:
                    error = f"{path}: {exc.strerror}"
        if error:
            self._fail(error)
        else:
            self._emit(w.sync_header("OKAY", 0))

    def _receive(self, out, trip: Trip | None, error: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
        """A SEND's DATA chunks up to DONE: (mtime, error)."""
        while True:  # the data keeps coming even after a failure: drain it up to DONE
            ident, value = self._request()
            if ident == "DATA":
                chunk = self._read(value)
                allowed = trip.allow(len(chunk)) if trip is not None else len(chunk)
                if out is not None:
                    out.write(chunk[:allowed])
                if allowed < len(chunk):
                    trip.strike()  # type: ignore[union-attr]
                    if trip.dropped:  # type: ignore[union-attr]
                        raise ConnectionError("dropped by a fault")
                    if out is not None:
                        out.write(chunk[allowed:])
            elif ident == "DONE":
                return value, error
            else:
                return 0, error or f"unexpected {ident!r} in SEND"

    def _send_file(self, endpoint: AdbEndpoint, path: str) -> None:
        try:
            source = open(endpoint.resolve(path), "rb")
        except OSError as exc:
            self._fail(f"remote object '{path}' does not exist" if isinstance(exc, FileNotFoundError)
                       else f"{path}: {exc.strerror}")
            return
        trip = endpoint.tripwire("pull", path, self.conn)
        with source:
            while True:
                chunk = source.read(w.SYNC_DATA_MAX)
                if not chunk:
                    break
                allowed = trip.allow(len(chunk))
                if allowed:
                    self._emit(w.sync_header("DATA", allowed) + chunk[:allowed])
                if allowed < len(chunk):
                    self._flush()  # what the fault lets through reaches the client first
                    trip.strike()
                    if trip.dropped:
                        raise ConnectionError("dropped by a fault")
                    self._emit(w.sync_header("DATA", len(chunk) - allowed) + chunk[allowed:])
        self._flush()
        if not trip.before_completion():
            raise ConnectionError("dropped by a fault")
        self._emit(w.sync_header("DONE", 0))


__all__ = ["SyncStream"]
