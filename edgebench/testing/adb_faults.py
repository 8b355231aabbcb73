"""Faults the virtual phone can be told to commit, for testing how edgebench survives them.

A :class:`Fault` is armed on an :class:`~edgebench.testing.adb_endpoint.AdbEndpoint` with
``endpoint.fail_next(op, ...)`` and strikes during the next ``times`` operations of that kind:

* ``op``: ``"push"`` (a sync SEND), ``"pull"`` (a sync RECV) or ``"shell"`` (a shell/exec stream);
  ``match`` narrows it to operations whose device path or command text contains that string.
* It lets at most ``after_bytes`` bytes of the operation's payload through (file data received or
  sent, shell output sent), then strikes; an operation with less payload is struck just before
  it would complete (the sync OKAY/DONE or the shell's exit status never reach the client).
  ``after_s`` strikes that many seconds into the operation instead, if it is still going.
* ``action="drop"`` cuts the TCP connection as a pulled cable would (the command dies with it);
  ``down_for`` then keeps the phone from answering new connections for that many seconds
  (``math.inf``: it never comes back). ``action="stall"`` stops the operation for ``stall_for``
  seconds with the connection left open: a hung device.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

OPS = ("push", "pull", "shell")
ACTIONS = ("drop", "stall")


@dataclass
class Fault:
    op: str
    after_bytes: int = 0
    after_s: float | None = None
    action: str = "drop"
    down_for: float = 0.0
    stall_for: float = math.inf
    match: str = ""
    times: int = 1
    hits: int = 0  # operations it was claimed by
    struck: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown operation {self.op!r}; choose from {', '.join(OPS)}")
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; choose from {', '.join(ACTIONS)}")
        if self.after_bytes < 0 or self.times < 1:
            raise ValueError("after_bytes must be >= 0 and times >= 1")

    @property
    def armed(self) -> bool:
        return self.hits < self.times


class FaultPlan:
    """The faults armed on one endpoint; each operation claims at most one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def claim(self, op: str, subject: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.op == op and fault.armed and fault.match in subject:
                    fault.hits += 1
                    return fault
        return None


class Trip:
    """One operation's tripwire: counts its payload and strikes once when the fault says so.

    The operation's thread calls :meth:`allow` before sending each piece of payload and
    :meth:`before_completion` before its final answer; both wait while a stall lasts.
    """

    def __init__(self, fault: Fault | None, drop: Callable[[Fault], None], stopped: Callable[[], bool]):
        self.fault = fault
        self._drop, self._stopped = drop, stopped
        self._sent = 0
        self._lock = threading.Lock()
        self._stall_until = 0.0
        self.struck = False
        self.before_drop: Callable[[], None] | None = None  # runs before the connection goes
        self._finished = False  # completed before an after_s fault's moment: it never strikes
        if fault is not None and fault.after_s is not None:
            timer = threading.Timer(fault.after_s, self.strike)
            timer.daemon = True
            timer.start()

    @property
    def dropped(self) -> bool:
        return self.struck and self.fault is not None and self.fault.action == "drop"

    def allow(self, n: int) -> int:
        """How many of the next ``n`` payload bytes may go. Fewer than ``n``: send those, then
        call :meth:`strike` (and stop if :attr:`dropped`)."""
        self._gate()
        if self.dropped:
            return 0
        if self.fault is None or self.struck or self.fault.after_s is not None:
            return n
        take = min(n, max(0, self.fault.after_bytes - self._sent))
        self._sent += take
        return take

    def before_completion(self) -> bool:
        """The operation is about to complete: an unstruck byte-count fault strikes now (an
        ``after_s`` one never will: its moment has not come). Returns False when the connection
        was dropped (the caller must not answer)."""
        if self.fault is not None and not self.struck:
            if self.fault.after_s is None:
                self.strike()
            else:
                with self._lock:
                    self._finished = True
        self._gate()
        return not self.dropped

    def strike(self) -> None:
        with self._lock:
            if self.fault is None or self.struck or self._finished:
                return
            self.struck = True
            if self.fault.action == "stall":
                self._stall_until = time.monotonic() + self.fault.stall_for
        self.fault.struck.set()
        if self.fault.action == "drop":
            if self.before_drop is not None:
                self.before_drop()
            self._drop(self.fault)
        else:
            self._gate()

    def _gate(self) -> None:
        # a stall holds the operation's own thread; the connection and other streams go on
        while time.monotonic() < self._stall_until and not self._stopped():
            time.sleep(max(0.0, min(0.1, self._stall_until - time.monotonic())))


__all__ = ["ACTIONS", "OPS", "Fault", "FaultPlan", "Trip"]
