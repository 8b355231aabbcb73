"""edgebench runner adapter for ONNX Runtime (stand-alone: numpy + onnxruntime only)."""

import numpy as np
import onnxruntime as ort


PROVIDERS = {"cpu": "CPUExecutionProvider", "xnnpack": "XnnpackExecutionProvider",
             "nnapi": "NnapiExecutionProvider"}


def load(path, delegate, threads, meta):
    provider = PROVIDERS.get(delegate)
    if provider is None or provider not in ort.get_available_providers():
        raise RuntimeError("execution provider %s for delegate %r is not in this onnxruntime build (it has: %s)"
                           % (provider or "?", delegate, ", ".join(ort.get_available_providers())))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # the int8 recipe's load-time settings, e.g. session.x64quantprecision=1: on x86 without VNNI
    # onnxruntime then runs u8s8 layers on u8u8 kernels, which do not saturate (a no-op elsewhere)
    recipe = (meta or {}).get("int8_recipe") or {}
    config = dict(recipe.get("session_options") or {})
    for key, value in sorted(config.items()):
        options.add_session_config_entry(str(key), str(value))
    providers = ["CPUExecutionProvider"]
    if delegate == "xnnpack":  # XNNPACK runs its own thread pool: the session's intra-op pool stays at one
        providers.insert(0, (provider, {"intra_op_num_threads": str(threads or 0)}))
        options.intra_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    elif delegate == "nnapi":
        providers.insert(0, provider)
    session = ort.InferenceSession(path, options, providers=providers)
    return {
        "session": session,
        "run": session.run,
        "input": session.get_inputs()[0].name,
        "outputs": [session.get_outputs()[0].name],
        "threads": threads,
        "session_config": config,
        "int8_recipe": recipe.get("name"),
    }


def prepare(state, image):
    x = image.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0)
    return {state["input"]: np.ascontiguousarray(x)}


def invoke(state, feed):
    return state["run"](state["outputs"], feed)[0]


def finish(state, raw):
    out = np.clip(np.rint(raw * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1))


def describe(state):
    session = state["session"]
    return {
        "runtime": "onnxruntime",
        "version": ort.__version__,
        "providers": session.get_providers(),
        "threads": state["threads"] or "default",
        "session_config": state["session_config"],
        "int8_recipe": state["int8_recipe"],  # None for fp32
    }
