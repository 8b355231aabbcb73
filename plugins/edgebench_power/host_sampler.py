"""A thread that polls a meter on this machine until stopped, stamping each reading with the host's clock."""

from __future__ import annotations

import threading
import time
from typing import Callable

Reading = tuple[float, float]  # (host time.time() in s, watts)


class HostSampler:
    """Calls ``read()`` every ``1 / rate_hz`` s; the first exception ends sampling and is kept as ``error``
    (a meter unplugged mid-run: what was read until then stays)."""

    def __init__(self, read: Callable[[], list[Reading]], rate_hz: float):
        self.read, self.period = read, 1.0 / rate_hz
        self.samples: list[Reading] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="power-meter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.samples.extend(self.read())
            except Exception as exc:  # noqa: BLE001  any failure of the port ends this meter's run
                self.error = f"{type(exc).__name__}: {str(exc).strip() or 'no answer'}"
                return
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))
