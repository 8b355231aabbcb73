"""edgebench runner adapter for TorchScript lite-interpreter .ptl files (stand-alone: numpy + torch).

The lite interpreter is PyTorch Mobile's runtime; on the host it ships inside torch itself
(``torch.jit.mobile``). edgebench is never imported here.
"""

import numpy as np
import torch
from torch.jit.mobile import _load_for_lite_interpreter


def load(path, delegate, threads, meta):
    if delegate != "cpu":
        raise RuntimeError("delegate %r is not available for pytorch-mobile here (only 'cpu')" % delegate)
    engine = meta.get("qengine")
    if engine:
        if engine not in torch.backends.quantized.supported_engines:
            raise RuntimeError("this int8 .ptl needs the %r quantized engine; this torch has %s"
                               % (engine, torch.backends.quantized.supported_engines))
        torch.backends.quantized.engine = engine
    if threads:
        torch.set_num_threads(int(threads))
    torch.set_grad_enabled(False)  # inference only, outside the timed call
    module = _load_for_lite_interpreter(path)
    return {"module": module, "threads": threads, "meta": meta, "engine": engine}


def prepare(state, image):
    x = np.ascontiguousarray(image.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0))
    return torch.from_numpy(x).contiguous()


def invoke(state, feed):
    return state["module"](feed)


def finish(state, raw):
    out = np.clip(np.rint(raw.detach().numpy() * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1))


def describe(state):
    info = {
        "runtime": "torch lite interpreter",
        "version": torch.__version__,
        "threads": state["threads"] or "default",
        "intra_op_threads": torch.get_num_threads(),
    }
    if state["engine"]:
        info["quantized_engine"] = state["engine"]
        info["quantized_ops"] = state["meta"].get("quantized_ops", [])
    return info
