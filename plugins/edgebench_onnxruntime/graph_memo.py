"""The fp32 ONNX graph of a module, exported once per process.

An int8 artifact starts from the fp32 graph, and the dynamo exporter is most of an export's time
(tecogan-srnet: ~25 s of ~27 s). A run asking for fp32 and int8 of one model would export the same
graph twice; here the second export reuses the first one's bytes. The key is a fingerprint of what
decides the graph: every submodule's class and ``forward`` code, its other attributes (a
``res_scale`` or an activation function changes the graph, not a weight), the training flag, and
the weights.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

KEEP = 4  # graphs kept: a run exports model by model, fp32 and int8 of one model close together
MAX_BYTES = 64 << 20  # a larger graph is not kept (memory)

_graphs: "OrderedDict[str, bytes]" = OrderedDict()
_lock = threading.Lock()


def fingerprint(module: Any, *salt: object) -> str:
    """What the exported graph depends on, as one hex digest (``salt``: the export's own settings)."""
    import torch

    digest = hashlib.sha256(repr(salt).encode())
    for name, sub in module.named_modules():
        cls = type(sub)
        digest.update(f"{name}|{cls.__module__}.{cls.__qualname__}|{sub.training}".encode())
        code = getattr(getattr(cls, "forward", None), "__code__", None)
        if code is not None:
            digest.update(code.co_code + repr(code.co_consts).encode())
        # every other attribute by its repr (a function's names its address: a miss, never a wrong hit)
        plain = sorted((k, repr(v)) for k, v in vars(sub).items()
                       if not k.startswith("_") and not isinstance(v, (torch.nn.Module, torch.Tensor)))
        digest.update(repr(plain).encode())
    for key, tensor in module.state_dict().items():
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def exported(module: Any, path: Path, export: Callable[[Path], None], *salt: object) -> bool:
    """Write ``module``'s graph to ``path``: a copy of an earlier export of the same graph, or
    ``export(path)``. Returns whether it was a copy."""
    key = fingerprint(module, *salt)
    with _lock:
        graph = _graphs.get(key)
        if graph is not None:
            _graphs.move_to_end(key)
    if graph is not None:
        Path(path).write_bytes(graph)
        return True
    export(path)
    data = Path(path).read_bytes()
    if len(data) <= MAX_BYTES:
        with _lock:
            _graphs[key] = data
            while len(_graphs) > KEEP:
                _graphs.popitem(last=False)
    return False


def forget() -> None:
    """Drop every kept graph (tests; a long-lived process that wants its memory back)."""
    with _lock:
        _graphs.clear()
