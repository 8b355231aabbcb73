"""Work dirs on a device: ``<base>/edgebench-<8 hex>``, each with an owner file naming the run
that made it (host, pid, start time). A run that loses its device cannot remove its dir; the next
session on that device removes it once it is stale (see :func:`stale_workdirs`)."""

from __future__ import annotations

import os
import re
import socket
import time

from . import shell_join

OWNER_FILE = ".edgebench-owner"
WORKDIR_NAME = re.compile(r"edgebench-[0-9a-f]{8}")
NO_OWNER_STALE_S = 3600  # a dir without an owner file: made by an older edgebench, or cut off mid-mkdir
OTHER_HOST_STALE_S = 24 * 3600  # another host's run: its pids mean nothing here, so only age tells


def owner_text() -> str:
    return f"host={socket.gethostname()}\npid={os.getpid()}\nstarted={int(time.time())}\n"


def listing_script(base: str) -> str:
    """Shell that prints the device's clock, then per candidate dir a marker line with its name and
    mtime (device clock: no skew with the host's) followed by its owner file."""
    return (f"cd {shell_join([base])} 2>/dev/null || exit 0\ndate +%s\n"
            "for d in edgebench-*; do\n"
            '  [ -d "$d" ] && [ ! -L "$d" ] || continue\n'
            '  printf \'@@EB-DIR %s %s\\n\' "$d" "$(stat -c %Y "$d" 2>/dev/null)"\n'
            f'  cat "$d/{OWNER_FILE}" 2>/dev/null; echo\n'
            "done")


def stale_workdirs(listing: str, now_host: str | None = None) -> list[str]:
    """Names of the stale work dirs in the sweep's listing (device time, then one block per dir).

    Stale: owned by a dead process of this host; of another host and untouched for 24 h (several
    hosts may share one phone, and their pids mean nothing here); or without an owner file and
    untouched for 1 h. Only ``edgebench-`` + 8 hex digits is ever a candidate."""
    host = now_host if now_host is not None else socket.gethostname()
    lines = listing.splitlines()
    now = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    stale: list[str] = []
    blocks = re.split(r"^@@EB-DIR ", listing, flags=re.M)[1:]
    for block in blocks:
        head, _, body = block.partition("\n")
        name, _, mtime_text = head.partition(" ")
        if not WORKDIR_NAME.fullmatch(name):
            continue
        mtime = int(mtime_text) if mtime_text.strip().isdigit() else None
        age = now - mtime if now is not None and mtime is not None else None
        owner = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
        if owner.get("pid", "").isdigit() and owner.get("host"):
            if owner["host"] == host:
                started = owner.get("started", "")
                gone = not pid_alive(int(owner["pid"]), float(started) if started.isdigit() else 0.0)
            else:
                gone = age is not None and age > OTHER_HOST_STALE_S
        else:
            gone = age is not None and age > NO_OWNER_STALE_S
        if gone:
            stale.append(name)
    return stale


def pid_alive(pid: int, started: float) -> bool:
    """Whether ``pid`` on this host is still the process that started at ``started`` (epoch s)."""
    if pid <= 0:  # kill(0) would signal our own process group: no run has this pid
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    born = _process_start(pid)
    # a process born after the owner file was written reused the number: the owner is dead
    return born is None or not started or born <= started + 2


def _process_start(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


__all__ = ["OWNER_FILE", "WORKDIR_NAME", "listing_script", "owner_text", "pid_alive", "stale_workdirs"]
