"""The plainconv backend: Conv2d / ReLU / PixelShuffle stacks exported to a .npz that numpy runs."""

import json
from pathlib import Path

from edgebench import Backend
from edgebench.errors import BackendUnavailable, ExportError

FORMAT = 1  # bump when the file layout changes: edgebench then re-exports cached artifacts


class PlainconvBackend(Backend):
    name = "plainconv"
    suffix = ".npz"
    delegates = ("cpu",)
    runtime_module = "numpy"
    description = "pure-numpy runtime for plain conv nets; int8: per-channel weights, calibrated inputs"

    def version(self):
        from importlib.metadata import PackageNotFoundError, version

        try:
            version("torch")  # the exporter reads torch modules
            return version("numpy")
        except PackageNotFoundError as exc:
            raise BackendUnavailable(f"{exc.name} is not installed: pip install 'edgebench[torch]'") from None

    def cache_key(self):
        return f"plainconv-{FORMAT}-numpy-{self.version()}"

    def adapter_path(self):
        return Path(__file__).with_name("adapter_plainconv.py")

    def export(self, module, spec, precision, calibration, path):
        import numpy as np

        layers = flatten(module, spec.name)
        if precision == "int8" and not calibration:
            raise ExportError(f"plainconv int8 export of {spec.name!r} needs calibration photos")
        ranges = input_ranges(layers, calibration) if precision == "int8" else {}
        graph, arrays = [], {}
        for i, layer in enumerate(layers):
            op = type(layer).__name__
            if op == "Conv2d":
                weight = layer.weight.detach().numpy().astype(np.float32)
                arrays[f"w{i}"] = weight
                if layer.bias is not None:
                    arrays[f"b{i}"] = layer.bias.detach().numpy().astype(np.float32)
                node = {"op": "conv", "w": f"w{i}", "b": f"b{i}" if layer.bias is not None else None,
                        "pad": list(layer.padding), "groups": layer.groups,
                        "mode": "edge" if layer.padding_mode == "replicate" else "constant"}
                if precision == "int8":
                    node.update(quantize(weight, *ranges[i], arrays, i))
                graph.append(node)
            elif op == "ReLU":
                graph.append({"op": "relu"})
            else:
                graph.append({"op": "shuffle", "r": layer.upscale_factor})
        with open(path, "wb") as fh:  # exactly `path`: np.savez would append .npz to a name
            np.savez(fh, graph=np.array(json.dumps(graph)), **arrays)
        return {"format": FORMAT, "ops": [node["op"] for node in graph]}


def flatten(module, model_name):
    """The module's layers in order; anything but Conv2d, ReLU and PixelShuffle cannot be exported."""
    from torch import nn

    layers = []
    for layer in module if isinstance(module, nn.Sequential) else [module]:
        if isinstance(layer, nn.Sequential):
            layers += flatten(layer, model_name)
        elif isinstance(layer, nn.Conv2d) and (layer.stride, layer.dilation) == ((1, 1), (1, 1)) \
                and layer.padding_mode in ("zeros", "replicate") and not isinstance(layer.padding, str):
            layers.append(layer)
        elif isinstance(layer, (nn.ReLU, nn.PixelShuffle)):
            layers.append(layer)
        else:
            raise ExportError(f"plainconv cannot export {model_name!r}: unsupported layer {layer!r}")
    return layers


def input_ranges(layers, calibration):
    """Min and max of each conv's input over the calibration photos (0 always inside the range)."""
    import torch

    ranges = {}
    with torch.no_grad():
        for image in calibration:  # uint8 HWC low-resolution photos
            x = torch.tensor(image).permute(2, 0, 1)[None].float() / 255
            for i, layer in enumerate(layers):
                if isinstance(layer, torch.nn.Conv2d):
                    lo, hi = ranges.get(i, (0.0, 0.0))
                    ranges[i] = (min(lo, x.min().item()), max(hi, x.max().item()))
                x = layer(x)
    return ranges


def quantize(weight, lo, hi, arrays, i):
    """int8 weights per output channel (symmetric), uint8 input scale and zero point (affine)."""
    import numpy as np

    w_scale = np.abs(weight).reshape(len(weight), -1).max(axis=1) / 127
    w_scale[w_scale == 0] = 1
    arrays[f"w{i}"] = np.clip(np.rint(weight / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
    arrays[f"s{i}"] = w_scale.astype(np.float32)
    x_scale = (hi - lo) / 255 or 1.0
    return {"s": f"s{i}", "x_scale": x_scale, "x_zero": int(round(-lo / x_scale))}
