"""One device of the farm: a Ray actor on the node that owns it (see :func:`register`).

The actor holds the device's transport session and measures one job per lease; a lock makes the
lease exclusive (the actor runs its status calls concurrently, so ``farm status`` never waits for a
measurement). Before each lease it probes the device (:mod:`.health`): a failed probe, or a device
error during the job, is a failed lease; ``quarantine_after`` of them in a row quarantine the device
until ``edgebench farm release``. Rows go back to the submitter, which alone writes its store.

This module imports no ray at its top: the class is wrapped with ``ray.remote`` at registration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..artifacts import ArtifactCache
from ..devices import DeviceProfile


class RowCollector:
    """The part of :class:`~edgebench.store.Store` a harness writes to during ``measure``: rows kept
    in memory and handed back to the submitter."""

    path = "(farm node)"

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add_result(self, run_id: int, row: dict[str, Any]) -> int:
        self.rows.append(row)
        return len(self.rows)


class ShippedArtifacts(ArtifactCache):
    """Artifacts the submitter exported and shipped through the object store, written here once
    under their content-addressed names (SHA-256 checked); anything else (a native tool's variant)
    is exported on this node through the ordinary cache."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder
        self.shipped: dict[tuple[str, str, str], Any] = {}

    def receive(self, key: tuple[str, str, str], shipment: dict[str, Any]) -> None:
        from ..api import Artifact
        from ..errors import ArtifactError

        if key in self.shipped:
            return
        data, meta = shipment["data"], dict(shipment["meta"])
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise ArtifactError(f"the shipped artifact of {key[0]!r} arrived damaged (SHA-256 mismatch)")
        path = self.folder / shipment["file"]
        path.write_bytes(data)
        self.shipped[key] = Artifact(path, key[1], key[2], meta)

    def get(self, spec: Any, backend: Any, precision: str, on_export: Any = None, *, on_corrupt: Any = None) -> Any:
        found = self.shipped.get((spec.name, backend.name, precision))
        return found if found is not None else super().get(spec, backend, precision, on_export,
                                                           on_corrupt=on_corrupt)


class DeviceLease:
    """The Ray actor class (``ray.remote(DeviceLease)`` in :func:`register`)."""

    def __init__(self, device_id: str, profile: dict[str, Any], host: str):
        self.device_id, self.host = device_id, host
        self.profile = DeviceProfile(**profile)
        self.state = "idle"
        self.reason = ""
        self.failures_in_row = 0
        self.last_probe: dict[str, Any] | None = None
        self.leases = 0
        self.current: str | None = None  # the job being measured
        self._lock = threading.Lock()  # the lease: one measurement at a time
        self._submission: str | None = None
        self._harness: Any = None
        self._session: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.info: dict[str, Any] = {}

    # -- what farm status and the submitter read --------------------------------------------------
    def describe(self) -> dict[str, Any]:
        import ray

        profile = dataclasses.asdict(self.profile)
        profile["source"] = str(profile["source"]) if profile["source"] else None
        return {"id": self.device_id, "profile": profile, "name": self.profile.name, "host": self.host,
                "node_id": ray.get_runtime_context().get_node_id(), "keys": list(self.profile.keys),
                "state": self.state, "reason": self.reason, "failures_in_row": self.failures_in_row,
                "last_probe": self.last_probe, "leases": self.leases, "current": self.current, "info": self.info}

    def release(self) -> dict[str, Any]:
        """End a quarantine (``edgebench farm release``): the device is leased again."""
        with self._lock:
            was, self.state, self.reason, self.failures_in_row = self.state, "idle", "", 0
        return {"id": self.device_id, "was": was}

    # -- a lease ------------------------------------------------------------------------------------
    def measure(self, submission: str, job: dict[str, Any], settings: dict[str, Any], shipment: dict[str, Any] | None,
                quarantine_after: int) -> dict[str, Any]:
        """Probe, then measure ``job``. Returns ``{"status": "done", "rows": [...]}``, ``"failed"`` (the job
        cannot run: not the device's fault), ``"unhealthy"`` (the probe or the device failed this lease)
        or ``"quarantined"``, each with a ``reason``."""
        from ..errors import EdgebenchError, ExportError, ArtifactError, BackendUnavailable

        with self._lock:
            if self.state == "quarantined":
                return {"status": "quarantined", "reason": self.reason}
            self.state, self.current, self.leases = "leased", job["label"], self.leases + 1
            try:
                try:
                    self._open(submission, settings)
                except EdgebenchError as exc:  # no session: the device is not there
                    self._close()
                    return self._failed_lease(f"unreachable: {exc}", quarantine_after)
                from .health import probe

                checked = probe(self._harness.transport, self.profile)
                self.last_probe = checked.to_dict()
                if not checked.ok:
                    return self._failed_lease(checked.reason, quarantine_after)
                harness_job = _job(job)
                if shipment is not None:
                    self._harness.cache.receive((job["model"], job["backend"], job["precision"]), shipment)
                collector = self._harness.store
                collector.rows.clear()
                try:
                    self._harness.load_datasets([harness_job])
                    self._harness._resolve_affinities([harness_job])
                    self._harness.measure(harness_job, self._session)
                except (ExportError, ArtifactError, BackendUnavailable) as exc:
                    self.failures_in_row = 0  # the device answered: the job itself cannot run
                    return {"status": "failed", "reason": str(exc)}
                except EdgebenchError as exc:  # the device failed under the job
                    self._close()
                    return self._failed_lease(str(exc), quarantine_after)
                self.failures_in_row = 0
                return {"status": "done", "rows": list(collector.rows), "info": self.info,
                        "host_info": _host_info(), "device_id": self.device_id}
            finally:
                self.current = None
                if self.state == "leased":
                    self.state = "idle"

    def end(self, submission: str) -> None:
        """The submitter is done: close the session (and remove the device's work dir)."""
        with self._lock:
            if self._submission == submission:
                self._close()

    # -- internals ------------------------------------------------------------------------------
    def _failed_lease(self, reason: str, quarantine_after: int) -> dict[str, Any]:
        self.failures_in_row += 1
        self.reason = reason
        if self.failures_in_row >= max(1, quarantine_after):
            self.state = "quarantined"
            self.reason = f"{self.failures_in_row} failed lease(s) in a row; last: {reason}"
            self._close()
            return {"status": "quarantined", "reason": self.reason}
        return {"status": "unhealthy", "reason": reason}

    def _open(self, submission: str, settings: dict[str, Any]) -> None:
        """A harness and an open session for this submission (a new submission starts afresh)."""
        if self._submission == submission and self._harness is not None:
            return
        self._close()
        from ..harness import DeviceSession, Harness, Settings, _safe_info

        self._tmp = tempfile.TemporaryDirectory(prefix="edgebench-farm-")
        harness = Harness(RowCollector(), self.profile, Settings(**settings),  # type: ignore[arg-type]
                          cache=ShippedArtifacts(Path(self._tmp.name)))
        harness.run_id = 0  # rows carry no run id: the submitter's store numbers its own runs
        session = DeviceSession(self.profile, harness.transport)
        self._harness, self._submission = harness, submission
        try:
            session.open()
        except BaseException:
            self._close()
            raise
        self._session = session
        self.info = _safe_info(harness.transport)

    def _close(self) -> None:
        session, harness, tmp = self._session, self._harness, self._tmp
        self._session = self._harness = self._tmp = self._submission = None
        try:
            if session is not None:
                session.close()
        except Exception:  # noqa: BLE001  a device gone away leaves nothing to clean
            pass
        finally:
            if harness is not None:
                harness._cleanup()
            if tmp is not None:
                tmp.cleanup()


def _job(spec: dict[str, Any]) -> Any:
    """A planning Job from the names the submitter sent (this node has the same plugins installed)."""
    from ..planning import Job
    from ..plugins import backends, models

    return Job(models.get(spec["model"]), backends.get(spec["backend"]), spec["precision"], spec["delegate"],
               threads=spec.get("threads"), affinity=spec.get("affinity"), baseline_for=spec.get("baseline_for"))


def _host_info() -> dict[str, Any]:
    from ..harness import _host_info as info

    return info() | {"farm_node": _node_ip()}


def _node_ip() -> str:
    import ray

    return ray.util.get_node_ip_address()


def register(ray: Any, device_id: str, profile: DeviceProfile, host: str) -> Any:
    """Create (or find) the device's detached actor on this node, pinned by its custom resource."""
    from . import DEVICE_ACTOR, DEVICE_RESOURCE, NAMESPACE, FarmError

    try:  # a live actor of that id is another host's device (or this one already joined): never share it
        existing = ray.get_actor(DEVICE_ACTOR + device_id, namespace=NAMESPACE)
        ray.get(existing.describe.remote(), timeout=15)
    except Exception:  # noqa: BLE001  none, or its node is gone: the id is free
        pass
    else:
        raise FarmError(f"device {device_id} is already in the farm (another host joined with the same "
                        f"--host, or this one already offers it)")
    fields = dataclasses.asdict(profile)
    fields["source"] = None  # a path on this host: meaningless elsewhere
    actor = ray.remote(DeviceLease).options(
        name=DEVICE_ACTOR + device_id, namespace=NAMESPACE, lifetime="detached",
        num_cpus=0, max_concurrency=4, resources={DEVICE_RESOURCE + device_id: 1},
    ).remote(device_id, fields, host)
    ray.get(actor.describe.remote(), timeout=120)  # placed and answering
    return actor
