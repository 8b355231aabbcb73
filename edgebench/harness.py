"""One measurement path for every device: export (cached) -> deploy -> run the runner -> store.

The host is measured like a phone: the ``local`` transport starts the stand-alone runner in its
own process. Each result is committed as soon as it is measured.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import __version__, stats
from .api import Artifact, NativeJob, Transport
from .artifacts import ArtifactCache
from .devices import DeviceProfile
from .errors import ArtifactError, BackendUnavailable, DeviceError, EdgebenchError, ExportError
from .planning import CPU_DELEGATES, Job, Plan, Skip, _default_delegate, plan  # noqa: F401  (re-exported)
from .provenance import check_full_delegation, provenance_warnings
from .store import Store
from .util import last_line

RUNNER = Path(__file__).with_name("runner.py")
BEGIN, END = "@@EDGEBENCH_RESULT_BEGIN@@", "@@EDGEBENCH_RESULT_END@@"


@dataclass
class Settings:
    """How to measure. Defaults follow MAI 2022: a 360x640 input (-> 1080x1920 at x3)."""

    height: int = 360
    width: int = 640
    warmup: int = 3
    runs: int = 10
    min_time: float = 0.0
    max_time: float = 120.0
    cooldown: float = 0.0
    cool_to: float | None = None  # wait before each measurement until the device is below this (°C)
    cool_timeout: float = 300.0  # ... but no longer than this (s); a run that starts hot is flagged
    threads: int | None = None  # None: the device profile's
    dataset: str = "bundled"
    quality_images: int | None = None  # None: all images of the dataset
    quality: bool = True
    timeout: float = 900.0
    require_full_delegation: bool = False  # partial delegation fails instead of being stored and marked
    smoke_test: bool = False  # --quick: stored, never ranked (not `quick`: that name is the preset below)
    cpu_baseline: bool = True  # a delegate job also measures the CPU path of the same artifact
    conditions: bool = True  # load, frequencies, battery... before and after each result
    # a power meter, METER[:OPTIONS] (`run --power`, which the edgebench_power plugin adds, sets $EDGEBENCH_POWER)
    power: str | None = field(default_factory=lambda: os.environ.get("EDGEBENCH_POWER") or None)

    @classmethod
    def quick(cls, **overrides: Any) -> "Settings":
        """A tiny configuration for tests and smoke runs."""
        base = dict(height=48, width=64, warmup=1, runs=6, quality_images=2, smoke_test=True)
        base.update(overrides)
        return cls(**base)


class Reporter(Protocol):
    """What the harness tells its caller (the CLI draws a progress bar from it)."""

    def phase(self, job: Job, text: str) -> None: ...
    def done(self, job: Job, row: dict[str, Any]) -> None: ...
    def failed(self, job: Job, message: str) -> None: ...


class SilentReporter:
    def phase(self, job: Job, text: str) -> None:
        pass

    def done(self, job: Job, row: dict[str, Any]) -> None:
        pass

    def failed(self, job: Job, message: str) -> None:
        pass

    def note(self, job: Job, text: str) -> None:
        pass


def _safe_name(name: str) -> str:
    """A file name that is one harmless word on any device shell (arguments are quoted anyway)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class DeviceSession:
    """A connected device with a scratch dir; files are pushed once per session."""

    def __init__(self, profile: DeviceProfile, transport: Transport):
        self.profile, self.transport = profile, transport
        self.workdir = ""
        self._pushed: dict[str, str] = {}

    def open(self) -> None:
        self.transport.open()
        self.workdir = self.transport.make_workdir()
        self.push(RUNNER, "runner.py")

    def remote(self, name: str) -> str:
        return f"{self.workdir.rstrip('/')}/{name}"

    def push(self, local: Path, name: str) -> str:
        key = f"{local}|{name}"
        if key not in self._pushed:
            self.transport.push(Path(local), self.remote(name))
            self._pushed[key] = self.remote(name)
        return self._pushed[key]

    def close(self) -> None:
        try:
            if self.workdir:
                self.transport.remove(self.workdir)
        except EdgebenchError:
            pass  # the device went away; nothing left to clean
        finally:
            self.transport.close()


class Harness:
    def __init__(
        self,
        store: Store,
        profile: DeviceProfile,
        settings: Settings | None = None,
        cache: ArtifactCache | None = None,
        reporter: Reporter | None = None,
        transport: Transport | None = None,
    ):
        self.store, self.profile = store, profile
        self.settings = settings or Settings()
        self.cache = cache or ArtifactCache()
        self.reporter = reporter or SilentReporter()
        self.transport = transport or profile.transport_obj()
        self.failures: list[str] = []  # "<job label>: <why>", one per job that could not run
        self.failed: list[tuple[str, str]] = []  # the same as (job label, why): the CLI groups them by cause
        self.dataset_warnings: list[str] = []  # "x.png (cannot identify image file)": images left out
        self.run_id: int | None = None
        self._quality: dict[int, tuple[str, list[np.ndarray], Path]] = {}
        self._low_res: dict[int, list[np.ndarray]] = {}
        self._baseline: dict[int, float] = {}
        self._masks: dict[str, str] = {}
        self._python: Any = None  # the device's Python, probed when a native-capable backend first asks
        self._tmp: tempfile.TemporaryDirectory[str] | None = None  # made when first needed, removed by run()
        self._meter: Any = None  # the run's power meter (settings.power), checked once the device is open
        self.stop: Any = None  # a threading.Event: set, the run ends before its next job (multi-device Ctrl-C)

    @property
    def tmpdir(self) -> Path:
        """This harness's scratch folder on the host (quality inputs, job files, pulled outputs)."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="edgebench-")
        return Path(self._tmp.name)

    def _cleanup(self) -> None:
        """Remove the scratch folder (and forget the quality inputs written there)."""
        tmp, self._tmp = self._tmp, None
        self._quality.clear()
        self._low_res.clear()
        if tmp is not None:
            tmp.cleanup()

    def load_datasets(self, jobs: list[Job]) -> None:
        """Load the quality images the jobs need, before anything is stored or measured: a bad
        ``--dataset`` raises here (unreadable images are left out and listed in ``dataset_warnings``);
        :meth:`run` then reuses them."""
        if not self.settings.quality:
            return
        try:
            for scale in sorted({job.model.scale for job in jobs}):
                self._quality_set(scale)
        except BaseException:
            self._cleanup()
            raise

    @property
    def threads(self) -> int:
        return self.settings.threads if self.settings.threads is not None else self.profile.threads

    def threads_for(self, job: Job) -> int:
        return job.threads if job.threads is not None else self.threads

    def affinity_for(self, job: Job) -> str | None:
        """The hex core mask the job runs on (None: not pinned), resolved when the session opened."""
        spec = job.affinity if job.affinity is not None else self.profile.affinity
        return self._masks.get(spec) if spec else None

    def _resolve_affinities(self, jobs: list[Job]) -> dict[str, Any]:
        """Discover the device's core clusters and check every mask the jobs name, before measuring."""
        specs = {j.affinity for j in jobs if j.affinity} | ({self.profile.affinity} if self.profile.affinity else set())
        if not specs:
            return {}
        from .cpus import describe, discover, resolve_affinity

        clusters = discover(self.transport)
        for spec in sorted(specs):
            self._masks[spec] = resolve_affinity(spec, clusters, self.profile.name)
        return {"clusters": describe(clusters)}

    def run(self, jobs: list[Job], argv: list[str] | None = None) -> int:
        """Measure every job, storing each result at once. Returns the run id."""
        session = DeviceSession(self.profile, self.transport)
        self.run_id = self.store.start_run(
            self.profile.name, settings=asdict(self.settings) | {"threads_effective": self.threads},
            edgebench_version=__version__, git_sha=git_sha(), plugins=_plugin_versions(),
            argv=argv or [], host_info=_host_info())
        status = "failed"
        try:
            # a bad dataset fails the run once, before anything is measured (the CLI checks it before
            # the run is even stored: load_datasets)
            self.load_datasets(jobs)
            session.open()
            cores = self._resolve_affinities(jobs)  # a mask naming absent cores fails here, with one line
            self.store.update_run(self.run_id, device_info=_safe_info(self.transport) | cores)
            if self.settings.power:  # a meter that cannot measure refuses the run here, with one line
                from .energy import make_meter

                self._meter = make_meter(self.settings.power, self.transport)
                self._meter.check()
            for job in jobs:
                if self.stop is not None and self.stop.is_set():
                    raise KeyboardInterrupt  # stored 'interrupted', like a Ctrl-C in a single-device run
                try:
                    self.measure(job, session)
                except (ExportError, ArtifactError, BackendUnavailable) as exc:
                    # this model/backend cannot run: say so and carry on with the others
                    self.failures.append(f"{job.label}: {exc}")
                    self.failed.append((job.label, str(exc)))
                    self.reporter.failed(job, str(exc))
            # a run that stored nothing did not finish anything
            status = "finished" if self.store.count_run(self.run_id) else "failed"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            try:
                self.store.finish_run(self.run_id, status)
            finally:
                try:
                    session.close()
                finally:
                    self._cleanup()
        return self.run_id

    # -- one job ------------------------------------------------------------------------------
    def measure(self, job: Job, session: DeviceSession) -> dict[str, Any]:
        assert self.run_id is not None
        self.reporter.phase(job, "export")
        artifact = self.cache.get(job.model, job.backend, job.precision,
                                  on_export=lambda: self.reporter.phase(job, "exporting"),
                                  on_corrupt=lambda message: self._note(job, message))
        cooled = self._cool_down(job, session)
        inputs = None
        if self.settings.quality:
            self._quality_set(job.model.scale)
            inputs = self._low_res[job.model.scale]
        before = self._conditions()
        power = self._power_begin(job)  # the meter's idle window, before the runner or the native tool starts
        try:
            native = job.backend.measure_native(NativeJob(
                self.transport, artifact, job.delegate, self.threads_for(job), {"settings": asdict(self.settings)},
                quality_inputs=inputs, affinity=self.affinity_for(job), device_python=self.device_python,
                export_variant=lambda variant: self._variant(job, variant)))
            if native is None:
                self.reporter.phase(job, "measuring")
                result, outputs = self._run_runner(job, artifact, session, affinity=self.affinity_for(job))
            else:  # the tool's own quality pass, when it can run the images on the device
                result, outputs = native, native.pop("outputs", None)
        except BaseException:
            if power is not None:
                power.abort()
            raise
        if power is not None:  # the timed region: the runner's stamps, or a native tool's exit stamp
            self._power_end(job, power, result)
        quality = self._score(job, outputs) if outputs is not None else None
        if native is not None:
            if outputs is not None:
                result["quality_on"] = "device"
            elif self.settings.quality:  # the tool cannot: the same artifact on this machine's CPU, said so
                self.reporter.phase(job, "quality on host cpu")
                quality = self._host_quality(job, artifact)
                result["quality_on"] = "host-cpu"
        check_full_delegation(job.delegate, result, self.settings.require_full_delegation, self.profile.name)
        if before is not None:
            result["conditions"] = self._judge(before, result)
        row = self._row(job, artifact, result, quality, cooled)
        self.store.add_result(self.run_id, row)
        self.reporter.done(job, row)
        return row

    def _power_begin(self, job: Job) -> Any:
        """Start the run's power meter and wait out its idle window (None without ``--power``)."""
        if self._meter is None:
            return None
        from .energy import PowerSession
        from .errors import PowerMeterError

        self.reporter.phase(job, f"idle power ({self._meter.name})")
        power = PowerSession(self._meter, self.transport)
        try:
            power.begin()
        except PowerMeterError as exc:  # e.g. the meter lost earlier in the run: measure without it
            power.abort()
            self._note(job, f"{exc}: measured without energy")
            return None
        return power

    def _power_end(self, job: Job, power: Any, result: dict[str, Any]) -> None:
        """Energy per inference into ``result``; a meter that failed costs the energy, never the latency."""
        from .errors import PowerMeterError

        try:
            result["energy"] = power.finish(result)
        except PowerMeterError as exc:
            result["energy_error"] = str(exc)
            self._note(job, str(exc))
            return
        from .energy import describe

        self._note(job, describe(result["energy"]))

    def device_python(self) -> Any:
        """What the profile's Python can run on the device, probed once per run (see device_python)."""
        if self._python is None:
            from .device_python import probe
            from .plugins import backends

            modules = {b.runtime_module for b in backends.all().values() if b.runtime_module}
            self._python = probe(self.transport, self.profile.python, modules)
        return self._python

    def _variant(self, job: Job, backend: Any) -> Artifact:
        """The job's model and precision exported by a variant of its backend (a native tool's need)."""
        self.reporter.phase(job, "export")
        return self.cache.get(job.model, backend, job.precision,
                              on_export=lambda: self.reporter.phase(job, "exporting for the native tool"),
                              on_corrupt=lambda message: self._note(job, message))

    def _note(self, job: Job, text: str) -> None:
        """A line the user should read (a corrupt cache entry re-exported); reporters without ``note`` skip it."""
        note = getattr(self.reporter, "note", None)
        if note is not None:
            note(job, text)

    def _conditions(self) -> dict[str, Any] | None:
        """A snapshot of the device's load, frequencies, temperatures (and battery on a phone)."""
        if not self.settings.conditions:
            return None
        from .conditions import snapshot

        try:
            return snapshot(self.transport, android=self.profile.transport == "adb")
        except EdgebenchError as exc:  # the measurement decides whether the device is gone, not this
            return {"error": str(exc)}

    def _judge(self, before: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        from .conditions import judge

        after = self._conditions() or {}  # a device lost after measuring keeps its result
        return judge(before, after, own_pid=(result.get("env") or {}).get("pid"), window=result.get("load"))

    def _cool_down(self, job: Job, session: DeviceSession) -> dict[str, Any] | None:
        """Wait until the device is below ``cool_to`` (when asked and the profile has thermal zones)."""
        if self.settings.cool_to is None or not self.profile.thermal:
            return None
        from .thermal import cool_down

        self.reporter.phase(job, f"cooling below {self.settings.cool_to:g} °C")
        return cool_down(session.transport, self.settings.cool_to, self.settings.cool_timeout).to_dict()

    def _quality_set(self, scale: int) -> tuple[str, list[np.ndarray], Path]:
        if scale not in self._quality:
            from .data import dataset_pairs

            from .quality import bicubic_upscale, score_images

            skipped: list[str] = []  # unreadable images: left out, said once (a folder serves every scale)
            label, pairs = dataset_pairs(self.settings.dataset, scale, self.settings.quality_images, skipped=skipped)
            self.dataset_warnings += [w for w in skipped if w not in self.dataset_warnings]
            # the floor every model must beat on these very images (the board flags rows below it)
            self._baseline[scale] = score_images([bicubic_upscale(lr, scale) for lr, _ in pairs],
                                                 [hr for _, hr in pairs], scale)["psnr"]
            npz = self.tmpdir / f"inputs-x{scale}.npz"
            np.savez(npz, **{f"img{i:04d}": lr for i, (lr, _) in enumerate(pairs)})
            self._quality[scale] = (label, [hr for _, hr in pairs], npz)
            self._low_res[scale] = [lr for lr, _ in pairs]
        return self._quality[scale]

    def _run_runner(
        self, job: Job, artifact: Artifact, session: DeviceSession, timing_only: bool = False,
        affinity: str | None = None,
    ) -> tuple[dict[str, Any], list[np.ndarray] | None]:
        s = self.settings
        backend = job.backend
        name = _safe_name(artifact.path.name)
        session.push(artifact.path, name)
        adapter = f"adapter_{_safe_name(backend.name)}.py"
        session.push(backend.adapter_path(), adapter)
        tag = _safe_name(f"{job.model.name}-{backend.name}-{job.precision}-{job.delegate}")
        job_doc: dict[str, Any] = {
            "artifact": name, "adapter": adapter, "meta": artifact.meta, "delegate": job.delegate,
            "threads": self.threads_for(job), "scale": job.model.scale, "result": f"result-{tag}.json",
            "timing": {"height": s.height, "width": s.width, "warmup": s.warmup, "runs": s.runs,
                       "min_time": s.min_time, "max_time": s.max_time, "cooldown": s.cooldown},
            "quality": None,
        }
        if timing_only:
            job_doc["timing"].update(warmup=0, runs=1, min_time=0.0)
        if s.quality:
            _, _, npz = self._quality_set(job.model.scale)
            job_doc["quality"] = {"inputs": session.push(npz, npz.name).rsplit("/", 1)[-1],
                                  "outputs": f"outputs-{tag}.npz"}
        local_job = self.tmpdir / f"job-{tag}.json"
        local_job.write_text(json.dumps(job_doc))
        session.push(local_job, local_job.name)
        argv = [session.profile.python, "runner.py", local_job.name]
        if affinity:  # the host session of a native-tool device gets none: the phone's mask means nothing here
            argv = ["taskset", affinity, *argv]
        proc = session.transport.run(argv, timeout=self.settings.timeout, cwd=session.workdir)
        if proc.returncode != 0:
            reason = last_line(proc.stderr) or last_line(proc.stdout) or f"exit status {proc.returncode}"
            raise ArtifactError(f"{job.label} failed on device {session.profile.name!r}: {reason}")
        result = parse_runner_output(proc.stdout, session.profile.name)
        outputs = None
        if job_doc["quality"]:
            local_out = self.tmpdir / job_doc["quality"]["outputs"]
            session.transport.pull(session.remote(job_doc["quality"]["outputs"]), local_out)
            with np.load(local_out) as data:
                outputs = [data[k] for k in sorted(data.files)]
        return result, outputs

    def _host_quality(self, job: Job, artifact: Artifact) -> dict[str, Any] | None:
        """Quality from the identical artifact run on this machine's CPU, with its own Python and no
        core mask (for native-tool devices whose tool cannot return outputs)."""
        from .transports.local import LocalTransport

        host = DeviceProfile(name="host", transport="local", python="{python}", delegates=("cpu", "xnnpack"))
        if job.delegate not in host.delegates:  # same artifact, but the device's accelerator is not here
            job = Job(job.model, job.backend, job.precision, _default_delegate(job.backend, host))
        session = DeviceSession(host, LocalTransport(host))
        session.open()
        try:
            _, outputs = self._run_runner(job, artifact, session, timing_only=True)
        finally:
            session.close()
        return self._score(job, outputs) if outputs is not None else None

    def _score(self, job: Job, outputs: list[np.ndarray]) -> dict[str, Any]:
        from .quality import output_problem, score_images

        label, hrs, _ = self._quality_set(job.model.scale)
        scores = score_images(outputs, hrs, job.model.scale)
        return {**scores, "dataset": label, "n_images": len(hrs), "problem": output_problem(outputs),
                "baseline_psnr": self._baseline.get(job.model.scale)}

    def _row(self, job: Job, artifact: Artifact, result: dict[str, Any], quality: dict[str, Any] | None,
             cooled: dict[str, Any] | None = None) -> dict:
        if result.get("timings_ms"):
            summary = stats.summarize(result["timings_ms"], result.get("first_ms"))
        else:  # a native tool's own count/mean/std/percentiles: it prints no single run
            summary = result["summary"]
        thermal = dict(result.get("thermal") or {})
        if cooled is not None:
            thermal["cooldown"] = cooled
        warnings = stats.check(summary, thermal)
        warnings += provenance_warnings(result)
        conditions = result.get("conditions")
        if conditions:
            from .conditions import conditions_warnings

            warnings += conditions_warnings(conditions)
        if quality and quality.get("problem"):
            warnings.append(OUTPUT_PROBLEMS[quality["problem"]])
        memory = result.get("memory", {})
        base, after = memory.get("baseline", {}), memory.get("after_timing", memory.get("end", {}))
        peak = None
        if "VmHWM" in after and "VmHWM" in base:
            peak = (after["VmHWM"] - base["VmHWM"]) * 1024
        elif "peak_bytes" in memory:  # native tools report their own figure
            peak = memory["peak_bytes"]
        used = result.get("artifact") or {}  # a native tool ran a variant export (e.g. a fixed input size)
        row: dict[str, Any] = {
            "device": self.profile.name, "model": job.model.name, "backend": job.backend.name,
            # the delegate the output proves ran (a native tool can substitute another)
            "delegate": result.get("delegate", job.delegate), "precision": job.precision, "scale": job.model.scale,
            "params": job.model.params, "artifact_size": used.get("size", artifact.size),
            "artifact_sha": used.get("sha256", artifact.meta.get("sha256")), "input_h": self.settings.height,
            "input_w": self.settings.width, "threads": self.threads_for(job),
            "affinity": self.affinity_for(job), "quick": self.settings.smoke_test, "conditions": conditions,
            "init_ms": result.get("init_ms"), "timings": result["timings_ms"],
            "warmup": result.get("warmup_ms", []), "mem_peak_bytes": peak,
            "mem_source": memory.get("source", after.get("source", "VmHWM")), "memory": memory,
            "thermal": thermal, "runtime": result.get("runtime", {}),
            "environment": result.get("env", {}), "warnings": [w.to_dict() for w in warnings],
            "quality_on": result.get("quality_on", "device") if quality else None,
            "extra": {k: v for k, v in result.items()
                      if k in ("op_profile", "native", "quality_fallback", "artifact", "device_python")},
        }
        row.update({k: summary[k] for k in stats.SUMMARY_COLUMNS})
        if quality:
            row.update({k: quality[k] for k in ("psnr", "psnr_y", "ssim", "dataset", "n_images", "baseline_psnr")})
        if result.get("energy"):
            energy = result["energy"]
            row.update(energy_mj=energy["mj_per_frame"], energy_low_mj=energy["ci_low_mj"],
                       energy_high_mj=energy["ci_high_mj"], energy=energy)
        elif result.get("energy_error"):
            row["extra"]["energy_error"] = result["energy_error"]
        if job.baseline_for:
            row["extra"]["cpu_baseline_for"] = job.baseline_for
        if artifact.meta.get("reexported"):
            row["extra"]["cache"] = artifact.meta["reexported"]
        return row


OUTPUT_PROBLEMS = {  # measured on the outputs themselves: the row is flagged whatever its PSNR
    "nan-output": stats.Warning_("nan-output", "the output holds NaN", "an op overflowed: check fp16/int8 ranges"),
    "constant-output": stats.Warning_(
        "constant-output", "every output pixel has the same value: the network produced no picture",
        "likely a quantized op that saturates (PReLU, Resize) or a delegate that failed silently"),
}


def parse_runner_output(stdout: str, device: str) -> dict[str, Any]:
    """The runner's JSON result between its markers; a missing or broken block is an error."""
    start, end = stdout.rfind(BEGIN), stdout.rfind(END)
    if start < 0 or end < start:
        raise DeviceError(f"device {device!r}: the runner printed no result (output ended early)")
    try:
        result = json.loads(stdout[start + len(BEGIN):end].strip())
    except ValueError as exc:
        raise DeviceError(f"device {device!r}: the runner's result is not valid JSON ({exc})") from None
    if not result.get("timings_ms"):
        raise DeviceError(f"device {device!r}: the runner's result has no timings")
    return result


def git_sha(cwd: Path | None = None) -> str | None:
    """HEAD of the git repository the user runs edgebench from, if any."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _plugin_versions() -> dict[str, str]:
    from .plugins import plugin_rows

    return {row["name"]: row.get("version", "") for row in plugin_rows() if "error" not in row}


def _host_info() -> dict[str, Any]:
    from .transports.local import host_info

    return host_info()


def _safe_info(transport: Transport) -> dict[str, Any]:
    try:
        return transport.info()
    except EdgebenchError:
        raise
    except Exception as exc:  # device info is best effort
        return {"error": f"{type(exc).__name__}: {exc}"}
