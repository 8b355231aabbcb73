"""What every native device-side tool needs, whichever runtime it belongs to.

``benchmark_model`` (TFLite), ``onnxruntime_perf_test`` and ExecuTorch's ``executor_runner`` are
found the same way (a ``run`` option, then an environment variable, then the device profile's
options), pushed and made executable the same way, pinned to the same cores and judged by the
same exit statuses. A backend plugin uses these helpers from its ``measure_native``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import ArtifactError, BackendUnavailable


@dataclass(frozen=True)
class NativeTool:
    """A device-side tool a backend measures with: its name, where users point edgebench at it."""

    name: str  # the binary's own name, e.g. "onnxruntime_perf_test"
    option: str  # the `edgebench run` option, e.g. "--ort-perf-test"
    env: str  # the environment variable, e.g. "EDGEBENCH_ORT_PERF_TEST"
    profile_key: str  # the device profile's [options] key, e.g. "onnxruntime_perf_test"
    build: str  # one line: where to get an Android build (docs/backends.md has the detail)

    def locate(self, profile: Any) -> str | None:
        """The binary to use: ``--option`` (exported to ``env`` by the CLI), ``$env``, then the profile."""
        return os.environ.get(self.env) or (getattr(profile, "options", None) or {}).get(self.profile_key) or None

    def missing(self, device: str, why: str) -> BackendUnavailable:
        return BackendUnavailable(
            f"device {device!r} {why}: point edgebench at {self.name} with {self.option}, ${self.env} or the "
            f"profile's options.{self.profile_key} ({self.build})")

    def for_job(self, job: Any, runtime_module: str, runtime: str) -> str | None:
        """The binary to measure ``job`` with, or None where edgebench's Python runner can run the runtime
        there (this host, or a device whose Python imports ``runtime_module``: probed once per run)."""
        profile = job.profile
        if profile is None or profile.transport == "local" or job.runner_can_import(runtime_module):
            return None
        binary = self.locate(profile)
        if not binary:
            raise self.missing(profile.name, f"has no Python that can run {runtime} "
                                             f"({job.device_python().why_not(runtime_module)})")
        return str(binary)


def install(transport: Any, binary: str, workdir: str, name: str, device: str) -> tuple[str, str]:
    """Push a binary from this machine, or use one already on the device: (its device path, identity).

    A path that is not a file here is taken as a path on the device (a profile's option)."""
    local = Path(binary).expanduser()
    if not local.is_file():
        return binary, f"device:{binary}"
    remote = f"{workdir.rstrip('/')}/{name}"
    transport.push(local, remote)
    chmod = transport.run(["chmod", "755", remote], timeout=60)
    if chmod.returncode != 0:
        raise ArtifactError(f"cannot make {name} executable on {device!r}: {(chmod.stderr or chmod.stdout).strip()}")
    return remote, "sha256:" + hashlib.sha256(local.read_bytes()).hexdigest()


@contextlib.contextmanager
def scratch_dir(transport: Any) -> Iterator[str]:
    """A fresh work dir on the device, removed afterwards (a device that went away keeps it: the next
    session's start cleans leftovers)."""
    workdir = transport.make_workdir()
    try:
        yield workdir
    finally:
        try:
            transport.remove(workdir)
        except Exception:
            pass


def quality_failure(proc: Any, marker: str, tool: str, delegate: str,
                    parse: Callable[[str], dict[str, Any]]) -> ArtifactError:
    """One line for a failed on-device quality loop: the tool's own error after ``marker``, else its last line."""
    tail = output_text(proc).split(marker, 1)[-1]
    reason = parse(tail).get("error") or next((ln.strip() for ln in reversed(tail.splitlines()) if ln.strip()),
                                              f"exit status {proc.returncode}")
    return ArtifactError(f"the quality pass through {tool} ({delegate}) failed: {reason}")


STAMP = "@@EB-STAMP@@"
_STAMP_SH = f'printf "%s %s %s\\n" {STAMP} "$(date +%s.%N)" "$(cut -d" " -f1 /proc/uptime 2>/dev/null)" >&2'


def stamped(argv: list[str]) -> list[str]:
    """``argv`` run by ``sh`` between two stamps of the device's clocks (wall, uptime) on stderr, for a
    power meter to find the tool's timed region; the exit status stays the tool's."""
    return ["sh", "-c", f'{_STAMP_SH}; "$@"; s=$?; {_STAMP_SH}; exit $s', "sh", *argv]


def without_stamps(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.startswith(STAMP))


def tool_window(stderr: str, loop_s: float | None) -> dict[str, Any] | None:
    """A native tool's timed region on the device's clocks: the last ``loop_s`` seconds before it exited.

    The tools print no timestamps, so the region is placed against the exit stamp; what the tool did
    after its loop (printing its summary) shifts it, and all the time the tool spent outside its loop
    bounds that shift: it is stored as the window's error (at most a quarter of the loop)."""
    stamps = [line.split()[1:] for line in stderr.split("\n") if line.startswith(STAMP)]
    if len(stamps) < 2 or not loop_s or loop_s <= 0:
        return None
    try:
        (w0, *u0), (w1, *u1) = [(float(s[0]), *(float(v) for v in s[1:2] if v)) for s in (stamps[0], stamps[-1])]
    except (ValueError, IndexError):
        return None
    outside = max(w1 - w0 - loop_s, 0.0)
    window: dict[str, Any] = {"started": {"wall": w0, "uptime": u0[0] if u0 else None},
                              "wall": [w1 - loop_s, w1], "uptime": [u1[0] - loop_s, u1[0]] if u1 else None,
                              "error_s": round(min(outside, loop_s / 4), 6),
                              "source": "native tool: the last loop seconds before its exit stamp"}
    return window


def cannot_start(name: str, binary: str, device: str, status: int, text: str) -> BackendUnavailable:
    """The device's shell could not start the command (exit status 126/127): its last words say why."""
    last = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return BackendUnavailable(f"{name} {binary} cannot be started on device {device!r} "
                              f"(exit status {status}: {last[-1] if last else 'no output'})")


def pinned(argv: list[str], affinity: str | None) -> list[str]:
    """``argv`` under ``taskset`` with the CPU mask, when there is one."""
    return ["taskset", affinity, *argv] if affinity else argv


def temperatures(transport: Any, profile: Any) -> dict[str, float]:
    """The device's temperatures now ({} when the profile has no thermal zones or the read fails)."""
    if not getattr(profile, "thermal", False):
        return {}
    from .thermal import read_temperatures

    try:
        return read_temperatures(transport)
    except Exception:  # a failed read is unknown, not cool: leave it out
        return {}


def output_text(proc: Any) -> str:
    return (proc.stdout or "") + "\n" + (proc.stderr or "")


def add_run_option(cli: Any, tool: NativeTool, param: str) -> None:
    """Add ``tool.option PATH`` to ``edgebench run``: the binary is exported to ``tool.env`` for the run."""
    import click

    run = cli.commands.get("run")
    if run is None or any(p.name == param for p in run.params):
        return
    run.params.append(click.Option(
        [tool.option, param], type=click.Path(dir_okay=False), default=None,
        help=f"The {tool.name} binary to push and measure with on devices without a usable Python "
             f"(default: ${tool.env}, then the device profile's options.{tool.profile_key})."))
    original = run.callback

    @functools.wraps(original)
    def callback(*args: Any, **kwargs: Any) -> Any:
        binary = kwargs.pop(param, None)
        if binary is None:
            return original(*args, **kwargs)
        saved = os.environ.get(tool.env)
        os.environ[tool.env] = str(Path(binary).expanduser().resolve())
        try:
            return original(*args, **kwargs)
        finally:
            if saved is None:
                os.environ.pop(tool.env, None)
            else:
                os.environ[tool.env] = saved

    run.callback = callback
