"""``edgebench run --farm ADDRESS --device X``: place each job on a farm device that matches X.

The submitter plans the jobs, exports each (model, backend, precision) once and ships the bytes
through Ray's object store, then hands one job at a time to each matching idle device (a lease).
Every finished row is written at once to this host's store, in one run per farm device that
carries the node's host info. A device whose node dies mid-job loses its lease: the job is
re-queued once on another matching device, or reported. Nothing that finished is lost: rows only
exist once they are stored here.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import deque
from dataclasses import asdict
from types import SimpleNamespace
from typing import Any, Callable

import click

from ..devices import DeviceProfile
from . import FarmError, connect, describe_devices

MOVES = 1  # a job whose node died is re-queued this many times, then reported


def matches(device: dict[str, Any], spec: str) -> bool:
    """A device answers to its id (``pixel@lab2``), its profile name, its profile's ``keys`` (a SoC,
    a model) and the model / SoC its transport reported, case-insensitively."""
    info = device.get("info") or {}
    names = {device["id"], device["name"], *device.get("keys", ()),
             *(str(info[k]) for k in ("model", "soc", "hardware", "board") if info.get(k))}
    return spec.strip().lower() in {str(n).strip().lower() for n in names}


def job_spec(job: Any) -> dict[str, Any]:
    """What a node needs to rebuild the job from its own plugins."""
    return {"model": job.model.name, "backend": job.backend.name, "precision": job.precision,
            "delegate": job.delegate, "threads": job.threads, "affinity": job.affinity,
            "baseline_for": job.baseline_for, "label": job.label}


def run_on_farm(ctx: click.Context, address: str, specs: list[str], plan_for: Callable[[DeviceProfile], Any],
                settings: Any, *, quarantine_after: int = 3) -> None:
    """Measure the jobs ``plan_for`` gives for each device request in ``specs`` on the farm at ``address``;
    exits 1 when a job found no healthy device or nothing was stored, 130 on Ctrl-C."""
    from ..cli import _console, _failure_lines, _store

    if getattr(settings, "power", None):  # the meter hangs off this host, not off the farm's devices
        raise FarmError("--power measures a device on this host: it does not apply to --farm runs")
    ray = connect(address)
    devices, gone = describe_devices(ray)
    by_id = {d["id"]: d for d in devices}
    wanted: dict[str, list[str]] = {}  # spec -> ids of the matching devices that can take leases
    for spec in specs:
        found = [d for d in devices if matches(d, spec)]
        if not found:
            listed = ", ".join(sorted(by_id)) or "none registered (edgebench farm join)"
            raise FarmError(f"no device in the farm at {address} matches {spec!r}; devices: {listed}")
        usable = [d for d in found if d["state"] != "quarantined"]
        for d in found:
            if d["state"] == "quarantined":
                click.secho(f"Skipped: device {d['id']} is quarantined: {d['reason']} "
                            f"(edgebench farm release {d['id']})", fg="yellow", err=True)
        if not usable:
            raise FarmError(f"every device matching {spec!r} is quarantined (see edgebench farm status)")
        wanted[spec] = [d["id"] for d in usable]
    for device_id, why in gone:
        click.secho(f"Warning: device {device_id} does not answer ({why}): its node is gone", fg="yellow", err=True)

    # plan each request against the profile of a device it matched (delegates, threads, affinity)
    queues: dict[str, deque[dict[str, Any]]] = {}
    jobs_by_key: dict[tuple[str, str, str], Any] = {}
    for spec, ids in wanted.items():
        profile = _profile(by_id[ids[0]]["profile"])
        jobs = plan_for(profile)
        for skip in jobs.skipped:
            click.secho(f"Skipped: {spec}: {skip.reason}: {skip.jobs} job(s)", fg="yellow", err=True)
        queues[spec] = deque({"job": job_spec(job), "moves": 0} for job in jobs)
        for job in jobs:
            jobs_by_key.setdefault((job.model.name, job.backend.name, job.precision), job)

    store = _store(ctx)
    console = _console(stderr=True)
    failed: list[tuple[str, str]] = []  # (job label, why): jobs that cannot run, as on one device
    lost: list[tuple[str, str]] = []  # jobs no device could finish (node died twice, all quarantined)
    shipments = _ship(ray, jobs_by_key, failed)
    for spec, queue in queues.items():  # jobs whose artifact could not be made never leave here
        kept = [item for item in queue if _key(item["job"]) in shipments]
        queue.clear()
        queue.extend(kept)

    submission = uuid.uuid4().hex[:12]
    from .queue import queue_actor

    record = queue_actor(ray)
    runs: dict[str, int] = {}  # device id -> run id in this store
    started = {device_id: 0.0 for ids in wanted.values() for device_id in ids}
    busy: dict[Any, tuple[str, str, dict[str, Any]]] = {}  # ref -> (device id, spec, queued item)
    dead: set[str] = set()
    settings_dict = asdict(settings)
    from ..device_progress import DeviceLines

    def report_queue() -> None:
        record.report.remote(submission, {"host": _hostname(), "address": address, "queued": {
            s: len(q) for s, q in queues.items()}, "running": {d: item["job"]["label"] for d, _, item in busy.values()}})

    try:
        with DeviceLines(console) as lines:
            # jobs go to whichever matching device is free first: no per-device total is known
            line = {device_id: lines.reporter(device_id, None) for device_id in started}
            while True:
                for spec, queue in queues.items():  # give each idle matching device the next job
                    for device_id in wanted[spec]:
                        if not queue:
                            break
                        if device_id in dead or any(d == device_id for d, _, _ in busy.values()):
                            continue
                        item = queue.popleft()
                        job = item["job"]
                        line[device_id].phase(SimpleNamespace(label=job["label"]), "leased")
                        ref = by_id[device_id]["actor"].measure.remote(
                            submission, job, settings_dict, shipments[_key(job)], quarantine_after)
                        busy[ref] = (device_id, spec, item)
                        started[device_id] = started[device_id] or time.monotonic()
                    if queue and all(d in dead for d in wanted[spec]):  # nobody left to take them
                        while queue:
                            item = queue.popleft()
                            lost.append((item["job"]["label"], f"no device left matching {spec!r}"))
                report_queue()
                if not busy:
                    break
                ready, _ = ray.wait(list(busy), num_returns=1, timeout=2.0)
                for ref in ready:
                    device_id, spec, item = busy.pop(ref)
                    label = item["job"]["label"]
                    try:
                        answer = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # a bug under the job, the device still there
                        cause = str(exc.cause if getattr(exc, "cause", None) else exc).strip().splitlines()
                        failed.append((label, f"{type(getattr(exc, 'cause', exc)).__name__}: {cause[-1] if cause else ''}"))
                        line[device_id].failed(SimpleNamespace(label=label), f"{label}: {failed[-1][1]}")
                        continue
                    except Exception as exc:  # the node or its actor died: the lease is lost, the job is not
                        dead.add(device_id)
                        line[device_id].finish(f"gone ({type(exc).__name__})")
                        alive = [d for d in wanted[spec] if d not in dead]
                        if item["moves"] < MOVES and alive:
                            item["moves"] += 1
                            queues[spec].appendleft(item)
                            click.secho(f"  ! {device_id} died during {label}: re-queued on {spec!r}",
                                        fg="yellow", err=True)
                        else:
                            lost.append((label, f"device {device_id} died during the job ({type(exc).__name__})"))
                        continue
                    status = answer["status"]
                    if status == "done":
                        run_id = runs.get(device_id)
                        if run_id is None:
                            run_id = runs[device_id] = _start_run(store, by_id[device_id], answer, settings_dict,
                                                                  address)
                        for row in answer["rows"]:
                            row.setdefault("extra", {})["farm"] = {"device": device_id,
                                                                   "node": answer["host_info"].get("farm_node")}
                            store.add_result(run_id, row)  # stored the moment it arrives
                            line[device_id].done(SimpleNamespace(label=label), row)
                    elif status == "failed":  # the job cannot run anywhere (an export, a runtime): say so
                        failed.append((label, answer["reason"]))
                        line[device_id].failed(SimpleNamespace(label=label), f"{label}: {answer['reason']}")
                    else:  # unhealthy or quarantined: the job goes back for a healthy device
                        queues[spec].appendleft(item)
                        click.secho(f"  ! {device_id}: {answer['reason']}", fg="yellow", err=True)
                        if status == "quarantined":
                            dead.add(device_id)
                            line[device_id].finish("quarantined")
            for device_id in started:
                if device_id not in dead:
                    line[device_id].finish("done")
    except KeyboardInterrupt:
        _finish(store, runs, "interrupted")
        _end(ray, by_id, runs, submission, record)
        kept = sum(store.count_run(r) for r in runs.values())
        click.secho(f"Interrupted: {kept} finished result(s) kept in {store.path}", fg="yellow", err=True)
        sys.exit(130)
    _finish(store, runs, None)
    _end(ray, by_id, started, submission, record)

    for line_text in _failure_lines(failed) + _failure_lines(lost):
        click.secho(line_text, fg="yellow", err=True)
    total = 0
    for device_id, run_id in sorted(runs.items()):
        count = store.count_run(run_id)
        total += count
        click.echo(f"{device_id}: run {run_id}: {count} result(s)", err=True)
    click.echo(f"{total} result(s) stored in {store.path}", err=True)
    if lost or not total:
        if lost:
            click.secho(f"Failed: {len(lost)} job(s) found no healthy device", fg="red", err=True)
        sys.exit(1)


def _key(job: dict[str, Any]) -> tuple[str, str, str]:
    return job["model"], job["backend"], job["precision"]


def _profile(fields: dict[str, Any]) -> DeviceProfile:
    fields = dict(fields)
    fields["source"] = None
    fields["delegates"] = tuple(fields.get("delegates", ("cpu",)))
    fields["keys"] = tuple(fields.get("keys", ()))
    return DeviceProfile(**fields)


def _ship(ray: Any, jobs: dict[tuple[str, str, str], Any], failed: list[tuple[str, str]]) -> dict[tuple[str, str, str], Any]:
    """Export each artifact once here and put its bytes in the object store: key -> ObjectRef."""
    from ..artifacts import ArtifactCache
    from ..errors import ArtifactError, BackendUnavailable, ExportError

    cache = ArtifactCache()
    out = {}
    for key, job in jobs.items():
        try:
            artifact = cache.get(job.model, job.backend, job.precision,
                                 on_export=lambda: click.echo(f"Exporting {' '.join(key)}...", err=True))
        except (ExportError, ArtifactError, BackendUnavailable) as exc:
            failed.append((" ".join(key), str(exc)))
            continue
        out[key] = ray.put({"data": artifact.path.read_bytes(), "meta": artifact.meta, "file": artifact.path.name})
    return out


def _start_run(store: Any, device: dict[str, Any], answer: dict[str, Any], settings: dict[str, Any], address: str) -> int:
    from .. import __version__
    from ..harness import _plugin_versions, git_sha

    run_id = store.start_run(device["name"], settings=settings, edgebench_version=__version__, git_sha=git_sha(),
                             plugins=_plugin_versions(), argv=sys.argv, host_info=answer["host_info"])
    store.update_run(run_id, device_info=dict(answer.get("info") or {}) | {
        "farm": {"device": device["id"], "address": address, "node": answer["host_info"].get("farm_node")}})
    return run_id


def _finish(store: Any, runs: dict[str, int], status: str | None) -> None:
    for run_id in runs.values():
        store.finish_run(run_id, status or ("finished" if store.count_run(run_id) else "failed"))


def _end(ray: Any, by_id: dict[str, Any], devices: Any, submission: str, record: Any) -> None:
    """Let each device close its session; a device whose node is gone needs nothing."""
    for device_id in devices:
        try:
            by_id[device_id]["actor"].end.remote(submission)
        except Exception:  # noqa: BLE001
            pass
    try:
        ray.get(record.done.remote(submission), timeout=10)
    except Exception:  # noqa: BLE001  the record is informational
        pass


def _hostname() -> str:
    import platform

    return platform.node()
