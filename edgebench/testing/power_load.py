"""The power a virtual device draws: an idle floor plus a cost per CPU-second its processes use.

The stand-in meters (``power_meters``) and the virtual phone's fuel gauge
(:meth:`~edgebench.testing.adb_endpoint.AdbEndpoint.simulate_battery`) report this power. It rises while
the device is busy because it is computed from the CPU time of the device's own processes (read from
/proc every ``tick_s``), never from anything edgebench says about its runs: the truth a test checks
edgebench's figure against is :meth:`LoadPower.excess_energy`, the integral of this trace.

    power = LoadPower(descendants_of(endpoint_pid))
    with power:
        ...  # the meter reads power.watts()
    power.excess_energy(t0, t1)  # joules above the idle floor between two host times
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections import deque
from typing import Callable, Iterable

HZ = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, utime + stime in clock ticks) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    try:
        return int(fields[1]), int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        return None


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants_of(root: int) -> Callable[[], set[int]]:
    """The processes below ``root`` (not ``root`` itself): a board's shell and what it started."""

    def find() -> set[int]:
        children: dict[int, list[int]] = {}
        for pid in _all_pids():
            st = _stat(pid)
            if st is not None:
                children.setdefault(st[0], []).append(pid)
        found, todo = set(), [root]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    return find


def cwd_under(folder: str | os.PathLike[str]) -> Callable[[], set[int]]:
    """The processes whose working directory lies in ``folder``: the virtual phone's shells run there."""
    base = os.path.realpath(folder)

    def find() -> set[int]:
        out = set()
        for pid in _all_pids():
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if cwd == base or cwd.startswith(base + "/"):
                out.add(pid)
        return out

    return find


class LoadPower:
    """Idle ``idle_w`` plus ``j_per_cpu_s`` for every CPU-second the device's processes use, averaged
    over ``window_s`` (a regulator and a meter both smooth); recomputed every ``tick_s``."""

    def __init__(self, pids: Callable[[], Iterable[int]], idle_w: float = 1.5, j_per_cpu_s: float = 2.0,
                 window_s: float = 0.2, tick_s: float = 0.01, rescan_s: float = 0.25):
        self.pids, self.idle_w, self.j_per_cpu_s = pids, idle_w, j_per_cpu_s
        self.window_s, self.tick_s, self.rescan_s = window_s, tick_s, rescan_s
        self.times: list[float] = []  # host time.time() of each tick
        self.powers: list[float] = []  # watts from that tick to the next
        self._watts = idle_w
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watts(self) -> float:
        return self._watts

    def start(self) -> "LoadPower":
        self._thread = threading.Thread(target=self._run, name="load-power", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "LoadPower":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        known: dict[int, int] = {}  # pid -> CPU ticks last read
        used = 0  # CPU ticks the device used since start (exited processes keep what was seen)
        history: deque[tuple[float, int]] = deque()
        rescanned = 0.0
        while not self._stop.is_set():
            now = time.time()
            if now - rescanned >= self.rescan_s:
                for pid in self.pids():
                    if pid not in known:
                        st = _stat(pid)
                        if st is not None:
                            known[pid] = st[1]  # counted from when it is first seen
                rescanned = now
            for pid, before in list(known.items()):
                st = _stat(pid)
                if st is None:
                    del known[pid]
                    continue
                used += max(0, st[1] - before)
                known[pid] = st[1]
            history.append((now, used))
            while len(history) > 1 and history[0][0] < now - self.window_s:
                history.popleft()
            span = now - history[0][0]
            cores = (used - history[0][1]) / HZ / span if span > 0 else 0.0
            self._watts = self.idle_w + self.j_per_cpu_s * cores
            self.times.append(now)
            self.powers.append(self._watts)
            self._stop.wait(self.tick_s)

    def excess_energy(self, t0: float, t1: float) -> float:
        """Joules above the idle floor between host times ``t0`` and ``t1`` (the trace is a step function)."""
        if not self.times or t1 <= t0:
            return 0.0
        total = 0.0
        i = max(0, bisect.bisect_right(self.times, t0) - 1)
        while i < len(self.times) and self.times[i] < t1:
            start = max(self.times[i], t0)
            end = min(self.times[i + 1] if i + 1 < len(self.times) else t1, t1)
            total += (self.powers[i] - self.idle_w) * max(0.0, end - start)
            i += 1
        return total
