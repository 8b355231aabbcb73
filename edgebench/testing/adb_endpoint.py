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

Faults, for tests of what survives them (see adb_faults): ``fail_next("push" | "pull" | "shell",
after_bytes=..., after_s=..., action="drop" | "stall", down_for=..., match=..., times=...)`` arms
one; ``drop_connections()`` pulls the cable; ``restart(down_for)`` reboots (refuses connections
meanwhile; ``math.inf``: dead for good; ``restart(0)`` later brings it back).

Avoid ports 5555-5585: the adb server scans them for emulators. The transport and its services
live in adb_streams (connection, shell) and adb_sync (push / pull).
"""

from __future__ import annotations

import argparse
import math
import os
import posixpath
import re
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Mapping, Sequence

from .adb_faults import Fault, FaultPlan, Trip
from .adb_streams import Connection

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
        self._conns: set[Connection] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.faults = FaultPlan()
        self._prepare_root()

    # -- life cycle ----------------------------------------------------------------------------
    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "AdbEndpoint":
        self._listen()
        return self

    def _listen(self) -> None:
        with self._lock:
            if self._sock is not None or self._stopped.is_set():
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(8)
            self.port = sock.getsockname()[1]
            self._sock = sock
        threading.Thread(target=self._accept, args=(sock,), name="adb-endpoint-accept", daemon=True).start()

    def _unlisten(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    @property
    def listening(self) -> bool:
        return self._sock is not None

    def stop(self) -> None:
        """Stop listening, drop every connection, kill every command still running."""
        self._stopped.set()
        self._unlisten()
        self.drop_connections()

    def drop_connections(self) -> None:
        """Cut every current connection (as a USB cable pulled out) but keep listening."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.abort()

    def restart(self, down_for: float = 1.0) -> None:
        """Reboot: drop every connection and refuse new ones for ``down_for`` seconds (math.inf:
        for good), then listen again on the same port. Returns at once."""
        self._unlisten()
        self.drop_connections()
        if down_for != math.inf:
            timer = threading.Timer(max(0.0, down_for), self._listen)
            timer.daemon = True
            timer.start()

    # -- fault injection (see adb_faults) ------------------------------------------------------
    def fail_next(self, op: str, *, after_bytes: int = 0, after_s: float | None = None, action: str = "drop",
                  down_for: float = 0.0, stall_for: float = math.inf, match: str = "", times: int = 1) -> Fault:
        """Arm a fault for the next ``times`` push / pull / shell operations (see adb_faults)."""
        return self.faults.add(Fault(op, after_bytes=after_bytes, after_s=after_s, action=action,
                                     down_for=down_for, stall_for=stall_for, match=match, times=times))

    def tripwire(self, op: str, subject: str, conn: "Connection") -> Trip:
        fault = self.faults.claim(op, subject)

        def drop(fault: Fault) -> None:
            if fault.down_for > 0:
                self.restart(fault.down_for)
            else:
                conn.abort()

        return Trip(fault, drop, conn.closed.is_set)

    def __enter__(self) -> "AdbEndpoint":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self, sock: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = sock.accept()
            except OSError:
                return
            conn = Connection(self, client)
            with self._lock:
                self._conns.add(conn)
            conn.start()

    def _forget(self, conn: "Connection") -> None:
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
