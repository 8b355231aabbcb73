"""A Raspberry Pi stand-in: a real OpenSSH server, optionally in its own network namespace and
chrooted into the arm64 userland of scripts/build-rootfs.sh (so ``python3`` there is aarch64,
run by qemu-user through binfmt_misc).

    with SshEndpoint(tmp_path, rootfs=find_rootfs()) as pi:
        pi.profile_options()   # host, port, user, key, known_hosts for a device profile

What it sets up (as root): a veth pair into a fresh netns; host and client ed25519 keys; an
``sshd_config`` of its own (``UsePAM no``, key auth only, ``ChrootDirectory`` = the rootfs,
``internal-sftp``); and a private mount + PID namespace in which the rootfs is bound read-only with
a tmpfs /tmp, /proc, /dev and a small tmpfs /sys that holds only ``class/thermal`` (from
``<workdir>/thermal``, so tests set temperatures), the CPU lists onnxruntime reads and each core's
cpufreq files (one cluster at a Pi 4's 1.8 GHz, governor ondemand); the host's /sys is never mounted.
The Pi has as many cores as this host by default (``cpus``), so every mask taskset is given really
applies. Killing the endpoint kills every session with it (PID namespace).

Without root it falls back to sshd on loopback as the current user, no chroot.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
PI4_KHZ = 1_800_000  # a Raspberry Pi 4's Cortex-A72s (Rev 1.4 boards)


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EndpointError(RuntimeError):
    pass


class SshEndpoint:
    def __init__(self, workdir: str | os.PathLike[str], rootfs: str | os.PathLike[str] | None = None,
                 netns: bool | None = None, cpus: int | None = None):
        self.workdir = Path(workdir).resolve()
        self.rootfs = Path(rootfs).resolve() if rootfs else None
        self.is_root = os.geteuid() == 0
        self.netns = self.is_root if netns is None else netns
        if (self.netns or self.rootfs) and not self.is_root:
            raise EndpointError("a network namespace or a chroot needs root")
        self.cpus = cpus or os.cpu_count() or 1
        self.user = "root" if self.is_root else os.environ.get("USER") or _whoami()
        self.ns = ""
        self.host, self.port = "127.0.0.1", 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.thermal = self.workdir / "thermal"

    # -- files -------------------------------------------------------------------------------------
    @property
    def client_key(self) -> Path:
        return self.workdir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    def profile_options(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user, "key": str(self.client_key),
                "known_hosts": str(self.known_hosts), "host_key_checking": "yes"}

    def set_temperature(self, zone: int, celsius: float, kind: str = "cpu-thermal") -> None:
        folder = self.thermal / f"thermal_zone{zone}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "type").write_text(kind + "\n")
        tmp = folder / ".temp.new"
        tmp.write_text(f"{int(round(celsius * 1000))}\n")
        tmp.replace(folder / "temp")

    def _keys(self) -> None:
        for name in ("host_ed25519", "id_ed25519"):
            if not (self.workdir / name).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"edgebench-{name}",
                                "-f", str(self.workdir / name)], check=True, capture_output=True)
        shutil.copyfile(self.workdir / "id_ed25519.pub", self.workdir / "authorized_keys")
        os.chmod(self.workdir / "authorized_keys", 0o600)

    def _write_known_hosts(self) -> None:
        key = (self.workdir / "host_ed25519.pub").read_text().split()[:2]
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"  # ssh's own spelling
        self.known_hosts.write_text(f"{name} {' '.join(key)}\n")

    def _config(self) -> Path:
        lines = [
            f"Port {self.port}", f"ListenAddress {self.host}", f"HostKey {self.workdir / 'host_ed25519'}",
            f"PidFile {self.workdir / 'sshd.pid'}", f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
            "UsePAM no", "StrictModes no", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", f"AllowUsers {self.user}",
            "UseDNS no", "PrintMotd no", "PrintLastLog no", "X11Forwarding no", "AllowTcpForwarding no",
            "MaxStartups 100", "MaxSessions 100", "LogLevel ERROR", "Subsystem sftp internal-sftp",
        ]
        if self.rootfs:
            lines.append(f"ChrootDirectory {self.rootfs}")
        path = self.workdir / "sshd_config"
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- network namespace -------------------------------------------------------------------------
    def _make_netns(self) -> None:
        tag = secrets.token_hex(3)
        self.ns = f"edgebench-ssh-{tag}"
        a, b = 200 + secrets.randbelow(50), secrets.randbelow(250)
        c = secrets.randbelow(63) * 4
        host_ip, dev_ip = f"10.{a}.{b}.{c + 1}", f"10.{a}.{b}.{c + 2}"
        outer, inner = f"ebh{tag}", f"ebn{tag}"
        steps = [
            ["ip", "netns", "add", self.ns],
            ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner],
            ["ip", "link", "set", inner, "netns", self.ns],
            ["ip", "addr", "add", f"{host_ip}/30", "dev", outer],
            ["ip", "link", "set", outer, "up"],
            ["ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{dev_ip}/30", "dev", inner],
            ["ip", "netns", "exec", self.ns, "ip", "link", "set", inner, "up"],
            ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"],
        ]
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True)
            if proc.returncode != 0:
                self._drop_netns()
                raise EndpointError(f"{' '.join(step)}: {proc.stderr.strip()}")
        self.host, self.port = dev_ip, 22

    def _drop_netns(self) -> None:
        if self.ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)  # takes the veth pair along
            self.ns = ""

    # -- life cycle --------------------------------------------------------------------------------
    def _mount_script(self, config: Path) -> str:
        if not self.rootfs:
            return f"exec {SSHD} -D -e -f {config}"
        fs, sysdir = self.rootfs, self.workdir / "sys"
        cpus = f"0-{self.cpus - 1}"
        return "\n".join([
            "set -e",
            f"mount --bind {fs} {fs}", f"mount -o remount,bind,ro {fs}",  # the cached rootfs stays pristine
            f"mount -t tmpfs -o mode=1777 edgebench-tmp {fs}/tmp",
            f"mount -t tmpfs -o mode=755 edgebench-run {fs}/run",
            f"mount -t tmpfs -o mode=700 edgebench-home {fs}/root",  # a writable home, as on a board
            f"mount -t proc proc {fs}/proc",
            f"mount --rbind /dev {fs}/dev",
            f"mount -t tmpfs -o size=8m edgebench-sys {sysdir}",  # a page per file: room for 128 cores
            f"mkdir -p {sysdir}/class/thermal {sysdir}/devices/system/cpu",
            *(f"echo {cpus} > {sysdir}/devices/system/cpu/{name}" for name in ("possible", "present", "online")),
            *self._cpufreq_lines(sysdir / "devices/system/cpu"),
            f"mount --bind {self.thermal} {sysdir}/class/thermal",
            f"mount --rbind {sysdir} {fs}/sys",
            f"exec {SSHD} -D -e -f {config}",
        ])

    def _cpufreq_lines(self, folder: Path, khz: int = PI4_KHZ, governor: str = "ondemand") -> list[str]:
        """Shell lines writing cpuN/cpufreq as a Pi 4's kernel shows it: one cluster, one speed."""
        related = " ".join(str(cpu) for cpu in range(self.cpus))
        values = {"cpuinfo_max_freq": khz, "cpuinfo_min_freq": 600_000, "scaling_max_freq": khz,
                  "scaling_cur_freq": khz, "scaling_governor": governor, "related_cpus": related}
        lines = []
        for cpu in range(self.cpus):
            lines.append(f"mkdir -p {folder}/cpu{cpu}/cpufreq")
            lines += [f"echo {value} > {folder}/cpu{cpu}/cpufreq/{name}" for name, value in values.items()]
        return lines

    def start(self) -> "SshEndpoint":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.thermal.mkdir(exist_ok=True)
        (self.workdir / "sys").mkdir(exist_ok=True)
        self._keys()
        if self.netns:
            self._make_netns()
        else:
            self.host, self.port = "127.0.0.1", _free_port()
        self._write_known_hosts()
        config = self._config()
        if self.is_root:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
            # PID namespace: killing this process kills sshd and every session it started
            argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private",
                    "/bin/sh", "-c", self._mount_script(config)]
            if self.ns:
                argv = ["ip", "netns", "exec", self.ns, *argv]
        else:
            argv = [SSHD, "-D", "-e", "-f", str(config)]
        log = open(self.workdir / "sshd.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        self._wait_listening()
        return self

    def _wait_listening(self, limit: float = 20.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.workdir / "sshd.log").read_text(errors="replace").strip()
                self.stop()
                raise EndpointError(f"sshd exited {self.proc.returncode}: {log[-500:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise EndpointError(f"sshd did not answer on {self.host}:{self.port} within {limit:g} s")

    def kill(self) -> None:
        """Kill sshd and every session at once (the board lost power); the netns stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()
        self.proc = None
        self._drop_netns()

    def __enter__(self) -> "SshEndpoint":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _whoami() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name
