"""Run a zoo model's exported artifact (any registered backend) in this process: PSNR and latency.

Studies need the int8 PSNR and the latency of the *artifact* (not the torch module). This uses
the same pieces a run does: the backend's export through edgebench's artifact cache, then the
backend's runner adapter (``load`` / ``prepare`` / ``invoke`` / ``finish``) on real images.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from typing import Any, Sequence

import numpy as np

from edgebench import ModelSpec


def _adapter(runtime: Any) -> Any:
    loader = importlib.util.spec_from_file_location(f"edgebench_adapter_{runtime.name}", runtime.adapter_path())
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def spec_for(module: Any, name: str, scale: int) -> tuple[ModelSpec, None]:
    """A throwaway ModelSpec whose weights are ``module``'s current state, held in memory.

    No weights file (studies once left an ``edgebench-zoo-*`` temp folder per model behind): ``build``
    returns a copy of the frozen module, and a spec without a weights file is fingerprinted from the
    tensors its module holds, so the artifact cache still tells different weights apart. The second
    item (formerly the weights file) is always None.
    """
    import copy

    frozen = copy.deepcopy(module).cpu().eval()

    def build() -> Any:
        return copy.deepcopy(frozen)

    return ModelSpec(name=name, scale=scale, build=build, weights=None, description="edgebench_zoo study model"), None


def artifact_session(spec: ModelSpec, precision: str, backend: str = "onnxruntime", threads: int = 0) -> tuple[Any, Any]:
    from edgebench.artifacts import ArtifactCache
    from edgebench.plugins import backends

    runtime = backends.get(backend)
    artifact = ArtifactCache().get(spec, runtime, precision)
    adapter = _adapter(runtime)
    return adapter, adapter.load(str(artifact.path), runtime.delegates[0], threads, artifact.meta)


def artifact_outputs(spec: ModelSpec, precision: str, images: Sequence[np.ndarray], backend: str = "onnxruntime") -> list[np.ndarray]:
    """The artifact's uint8 HxWx3 outputs for uint8 HxWx3 LR images."""
    adapter, session = artifact_session(spec, precision, backend)
    outs = []
    for image in images:
        batch = np.ascontiguousarray(image, dtype=np.uint8)[None]
        outs.append(adapter.finish(session, adapter.invoke(session, adapter.prepare(session, batch)))[0])
    return outs


def artifact_latency_ms(
    spec: ModelSpec, precision: str, size: tuple[int, int], runs: int = 10, warmup: int = 2, backend: str = "onnxruntime",
) -> float:
    """Median wall time of ``invoke`` on a ``size`` (H, W) input crop of a calibration photo."""
    from edgebench.data import calibration_inputs

    adapter, session = artifact_session(spec, precision, backend)
    image = calibration_inputs(spec.scale, size, count=1)[0]
    if image.shape[:2] != size:  # photo smaller than asked: tile it
        image = np.resize(image, (*size, 3)).astype(np.uint8)
    feed = adapter.prepare(session, image[None])
    for _ in range(warmup):
        adapter.invoke(session, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        adapter.invoke(session, feed)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def artifact_scores(spec: ModelSpec, precision: str, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    from edgebench.quality import score_images

    outs = artifact_outputs(spec, precision, [lr for lr, _ in pairs])
    return score_images(outs, [hr for _, hr in pairs], spec.scale)
