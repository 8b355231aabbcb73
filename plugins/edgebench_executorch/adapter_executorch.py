"""edgebench runner adapter for ExecuTorch .pte programs (stand-alone: numpy + the executorch runtime).

The ExecuTorch Python runtime (``executorch.runtime``, the portable_lib bindings) takes and returns
torch tensors, so torch comes with it; edgebench itself is never imported here.
"""

import numpy as np
import torch
from executorch.runtime import Runtime

try:
    from importlib.metadata import version as _version

    ET_VERSION = _version("executorch")
except Exception:  # not installed as a distribution (a board's own build)
    ET_VERSION = "unknown"

BACKENDS = {"xnnpack": "XnnpackBackend"}


def _threadpool():
    try:
        import executorch.extension.pybindings.portable_lib as lib

        return lib
    except Exception:
        return None


def load(path, delegate, threads, meta):
    runtime = Runtime.get()
    wanted = meta.get("delegate", "xnnpack")
    if delegate != wanted:
        raise RuntimeError("this .pte was lowered for delegate %r, not %r" % (wanted, delegate))
    backend = BACKENDS.get(delegate)
    if backend and not runtime.backend_registry.is_available(backend):
        raise RuntimeError("the ExecuTorch runtime here has no %s (it has: %s)"
                           % (backend, ", ".join(runtime.backend_registry.registered_backend_names)))
    lib = _threadpool()
    if threads and lib is not None and hasattr(lib, "_unsafe_reset_threadpool"):
        lib._unsafe_reset_threadpool(int(threads))
    program = runtime.load_program(path)
    method = program.load_method("forward")
    return {"program": program, "method": method, "execute": method.execute, "meta": meta,
            "threads": threads, "lib": lib}


def prepare(state, image):
    meta = state["meta"]
    low, high = int(meta.get("min_side", 1)), int(meta.get("max_side", 1 << 30))
    h, w = image.shape[1], image.shape[2]
    if not (low <= h <= high and low <= w <= high):
        raise RuntimeError("input %dx%d is outside the sizes this .pte was exported for (%d..%d per side)"
                           % (h, w, low, high))
    x = np.ascontiguousarray(image.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0))
    return [torch.from_numpy(x).contiguous()]  # ExecuTorch needs contiguous, owned inputs


def invoke(state, feed):
    return state["execute"](feed)[0]


def finish(state, raw):
    out = np.clip(np.rint(raw.detach().numpy() * 255.0), 0, 255).astype(np.uint8)  # copies out of the planned buffer
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1))


def describe(state):
    meta, lib = state["meta"], state["lib"]
    info = {
        "runtime": "executorch",
        "version": ET_VERSION,
        "torch": torch.__version__,
        "delegate": meta.get("delegate", "xnnpack"),
        "backends": Runtime.get().backend_registry.registered_backend_names,
        "threads": state["threads"] or "default",
    }
    if lib is not None and hasattr(lib, "_threadpool_get_thread_count"):
        info["threadpool"] = lib._threadpool_get_thread_count()
    for key in ("delegated_nodes", "total_nodes", "partitions", "fallback_ops"):
        if key in meta:
            info[key] = meta[key]
    try:
        planned = state["method"].metadata
        info["planned_input"] = str(planned.input_tensor_meta(0)) if hasattr(planned, "input_tensor_meta") else None
    except Exception:
        pass
    return info
