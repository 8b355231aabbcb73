"""A virtual Android phone for tests: the device side of the ADB protocol over TCP.

The real ``adb`` client talks to it exactly as to a phone in TCP mode (``adb connect
127.0.0.1:PORT``): CNXN and AUTH (every key is accepted), OPEN/OKAY/WRTE/CLSE streams with flow
control, ``shell:`` / ``shell,v2,...:`` / ``exec:`` (commands run by a POSIX shell, exit status
over shell protocol v2) and ``sync:`` (STAT, LIST, SEND, RECV, QUIT) for push and pull. ``getprop``
answers like a Pixel 7 unless other properties are given.

Filesystem: ``root`` holds the device's /data, /sdcard, /system and /sys/class/thermal. Without
a rootfs, commands run on this host in a POSIX shell whose command text has those absolute paths
rewritten to ``root`` (so ``python3`` is the host's). With ``rootfs`` (an arm64 userland, see
scripts/build-rootfs.sh; needs root), each command runs chrooted into it in a private mount
namespace with the root's dirs bound in place: the phone then runs aarch64 binaries through qemu.

    with AdbEndpoint(tmp_path) as phone:          # or: python -m edgebench.testing.adb_endpoint
        subprocess.run(["adb", "connect", phone.serial])

Avoid ports 5555-5585: the adb server scans them for emulators.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import os
import posixpath
import re
import secrets
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Mapping, Sequence

from . import adb_wire as w

PIXEL_7 = {
    "ro.product.model": "Pixel 7",
    "ro.product.manufacturer": "Google",
    "ro.product.brand": "google",
    "ro.product.name": "panther",
    "ro.product.device": "panther",
    "ro.hardware": "panther",
    "ro.board.platform": "gs201",
    "ro.soc.manufacturer": "Google",
    "ro.soc.model": "GS201",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.build.fingerprint": "google/panther/panther:14/UQ1A.240205.002/11224170:user/release-keys",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi",
    "ro.serialno": "EDGEBENCH0001",
}
FEATURES = ("shell_v2", "cmd", "fixed_push_mkdir")
MAPPED = ("/data", "/sdcard", "/system", "/sys/class/thermal")  # device dirs that live under root
_PATH_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_./-])(/data|/sdcard|/system|/sys/class/thermal)(?=/|[^A-Za-z0-9_.-]|$)")
_DEVICE_PATH = "/system/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


try:  # resolved here, in the parent: the forked child must not dlopen anything
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """Child set-up: own process group, killed if the endpoint dies (no orphaned commands)."""
    os.setsid()
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


class AdbEndpoint:
    """A device-side ADB endpoint listening on ``host:port`` (0: a free port)."""

    def __init__(self, root: str | os.PathLike[str], port: int = 0, host: str = "127.0.0.1",
                 props: Mapping[str, str] | None = None, rootfs: str | os.PathLike[str] | None = None,
                 auth: bool = True, features: Sequence[str] = FEATURES):
        self.root = Path(root).resolve()
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", str(self.root)):
            raise ValueError(f"endpoint root must be a plain path (it is spliced into commands): {self.root}")
        self.rootfs = Path(rootfs).resolve() if rootfs else None
        if self.rootfs and os.geteuid() != 0:
            raise PermissionError("running commands inside a rootfs needs root (chroot, mount namespace)")
        self.host, self.port = host, port
        self.props = dict(PIXEL_7 if props is None else props)
        self.auth, self.features = auth, tuple(features)
        self._sock: socket.socket | None = None
        self._conns: set[_Connection] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._prepare_root()

    # -- life cycle ----------------------------------------------------------------------------
    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "AdbEndpoint":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(8)
        self.port = sock.getsockname()[1]
        self._sock = sock
        threading.Thread(target=self._accept, name="adb-endpoint-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening, drop every connection, kill every command still running."""
        self._stopped.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.abort()

    def drop_connections(self) -> None:
        """Cut every current connection (as a USB cable pulled out) but keep listening."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.abort()

    def __enter__(self) -> "AdbEndpoint":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._sock.accept()  # type: ignore[union-attr]
            except OSError:
                return
            conn = _Connection(self, client)
            with self._lock:
                self._conns.add(conn)
            conn.start()

    def _forget(self, conn: "_Connection") -> None:
        with self._lock:
            self._conns.discard(conn)

    # -- the device's filesystem ---------------------------------------------------------------
    def _prepare_root(self) -> None:
        for sub in ("data/local/tmp", "sdcard", "system/bin", "sys/class/thermal"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "data/local/tmp").chmod(0o1777)
        props = "".join(f"{k}={v}\n" for k, v in sorted(self.props.items()))
        (self.root / "system/build.prop").write_text(props)
        getprop = self.root / "system/bin/getprop"
        # a shell getprop reading build.prop next to it: the same file works on the host and chrooted
        getprop.write_text(
            "#!/bin/sh\n"
            'props="$(dirname "$0")/../build.prop"\n'
            'if [ $# -eq 0 ]; then\n'
            '  while IFS= read -r line; do printf "[%s]: [%s]\\n" "${line%%=*}" "${line#*=}"; done < "$props"\n'
            'else\n'
            '  while IFS= read -r line; do\n'
            '    if [ "${line%%=*}" = "$1" ]; then printf "%s\\n" "${line#*=}"; exit 0; fi\n'
            '  done < "$props"\n'
            '  printf "%s\\n" "${2:-}"\n'
            'fi\n')
        getprop.chmod(0o755)

    def set_temperature(self, zone: int, celsius: float, kind: str = "cpu-thermal") -> None:
        """Create or update /sys/class/thermal/thermal_zone<zone> as the device shows it."""
        folder = self.root / "sys/class/thermal" / f"thermal_zone{zone}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "type").write_text(kind + "\n")
        tmp = folder / ".temp.new"
        tmp.write_text(f"{int(round(celsius * 1000))}\n")
        tmp.replace(folder / "temp")

    def resolve(self, device_path: str, write: bool = False) -> Path:
        """The host file behind a device path; writes only below the mapped dirs."""
        path = posixpath.normpath("/" + device_path.lstrip("/"))
        for prefix in MAPPED:
            if path == prefix or path.startswith(prefix + "/"):
                return self.root / path.lstrip("/")
        if write:
            raise PermissionError(f"{path}: Read-only file system")
        base = self.rootfs or Path("/")
        return base / path.lstrip("/")

    def command_argv(self, command: str | None) -> tuple[list[str], dict[str, str] | None, str | None]:
        """How to start ``command`` (None: an interactive shell): argv, env, cwd."""
        if self.rootfs is None:
            env = dict(os.environ)
            env["PATH"] = f"{self.root}/system/bin:{env.get('PATH', '/usr/bin:/bin')}"
            env["TMPDIR"] = str(self.root / "data/local/tmp")
            text = _PATH_IN_TEXT.sub(lambda m: f"{self.root}{m.group(1)}", command) if command else None
            return (["/bin/sh", "-c", text] if text is not None else ["/bin/sh"]), env, str(self.root)
        r, fs = str(self.root), str(self.rootfs)
        binds = "".join(f"mount --bind {r}{d} {fs}{d}\n" for d in ("/data", "/sdcard", "/system"))
        setup = (
            # the cached rootfs stays pristine: read-only, with the phone's own dirs bound on top
            f"set -e\nmount --bind {fs} {fs}\nmount -o remount,bind,ro {fs}\n" + binds +
            f"mount -t tmpfs -o mode=1777 edgebench-tmp {fs}/tmp\n"
            f"mount -t tmpfs -o size=1m edgebench-sys {fs}/sys\n"  # never the host's /sys
            f"mkdir -p {fs}/sys/class/thermal {fs}/sys/devices/system/cpu\n"
            # the CPU lists onnxruntime's cpuinfo reads, as the phone's kernel would show them
            + "".join(f"echo 0-{(os.cpu_count() or 1) - 1} > {fs}/sys/devices/system/cpu/{n}\n"
                      for n in ("possible", "present", "online")) +
            f"mount --bind {r}/sys/class/thermal {fs}/sys/class/thermal\n"
            f"mount -t proc proc {fs}/proc\n"
            f"mount --rbind /dev {fs}/dev\n"
            f'exec chroot {fs} /usr/bin/env -i PATH={_DEVICE_PATH} HOME=/data/local/tmp '
            'TMPDIR=/data/local/tmp ANDROID_DATA=/data /bin/sh ${1:+-c "$1"}\n')
        argv = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", setup, "adbd-shell"]
        if command is not None:
            argv.append(command)
        return argv, None, "/"


class _Connection(threading.Thread):
    """One TCP connection from an adb server: the transport layer and its streams."""

    def __init__(self, endpoint: AdbEndpoint, sock: socket.socket):
        super().__init__(name="adb-endpoint-conn", daemon=True)
        self.endpoint, self.sock = endpoint, sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.version = w.A_VERSION_MIN
        self.max_payload = 4096
        self.streams: dict[int, _Stream] = {}
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
            stream = _open_stream(self, local, msg.arg0, service)
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


class _Stream:
    """One OPENed service; ``send`` keeps to ADB flow control (one WRTE in flight)."""

    def __init__(self, conn: _Connection, local: int, remote: int):
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


def _open_stream(conn: _Connection, local: int, remote: int, service: str) -> _Stream | None:
    name, _, rest = service.partition(":")
    head, *args = name.split(",")
    if head == "shell":
        return _ShellStream(conn, local, remote, rest, v2="v2" in args, merge=True)
    if head == "exec":
        return _ShellStream(conn, local, remote, rest, v2=False, merge=False)
    if service == "sync:":
        return _SyncStream(conn, local, remote)
    return None  # reboot:, tcpip:, root: ... are not part of this phone


class _ShellStream(_Stream):
    def __init__(self, conn: _Connection, local: int, remote: int, command: str, v2: bool, merge: bool):
        super().__init__(conn, local, remote)
        self.command, self.v2, self.merge = command, v2, merge
        self.proc: subprocess.Popen[bytes] | None = None
        self._inbuf = bytearray()

    def start(self) -> None:
        argv, env, cwd = self.conn.endpoint.command_argv(self.command or None)
        stderr = subprocess.PIPE if self.v2 else (subprocess.STDOUT if self.merge else subprocess.DEVNULL)
        try:
            # started from the connection's thread: PDEATHSIG follows that thread's life
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                         env=env, cwd=cwd, preexec_fn=_die_with_parent)
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
                self.send(w.shell_packet(kind, chunk) if self.v2 else chunk)
        except (OSError, ConnectionError):
            self._kill()

    def _wait(self, pumps: list[threading.Thread]) -> None:
        assert self.proc is not None
        code = self.proc.wait()
        for pump in pumps:
            pump.join()
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


class _SyncStream(_Stream):
    """``sync:``: the file-transfer sub-protocol, one request after another."""

    def __init__(self, conn: _Connection, local: int, remote: int):
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
        mtime = 0
        while True:  # the data keeps coming even after a failure: drain it up to DONE
            ident, value = self._request()
            if ident == "DATA":
                chunk = self._read(value)
                if out is not None:
                    out.write(chunk)
            elif ident == "DONE":
                mtime = value
                break
            else:
                error = error or f"unexpected {ident!r} in SEND"
                break
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

    def _send_file(self, endpoint: AdbEndpoint, path: str) -> None:
        try:
            source = open(endpoint.resolve(path), "rb")
        except OSError as exc:
            self._fail(f"remote object '{path}' does not exist" if isinstance(exc, FileNotFoundError)
                       else f"{path}: {exc.strerror}")
            return
        with source:
            while True:
                chunk = source.read(w.SYNC_DATA_MAX)
                if not chunk:
                    break
                self._emit(w.sync_header("DATA", len(chunk)) + chunk)
        self._emit(w.sync_header("DONE", 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgebench.testing.adb_endpoint", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free one; avoid 5555-5585)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root", required=True, help="folder holding the device's /data, /sdcard, /system")
    parser.add_argument("--rootfs", help="run commands chrooted in this (arm64) userland (needs root)")
    parser.add_argument("--no-auth", action="store_true", help="skip the AUTH exchange")
    parser.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE", help="override a getprop value")
    args = parser.parse_args(argv)
    props = dict(PIXEL_7)
    props.update(dict(item.split("=", 1) for item in args.prop))
    endpoint = AdbEndpoint(args.root, args.port, args.host, props, args.rootfs, auth=not args.no_auth).start()
    print(f"adb endpoint listening on {endpoint.serial}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    endpoint.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["AdbEndpoint", "PIXEL_7", "FEATURES", "main"]
