"""Measure on several devices of one host at once: one worker thread per device.

Each worker owns its device's :class:`~edgebench.harness.Harness` (its transport session, its own
connection to the results store), so a device never runs two measurements at once and every result
is committed the moment it is measured. The workers share one :class:`SharedExportCache`: each
(model, backend, precision) is exported once. A device that fails ends only its own worker; its
cause is kept for the summary. Threads suffice: a worker spends its time waiting on its device.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .devices import DeviceProfile
from .errors import EdgebenchError
from .planning import Job


@dataclass
class DeviceRun:
    """One device's part of a multi-device run."""

    profile: DeviceProfile
    jobs: list[Job]
    run_id: int | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)  # (job label, why), as Harness.failed
    error: str | None = None  # why the device stopped early (unreachable, ...): None if it ran its jobs
    interrupted: bool = False
    seconds: float = 0.0
    harness: Any = field(default=None, repr=False)  # set while the worker runs (its run id before it ends)


def run_on_devices(
    db: Path | str,
    runs: list[DeviceRun],
    settings: Any,
    *,
    cache: Any = None,
    reporter: Callable[[DeviceRun], Any] | None = None,
    argv: list[str] | None = None,
    stop: threading.Event | None = None,
    wait: Callable[[list[threading.Event]], None] | None = None,
) -> list[DeviceRun]:
    """Run each device's jobs in its own thread; returns ``runs`` filled in (run ids, failures).

    ``stop``, once set, ends every worker before its next job (finished results stay stored);
    ``wait(ended)`` waits until every worker's event is set (the CLI's handles Ctrl-C);
    ``reporter(run)`` gives a device's progress reporter. Workers say they ended through events, not
    ``Thread.join``: on Python 3.11 a Ctrl-C landing inside ``join`` can mark a thread that still
    runs as stopped (CPython gh-90882), and the run would then count its results before they exist.
    """
    import time

    from .harness import Harness
    from .shared_exports import SharedExportCache
    from .store import Store

    cache = cache or SharedExportCache()
    stop = stop or threading.Event()

    def work(run: DeviceRun, ended: threading.Event) -> None:
        started = time.monotonic()
        store = harness = None
        try:
            store = Store.open(db)  # sqlite connections belong to one thread
            harness = run.harness = Harness(store, run.profile, settings, cache=cache,
                                            reporter=reporter(run) if reporter else None)
            harness.stop = stop
            harness.run(run.jobs, argv=argv)
        except KeyboardInterrupt:
            run.interrupted = True
        except EdgebenchError as exc:  # this device is gone or unusable: the others carry on
            run.error = str(exc)
        except Exception as exc:  # a bug or a plugin's: still this device's alone
            run.error = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                if harness is not None:
                    run.run_id, run.failed = harness.run_id, harness.failed
                run.seconds = time.monotonic() - started
                if store is not None:
                    store.close()
            finally:
                ended.set()  # whatever happened above: the caller waits on this, not on the thread

    ended = [threading.Event() for _ in runs]
    for run, event in zip(runs, ended):
        threading.Thread(target=work, args=(run, event), name=f"edgebench-{run.profile.name}", daemon=True).start()
    (wait or _wait_all)(ended)
    return runs


def _wait_all(ended: list[threading.Event]) -> None:
    for event in ended:
        event.wait()
