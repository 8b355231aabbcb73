"""Measure a .tflite artifact with TensorFlow's native ``benchmark_model`` over a transport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench import NativeJob
from edgebench.errors import ArtifactError, BackendUnavailable

from .benchmark_model import BenchmarkOutputError, parse, to_result

DELEGATE_FLAGS = {
    "cpu": ["--use_xnnpack=false"],
    "xnnpack": ["--use_xnnpack=true"],
    "nnapi": ["--use_xnnpack=false", "--use_nnapi=true"],
    "gpu": ["--use_xnnpack=false", "--use_gpu=true"],
}
NOT_AVAILABLE = ("unsupported", "not supported", "failed to create", "could not create", "delegate is not available",
                 "unrecognized flag", "is not a valid flag", "failed to apply")


def model_nodes(path: Path) -> int | None:
    """Nodes of the artifact's default subgraph (what the delegate line's "out of M" counts)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interpreter = Interpreter(model_path=str(path),
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        return int(interpreter._interpreter.NumNodes())
    except Exception:
        return None


def benchmark_argv(binary: str, model: str, job: NativeJob, settings: dict[str, Any], affinity: str | None) -> list[str]:
    meta = job.artifact.meta
    argv = [binary, f"--graph={model}", f"--num_threads={job.threads or -1}",
            f"--warmup_runs={max(int(settings.get('warmup', 3)), 1)}", f"--num_runs={max(int(settings.get('runs', 10)), 1)}",
            f"--min_secs={float(settings.get('min_time', 0.0))}", f"--max_secs={float(settings.get('max_time', 120.0))}",
            "--enable_op_profiling=true", *DELEGATE_FLAGS[job.delegate]]
    size = [settings.get("height"), settings.get("width")]
    for key, shape in meta.get("signatures", {}).items():
        if list(shape) == size and key != meta.get("default_signature"):
            argv.append(f"--signature_to_run_for={key}")
    return ["taskset", affinity, *argv] if affinity else argv


def _delegate_missing(job: NativeJob, text: str) -> str | None:
    if job.delegate in ("cpu", "xnnpack"):
        return None
    lower = text.lower()
    for needle in NOT_AVAILABLE:
        if needle in lower:
            line = next((ln for ln in text.splitlines() if needle in ln.lower()), needle)
            return line.strip()
    return None


def run_benchmark_model(job: NativeJob, binary: str, settings: dict[str, Any], profile: Any) -> dict[str, Any]:
    transport = job.transport
    workdir = transport.make_workdir()
    try:
        local = Path(binary).expanduser()
        if local.is_file():  # a binary on this machine: push it next to the model
            remote_binary = f"{workdir.rstrip('/')}/benchmark_model"
            transport.push(local, remote_binary)
            chmod = transport.run(["chmod", "755", remote_binary], timeout=60)
            if chmod.returncode != 0:
                raise ArtifactError(f"cannot make benchmark_model executable on {profile.name!r}: {chmod.stderr.strip()}")
        else:  # a path on the device (the profile's options.benchmark_model)
            remote_binary = binary
        model = f"{workdir.rstrip('/')}/{job.artifact.path.name}"
        transport.push(job.artifact.path, model)
        argv = benchmark_argv(remote_binary, model, job, settings, profile.affinity)
        proc = transport.run(argv, timeout=float(settings.get("timeout", 900.0)), cwd=workdir)
        text = (proc.stdout or "") + "\n" + (proc.stderr or "")
        if proc.returncode in (126, 127):  # the shell could not start it
            last = [ln.strip() for ln in text.splitlines() if ln.strip()]
            raise BackendUnavailable(f"benchmark_model {remote_binary} cannot be started on device {profile.name!r} "
                                     f"(exit status {proc.returncode}: {last[-1] if last else 'no output'})")
        missing = _delegate_missing(job, text)
        if missing:
            raise BackendUnavailable(f"delegate {job.delegate!r} is not available on device {profile.name!r}: {missing}")
        try:
            parsed = parse(text)
        except BenchmarkOutputError as exc:
            status = f" (exit status {proc.returncode})" if proc.returncode else ""
            raise BenchmarkOutputError(f"device {profile.name!r}: {exc}{status}") from None
        if job.delegate not in ("cpu", "xnnpack") and not parsed["delegation"]:
            raise BackendUnavailable(f"delegate {job.delegate!r} took no node on device {profile.name!r} "
                                     "(benchmark_model printed no 'Replacing ... node(s) with delegate' line)")
        for entry in parsed["delegation"]:  # older tools do not print the total: count it on the host
            if entry["total"] is None:
                entry["total"] = model_nodes(job.artifact.path)
        result = to_result(parsed)
        result["env"] = {"command": argv, "affinity": profile.affinity, "exit_status": proc.returncode,
                         "binary": binary}
        result["thermal"] = {}
        return result
    finally:
        try:
            transport.remove(workdir)
        except Exception:
            pass
