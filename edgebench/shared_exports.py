"""An artifact cache several threads share: each (model, backend, precision) is exported once.

The on-disk cache is already safe across processes (write-once, content-addressed), but two device
workers missing the same entry would both export it. Here a miss takes one lock for every export:
the second worker waits, then finds the first one's entry. Exports also never run two at a time
(torch's exporters are not thread-safe, and a 2-core host gains nothing from overlapping them);
hits are served without waiting.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Callable

from .api import Artifact, Backend, ModelSpec
from .artifacts import ArtifactCache


class SharedExportCache(ArtifactCache):
    def __init__(self, root: Path | None = None):
        super().__init__(root)
        self._export_lock = threading.Lock()
        self.exports: Counter[str] = Counter()  # entry name -> how many times it was exported here

    def get(
        self,
        spec: ModelSpec,
        backend: Backend,
        precision: str,
        on_export: Callable[[], None] | None = None,
        *,
        on_corrupt: Callable[[str], None] | None = None,
    ) -> Artifact:
        entry = self.path_for(spec, backend, precision)
        found, _ = self._lookup(entry, backend, precision)
        if found is not None:  # the common case once warm: no lock
            return found
        name = entry.name

        def exporting() -> None:
            self.exports[name] += 1
            if on_export:
                on_export()

        with self._export_lock:  # a second worker waits here, then finds the first one's entry
            return super().get(spec, backend, precision, exporting, on_corrupt=on_corrupt)
