"""Quality on the phone: the eval images run through ``benchmark_model`` itself, delegate and all.

The host cuts each low-resolution image into the same overlapping tiles the runner adapter uses
(:func:`adapter_litert.tile_crops`), writes every tile's input tensor as raw bytes into one file,
and pushes it once. One shell loop on the device feeds each tile to the tool
(``--input_layer_value_files``, one run, no warm-up) and appends the raw output tensor
(``--output_filepath``) to one file, which comes back in one pull. The host stitches the tiles
(:func:`adapter_litert.stitch`), so a device that computes what the host computes gives the very
same image. For any delegate, the first image also runs on the CPU kernels of the same binary:
their agreement (max abs difference, PSNR) shows fp16 drift and broken kernels.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebench.native_tools import quality_failure
from edgebench.quality import agreement
from edgebench.transports import shell_join

from .benchmark_model import parse
from .native import delegate_flags, pinned

NEEDED = frozenset({"input_layer", "input_layer_shape", "input_layer_value_files", "output_filepath"})
FAIL = "@@EB-QUALITY-FAIL@@"


@dataclass
class TileIO:
    """How one signature's tensors look: the host converts images to and from them."""

    signature: Any  # adapter_litert._Signature
    key: str
    margin: int
    out_shape: tuple[int, ...]

    @property
    def tile(self) -> tuple[int, int]:
        return self.signature.shape[1], self.signature.shape[2]

    @property
    def in_bytes(self) -> int:
        return int(np.prod(self.signature.shape)) * np.dtype(self.signature.dtype).itemsize

    @property
    def out_bytes(self) -> int:
        return int(np.prod(self.out_shape)) * np.dtype(self.signature.out_dtype).itemsize

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any]) -> "TileIO":
        from . import adapter_litert as adapter

        interpreter = adapter._interpreter(str(path), "cpu", 1)
        interpreter.allocate_tensors()
        keys = list(interpreter.get_signature_list())
        key = meta.get("tile_signature") if meta.get("tile_signature") in keys else keys[0]
        sig = adapter._Signature(interpreter, key)
        out_shape = tuple(int(v) for v in sig.runner.get_output_details()[sig.output_name]["shape"])
        return cls(sig, key, int(meta.get("tile_margin", 8)), out_shape)


def quality_on_device(job: Any, transport: Any, workdir: str, binary: str, model: str, flags: frozenset[str],
                      delegate: str, affinity: str | None, timeout: float) -> tuple[list[np.ndarray] | None, dict]:
    """(the SR outputs of every quality image, {"agreement": ...}), or (None, {"reason": ...}) when
    this binary cannot feed inputs or dump outputs (an old build: the host then scores the artifact)."""
    missing = set(NEEDED - flags)
    if len(job.artifact.meta.get("signatures", {})) > 1 and "signature_to_run_for" not in flags:
        missing.add("signature_to_run_for")
    if missing:
        return None, {"reason": "this benchmark_model has no " + ", ".join(f"--{m}" for m in sorted(missing))}
    io = TileIO.load(job.artifact.path, job.artifact.meta)
    images = list(job.quality_inputs)
    run = _DeviceRun(transport, workdir, binary, model, io, job.threads, affinity, timeout, flags)
    outputs = run.images(images, delegate)
    extra: dict[str, Any] = {}
    if delegate != "cpu":  # XNNPACK too: its int8 kernels round differently, and a broken build shows here
        reference = run.images(images[:1], "cpu")
        extra["agreement"] = agreement(outputs[0], reference[0])
    return outputs, extra


class _DeviceRun:
    def __init__(self, transport: Any, workdir: str, binary: str, model: str, io: TileIO, threads: int | None,
                 affinity: str | None, timeout: float, flags: frozenset[str]):
        self.transport, self.binary, self.model, self.io = transport, binary, model, io
        self.threads, self.affinity, self.timeout, self.flags = threads, affinity, timeout, flags
        self.dir = f"{workdir.rstrip('/')}/quality"

    def images(self, images: Sequence[np.ndarray], delegate: str) -> list[np.ndarray]:
        from edgebench import tiles as tiling

        sig, (th, tw) = self.io.signature, self.io.tile
        images = [image if image.ndim == 4 else image[None] for image in images]  # the tools take NHWC
        plans = [tiling.tile_crops(image, th, tw, self.io.margin) for image in images]
        tiles = [crop for plan in plans for _, _, crop in plan]
        raw = self._run([np.ascontiguousarray(sig.to_input(crop)).tobytes() for crop in tiles], delegate)
        out_dtype, n = np.dtype(sig.out_dtype), self.io.out_bytes
        results, k = [], 0
        for image, plan in zip(images, plans):
            done = []
            for y, x, _ in plan:
                tensor = np.frombuffer(raw[k * n:(k + 1) * n], out_dtype).reshape(self.io.out_shape)
                done.append((y, x, sig.to_image(tensor)))
                k += 1
            results.append(np.ascontiguousarray(tiling.stitch(done, image.shape, th, tw, self.io.margin)[0]))
        return results

    def _argv(self, delegate: str) -> list[str]:
        name = "input"  # the tool matches --input_layer to the signature's inputs by position
        shape = ",".join(str(v) for v in self.io.signature.shape)
        argv = [self.binary, f"--graph={self.model}", f"--num_threads={self.threads or -1}",
                "--warmup_runs=0", "--num_runs=1", f"--input_layer={name}", f"--input_layer_shape={shape}",
                f"--input_layer_value_files={name}:tile.in", "--output_filepath=tile.out"]
        # without these the tool keeps invoking for its default minimum time (1 s, 0.5 s warm-up)
        argv += [f"--{flag}=0" for flag in ("min_secs", "warmup_min_secs") if flag in self.flags]
        if "signature_to_run_for" in self.flags and self.io.key:
            argv.append(f"--signature_to_run_for={self.io.key}")
        argv += delegate_flags(delegate, self.flags)
        return pinned(argv, self.affinity)

    def _run(self, tensors: list[bytes], delegate: str) -> bytes:
        size, count = self.io.in_bytes, len(tensors)
        with tempfile.TemporaryDirectory(prefix="edgebench-quality-") as tmp:
            local_in, local_out = Path(tmp) / "tiles.in", Path(tmp) / "tiles.out"
            local_in.write_bytes(b"".join(tensors))
            self.transport.check_call(["mkdir", "-p", self.dir], timeout=60)
            self.transport.run(["rm", "-f", f"{self.dir}/tiles.out"], timeout=60)
            self.transport.push(local_in, f"{self.dir}/tiles.in")
            step = shell_join(self._argv(delegate))
            script = (f"cd {shell_join([self.dir])} || exit 2; i=0; while [ $i -lt {count} ]; do "
                      f"dd if=tiles.in of=tile.in bs={size} skip=$i count=1 2>/dev/null; rm -f tile.out; "
                      f"{step} > tile.log 2>&1; s=$?; "
                      f"if [ $s -ne 0 ] || [ ! -s tile.out ]; then echo \"{FAIL} $i $s\"; tail -n 15 tile.log; exit 3; fi; "
                      f"cat tile.out >> tiles.out; i=$((i+1)); done")
            proc = self.transport.run(["sh", "-c", script], timeout=self.timeout)
            if proc.returncode != 0 or FAIL in (proc.stdout or ""):
                raise quality_failure(proc, FAIL, "benchmark_model", delegate, parse)
            self.transport.pull(f"{self.dir}/tiles.out", local_out)
            data = local_out.read_bytes()
        if len(data) != count * self.io.out_bytes:
            from edgebench.errors import ArtifactError

            raise ArtifactError(f"benchmark_model wrote {len(data)} output bytes for {count} tiles of "
                                f"{self.io.out_bytes} bytes each (--output_filepath)")
        return data
