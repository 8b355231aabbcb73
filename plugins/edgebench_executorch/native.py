"""Measure a .pte with ExecuTorch's native ``executor_runner`` (the XNNPACK build) over a transport.

Released runners cannot resize a dynamic input (``--input_shapes`` is in no release up to 1.4):
they run every execution at the program's upper bound. So the device runs a variant of the
artifact exported for one fixed input size: the measured size for timing, and for quality the
largest tile no quality photo is smaller than (the host cuts the photos into overlapping tiles
and stitches the outputs, exact wherever the margin covers the receptive field).

Timing: ``--num_executions`` = warm-up + runs in one process; runners that print ``Iteration i of
N: X ms`` (1.4) give every run and the warm-up ones are dropped; older ones print only the total,
whose mean then includes the first, cold execution (said in the result). Quality: each tile's
input tensor is written raw (``--inputs``) and the output comes back from ``--output_file``
(``<base>-0.bin``), ExecuTorch 1.0+. The delegation share is counted from the .pte on the host.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgebench import NativeJob
from edgebench.errors import ArtifactError, BackendUnavailable, EdgebenchError
from edgebench.native_tools import (cannot_start, install, output_text, pinned, quality_failure, scratch_dir,
                                    stamped, temperatures, tool_window, without_stamps)
from edgebench.summary_stats import summary_from_tool
from edgebench.transports import shell_join

from . import TOOL
from .runner_output import RunnerOutputError, check, parse

BASIC_FLAGS = frozenset({"model_path", "num_executions"})
FAIL = "@@EB-QUALITY-FAIL@@"
_GFLAG = re.compile(r"^\s*-(\w+) \(", re.M)  # gflags' --help: "    -model_path (Model serialized ...) type: ..."
_FLAGS: dict[tuple[str, str], frozenset[str]] = {}


def runner_flags(transport: Any, binary: str, identity: str, device: str) -> frozenset[str]:
    """The flags this runner's gflags ``--help`` lists (probed once per device and binary)."""
    key = (str(getattr(transport, "where", lambda: "")()), identity)
    if key not in _FLAGS:
        proc = transport.run([binary, "--help"], timeout=60)
        text = output_text(proc)
        if proc.returncode in (126, 127) and "model_path" not in text:
            raise cannot_start(TOOL.name, binary, device, proc.returncode, text)
        found = frozenset(_GFLAG.findall(text))
        _FLAGS[key] = found if "model_path" in found else BASIC_FLAGS
    return _FLAGS[key]


def runner_argv(binary: str, model: str, flags: frozenset[str], executions: int, threads: int | None,
                affinity: str | None) -> list[str]:
    argv = [binary, f"--model_path={model}", f"--num_executions={max(executions, 1)}"]
    if "cpu_threads" in flags:
        argv.append(f"--cpu_threads={threads or -1}")
    if "print_output" in flags:  # 1.3+: outputs are not printed (a float image is megabytes of text)
        argv.append("--print_output=none")
    return pinned(argv, affinity)


def to_result(parsed: dict[str, Any], warmup: int, runs: int) -> dict[str, Any]:
    """Every run after the warm-up ones where the runner printed each, else its total's mean (said so)."""
    each = list(parsed.get("timings_ms") or [])
    native: dict[str, Any] = {"tool": "executor_runner", "executions": parsed.get("runs"), "warmup": warmup,
                              "load_ms": parsed.get("load_ms"), "threads": parsed.get("threads")}
    result: dict[str, Any] = {"init_ms": parsed.get("load_ms"), "native": native,
                              "memory": {"source": "executor_runner", "planned_bytes": parsed.get("planned_bytes")}}
    if len(each) > warmup:
        result.update(timings_ms=each[warmup:], warmup_ms=each[:warmup], first_ms=each[0])
        native["summary_only"] = False
    else:  # only "Model executed successfully N time(s) in X ms": a mean over every execution
        result.update(timings_ms=[], warmup_ms=[], first_ms=None,
                      summary=summary_from_tool({"count": parsed["runs"], "avg": parsed["avg_ms"]}, scale=1.0))
        native.update(summary_only=True, includes_warmup=True)
        result["notes"] = [f"executor_runner printed only its total over {parsed['runs']} executions: the mean "
                           f"includes the {warmup} warm-up execution(s)"]
    return result


def run_executor_runner(job: NativeJob, binary: str, settings: dict[str, Any], profile: Any,
                        variant: Any) -> dict[str, Any]:
    """Time (and score, where the runner can dump outputs) the fixed-size variant built by ``variant(h, w)``."""
    transport, device = job.transport, profile.name
    if job.export_variant is None:
        raise BackendUnavailable("this edgebench cannot export a fixed-size .pte for executor_runner")
    height, width = int(settings.get("height") or 360), int(settings.get("width") or 640)
    artifact = job.export_variant(variant(height, width))
    with scratch_dir(transport) as workdir:
        remote_binary, identity = install(transport, binary, workdir, TOOL.name, device)
        flags = runner_flags(transport, remote_binary, identity, device)
        model = f"{workdir.rstrip('/')}/model.pte"
        transport.push(artifact.path, model)
        warmup, runs = max(int(settings.get("warmup", 3)), 0), max(int(settings.get("runs", 10)), 1)
        argv = runner_argv(remote_binary, model, flags, warmup + runs, job.threads, job.affinity)
        thermal = {"before": temperatures(transport, profile)}
        proc = transport.run(stamped(argv) if settings.get("power") else argv,  # stamps: a power meter's region
                             timeout=float(settings.get("timeout", 900.0)), cwd=workdir)
        thermal["after"] = temperatures(transport, profile)
        text = without_stamps(output_text(proc))
        if proc.returncode in (126, 127) and "executed" not in text:
            raise cannot_start(TOOL.name, remote_binary, device, proc.returncode, text)
        if proc.returncode == 0 and not text.strip():  # --print_output=none and ET_LOG compiled out
            raise BackendUnavailable(
                f"device {device!r}: executor_runner printed nothing (exit status 0), so it cannot report its "
                f"time: build it with -DEXECUTORCH_ENABLE_LOGGING=ON (and -DEXECUTORCH_PAL_DEFAULT=posix on "
                f"Android, where its log otherwise goes to logcat)")
        parsed = parse(text)
        try:
            check(parsed)
        except RunnerOutputError as exc:  # the tool cannot tell its time: this backend cannot be measured here
            raise BackendUnavailable(f"device {device!r}: {exc}") from None
        except EdgebenchError as exc:
            raise type(exc)(f"device {device!r}: {exc}") from None
        from .pte_delegation import pte_delegation, runtime_fields

        result = to_result(parsed, warmup, runs)
        if settings.get("power"):  # the measured executions: the last ones before the runner exited
            loop = sum(result["timings_ms"]) / 1000 if result["timings_ms"] else (parsed.get("total_ms") or 0) / 1000
            result["window"] = tool_window(proc.stderr or "", loop)
        result.update(delegate=job.delegate, runtime=runtime_fields(pte_delegation(artifact.path), artifact.meta),
                      thermal={k: v for k, v in thermal.items() if v},
                      artifact={"size": artifact.size, "sha256": artifact.meta.get("sha256"),
                                "fixed_size": [height, width]},
                      env={"command": argv, "affinity": job.affinity, "exit_status": proc.returncode,
                           "binary": binary, "identity": identity, "runner_flags": sorted(flags)})
        if result["runtime"].get("delegation_kind") == "none":
            raise BackendUnavailable(f"the .pte for device {device!r} has no {job.delegate} partition: "
                                     f"nothing would run on the delegate")
        if job.quality_inputs is not None:
            missing = {"inputs", "output_file"} - flags
            if missing:
                result["quality_fallback"] = ("this executor_runner has no " + ", ".join(f"--{m}" for m in sorted(missing))
                                              + " (ExecuTorch before 1.0)")
                result["quality_hint"] = "use an executor_runner from ExecuTorch 1.0 or newer"
            else:
                images = [i if i.ndim == 4 else i[None] for i in job.quality_inputs]
                from edgebench.tiles import largest_tile

                tile = largest_tile(images)  # few tiles, none padded: one runner start per tile
                tiled = artifact if tile == (height, width) else job.export_variant(variant(*tile))
                try:
                    result["outputs"] = _Quality(transport, workdir, remote_binary, tiled, job).images(images, tile)
                except EdgebenchError as exc:  # the timing stands; the host scores the artifact and says why
                    result["quality_fallback"] = str(exc)
        return result


class _Quality:
    """The quality photos through the runner, tile by tile: raw float32 NCHW in, raw float32 out."""

    def __init__(self, transport: Any, workdir: str, binary: str, artifact: Any, job: NativeJob):
        self.transport, self.binary, self.artifact, self.job = transport, binary, artifact, job
        self.dir = f"{workdir.rstrip('/')}/quality"
        self.timeout = float(job.settings.get("settings", {}).get("timeout", 900.0))

    def images(self, images: list[np.ndarray], tile: tuple[int, int]) -> list[np.ndarray]:
        from edgebench import tiles

        th, tw = tile
        margin = int(self.artifact.meta.get("tile_margin") or 8)
        plans = [tiles.tile_crops(image, th, tw, margin) for image in images]
        crops = [crop for plan in plans for _, _, crop in plan]
        inputs = [np.ascontiguousarray(c.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0)) for c in crops]
        raw = self._run([x.tobytes() for x in inputs])
        per_tile = len(raw) // len(crops)
        scale = max(int(round((per_tile / (4 * 3 * th * tw)) ** 0.5)), 1)  # float32, 3 channels
        if per_tile * len(crops) != len(raw) or per_tile != 3 * th * scale * tw * scale * 4:
            raise ArtifactError(f"executor_runner wrote {len(raw)} output bytes for {len(crops)} tiles of {th}x{tw}")
        results, k = [], 0
        for image, plan in zip(images, plans):
            done = []
            for y, x, _ in plan:
                out = np.frombuffer(raw[k * per_tile:(k + 1) * per_tile], np.float32).reshape(1, 3, th * scale, tw * scale)
                done.append((y, x, np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)))
                k += 1
            results.append(np.ascontiguousarray(tiles.stitch(done, image.shape, th, tw, margin)[0]))
        return results

    def _run(self, tensors: list[bytes]) -> bytes:
        size, count = len(tensors[0]), len(tensors)
        with tempfile.TemporaryDirectory(prefix="edgebench-et-quality-") as tmp:
            local_in, local_out = Path(tmp) / "tiles.in", Path(tmp) / "tiles.out"
            local_in.write_bytes(b"".join(tensors))
            self.transport.check_call(["mkdir", "-p", self.dir], timeout=60)
            self.transport.run(["rm", "-f", f"{self.dir}/tiles.out"], timeout=60)
            self.transport.push(local_in, f"{self.dir}/tiles.in")
            self.transport.push(self.artifact.path, f"{self.dir}/tile.pte")
            argv = [self.binary, "--model_path=tile.pte", "--num_executions=1", "--inputs=tile.in",
                    "--output_file=tile.out"]
            argv = pinned(argv, self.job.affinity)
            script = (f"cd {shell_join([self.dir])} || exit 2; i=0; while [ $i -lt {count} ]; do "
                      f"dd if=tiles.in of=tile.in bs={size} skip=$i count=1 2>/dev/null; rm -f tile.out-0.bin; "
                      f"{shell_join(argv)} > tile.log 2>&1; s=$?; "
                      f"if [ $s -ne 0 ] || [ ! -s tile.out-0.bin ]; then echo \"{FAIL} $i $s\"; tail -n 15 tile.log; "
                      f"exit 3; fi; cat tile.out-0.bin >> tiles.out; i=$((i+1)); done")
            proc = self.transport.run(["sh", "-c", script], timeout=self.timeout)
            if proc.returncode != 0 or FAIL in (proc.stdout or ""):
                raise quality_failure(proc, FAIL, "executor_runner", self.job.delegate, parse)
            self.transport.pull(f"{self.dir}/tiles.out", local_out)
            return local_out.read_bytes()
