"""What each submitter is waiting for, kept on the head for ``edgebench farm status``.

Submitters report their queue (jobs waiting and running per device request) as it changes; the
record is informational only: each submitter schedules its own jobs.
"""

from __future__ import annotations

import time
from typing import Any


class FarmQueue:
    """A detached actor on the head node (``ray.remote(FarmQueue)`` in :func:`queue_actor`)."""

    def __init__(self) -> None:
        self.submissions: dict[str, dict[str, Any]] = {}

    def report(self, submission: str, state: dict[str, Any]) -> None:
        self.submissions[submission] = {**state, "updated": time.time()}

    def done(self, submission: str) -> None:
        self.submissions.pop(submission, None)

    def all(self) -> dict[str, dict[str, Any]]:
        return dict(self.submissions)


def queue_actor(ray: Any) -> Any:
    """The farm's one queue record, made on the head node the first time anyone asks."""
    from . import NAMESPACE, QUEUE_ACTOR

    return ray.remote(FarmQueue).options(
        name=QUEUE_ACTOR, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, num_cpus=0,
        resources={"node:__internal_head__": 0.001},
    ).remote()
