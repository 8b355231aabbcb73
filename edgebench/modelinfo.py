"""What `edgebench models` says about each model: parameters, MACs at the MAI input, weights state.

MACs (multiply-accumulates) are counted with forward hooks on the convolution and linear layers
while the module runs with ``meta`` stand-ins for its weights and input (shapes only: no memory,
no arithmetic), so even a 40 M-parameter network at 360x640 is counted in a second or two. The
counts are cached in the user cache dir (``$EDGEBENCH_CACHE``) and reused while the model's
*stamp* is unchanged: its name, plugin, weights file (size and mtime), its build function and the
source file of the module it built. The stamp costs a few ``stat`` calls, so a second listing
imports no torch at all; the model's fingerprint (what the artifact cache keys on) is stored
alongside, computed with the counts.

Nothing here imports torch at import time: the CLI must start fast.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .api import ModelSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

#: NCHW: the MAI challenges' 360x640 low-resolution frame, what every MAC count is for
MAI_INPUT = (1, 3, 360, 640)
CACHE_NAME = "model-info.json"
CACHE_FORMAT = 1  # bump when what an entry holds or how it is counted changes

WEIGHTS_STATES = ("shipped", "trained here", "untrained", "none needed", "missing")


# -- counting ---------------------------------------------------------------------------------

def count_macs(module: "torch.nn.Module", shape: Sequence[int] = MAI_INPUT) -> int:
    """Multiply-accumulates of one forward pass on a zero input of ``shape``.

    Counted: ``Conv1d/2d/3d`` (grouped and depthwise: each output value reads ``in_channels /
    groups`` channels), ``ConvTranspose1d/2d/3d`` (each input value meets ``out_channels / groups``
    channels) and ``Linear``, every time they are called. Not counted: biases, activations,
    element-wise arithmetic, pixel shuffle, interpolation and functional ``F.conv2d`` calls (no
    module to hook). ``module`` is left as it was.
    """
    import torch

    # shapes are all a count needs: meta stand-ins for the parameters and buffers skip the
    # arithmetic and the memory, and leave the module untouched (copying a big one takes seconds)
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    meta = {name: torch.empty_like(t, device="meta") for name, t in tensors.items()}
    try:
        return _count(module, torch.zeros(tuple(shape), device="meta"), meta)
    except Exception:  # a forward that reads tensor values (data-dependent branches) needs real ones
        return _count(module, torch.zeros(tuple(shape)), None)


def _count(module: "torch.nn.Module", x: "torch.Tensor", tensors: dict[str, Any] | None) -> int:
    import torch
    from torch import nn
    from torch.func import functional_call

    total = 0

    def conv(layer: Any, inputs: tuple, output: "torch.Tensor") -> None:
        nonlocal total
        total += output.numel() * (layer.in_channels // layer.groups) * math.prod(layer.kernel_size)

    def transposed(layer: Any, inputs: tuple, output: "torch.Tensor") -> None:
        nonlocal total
        total += inputs[0].numel() * (layer.out_channels // layer.groups) * math.prod(layer.kernel_size)

    def linear(layer: Any, inputs: tuple, output: "torch.Tensor") -> None:
        nonlocal total
        total += output.numel() * layer.in_features

    handles = []
    for layer in module.modules():
        if isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            handles.append(layer.register_forward_hook(transposed))
        elif isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(layer.register_forward_hook(conv))
        elif isinstance(layer, nn.Linear):
            handles.append(layer.register_forward_hook(linear))
    try:
        with torch.no_grad():
            module.eval()
            if tensors is None:
                module(x)
            else:
                functional_call(module, tensors, (x,))
    finally:
        for handle in handles:
            handle.remove()
    return total


def trainable_params(module: "torch.nn.Module") -> int:
    """Trainable parameters, as :attr:`ModelSpec.params` counts them (fixed filters excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# -- weights ------------------------------------------------------------------------------------

def weights_state(weights: Path | str | None, params: int | None) -> str:
    """Where a model's weights come from, in the words `edgebench models` uses.

    ``shipped``: a file inside an installed package (the plugin ships it); ``trained here``: a file
    outside any package (what ``edgebench train`` writes to the zoo's user dir, or your own);
    ``untrained``: no weights file although the model has trainable parameters; ``none needed``:
    no file and no trainable parameters (bicubic); ``missing``: the file named does not exist.
    """
    if weights is None:
        if params is None:
            return "unknown"  # the model could not be built to count them
        return "none needed" if params == 0 else "untrained"
    path = Path(weights)
    if not path.is_file():
        return "missing"
    return "shipped" if _inside_package(path) else "trained here"


def _inside_package(path: Path) -> bool:
    """A folder above ``path`` is a Python package (``__init__.py``) or an install's site-packages."""
    for folder in path.resolve().parents:
        if folder.name in ("site-packages", "dist-packages") or (folder / "__init__.py").is_file():
            return True
    return False


# -- the listing --------------------------------------------------------------------------------

def cache_path() -> Path:
    from .artifacts import default_cache_dir

    return default_cache_dir() / CACHE_NAME


def model_rows(specs: Sequence[ModelSpec], on_measure: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """One dict per model for `edgebench models` (its table and ``--json``), counts from the cache.

    ``on_measure(n)`` is called once before ``n`` models without a valid cache entry are built and
    counted (the slow part: torch import, module build, weights load). A model whose ``load()``
    fails gets that error in its row's ``error`` (its counts come from ``build()`` when that
    works); errors are never cached, so a fixed model is counted on the next listing.
    """
    path = cache_path()
    cache = _read_cache(path)
    entries: dict[str, dict[str, Any]] = {}
    stale = []
    for spec in specs:
        stamp = _stamp(spec)
        entry = cache.get(_key(spec))
        if _fresh(entry, stamp):
            entries[_key(spec)] = entry  # type: ignore[assignment]
        else:
            stale.append((spec, stamp))
    if stale and on_measure is not None:
        on_measure(len(stale))
    for spec, stamp in stale:
        entry = entries[_key(spec)] = _measure(spec, stamp)
        if entry.get("error"):
            cache.pop(_key(spec), None)
        else:
            cache[_key(spec)] = entry
    if stale:
        _write_cache(path, cache)
    return [_row(spec, entries[_key(spec)]) for spec in specs]


def _key(spec: ModelSpec) -> str:
    return f"{spec.plugin}/{spec.name}"


def _row(spec: ModelSpec, entry: dict[str, Any]) -> dict[str, Any]:
    params = entry.get("params")
    return {
        "name": spec.name,
        "scale": spec.scale,
        "params": params,
        "macs": entry.get("macs"),
        "input": f"{MAI_INPUT[2]}x{MAI_INPUT[3]}",
        "weights": weights_state(spec.weights, params),
        "weights_path": None if spec.weights is None else str(spec.weights),
        "default": spec.default,
        "plugin": spec.plugin,
        "description": spec.description,
        "fingerprint": entry.get("fingerprint"),
        "error": entry.get("error"),
    }


def _measure(spec: ModelSpec, stamp: str) -> dict[str, Any]:
    from .plugins import _one_line

    entry: dict[str, Any] = {"stamp": stamp}
    try:
        module = spec.load()
    except Exception as exc:  # missing or corrupt weights, a broken build: shown in the row
        entry["error"] = _one_line(exc)
        try:
            module = spec.build()  # the architecture's counts still help, e.g. with weights missing
        except Exception:
            return entry
    try:
        entry["params"] = trainable_params(module)
        entry["macs"] = count_macs(module)
        entry["fingerprint"] = spec.fingerprint
        entry["sources"] = [_file_state(inspect.getsourcefile(type(module)))]
    except Exception as exc:
        entry.setdefault("error", _one_line(exc))
    return entry


def _fresh(entry: dict[str, Any] | None, stamp: str) -> bool:
    """A cache entry still describes the model: same stamp, and the module's source files unchanged."""
    if not entry or entry.get("stamp") != stamp or entry.get("error"):
        return False
    return all(_file_state(state[0]) == state for state in entry.get("sources") or [])


def _file_state(path: Path | str | None) -> list[Any] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
        return [str(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), None, None]


def _stamp(spec: ModelSpec) -> str:
    """Cheap identity of what a count depends on (no torch): see the module docstring."""
    build = spec.build
    code = getattr(build, "__code__", None)
    # the values a builder closes over (a name, a scale, a channel count) choose the network; a value
    # without a stable repr (an object at some address) makes the stamp differ every time: recounted
    closure = []
    for cell in getattr(build, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            value = None
        closure.append(value if isinstance(value, (int, float, str, bool, type(None))) else repr(value))
    parts = [CACHE_FORMAT, list(MAI_INPUT), spec.name, spec.scale, spec.plugin,
             _file_state(spec.weights) if spec.weights is not None else None,
             getattr(build, "__module__", None), getattr(build, "__qualname__", repr(build)),
             _file_state(code.co_filename) if code is not None else None, closure]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not isinstance(data.get("models"), dict):
        return {}
    return data["models"]


def _write_cache(path: Path, models: dict[str, Any]) -> None:
    """Atomically (another listing may be reading it); a cache that cannot be written is no error."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "models": models}, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
