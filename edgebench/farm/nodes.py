"""Starting farm nodes: ``edgebench farm head`` and ``edgebench farm join``.

Both run ``ray start ... --block`` as a child process: in the foreground the command lives as long
as the node (Ctrl-C stops it and only it); with ``--detach`` the child is left running in its own
session. ``join`` then registers this host's devices: one custom resource per device on the node
(``edgebench-device:<id>``) and one detached actor (:mod:`.lease`) that only that node can hold.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..devices import DeviceProfile
from . import DEVICE_RESOURCE, FarmError

QUIET = {"RAY_USAGE_STATS_ENABLED": "0"}  # no usage reports from a lab's machines


@dataclass
class FarmDevice:
    id: str  # unique in the farm: <profile>@<host>
    profile: DeviceProfile


def ray_executable() -> str:
    """The ``ray`` script of the Python running edgebench (the farm's nodes must match it)."""
    here = Path(sys.executable).with_name("ray")
    found = str(here) if here.is_file() else shutil.which("ray")
    if not found:
        raise FarmError("the device farm needs ray: pip install 'edgebench[farm]'")
    return found


def local_ip(towards: str = "8.8.8.8") -> str:
    """This host's address on the route to ``towards`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((towards, 9))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def start_node(args: list[str], detach: bool) -> subprocess.Popen[bytes]:
    """``ray start <args> --block`` in its own session (a farm's Ctrl-C or kill reaches only it)."""
    argv = [ray_executable(), "start", *args, "--block", "--disable-usage-stats"]
    return subprocess.Popen(argv, env={**os.environ, **QUIET}, start_new_session=True,
                            stdout=subprocess.DEVNULL if detach else None,
                            stderr=subprocess.DEVNULL if detach else None)


def head_args(port: int, ip: str, num_cpus: int) -> list[str]:
    return ["--head", f"--port={port}", f"--node-ip-address={ip}", f"--num-cpus={num_cpus}",
            "--include-dashboard=false"]


def join_args(address: str, ip: str, devices: list[FarmDevice], num_cpus: int) -> list[str]:
    resources = {DEVICE_RESOURCE + d.id: 1 for d in devices}
    return [f"--address={address}", f"--node-ip-address={ip}", f"--num-cpus={num_cpus}",
            f"--resources={json.dumps(resources)}"]


def wait_for_node(ray: Any, resource: str, child: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the cluster lists a live node owning ``resource`` (only the new node has it), or the child died.
    (Not by address: Ray may register a node under another of the host's addresses than the one given.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise FarmError(f"ray start exited with status {child.returncode} (see its output above)")
        for node in ray.nodes():
            if node.get("Alive") and resource in node.get("Resources", {}):
                return
        time.sleep(0.5)
    raise FarmError(f"this node did not join the farm within {timeout:.0f} s")


def local_devices(names: list[str], extra_dirs: list[Path], host: str, adb_profile: str | None) -> list[FarmDevice]:
    """The devices this host offers: the profiles named (default: the user's own profiles, not the
    built-in examples), plus one per phone ``adb devices`` lists when ``adb_profile`` is given."""
    from ..devices import builtin_devices_dir, load_profiles

    profiles = load_profiles(extra_dirs)
    if names:
        from ..errors import UnknownName

        for name in names:
            if name not in profiles:
                raise UnknownName("device", name, list(profiles))
        chosen = [profiles[name] for name in names]
    else:
        builtin = builtin_devices_dir().resolve()
        chosen = [p for p in profiles.values() if p.source is None or p.source.parent.resolve() != builtin]
    devices = [FarmDevice(f"{p.name}@{host}", p) for p in chosen]
    if adb_profile:
        if adb_profile not in profiles:
            from ..errors import UnknownName

            raise UnknownName("device", adb_profile, list(profiles))
        template = profiles[adb_profile]
        # a phone a chosen profile already names is offered once: two leases must never share a device
        taken = {str(d.profile.options.get("serial")) for d in devices if d.profile.transport == "adb"}
        for serial in adb_serials():
            if serial in taken:
                continue
            phone = DeviceProfile(**{**template.__dict__, "options": {**template.options, "serial": serial}})
            devices.append(FarmDevice(f"{template.name}:{serial}@{host}", phone))
    return devices


def adb_serials() -> list[str]:
    """Serials of the phones attached and authorised (``adb devices``: state ``device``)."""
    adb = shutil.which("adb")
    if adb is None:
        raise FarmError("--adb-profile needs the adb client (apt install adb / the Android platform tools)")
    out = subprocess.run([adb, "devices"], capture_output=True, text=True, timeout=30).stdout
    return [line.split()[0] for line in out.splitlines()[1:] if line.strip().endswith("\tdevice")]


def stop_node(child: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a node started by :func:`start_node`, and only it: SIGTERM to ``ray start``, then SIGKILL to
    every process left in its session (Ray's workers put themselves in their own process groups,
    but stay in the session)."""
    import signal

    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    kill_session(child.pid)
    if child.poll() is None:
        child.wait(grace)


def kill_session(sid: int) -> list[int]:
    """SIGKILL every process of session ``sid`` (a node started by :func:`start_node`); their pids."""
    import signal

    import psutil

    killed = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return killed
