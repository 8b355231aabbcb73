"""torch -> .tflite with litert-torch: fp32, and full int8 through PT2E quantization.

Recipe (DESIGN.md, "Tested dependency set"):

* channel-last IO: the artifact takes ``1×H×W×3`` like the MAI challenge; the layout change is a
  transpose the converter folds into the first and last convolutions;
* int8: litert-torch's PT2E quantizer with symmetric per-channel int8 weights and min-max
  activation observers, calibrated on the real photos the harness passes; every op is quantized
  (adds, concatenations, pixel shuffle and layout ops share their input's parameters), then the
  float input QUANTIZE / output DEQUANTIZE are removed so the model takes the 8-bit image as it
  is (uint8, or int8 = uint8 - 128) and returns an 8-bit image;
* two exact rewrites keep the graph channel-last and fully delegated: ``nn.PixelShuffle`` becomes
  one NHWC reshape/transpose/reshape, a channel ``repeat_interleave`` (ABPN's anchor) a 1x1
  convolution with 0/1 weights (ABPN at 360x640: 12 ops, all XNNPACK, instead of 20 with a
  BROADCAST_TO the delegate refuses);
* no clamp in the graph: the output's fixed quantization range ``[0, 1]`` (scale 1/255) is the
  clip, and fp32 outputs are clipped on the host.

TFLite graphs from litert-torch have static shapes (a pixel shuffle becomes reshapes with
constant shapes), so one artifact holds one *signature* per input size: the MAI size 360x640
(the first, which ``benchmark_model`` runs by default) and the quick size 48x64, which is also the
tile the runner adapter uses to run the model on photos of any size (tiles overlap by more than the
network's receptive field, so tiled outputs equal whole-image outputs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebench import ModelSpec
from edgebench.tiles import receptive_radius
from edgebench.errors import ExportError

EXPORT_REVISION = 3  # bump when the recipe changes: invalidates cached artifacts
#: (height, width) of each signature; the first is the default one (MAI 2022: 360x640)
SHAPES: tuple[tuple[int, int], ...] = ((360, 640), (48, 64))
TILE = (48, 64)  # the signature used to run the model on quality photos of any size
IO_TYPES = {"uint8": 3, "int8": 9}  # tflite TensorType values


def signature_name(height: int, width: int) -> str:
    return f"serving_{height}x{width}"


@contextlib.contextmanager
def _quiet():
    """litert-torch prints a progress tree and absl logs: keep them out of edgebench's output."""
    out, err = io.StringIO(), io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _nhwc(module: Any) -> Any:
    import torch

    class ChannelLast(torch.nn.Module):
        """NHWC in, NHWC out, around edgebench's NCHW [0, 1] model convention."""

        def __init__(self, wrapped: torch.nn.Module):
            super().__init__()
            self.wrapped = wrapped

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.wrapped(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    return ChannelLast(module).eval()


def _channel_last_shuffle(module: Any) -> Any:
    """A copy of ``module`` whose nn.PixelShuffle layers shuffle in NHWC (one transpose, not six ops)."""
    import copy

    import torch

    class PixelShuffleNHWC(torch.nn.Module):
        """Exactly nn.PixelShuffle, written so the converter keeps the tensor channel-last."""

        def __init__(self, r: int):
            super().__init__()
            self.r = r

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, crr, h, w = x.shape
            r = self.r
            c = crr // (r * r)
            y = x.permute(0, 2, 3, 1).reshape(n * h, w, c, r, r)  # channel index = c*r*r + i*r + j
            y = y.permute(0, 3, 1, 4, 2).reshape(n, h * r, w * r, c)
            return y.permute(0, 3, 1, 2)

    if not any(isinstance(m, torch.nn.PixelShuffle) for m in module.modules()):
        return module
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.PixelShuffle):
                setattr(parent, name, PixelShuffleNHWC(child.upscale_factor))
    return module.eval()


def _repeat_as_conv(gm: Any) -> Any:
    """Channel repeat_interleave (ABPN's anchor) as a 1x1 convolution with 0/1 weights.

    Identical values; TFLite gets one CONV_2D the delegates take instead of NCHW transposes, a
    BROADCAST_TO (which XNNPACK refuses) and reshapes.
    """
    import torch

    graph, count = gm.graph, 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not torch.ops.aten.repeat_interleave.self_int:
            continue
        x, repeats, *rest = node.args
        dim = rest[0] if rest else node.kwargs.get("dim")
        val = x.meta.get("val") if isinstance(x, torch.fx.Node) else None
        if val is None or val.dim() != 4 or dim not in (1, -3) or not isinstance(repeats, int):
            continue
        channels = int(val.shape[1])
        weight = torch.zeros(channels * repeats, channels, 1, 1)
        for i in range(channels * repeats):
            weight[i, i // repeats] = 1.0
        name = f"_edgebench_repeat_weight_{count}"
        count += 1
        gm.register_buffer(name, weight)
        with graph.inserting_before(node):
            w = graph.get_attr(name)
            conv = graph.call_function(torch.ops.aten.conv2d.default, (x, w))
        conv.meta = dict(node.meta)
        node.replace_all_uses_with(conv)
        graph.erase_node(node)
    if count:
        graph.lint()
        gm.recompile()
    return gm


def _graph(module: Any) -> Any:
    """The NHWC model as an exported graph (dynamic height and width), rewritten for TFLite."""
    import torch

    h, w = torch.export.Dim("height", min=8, max=4096), torch.export.Dim("width", min=8, max=4096)
    exported = torch.export.export(_nhwc(_channel_last_shuffle(module)), (torch.zeros(1, 48, 64, 3),),
                                   dynamic_shapes=({1: h, 2: w},))
    return _repeat_as_conv(exported.module())


def _convert(modules: Any, path: Path, quant_config: Any = None) -> None:
    """Convert ``modules(h, w) -> torch module`` at every shape in SHAPES into one file."""
    import litert_torch
    import torch

    converter = litert_torch.Converter()
    for h, w in SHAPES:
        converter.signature(signature_name(h, w), modules(h, w), (torch.zeros(1, h, w, 3),))
    edge = converter.convert(quant_config=quant_config) if quant_config else converter.convert()
    edge.export(str(path))


# -- int8 ---------------------------------------------------------------------------------------
_SHARED_OPS = {"permute", "pixel_shuffle", "pixel_unshuffle", "repeat_interleave", "slice", "view", "reshape",
               "unsqueeze", "squeeze", "expand", "clone", "transpose", "flatten", "contiguous", "select"}
_MULTI_INPUT_OPS = {"add", "cat", "concat", "mul", "sub"}


def _op_name(node: Any) -> str:
    target = getattr(node.target, "__name__", str(node.target))
    return target.split(".")[0]


def _quantizer() -> Any:
    """litert-torch's symmetric per-channel static quantizer, completed so that every op is int8."""
    import torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.observer import MinMaxObserver
    from torchao.quantization.pt2e.quantizer import (
        FixedQParamsQuantizationSpec,
        QuantizationAnnotation,
        QuantizationSpec,
        SharedQuantizationSpec,
    )

    act = QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine,
                           is_dynamic=False, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
    # the 8-bit image itself: value v in [0, 255] is v/255, i.e. int8 v - 128 (uint8 v)
    image = FixedQParamsQuantizationSpec(dtype=torch.int8, scale=1.0 / 255.0, zero_point=-128, quant_min=-128,
                                         quant_max=127, qscheme=torch.per_tensor_affine)

    def annotated(node: Any) -> Any:
        return node.meta.get("quantization_annotation")

    def is_tensor(node: Any) -> bool:
        return isinstance(node.meta.get("val"), torch.Tensor) or node.op in ("placeholder", "get_attr")

    def from_image(node: Any) -> bool:
        """The node is the input image, or slices / layout changes of it."""
        while isinstance(node, torch.fx.Node) and node.op == "call_function" and _op_name(node) in _SHARED_OPS:
            node = node.args[0]
        if isinstance(node, torch.fx.Node) and node.op == "call_function" and _op_name(node) in ("cat", "concat"):
            return all(from_image(t) for t in node.args[0])
        return isinstance(node, torch.fx.Node) and node.op == "placeholder"

    def annotate_rest(gm: torch.fx.GraphModule) -> None:
        nodes = list(gm.graph.nodes)
        for node in nodes:
            if node.op != "call_function" or annotated(node) is not None:
                continue
            if not is_tensor(node):  # symbolic sizes (sym_size, their products) are not data
                continue
            name = _op_name(node)
            args = node.args[0] if name == "cat" and node.args and isinstance(node.args[0], (list, tuple)) else node.args
            tensors = [a for a in args if isinstance(a, torch.fx.Node) and is_tensor(a)]
            if name in _SHARED_OPS and tensors:
                src = tensors[0]
                if src.op == "placeholder":
                    qspec_in = image
                elif annotated(src) is not None and annotated(src).output_qspec is not None:
                    qspec_in = SharedQuantizationSpec(src)
                else:
                    qspec_in = act
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={src: qspec_in}, output_qspec=SharedQuantizationSpec((src, node)),
                    _annotated=True)
            elif name in ("cat", "concat") and tensors and all(from_image(t) for t in tensors):
                # pieces of the input image (bicubic's edge padding): TFLite wants one scale, the image's
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={t: image for t in tensors}, output_qspec=image, _annotated=True)
            elif name in _MULTI_INPUT_OPS and tensors:
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={t: act for t in tensors}, output_qspec=act, _annotated=True)
        # ops annotated by litert-torch (convs) that read the image: no requantization of the image
        for node in nodes:
            ann = annotated(node)
            if ann is None or not ann.input_qspec_map:
                continue
            for src in list(ann.input_qspec_map):
                if src.op != "placeholder" and from_image(src) and _op_name(src) in _SHARED_OPS:
                    ann.input_qspec_map[src] = image
        # the graph's output is the image: fix its range to [0, 1] (this is the clip)
        for out in (n for n in nodes if n.op == "output"):
            results = out.args[0] if isinstance(out.args[0], (list, tuple)) else [out.args[0]]
            for node in results:
                while isinstance(node, torch.fx.Node) and _op_name(node) in _SHARED_OPS:
                    node = node.args[0]
                ann = annotated(node) if isinstance(node, torch.fx.Node) else None
                if ann is not None and ann.output_qspec is not None:
                    ann.output_qspec = image

    class FullInt8Quantizer(PT2EQuantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = super().annotate(model)
            annotate_rest(model)
            return model

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    # min-max activation observers (litert-torch defaults to histograms, which clip SR residuals)
    config = dataclasses.replace(config, input_activation=act, output_activation=act)
    return FullInt8Quantizer().set_global(config)


def _calibration_tensors(calibration: Sequence[np.ndarray]) -> list[Any]:
    import torch

    return [torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)[None] / np.float32(255.0))
            for img in calibration]


def quantized_module(module: Any, calibration: Sequence[np.ndarray]) -> tuple[Any, Any]:
    """PT2E: export (dynamic H/W), insert observers, calibrate on the photos, convert to q/dq."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = _quantizer()
    prepared = prepare_pt2e(_graph(module), quantizer)
    with torch.no_grad():
        for x in _calibration_tensors(calibration):
            prepared(x)
    return convert_pt2e(prepared, fold_quantize=False), quantizer


def set_io_type(src: Path, dst: Path, io_type: str) -> None:
    """Remove the float QUANTIZE/DEQUANTIZE at the model's edges: 8-bit image in, 8-bit image out."""
    from ai_edge_litert import _pywrap_modify_model_interface as modify

    code = IO_TYPES[io_type]
    status = modify.modify_model_interface(str(src), str(dst), code, code)
    if status != 0 or not dst.is_file():
        raise ExportError(f"could not set the model's input/output to {io_type} (status {status})")


def export_tflite(
    module: Any, spec: ModelSpec, precision: str, calibration: Sequence[np.ndarray], path: Path,
    io_type: str = "uint8",
) -> dict[str, Any]:
    import torch

    module = module.eval()
    meta: dict[str, Any] = {
        "layout": "NHWC",
        "signatures": {signature_name(h, w): [h, w] for h, w in SHAPES},
        "default_signature": signature_name(*SHAPES[0]),
        "tile": list(TILE),
        "tile_signature": signature_name(*TILE),
        "tile_margin": receptive_radius(module),
    }
    try:
        if precision == "fp32":
            with _quiet(), torch.no_grad():
                graph = _graph(module)
                _convert(lambda h, w: graph, path)
            meta.update(dtype="float32", range=[0.0, 1.0])
        elif precision == "int8":
            if not calibration:
                raise ExportError(f"int8 export of {spec.name!r} needs calibration images")
            from litert_torch.quantize.quant_config import QuantConfig

            with _quiet(), tempfile.TemporaryDirectory() as tmp:
                qmodule, quantizer = quantized_module(module, calibration)
                float_io = Path(tmp) / "float_io.tflite"
                _convert(lambda h, w: qmodule, float_io, QuantConfig(pt2e_quantizer=quantizer))
                set_io_type(float_io, path, io_type)
            meta.update(dtype=io_type, range=[0, 255], zero_point=0 if io_type == "uint8" else -128,
                        scale=1.0 / 255.0, calibration_images=len(calibration),
                        quantization="PT2E static: symmetric per-channel int8 weights, min-max int8 "
                                     "activations; 8-bit image in and out (scale 1/255)")
        else:
            raise ExportError(f"tflite backend has no precision {precision!r}")
    except ExportError:
        raise
    except Exception as exc:
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        raise ExportError(f"cannot export {spec.name!r} to TFLite {precision}: {type(exc).__name__}: "
                          f"{lines[0] if lines else ''}") from None
    return meta
