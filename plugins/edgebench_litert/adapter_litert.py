"""edgebench runner adapter for TFLite / LiteRT (stand-alone: numpy + the interpreter only).

Uses ``ai_edge_litert.interpreter`` or, failing that, ``tflite_runtime.interpreter``.

Delegates: ``cpu`` (the builtin kernels, no default delegate), ``xnnpack`` (the interpreter's
default XNNPACK delegate), ``nnapi`` and ``gpu`` (loaded from their shared libraries; where the
library is missing the load fails with one line saying so, never a silent CPU fallback).

The artifact has one signature per supported input size (static shapes); an image of another size
runs as overlapping tiles of the ``tile`` signature, cut so that every kept output pixel saw its
whole receptive field (or the image border, exactly as in a whole-image run).
"""

import os

import numpy as np

try:
    from ai_edge_litert import interpreter as tfl

    RUNTIME = "ai_edge_litert"
except ImportError:  # a board with the old standalone wheel
    from tflite_runtime import interpreter as tfl

    RUNTIME = "tflite_runtime"

DELEGATE_LIBRARIES = {
    "gpu": ("libtensorflowlite_gpu_delegate.so", "libLiteRtGpuAccelerator.so"),
    "nnapi": ("libtensorflowlite_nnapi_delegate.so", "libnnapi_delegate.so"),
}
DELEGATE_NODE = ("DELEGATE", "Delegate", "TfLite", "XNNPack")


def _runtime_version():
    try:
        from importlib.metadata import version

        return version("ai-edge-litert" if RUNTIME == "ai_edge_litert" else "tflite-runtime")
    except Exception:
        return getattr(tfl, "__version__", "unknown")


def _interpreter(path, delegate, threads):
    kwargs = {}
    if threads:
        kwargs["num_threads"] = int(threads)
    resolver = getattr(tfl, "OpResolverType", None)
    if delegate == "xnnpack":
        return tfl.Interpreter(model_path=path, **kwargs)
    if resolver is None:
        raise RuntimeError("this %s has no OpResolverType: cannot run without XNNPACK" % RUNTIME)
    kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if delegate == "cpu":
        return tfl.Interpreter(model_path=path, **kwargs)
    if delegate in DELEGATE_LIBRARIES:
        errors = []
        for library in DELEGATE_LIBRARIES[delegate]:
            try:
                loaded = tfl.load_delegate(library)
            except (ValueError, OSError, RuntimeError) as exc:
                errors.append("%s: %s" % (library, str(exc).strip().splitlines()[0] if str(exc).strip() else "?"))
                continue
            return tfl.Interpreter(model_path=path, experimental_delegates=[loaded], **kwargs)
        raise RuntimeError("delegate %r is not available on this device (%s could not load %s)"
                           % (delegate, RUNTIME, "; ".join(errors)))
    raise RuntimeError("unknown delegate %r for tflite (cpu, xnnpack, nnapi, gpu)" % delegate)


def delegated_nodes(wrapper):
    """(delegated, total) original nodes of the default subgraph, from the delegate kernels' boundaries."""
    try:
        count = wrapper.NumNodes()
        name, inputs, outputs = wrapper.NodeName, wrapper.NodeInputs, wrapper.NodeOutputs
    except Exception:  # an interpreter without node introspection
        return None, None
    original, kernels, producer = [], [], {}
    for i in range(count):
        (kernels if any(k in str(name(i)) for k in DELEGATE_NODE) else original).append(i)
    for i in original:
        for t in outputs(i):
            producer[int(t)] = i
    covered = set()
    for k in kernels:
        boundary = {int(t) for t in inputs(k)}
        stack = [int(t) for t in outputs(k)]
        while stack:
            node = producer.get(stack.pop())
            if node is None or node in covered:
                continue
            covered.add(node)
            stack.extend(int(t) for t in inputs(node) if int(t) >= 0 and int(t) not in boundary)
    return len(covered), len(original)


class _Signature:
    def __init__(self, interpreter, key):
        runner = interpreter.get_signature_runner(key)
        self.key = key
        self.runner = runner
        details = runner.get_input_details()
        (self.input_name, detail), = details.items()
        self.shape = tuple(int(v) for v in detail["shape"])
        self.dtype = detail["dtype"]
        self.in_q = detail.get("quantization", (0.0, 0))
        (self.output_name, out), = runner.get_output_details().items()
        self.out_dtype = out["dtype"]
        self.out_q = out.get("quantization", (0.0, 0))
        wrapper = getattr(runner, "_interpreter_wrapper", None)
        index = getattr(runner, "_subgraph_index", None)
        self.fast = None
        if wrapper is not None and index is not None:
            runner(**{self.input_name: np.zeros(self.shape, self.dtype)})  # allocates this subgraph
            self.fast = (wrapper, index, runner._inputs[self.input_name], dict(runner._outputs)[self.output_name])

    def to_input(self, image):
        if self.dtype == np.float32:
            return image.astype(np.float32) * np.float32(1.0 / 255.0)
        scale, zero = self.in_q
        if self.dtype == np.int8 and abs(scale * 255.0 - 1.0) < 1e-6 and zero == -128:
            return (image ^ np.uint8(0x80)).view(np.int8)  # the 8-bit image as it is (minus 128)
        if self.dtype == np.uint8 and abs(scale * 255.0 - 1.0) < 1e-6 and zero == 0:
            return image
        info = np.iinfo(self.dtype)
        q = np.rint(image.astype(np.float32) / 255.0 / scale + zero)
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def to_image(self, out):
        if self.out_dtype == np.float32:
            return np.clip(np.rint(out * np.float32(255.0)), 0, 255).astype(np.uint8)
        scale, zero = self.out_q
        if self.out_dtype == np.int8 and abs(scale * 255.0 - 1.0) < 1e-6 and zero == -128:
            return out.view(np.uint8) ^ np.uint8(0x80)
        if self.out_dtype == np.uint8 and abs(scale * 255.0 - 1.0) < 1e-6 and zero == 0:
            return out
        values = (out.astype(np.float32) - zero) * scale * 255.0
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)

    def __call__(self, x):
        if self.fast is not None:
            wrapper, index, tin, tout = self.fast
            wrapper.SetTensor(tin, x, index)
            wrapper.Invoke(index)
            return wrapper.GetTensor(tout, index)
        return self.runner(**{self.input_name: x})[self.output_name]


def load(path, delegate, threads, meta):
    interpreter = _interpreter(path, delegate, threads)
    interpreter.allocate_tensors()
    signatures = {}
    for key in interpreter.get_signature_list():
        sig = _Signature(interpreter, key)
        signatures[sig.shape[1:3]] = sig
    if not signatures:
        raise RuntimeError("%s has no signatures" % os.path.basename(path))
    delegated, total = (None, None)
    if delegate != "cpu":
        delegated, total = delegated_nodes(interpreter._interpreter)
        if delegated == 0:
            raise RuntimeError("delegate %r took none of the model's %s nodes" % (delegate, total))
    tile = tuple(meta.get("tile") or next(iter(signatures)))
    return {
        "interpreter": interpreter, "signatures": signatures, "tile": signatures.get(tile),
        "margin": int(meta.get("tile_margin", 8)), "delegate": delegate, "threads": threads,
        "delegated": delegated, "total": total, "tiled": 0, "padded": 0,
    }


def prepare(state, image):
    sig = state["signatures"].get(tuple(image.shape[1:3]))
    if sig is not None:
        return (sig, np.ascontiguousarray(sig.to_input(image)))
    if state["tile"] is None:
        raise RuntimeError("no signature for %dx%d and no tile signature" % image.shape[1:3])
    return (None, image)


def _starts(length, tile, margin):
    if length <= tile:
        return [0]
    step = max(tile - 2 * margin, 1)
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def tile_crops(image, th, tw, margin):
    """The overlapping (y, x, crop) tiles of an NHWC image, padded by edge replication when smaller."""
    _, h, w, _ = image.shape
    padded = image
    if h < th or w < tw:  # smaller than a tile: edge-replicate (this border is then approximate)
        padded = np.pad(image, ((0, 0), (0, max(th - h, 0)), (0, max(tw - w, 0)), (0, 0)), mode="edge")
    ph, pw = padded.shape[1:3]
    return [(y, x, np.ascontiguousarray(padded[:, y:y + th, x:x + tw]))
            for y in _starts(ph, th, margin) for x in _starts(pw, tw, margin)]


def stitch(tiles, image_shape, th, tw, margin):
    """Join the SR outputs of :func:`tile_crops`' tiles ([(y, x, sr)]) into one image of the input's size."""
    _, h, w, _ = image_shape
    ph, pw = max(h, th), max(w, tw)
    scale = tiles[0][2].shape[1] // th
    out = np.zeros((1, ph * scale, pw * scale, 3), np.uint8)
    for y, x, sr in tiles:  # each tile keeps what lies beyond its margin (the image border excepted)
        y0, x0 = (y + margin if y else 0), (x + margin if x else 0)
        out[:, y0 * scale:(y + th) * scale, x0 * scale:(x + tw) * scale] = sr[:, (y0 - y) * scale:, (x0 - x) * scale:]
    return out[:, :h * scale, :w * scale]


def _tiled(state, image):
    sig, margin = state["tile"], state["margin"]
    th, tw = sig.shape[1:3]
    if image.shape[1] < th or image.shape[2] < tw:
        state["padded"] += 1
    done = [(y, x, sig.to_image(sig(sig.to_input(crop)))) for y, x, crop in tile_crops(image, th, tw, margin)]
    state["tiled"] += 1
    return stitch(done, image.shape, th, tw, margin)


def invoke(state, feed):
    sig, x = feed
    if sig is None:
        return (None, _tiled(state, x))
    return (sig, sig(x))


def finish(state, raw):
    sig, out = raw
    image = out if sig is None else sig.to_image(out)
    return np.ascontiguousarray(image)


def describe(state):
    info = {
        "runtime": RUNTIME,
        "version": _runtime_version(),
        "delegate": state["delegate"],
        "threads": state["threads"] or "default",
        "signatures": sorted("%dx%d" % hw for hw in state["signatures"]),
        "tiled_images": state["tiled"],
        "padded_images": state["padded"],
    }
    if state["delegated"] is not None:
        info["delegated_nodes"] = state["delegated"]
        info["total_nodes"] = state["total"]
        info["delegation"] = "%d of %d nodes delegated" % (state["delegated"], state["total"])
    return info
