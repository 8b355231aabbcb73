"""torch -> ExecuTorch ``.pte`` (torch.export, XNNPACK delegate, PT2E int8) and -> TorchScript ``.ptl``.

Imported only when a backend exports (it imports torch, executorch and torchao).

ExecuTorch: ``torch.export`` with dynamic height/width (bounded, see :data:`MAX_SIDE`: the
ExecuTorch memory planner sizes the buffers outside the delegate for the upper bound), int8 by
PT2E static quantization with the XNNPACK quantizer (symmetric per-channel int8 weights, int8
activations with min-max observers, calibrated on the real photos the harness passes), lowered with
``to_edge_transform_and_lower`` and the ``XnnpackPartitioner``. The lowered program is counted:
how many graph nodes XNNPACK took and which operators stayed on ExecuTorch's portable CPU kernels.
Every exported program is loaded and run once by the ExecuTorch runtime before it is accepted, so
a model with an operator the runtime has no kernel for fails at export, in one line.

PyTorch Mobile: ``torch.jit.trace`` (a trace that warns it may not generalise, e.g. a branch on
tensor data, is refused), frozen, saved with ``_save_for_lite_interpreter``; int8 by FX graph
mode static quantization for the ``qnnpack`` engine (what PyTorch Mobile builds ship), per-channel
weights. ``optimize_for_mobile`` is not used: it needs XNNPACK, which the CPU wheel lacks.
"""

from __future__ import annotations

import contextlib
import operator
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from edgebench import ModelSpec
from edgebench.errors import ExportError
from edgebench.util import last_line, quiet_output

EXPORT_REVISION = 2  # bump when a recipe changes: invalidates cached artifacts
MAX_SIDE = 720  # default largest low-resolution height/width of an ExecuTorch artifact (MAI, DIV2K LR x3 fit)
MIN_SIDE = 4
QENGINE = "qnnpack"  # PyTorch Mobile's quantized engine

_STRUCTURAL = {"executorch_call_delegate", "getitem", "sym_size", "sym_numel", "sym_stride"}


def _to_nchw(image: np.ndarray) -> Any:
    import torch

    x = np.ascontiguousarray(image.astype(np.float32).transpose(2, 0, 1)[None] / np.float32(255.0))
    return torch.from_numpy(x)


def _example() -> tuple[Any, ...]:
    import torch

    torch.manual_seed(0)
    return (torch.rand(1, 3, 32, 32),)


def _why(exc: BaseException, log: Sequence[str] = ()) -> str:
    """One line naming the failure: the exception's first meaningful line, else the log's last."""
    text = str(exc).strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    detail = first or last_line("\n".join(log))
    return f"{type(exc).__name__}: {detail[:300]}"


@contextlib.contextmanager
def _quiet() -> Iterator[list[str]]:
    with quiet_output() as log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield log


# -- ExecuTorch -----------------------------------------------------------------------------------
def max_side() -> int:
    """The upper bound of the dynamic height/width (``EDGEBENCH_EXECUTORCH_MAX_SIDE`` overrides it).

    ExecuTorch plans the memory of every tensor outside the delegate for this bound, so a larger
    bound costs memory (stored as ``planned_bytes`` in the artifact's metadata)."""
    import os

    value = os.environ.get("EDGEBENCH_EXECUTORCH_MAX_SIDE", "")
    try:
        side = int(value) if value else MAX_SIDE
    except ValueError:
        raise ExportError(f"EDGEBENCH_EXECUTORCH_MAX_SIDE must be an integer, not {value!r}") from None
    if side < 16:
        raise ExportError(f"EDGEBENCH_EXECUTORCH_MAX_SIDE must be at least 16, not {side}")
    return side


def _dynamic_shapes() -> tuple[dict[int, Any], ...]:
    import torch

    h = torch.export.Dim("height", min=MIN_SIDE, max=max_side())
    w = torch.export.Dim("width", min=MIN_SIDE, max=max_side())
    return ({2: h, 3: w},)


def _torch_export(module: Any, spec: ModelSpec, what: str, fixed: tuple[int, int] | None = None) -> Any:
    import torch

    error: Exception | None = None
    with _quiet() as log:
        try:
            if fixed is not None:  # one input size: what a native runner without --input_shapes can run
                return torch.export.export(module, (torch.rand(1, 3, *fixed),), strict=False)
            return torch.export.export(module, _example(), dynamic_shapes=_dynamic_shapes(), strict=False)
        except Exception as exc:
            error = exc
    failure = _why(error, log)
    raise ExportError(f"cannot lower {spec.name!r} to ExecuTorch ({what}): torch.export failed: {failure}")


def quantization_config() -> Any:
    """The XNNPACK quantizer's symmetric per-channel static config, with min-max activation observers.

    Its default histogram observers clip activation outliers; on SR networks, whose outputs must keep
    every grey level, that cost ABPN 0.27 dB against 0.09 dB with min-max on the bundled photos.
    """
    import dataclasses

    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config
    from torchao.quantization.pt2e import MinMaxObserver

    config = get_symmetric_quantization_config(is_per_channel=True)
    activation = dataclasses.replace(config.input_activation,
                                     observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
    return dataclasses.replace(config, input_activation=activation, output_activation=activation)


def _quantize_pt2e(module: Any, spec: ModelSpec, calibration: Sequence[np.ndarray]) -> Any:
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if not calibration:
        raise ExportError(f"int8 ExecuTorch export of {spec.name!r} needs calibration images")
    graph = _torch_export(module, spec, "int8").module()
    quantizer = XNNPACKQuantizer().set_global(quantization_config())
    error: Exception | None = None
    with _quiet() as log:
        try:
            prepared = prepare_pt2e(graph, quantizer)
            with torch.no_grad():
                for image in calibration:
                    prepared(_to_nchw(image))
            return convert_pt2e(prepared)
        except Exception as exc:
            error = exc
    failure = _why(error, log)
    raise ExportError(f"cannot quantize {spec.name!r} to int8 for ExecuTorch (PT2E, XNNPACK quantizer): {failure}")


def delegation_summary(edge_program: Any) -> dict[str, Any]:
    """Nodes XNNPACK took vs. nodes left on ExecuTorch's portable kernels, from a lowered program."""
    graph_module = edge_program.graph_module
    delegated = partitions = 0
    fallback: Counter[str] = Counter()
    for node in graph_module.graph.nodes:
        if node.op == "get_attr" and str(node.target).startswith("lowered_module"):
            lowered = getattr(graph_module, str(node.target))
            partitions += 1
            inner = lowered.original_module.graph_module.graph
            delegated += sum(1 for n in inner.nodes if n.op == "call_function" and n.target is not operator.getitem)
        elif node.op == "call_function":
            name = getattr(node.target, "__name__", str(node.target))
            if node.target in (operator.getitem, operator.mul, operator.add, operator.floordiv, operator.sub):
                continue
            short = name.split(".")[0]
            if short in _STRUCTURAL:
                continue
            fallback[_op_name(node.target)] += 1
    total = delegated + sum(fallback.values())
    return {
        "delegated_nodes": delegated,
        "total_nodes": total,
        "partitions": partitions,
        "fallback_ops": dict(sorted(fallback.items())),
    }


def _op_name(target: Any) -> str:
    name = getattr(target, "_name", None) or getattr(target, "__name__", None) or str(target)
    return str(name).replace("aten::", "aten.")


def _smoke_run(path: Path, spec: ModelSpec, precision: str, size: tuple[int, int] = (16, 20)) -> None:
    """Load the program with the ExecuTorch runtime and run it once (a missing kernel fails here)."""
    import torch
    from executorch.runtime import Runtime

    failure: str | None = None
    error: Exception | None = None
    h, w = size
    with _quiet() as log:
        try:
            method = Runtime.get().load_program(path).load_method("forward")
            out = method.execute([torch.rand(1, 3, h, w).contiguous()])[0]
            if tuple(out.shape) != (1, 3, h * spec.scale, w * spec.scale):
                failure = f"output shape {tuple(out.shape)}, expected (1, 3, {h * spec.scale}, {w * spec.scale})"
        except Exception as exc:
            error = exc
    if error is not None:
        failure = _why(error, log)
        missing = [line.strip() for line in log if "Missing operator" in line]
        if missing:
            failure += f" ({missing[-1][-160:]})"
    if failure:
        raise ExportError(f"cannot lower {spec.name!r} to ExecuTorch {precision}: the runtime cannot run it: {failure}")


def export_pte(module: Any, spec: ModelSpec, precision: str, calibration: Sequence[np.ndarray],
               path: Path, fixed: tuple[int, int] | None = None) -> dict[str, Any]:
    """Lower ``module`` to a .pte: dynamic height/width up to :func:`max_side`, or one ``fixed`` (h, w)
    (int8 is calibrated on the photos either way: the fixed size only applies to the lowered program)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    meta: dict[str, Any] = {"layout": "NCHW", "dtype": "float32", "range": [0.0, 1.0], "delegate": "xnnpack",
                            "min_side": MIN_SIDE, "max_side": max_side(), "exporter": "torch.export + to_edge_transform_and_lower"}
    if precision == "fp32":
        graph = module
    elif precision == "int8":
        graph = _quantize_pt2e(module, spec, calibration)
        meta.update(quantization="PT2E static, XNNPACK quantizer: symmetric per-channel int8 weights, int8 "
                                 "activations (min-max observers)", calibration_images=len(calibration))
    else:
        raise ExportError(f"executorch backend has no precision {precision!r}")
    if fixed is not None:
        from edgebench.tiles import receptive_radius

        meta.update(fixed_size=list(fixed), min_side=None, max_side=None, tile_margin=receptive_radius(module))
    program = _torch_export(graph, spec, precision, fixed)
    error: Exception | None = None
    with _quiet() as log:
        try:
            edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
            summary = delegation_summary(edge.exported_program())
            et_program = edge.to_executorch()
            buffer = et_program.buffer
            plan = et_program.executorch_program.execution_plan[0]
            summary["planned_bytes"] = int(sum(plan.non_const_buffer_sizes))
        except Exception as exc:
            error = exc
    if error is not None:
        failure = _why(error, log)
        raise ExportError(f"cannot lower {spec.name!r} to ExecuTorch {precision} with XNNPACK: {failure}")
    Path(path).write_bytes(buffer)
    _smoke_run(Path(path), spec, precision, tuple(fixed) if fixed else (16, 20))
    meta.update(summary)
    return meta


# -- PyTorch Mobile (TorchScript lite interpreter) -----------------------------------------------
def _trace(module: Any, spec: ModelSpec, precision: str, refuse_warnings: bool = True) -> Any:
    import torch

    error: Exception | None = None
    with quiet_output() as log, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            traced = torch.jit.trace(module, _example(), check_trace=False)
        except Exception as exc:
            error = exc
    if error is not None:
        raise ExportError(f"cannot lower {spec.name!r} to the TorchScript lite interpreter ({precision}): "
                          f"torch.jit.trace failed: {_why(error, log)}")
    tracer = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    if tracer and refuse_warnings:
        raise ExportError(f"cannot lower {spec.name!r} to the TorchScript lite interpreter ({precision}): the trace "
                          f"would not generalise: {str(tracer[0].message).split('. ')[0].strip()[:200]}")
    return traced


def _quantize_fx(module: Any, spec: ModelSpec, calibration: Sequence[np.ndarray]) -> Any:
    import torch
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.observer import MinMaxObserver, default_per_channel_weight_observer
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    if not calibration:
        raise ExportError(f"int8 PyTorch Mobile export of {spec.name!r} needs calibration images")
    torch.backends.quantized.engine = QENGINE
    qconfig = QConfig(activation=MinMaxObserver.with_args(reduce_range=False),  # as for ExecuTorch
                      weight=default_per_channel_weight_observer)
    mapping = QConfigMapping().set_global(qconfig)
    error: Exception | None = None
    with _quiet() as log:
        try:
            prepared = prepare_fx(module, mapping, _example())
            with torch.no_grad():
                for image in calibration:
                    prepared(_to_nchw(image))
            return convert_fx(prepared).eval()
        except Exception as exc:
            error = exc
    failure = _why(error, log)
    raise ExportError(f"cannot quantize {spec.name!r} to int8 for PyTorch Mobile (FX graph mode, {QENGINE}): {failure}")


def export_ptl(module: Any, spec: ModelSpec, precision: str, calibration: Sequence[np.ndarray],
               path: Path) -> dict[str, Any]:
    import copy

    import torch
    from torch.jit.mobile import _export_operator_list, _load_for_lite_interpreter

    meta: dict[str, Any] = {"layout": "NCHW", "dtype": "float32", "range": [0.0, 1.0],
                            "format": "TorchScript lite interpreter (bytecode)",
                            "exporter": "torch.jit.trace" if precision == "fp32" else "FX graph mode + torch.jit.trace"}
    if precision == "fp32":
        graph = module
    elif precision == "int8":
        graph = _quantize_fx(copy.deepcopy(module), spec, calibration)
        meta.update(qengine=QENGINE, calibration_images=len(calibration),
                    quantization=f"FX graph mode static ({QENGINE}): per-channel int8 weights, uint8 activations "
                                 "(min-max observers)")
    else:
        raise ExportError(f"pytorch-mobile backend has no precision {precision!r}")
    with torch.no_grad():
        # int8: FX's symbolic trace already refused data-dependent control flow, and the warnings a trace
        # of the converted module gives are about its quantization parameters becoming constants
        traced = _trace(graph, spec, precision, refuse_warnings=precision == "fp32")
        failure: str | None = None
        error: Exception | None = None
        with _quiet() as log:
            try:
                frozen = torch.jit.freeze(traced.eval())
                frozen._save_for_lite_interpreter(str(path))
                lite = _load_for_lite_interpreter(str(path))
                out = lite(torch.rand(1, 3, 16, 20))
                if tuple(out.shape) != (1, 3, 16 * spec.scale, 20 * spec.scale):
                    failure = f"the lite interpreter returned shape {tuple(out.shape)}"
            except Exception as exc:
                error = exc
        if error is not None:
            failure = _why(error, log)
    if failure:
        raise ExportError(f"cannot lower {spec.name!r} to the TorchScript lite interpreter ({precision}): {failure}")
    ops = _export_operator_list(lite)
    meta["operators"] = sorted(ops)
    meta["quantized_ops"] = sorted(op for op in ops if op.startswith("quantized::"))
    return meta
