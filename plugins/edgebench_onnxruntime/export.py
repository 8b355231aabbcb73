"""torch -> ONNX (dynamo exporter, opset 20, dynamic H/W) and static int8 quantization."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebench import ModelSpec
from edgebench.errors import ExportError
from edgebench.util import last_line, quiet_output

from .int8_target import Int8Choice, Int8Recipe, choose_int8_recipe

EXPORT_REVISION = 2  # bump when the export recipe changes: invalidates cached artifacts (2: per-target int8 recipe)
OPSET = 20
RECIPE_METADATA_KEY = "edgebench.int8_recipe"  # in the int8 model's metadata_props


def _to_nchw(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)


def export_fp32(module: Any, spec: ModelSpec, path: Path) -> None:
    import torch

    example = torch.rand(1, 3, 32, 32)
    h, w = torch.export.Dim("height", min=4, max=4096), torch.export.Dim("width", min=4, max=4096)
    with quiet_output() as log:
        try:
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=True,
                opset_version=OPSET,
                input_names=["lr"],
                output_names=["sr"],
                dynamic_shapes=({2: h, 3: w},),
                external_data=False,
            )
        except Exception as exc:
            failure: Exception | None = exc
        else:
            failure = None
    if failure is not None:
        detail = last_line(str(failure)) or last_line("\n".join(log))
        raise ExportError(f"cannot export {spec.name!r} to ONNX: {type(failure).__name__}: {detail}")


def _graph(module: Any, spec: ModelSpec, path: Path) -> None:
    """The fp32 graph, exported once per process for fp32 and int8 alike (see :mod:`.graph_memo`)."""
    from . import graph_memo

    graph_memo.exported(module, path, lambda target: export_fp32(module, spec, target), OPSET, EXPORT_REVISION)


def target_choice() -> Int8Choice:
    """The int8 recipe for the target CPU (see :mod:`.int8_target`); a bad setting is an ExportError."""
    try:
        return choose_int8_recipe()
    except ValueError as exc:
        raise ExportError(str(exc)) from None


def quantize_int8(
    fp32_path: Path, path: Path, calibration: Sequence[np.ndarray], spec: ModelSpec, recipe: Int8Recipe
) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise ExportError(f"int8 export of {spec.name!r} needs calibration images")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter([{"lr": _to_nchw(img)} for img in calibration])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    types = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    fp32_path, path = Path(fp32_path).resolve(), Path(path).resolve()
    # in the scratch dir: a failed symbolic shape inference leaves sym_shape_infer_temp.onnx and a
    # <uuid>.data file in the working directory
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp), quiet_output() as log:
        pre = Path(tmp) / "pre.onnx"
        try:
            try:
                quant_pre_process(str(fp32_path), str(pre))
            except Exception:  # ops without a symbolic-shape rule (GridSample): ONNX shape inference only
                quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            quantize_static(
                str(pre),
                str(path),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=types[recipe.activations],
                weight_type=types[recipe.weights],
                reduce_range=recipe.reduce_range,
            )
        except Exception as exc:
            raise ExportError(
                f"cannot quantize {spec.name!r} to int8 ONNX: {type(exc).__name__}: "
                f"{last_line(str(exc)) or last_line(chr(10).join(log))}"
            ) from None
    _stamp_recipe(path, recipe)


def _stamp_recipe(path: Path, recipe: Int8Recipe) -> None:
    """Write the recipe into the model's metadata: the file then names how it must be run, and two
    recipes that quantize alike (u8s8, u8s8-precise) still differ in bytes, so their results never
    pass for the same artifact (same SHA-256)."""
    import onnx

    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key = RECIPE_METADATA_KEY
    entry.value = json.dumps({"name": recipe.name, "session_options": dict(recipe.session_options)},
                             sort_keys=True)
    onnx.save(model, str(path))


def export_onnx(
    module: Any, spec: ModelSpec, precision: str, calibration: Sequence[np.ndarray], path: Path
) -> dict[str, Any]:
    meta: dict[str, Any] = {"layout": "NCHW", "dtype": "float32", "range": [0.0, 1.0], "opset": OPSET}
    if precision == "fp32":
        _graph(module, spec, path)
    elif precision == "int8":
        choice = target_choice()  # before the slow export: a bad setting fails at once
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            _graph(module, spec, fp32)
            quantize_int8(fp32, path, calibration, spec, choice.recipe)
        # the recipe travels with the artifact: the runner adapter applies its session options
        meta.update(quantization=f"static QDQ, per-channel {choice.recipe.describe()}, min-max calibration",
                    calibration_images=len(calibration), int8_recipe=choice.meta())
    else:
        raise ExportError(f"onnxruntime backend has no precision {precision!r}")
    return meta
