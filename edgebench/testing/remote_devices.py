"""Virtual remote devices for tests, ready to use as edgebench device profiles.

* :func:`virtual_pixel` - an :class:`~edgebench.testing.adb_endpoint.AdbEndpoint` and a private adb
  server (its own port and key folder, killed afterwards);
* :func:`virtual_pi` - an :class:`~edgebench.testing.ssh_endpoint.SshEndpoint` over the arm64 rootfs;
* :func:`virtual_board` - a :class:`~edgebench.testing.serial_endpoint.SerialEndpoint`;

each yields a :class:`VirtualDevice` whose ``write_profile(folder)`` writes the matching test
profile (``pixel-test``, ``rpi-test``, ``serial-test``) from the templates in ``profiles/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Iterator

from ..devices import DeviceProfile

TEMPLATES = Path(__file__).with_name("profiles")
BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-rootfs.sh"


def rootfs_cache() -> Path:
    return Path(os.environ.get("EDGEBENCH_ROOTFS_CACHE", Path.home() / ".cache" / "edgebench" / "rootfs"))


def find_rootfs() -> Path | None:
    """The arm64 userland built by scripts/build-rootfs.sh, or None.

    ``$EDGEBENCH_ROOTFS`` wins; otherwise the cache entry keyed by the build script's hash (any
    built entry when the script is not around, as in an installed wheel).
    """
    env = os.environ.get("EDGEBENCH_ROOTFS")
    if env:
        return Path(env) if (Path(env) / ".edgebench-rootfs").exists() else None
    cache = rootfs_cache()
    if BUILD_SCRIPT.is_file():
        key = hashlib.sha256(BUILD_SCRIPT.read_bytes()).hexdigest()[:16]
        return cache / key if (cache / key / ".edgebench-rootfs").exists() else None
    built = sorted(p.parent for p in cache.glob("*/.edgebench-rootfs"))
    return built[-1] if built else None


def write_profile(template: str, folder: Path, **values: Any) -> Path:
    """Fill ``profiles/<template>.toml`` with ``values`` and write it to ``folder``."""
    text = Template((TEMPLATES / f"{template}.toml").read_text()).substitute(
        {k: str(v) for k, v in values.items()})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{template}.toml"
    path.write_text(text)
    return path


@dataclass
class VirtualDevice:
    template: str
    values: dict[str, Any]
    endpoint: Any
    env: dict[str, str] = field(default_factory=dict)  # what a child edgebench process needs too

    def write_profile(self, folder: Path) -> Path:
        return write_profile(self.template, folder, **self.values)

    def profile(self, folder: Path) -> DeviceProfile:
        return DeviceProfile.from_file(self.write_profile(folder))


def free_port() -> int:
    """A free TCP port on loopback outside adb's emulator scan range (5555-5585)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not 5555 <= port <= 5585:
            return port


@contextlib.contextmanager
def adb_server(home: Path) -> Iterator[int]:
    """A private adb server (own port, own ~/.android keys); killed when the block ends."""
    adb = shutil.which("adb")
    if adb is None:
        raise RuntimeError("the adb client is not installed (apt install adb)")
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(port)}
    subprocess.run([adb, "-P", str(port), "start-server"], env=env, capture_output=True, timeout=30, check=True)
    try:
        yield port
    finally:
        subprocess.run([adb, "-P", str(port), "kill-server"], env=env, capture_output=True, timeout=30)


@contextlib.contextmanager
def virtual_pixel(workdir: Path, rootfs: Path | None = None, affinity: str = "1",
                  python: bool = True) -> Iterator[VirtualDevice]:
    from .adb_endpoint import AdbEndpoint

    with adb_server(workdir / "adb-home") as server_port:
        endpoint = AdbEndpoint(workdir / "phone", port=free_port(), rootfs=rootfs, python=python)
        with endpoint:
            yield VirtualDevice("pixel-test", {
                "serial": endpoint.serial, "server_port": server_port, "affinity": affinity,
                "mode": ", arm64 rootfs" if rootfs else ", host shell"}, endpoint,
                env={"ANDROID_ADB_SERVER_PORT": str(server_port)})


@contextlib.contextmanager
def virtual_pi(workdir: Path, rootfs: Path | None) -> Iterator[VirtualDevice]:
    from .ssh_endpoint import SshEndpoint

    with SshEndpoint(workdir / "pi", rootfs=rootfs) as endpoint:
        yield VirtualDevice("rpi-test", endpoint.profile_options(), endpoint)


@contextlib.contextmanager
def virtual_board(workdir: Path, rootfs: Path | None = None,
                  login: tuple[str, str] | None = None) -> Iterator[VirtualDevice]:
    from .serial_endpoint import SerialEndpoint

    with SerialEndpoint(workdir / "board", rootfs=rootfs, login=login) as endpoint:
        user, password = login or ("", "")
        yield VirtualDevice("serial-test", {"port": endpoint.port, "user": user, "password": password}, endpoint)
