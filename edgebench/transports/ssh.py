"""Linux boards (Raspberry Pi, Jetson...) through the OpenSSH client: key auth, sftp for files.

Profile options::

    [options]
    host = "raspberrypi.local"   # required
    port = 22
    user = "pi"
    key = "~/.ssh/id_ed25519"    # identity file (default: the ssh agent / ssh's defaults)
    known_hosts = "~/.ssh/known_hosts"
    host_key_checking = "accept-new"   # "yes" to refuse unknown hosts, "accept-new" trusts on first use
    connect_timeout = 10
    workdir = "/tmp"             # scratch dirs are made below it
    ssh_options = ["Ciphers=aes128-gcm@openssh.com"]   # extra -o options
    multiplex = true             # one connection per session (ControlMaster), not one per command
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .remote import Dropped, Raw, ShellTransport

# ssh's own words for "you will not get in" (no point retrying) and for a lost connection
_REFUSED = re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|Permission denied|"
                      r"No (ED25519|RSA|ECDSA)? ?host key is known|Too many authentication failures|"
                      r"Could not resolve hostname|no matching host key type", re.I)
_GONE = re.compile(r"Connection (refused|reset|closed|timed out)|Broken pipe|No route to host|"
                   r"Network is unreachable|kex_exchange_identification|Timeout, server .* not responding|"
                   r"client_loop: send disconnect|Connection to .* closed by remote host", re.I)


class SshTransport(ShellTransport):
    name = "ssh"
    kind = "ssh"
    default_workdir_base = "/tmp"

    def __init__(self, profile):  # type: ignore[no-untyped-def]
        super().__init__(profile)
        self.host = str(self.options.get("host", ""))
        self.port = int(self.options.get("port", 22))
        self.user = str(self.options.get("user", "") or "")
        self._master: subprocess.Popen[bytes] | None = None
        self._control_dir: tempfile.TemporaryDirectory[str] | None = None

    def address(self) -> str:
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.host}:{self.port}"

    # -- the client ----------------------------------------------------------------------------
    def _options(self) -> list[str]:
        if not self.host or self.host.startswith("-"):
            raise self.unreachable(f"profile option 'host' is missing or invalid: {self.host!r}")
        opts = {
            "BatchMode": "yes",  # never prompt: a password or passphrase prompt would hang the run
            "ConnectTimeout": str(int(float(self.options.get("connect_timeout", 10)))),
            "ServerAliveInterval": "5",
            "ServerAliveCountMax": "3",
            "LogLevel": "ERROR",
            "StrictHostKeyChecking": str(self.options.get("host_key_checking", "accept-new")),
        }
        if self.options.get("known_hosts"):
            opts["UserKnownHostsFile"] = str(Path(str(self.options["known_hosts"])).expanduser())
        if self.options.get("key"):
            opts["IdentityFile"] = str(Path(str(self.options["key"])).expanduser())
            opts["IdentitiesOnly"] = "yes"
        if self.user:
            opts["User"] = self.user
        argv: list[str] = []
        for key, value in opts.items():
            argv += ["-o", f"{key}={value}"]
        for extra in self.options.get("ssh_options", []):
            argv += ["-o", str(extra)]
        if self._master is not None and self._control_dir is not None:
            argv += ["-o", "ControlMaster=no", "-o", f"ControlPath={self._control_dir.name}/cm"]
        return argv

    def _binary(self, name: str) -> str:
        exe = str(self.options.get(name, name))
        path = shutil.which(exe)
        if path is None:
            raise self.unreachable(f"the OpenSSH client {exe!r} is not installed (apt install openssh-client)")
        return path

    def _ssh(self, script: str, timeout: float, what: str) -> subprocess.CompletedProcess[bytes]:
        argv = [self._binary("ssh"), "-T", "-p", str(self.port), *self._options(), self.host, script]
        try:
            return subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise self.timed_out(what, timeout) from None

    def _classify(self, proc: subprocess.CompletedProcess[bytes]) -> None:
        """Raise for a failure of ssh itself (exit 255): refused -> unreachable, lost -> Dropped."""
        err = proc.stderr.decode(errors="replace").strip()
        if proc.returncode != 255:
            return
        if _REFUSED.search(err):
            raise self.unreachable(_last(err))
        raise Dropped(_last(err) or "ssh exited 255")

    # -- connection ----------------------------------------------------------------------------
    def _connect(self) -> None:
        limit = float(self.options.get("connect_timeout", 10)) + 10
        proc = self._ssh("exit 0", limit, "ssh connect")
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()
            raise self.unreachable(_last(err) or f"ssh exited {proc.returncode}")
        if self.options.get("multiplex", True):
            self._start_master(limit)

    def _start_master(self, limit: float) -> None:
        """One authenticated connection that later ssh/sftp calls ride on (saves a handshake each)."""
        self._control_dir = tempfile.TemporaryDirectory(prefix="edgebench-ssh-")
        socket_path = Path(self._control_dir.name) / "cm"
        argv = [self._binary("ssh"), "-M", "-N", "-o", f"ControlPath={socket_path}", "-o", "ControlPersist=no",
                "-p", str(self.port), *self._options(), self.host]
        self._master = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + limit
        while not socket_path.exists():
            if self._master.poll() is not None or time.monotonic() > deadline:
                self._stop_master()  # carry on without multiplexing
                return
            time.sleep(0.02)

    def _stop_master(self) -> None:
        master, self._master = self._master, None
        if master is not None:
            if master.poll() is None:
                master.terminate()
                try:
                    master.wait(5)
                except subprocess.TimeoutExpired:
                    master.kill()
                    master.wait()
        if self._control_dir is not None:
            self._control_dir.cleanup()
            self._control_dir = None

    def _disconnect(self) -> None:
        self._stop_master()

    # -- commands and files --------------------------------------------------------------------
    def _exec(self, script: str, timeout: float) -> Raw:
        proc = self._ssh(script, timeout, "the command")
        if b"@@EB-EXIT-" not in proc.stdout:
            self._classify(proc)
            raise Dropped(_last(proc.stderr.decode(errors="replace")) or "no exit marker")
        return Raw(proc.returncode, proc.stdout, proc.stderr)

    def _sftp(self, command: str, timeout: float, what: str) -> None:
        argv = [self._binary("sftp"), "-q", "-b", "-", "-P", str(self.port), *self._options(), self.host]
        try:
            proc = subprocess.run(argv, input=command.encode() + b"\n", capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.timed_out(what, timeout) from None
        if proc.returncode == 0:
            return
        self._classify(proc)
        err = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        if _GONE.search(err):
            raise Dropped(_last(err))
        raise self.failed(f"{what} failed: {_last(err) or f'sftp exited {proc.returncode}'}")

    def _push(self, local: Path, remote: str, timeout: float) -> None:
        self._sftp(f"put {sftp_quote(str(local))} {sftp_quote(remote)}", timeout, f"sftp put {local.name}")

    def _pull(self, remote: str, local: Path, timeout: float) -> None:
        self._sftp(f"get {sftp_quote(remote)} {sftp_quote(str(local))}", timeout, f"sftp get {remote}")
        if not local.is_file():
            raise self.failed(f"sftp get {remote} wrote nothing")

    # -- description ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return parse_linux_info(self.script(LINUX_PROBE, timeout=60).stdout)


# one shell line that describes a Linux board; its sections are split by parse_linux_info
LINUX_PROBE = (
    "cat /proc/device-tree/model 2>/dev/null || cat /sys/firmware/devicetree/base/model 2>/dev/null;"
    " echo; echo @@EB-SPLIT@@; cat /proc/cpuinfo 2>/dev/null; echo @@EB-SPLIT@@; uname -srm;"
    " echo @@EB-SPLIT@@; grep -m1 MemTotal /proc/meminfo 2>/dev/null; echo @@EB-SPLIT@@;"
    " nproc 2>/dev/null; echo @@EB-SPLIT@@; . /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\";"
    " echo @@EB-SPLIT@@; cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq 2>/dev/null;"
    " echo @@EB-SPLIT@@; command -v python3 >/dev/null && python3 -c 'import platform;"
    " print(platform.python_version(), platform.machine())' 2>/dev/null")


def parse_linux_info(text: str) -> dict[str, Any]:
    """The output of SshTransport.info's probe -> {model, cpu_model, os, kernel, ...}."""
    parts = (text.split("@@EB-SPLIT@@") + [""] * 8)[:8]
    model, cpuinfo, uname, mem, nproc, os_name, freqs, python = (p.strip() for p in parts)
    info: dict[str, Any] = {"model": model.replace("\x00", "").strip()}
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    info["cpu_model"] = fields.get("model name") or fields.get("hardware") or fields.get("cpu part", "")
    if not info["model"] and not fields.get("model", "0").isdigit():  # x86 'model : 17' is a number
        info["model"] = fields.get("model", "")
    cores = describe_cores(re.findall(r"^CPU part\s*:\s*(0x[0-9a-fA-F]+)", cpuinfo, re.M))
    if cores:
        info["cpu_cores"] = cores
    info["kernel"], info["os"] = uname, os_name
    machine = uname.split()[-1] if uname else ""
    info["machine"] = machine
    found = re.search(r"(\d+)", mem)
    if found:
        info["memory_bytes"] = int(found.group(1)) * 1024
    if nproc.isdigit():
        info["cores_logical"] = int(nproc)
    mhz = sorted({int(f) // 1000 for f in freqs.split() if f.isdigit()})
    if mhz:
        info["cpu_max_mhz"] = mhz
    if python:
        version, _, arch = python.partition(" ")
        info["python"], info["python_machine"] = version, arch
    return {k: v for k, v in info.items() if v not in ("", None)}


# Arm's 'CPU part' numbers (implementer 0x41) of the cores found in phones and boards
ARM_CORES = {0xd03: "Cortex-A53", 0xd04: "Cortex-A35", 0xd05: "Cortex-A55", 0xd07: "Cortex-A57",
             0xd08: "Cortex-A72", 0xd09: "Cortex-A73", 0xd0a: "Cortex-A75", 0xd0b: "Cortex-A76",
             0xd0d: "Cortex-A77", 0xd41: "Cortex-A78", 0xd44: "Cortex-X1", 0xd46: "Cortex-A510",
             0xd47: "Cortex-A710", 0xd48: "Cortex-X2", 0xd4d: "Cortex-A715", 0xd4e: "Cortex-X3",
             0xd80: "Cortex-A520", 0xd81: "Cortex-A720", 0xd82: "Cortex-X4"}


def describe_cores(parts: list[str]) -> str:
    """['0xd08'] * 4 -> '4x Cortex-A72'; big.LITTLE lists each kind, biggest count first."""
    counts: dict[str, int] = {}
    for part in parts:
        name = ARM_CORES.get(int(part, 16), f"part {part}")
        counts[name] = counts.get(name, 0) + 1
    return " + ".join(f"{n}x {name}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def sftp_quote(path: str) -> str:
    """One sftp batch-file word for ``path``, taken literally.

    sftp splits its batch lines itself: inside double quotes a backslash escapes ``"`` and ``\\``,
    and glob characters are kept literal. A newline cannot be carried at all.
    """
    if "\n" in path or "\r" in path:
        raise ValueError(f"sftp cannot transfer a file whose name holds a line break: {path!r}")
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _last(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


__all__ = ["SshTransport", "parse_linux_info", "sftp_quote"]
