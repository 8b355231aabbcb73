"""plainconv runner adapter: runs a .npz conv net with numpy alone.

edgebench copies this file to the device next to its runner, so it imports only numpy, never
edgebench or torch.
"""

import json

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def load(path, delegate, threads, meta):
    if delegate != "cpu":
        raise RuntimeError("plainconv runs on the CPU only, not %r" % delegate)
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    graph = json.loads(str(arrays.pop("graph")))
    for node in graph:
        if node["op"] == "conv":
            # per group, a (k*k*cin, cout) matrix: im2col @ matrix is the convolution
            w = arrays[node["w"]].astype(np.float32)  # int8 values stay exact in float32
            groups = node["groups"]
            node["k"] = w.shape[2:]
            node["mats"] = [g.reshape(len(g), -1).T.copy() for g in np.split(w, groups)]
            node["bias"] = arrays[node["b"]] if node["b"] else None
            if "s" in node:
                node["out_scale"] = (arrays[node["s"]] * node["x_scale"]).astype(np.float32)
    return {"graph": graph}


def conv(x, node):
    if "x_scale" in node:  # int8: quantize the input as calibrated, then compute on the integers
        q = np.clip(np.rint(x / node["x_scale"]) + node["x_zero"], 0, 255)
        x = (q - node["x_zero"]).astype(np.float32)
    ph, pw = node["pad"]
    x = np.pad(x, ((ph, ph), (pw, pw), (0, 0)), mode=node["mode"])
    windows = sliding_window_view(x, node["k"], axis=(0, 1))  # H x W x C x kh x kw
    h, w = windows.shape[:2]
    cols = windows.reshape(h * w, node["groups"], -1)
    out = np.concatenate([cols[:, g] @ mat for g, mat in enumerate(node["mats"])], axis=1)
    if "out_scale" in node:
        out *= node["out_scale"]
    if node["bias"] is not None:
        out += node["bias"]
    return out.reshape(h, w, -1)


def shuffle(x, node):
    r = node["r"]
    h, w, c = x.shape
    return x.reshape(h, w, c // (r * r), r, r).transpose(0, 3, 1, 4, 2).reshape(h * r, w * r, c // (r * r))


OPS = {"conv": conv, "relu": lambda x, node: np.maximum(x, 0), "shuffle": shuffle}


def prepare(session, image):
    return image[0].astype(np.float32) / np.float32(255)  # uint8 1xHxWx3 -> float HxWx3 in [0, 1]


def invoke(session, feed):
    x = feed
    for node in session["graph"]:
        x = OPS[node["op"]](x, node)
    return x


def finish(session, raw):
    return np.clip(np.rint(raw * 255), 0, 255).astype(np.uint8)[None]


def describe(session):
    return {"runtime": "plainconv", "numpy": np.__version__, "ops": [node["op"] for node in session["graph"]]}
