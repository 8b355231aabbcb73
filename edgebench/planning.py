"""What `edgebench run` will measure: every (model, backend, precision, delegate) × setting a device
and its backends support, each accelerator job followed by its CPU baseline, and what was left out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .api import Backend, ModelSpec
from .devices import DeviceProfile
from .errors import BackendUnavailable


@dataclass
class Job:
    model: ModelSpec
    backend: Backend
    precision: str
    delegate: str
    threads: int | None = None  # None: --threads / the profile's
    affinity: str | None = None  # a core-mask spec (big, f0, 4-7); None: the profile's
    baseline_for: str | None = None  # the delegate this CPU job is the baseline of

    @property
    def label(self) -> str:
        setting = "".join(f" {v}" for v in (self.affinity and f"cores:{self.affinity}",
                                            self.threads is not None and f"threads:{self.threads}") if v)
        return f"{self.model.name} {self.backend.name} {self.precision} {self.delegate}{setting}"


@dataclass(frozen=True)
class Skip:
    """A combination the plan leaves out: why, and how many jobs (models × settings × ...) it stood for."""

    reason: str
    jobs: int


class Plan(list[Job]):  # callers iterate, count and slice it as before
    """The jobs to measure, plus ``skipped``: what cannot run (a precision or delegate a backend or the
    device lacks), one :class:`Skip` per reason."""

    def __init__(self, jobs: Iterable[Job] = (), skipped: Iterable[Skip] = ()):
        super().__init__(jobs)
        self.skipped: list[Skip] = list(skipped)


def plan(
    models: Iterable[ModelSpec],
    backends: Iterable[Backend],
    precisions: Iterable[str],
    delegates: Iterable[str] | None,
    profile: DeviceProfile,
    settings: Iterable[tuple[str | None, int | None]] | None = None,
    cpu_baseline: bool = True,
) -> Plan:
    """Every (model, backend, precision, delegate) × setting to measure, checked against what each supports.

    ``settings`` are (affinity spec, threads) pairs (None: the profile's). With ``cpu_baseline``, a job
    on an accelerator delegate is followed by the same artifact on the CPU delegate, unless the plan
    measures that already: a delegate is only worth it when it beats the CPU.

    A combination a backend or the device cannot run (an fp32-only backend asked for int8, a delegate
    one backend of several lacks) is left out and counted in ``Plan.skipped``; when nothing at all can
    run, BackendUnavailable says why in one line.
    """
    jobs: list[Job] = []
    skipped: dict[str, int] = {}
    models, grid = list(models), list(settings or [(None, None)])
    precisions, wanted = list(precisions), list(delegates) if delegates else None

    def skip(reason: str, count: int) -> None:
        skipped[reason] = skipped.get(reason, 0) + count

    for backend in backends:
        try:
            backend_delegates = wanted or [_default_delegate(backend, profile)]
        except BackendUnavailable as exc:
            skip(str(exc), len(models) * len(precisions) * len(grid))
            continue
        for delegate in backend_delegates:
            if delegate not in backend.delegates:
                skip(f"backend {backend.name!r} has no delegate {delegate!r}; it offers: {', '.join(backend.delegates)}",
                     len(models) * len(precisions) * len(grid))
                continue
            if delegate not in profile.delegates:
                skip(f"delegate {delegate!r} is not available on device {profile.name!r} "
                     f"(its profile lists: {', '.join(profile.delegates)})", len(models) * len(precisions) * len(grid))
                continue
            for precision in precisions:
                if precision not in backend.precisions:
                    skip(f"backend {backend.name!r} has no {precision}", len(models) * len(grid))
            for model in models:
                for precision in precisions:
                    if precision in backend.precisions:
                        jobs += [Job(model, backend, precision, delegate, threads, affinity)
                                 for affinity, threads in grid]
    if not jobs and skipped:
        raise BackendUnavailable("; ".join(skipped))
    return Plan(_with_cpu_baselines(jobs, profile) if cpu_baseline else jobs,
                [Skip(reason, count) for reason, count in skipped.items()])


CPU_DELEGATES = ("xnnpack", "cpu")  # in order of preference: XNNPACK is the CPU path phones ship


def _with_cpu_baselines(jobs: list[Job], profile: DeviceProfile) -> list[Job]:
    """After each accelerator job, the same model, backend, precision and setting on the CPU."""
    def key(job: Job) -> tuple:
        return job.model.name, job.backend.name, job.precision, job.threads, job.affinity

    have = {key(j) for j in jobs if j.delegate in CPU_DELEGATES}
    out: list[Job] = []
    for job in jobs:
        out.append(job)
        if job.delegate in CPU_DELEGATES or key(job) in have:
            continue
        cpu = next((d for d in CPU_DELEGATES if d in job.backend.delegates and d in profile.delegates), None)
        if cpu is not None:
            out.append(Job(job.model, job.backend, job.precision, cpu, job.threads, job.affinity,
                           baseline_for=job.delegate))
            have.add(key(job))
    return out


def _default_delegate(backend: Backend, profile: DeviceProfile) -> str:
    for delegate in backend.delegates:
        if delegate in profile.delegates:
            return delegate
    raise BackendUnavailable(
        f"backend {backend.name!r} offers delegates {', '.join(backend.delegates)}, none of which "
        f"device {profile.name!r} lists ({', '.join(profile.delegates)})")
