"""A board on a serial console, for tests: ``socat`` joins a pty pair to a shell.

pyserial opens ``<workdir>/ttyEB0`` (a link to the pty socat made); on the other side runs
``sh -i`` with echo off (optionally chrooted into the arm64 rootfs, and optionally behind a
``login:`` / ``Password:`` prompt like a board's getty). Killing the endpoint closes the port.

    with SerialEndpoint(tmp_path) as board:
        serial.Serial(board.port, 115200)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .ssh_endpoint import EndpointError


class SerialEndpoint:
    def __init__(self, workdir: str | os.PathLike[str], rootfs: str | os.PathLike[str] | None = None,
                 login: tuple[str, str] | None = None):
        self.workdir = Path(workdir).resolve()
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", str(self.workdir)):
            raise ValueError(f"socat addresses need a plain path: {self.workdir}")
        self.rootfs = Path(rootfs).resolve() if rootfs else None
        if self.rootfs and os.geteuid() != 0:
            raise EndpointError("a chroot needs root")
        self.login = login
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> str:
        return str(self.workdir / "ttyEB0")

    def _console_script(self) -> Path:
        lines = ["#!/bin/sh"]
        if self.login:
            user, password = self.login
            # a getty's conversation, in shell: ask, check, then hand over to the shell
            lines += [
                "stty -echo 2>/dev/null",
                "trap 'echo' INT  # like a getty: Ctrl-C redraws the prompt (reset by exec below)",
                "while :; do",
                "  printf 'edgebench-board login: '; read -r user",
                "  printf 'Password: '; read -r pass; echo",
                f"  if [ \"$user\" = '{user}' ] && [ \"$pass\" = '{password}' ]; then break; fi",
                "  echo 'Login incorrect'",
                "done",
            ]
        if self.rootfs:
            fs = self.rootfs
            lines += [f"exec unshare --mount --propagation private /bin/sh -c '"
                      f"trap echo INT; mount --bind {fs} {fs} && mount -o remount,bind,ro {fs} && "
                      f"mount -t tmpfs -o mode=1777 edgebench-tmp {fs}/tmp && mount -t proc proc {fs}/proc && "
                      f"mount --rbind /dev {fs}/dev && "
                      f"exec chroot {fs} /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp /bin/sh -i'"]
        else:
            lines.append("exec /bin/sh -i")
        path = self.workdir / "console.sh"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o755)
        return path

    def start(self) -> "SerialEndpoint":
        if shutil.which("socat") is None:
            raise EndpointError("socat is not installed (apt install socat)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        script = self._console_script()
        argv = ["socat", f"PTY,link={self.port},raw,echo=0",
                f"EXEC:{script},pty,stderr,setsid,ctty,echo=0,sane"]
        if os.geteuid() == 0:  # PID namespace: killing socat takes the shell and its children along
            argv = ["unshare", "--pid", "--fork", "--kill-child", *argv]
        log = open(self.workdir / "socat.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + 10
        while not os.path.exists(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = (self.workdir / "socat.log").read_text(errors="replace")
                self.stop()
                raise EndpointError(f"socat did not create {self.port}: {text[-300:]}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """Pull the cable: socat and the shell die, the port disappears."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()
        self.proc = None

    def __enter__(self) -> "SerialEndpoint":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
