#!/usr/bin/env python3
"""A test double of ONNX Runtime's native ``onnxruntime_perf_test`` that really runs the .onnx file.

Format followed: **ONNX Runtime 1.20.1** (the newest version whose complete output is in the published corpus,
``tests/data/ort_perf_test/published/ort1_20_sdk_doc_acl_rst_with_help.rst``: its ``--help`` text is reproduced
in ``USAGE`` below, its run block line for line by :func:`_summary`).  Every printed figure is measured here:
the session is a real ``onnxruntime.InferenceSession``, each timed run is a ``perf_counter`` wall time of a real
``session.run`` on random inputs of the model's input shapes, the peak working set is this process's ``VmHWM``
and the CPU usage its own user+system time over the loop's wall time, normalised by the core count (the Pixel 6
published sample reads 12 % for one busy thread of eight).  With ``-v`` the node placement lines are ORT's own:
the session logger is set to VERBOSE exactly as the real tool's ``Ort::Env`` is, so ORT itself prints
``Node placements`` / `` All nodes placed on [CPUExecutionProvider]. Number of nodes: N`` (for the optimised
graph) on stderr, like the native tool's log sink.

Stand-alone on purpose (stdlib + numpy + onnxruntime; never imports edgebench): it is pushed to a (virtual) phone
and run there as an executable; ``edgebench.testing.ort_perf_test_tool.write_ort_perf_test`` writes it with a
shebang naming the Python that has onnxruntime and bakes ``FAIL`` in.

Usage: ``onnxruntime_perf_test [options...] model_path [result_file]`` with the 1.20 getopt string.  Acted on:
``-e`` (cpu; xnnpack and the rest only when ``onnxruntime.get_available_providers()`` has them), ``-r``, ``-m
times|duration``, ``-t``, ``-x``, ``-y``, ``-I``, ``-s``, ``-v``, ``-f name:value`` (free dimension override,
otherwise free dimensions are 1 as the help says), ``-o``, ``-S`` (seed), ``-Z``.  Accepted and ignored: the
other 1.20 options (``-p`` profile file included: no profile is written).  A ``result_file`` gets the per-run
lines of ``PerformanceResult::DumpToFile`` (``model,time_cost,peak,cpu,index``) and, with ``-s``, its stats.

Test instrumentation: ``EDGEBENCH_DOUBLE_LOOP_FILE=PATH`` makes it write the wall-clock start and end of its timed
loop to PATH (for tests that check where edgebench placed the loop from outside, e.g. a power meter's window).

Failure behaviour (the wording and where it comes from)
------------------------------------------------------
* unknown option / missing argument / bad value / ``-h`` / no model path: glibc getopt's
  ``onnxruntime_perf_test: invalid option -- 'K'`` (or ``option requires an argument -- 'r'``) on stderr, then
  the 1.20 usage text on stdout, exit 255 (``main`` returns -1).  This is the getopt-era behaviour (1.20 and
  earlier); newer builds that say ``See 'onnxruntime_perf_test --help'`` are not followed.
* an execution provider missing from this build: ``<EP> is not supported in this build`` thrown by
  ``ort_test_session.cc`` (wording from the tool's source, quoted in SOURCES.md for NNAPI and Xnnpack; the other
  providers' capitalisation is reconstructed), printed by ``main`` as the exception's ``what()`` -- ORT's
  ``file:line function`` location first, then the message and its own ``\\n`` -- exit 255.  The source line
  numbers are plausible placeholders, not read off 1.20.1.
* a model that is not a protobuf: ``OnnxModelInfo`` (which parses the model before the session is made, so this
  wins over a missing provider) throws ``Failed to load model because protobuf parsing failed.``; a missing model
  file: ``open file <path> fail, errcode = 2 - No such file or directory`` (reconstructed).  Other session creation
  errors are printed as ORT's C++ exception text (the Python ``[ONNXRuntimeError] : N : CODE :`` prefix removed).
* no ``-I``: the inputs come from ``test_data_set_*/input_*.pb`` (TensorProto files, matched by name, else by
  position) in the model path's folder, each set in turn per run; none there: ``there is no test input data for
  input X and model Y`` then ``Run failed:failed to initialize.`` (the published 2020 wording, issue 4331).
* ``DEBUG_NODE_IO = True`` (baked by the writer): a build with ``onnxruntime_DEBUG_NODE_INPUTS_OUTPUTS=1``.
  With ``ORT_DEBUG_NODE_IO_DUMP_OUTPUT_DATA=1`` and ``ORT_DEBUG_NODE_IO_DUMP_DATA_DESTINATION=files`` each run
  writes ``<ORT_DEBUG_NODE_IO_OUTPUT_DIR>/<tensor name, non-alphanumerics as _>.tensorproto`` for the graph's
  outputs (the real build writes every node's outputs; this double sees only the graph's) and prints the
  ``Output 0 Name:`` block; dumping every node to files without a name/op filter and without
  ``ORT_DEBUG_NODE_IO_DUMPING_DATA_TO_FILES_FOR_ALL_NODES_IS_OK`` is refused with ORT's wording.  A release
  build (False) ignores these variables, as the real one does.
* ``FAIL = "unsupported-op"``: session creation fails like a build without the kernel of the model's first node:
  ``Could not find an implementation for <Op>(<opset>) node with name '<name>'`` (microsoft/onnxruntime#24479's
  wording), exit 255.
* ``FAIL = "alloc"`` (baked by the writer) or ``EDGEBENCH_DOUBLE_FAIL=alloc``: the warm-up run fails like a BFC
  arena exhaustion: ``Non-zero status code returned while running <Op> node. Name:'<name>' Status Message:
  .../bfc_arena.cc:376 ... Failed to allocate memory for requested buffer of size N`` (published, ORT #22702),
  with the model's real first node; exit 255 and no summary.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

FAIL = None  # baked by write_ort_perf_test ("alloc", "unsupported-op"); EDGEBENCH_DOUBLE_FAIL overrides it
DEBUG_NODE_IO = False  # baked by write_ort_perf_test: a build with onnxruntime_DEBUG_NODE_INPUTS_OUTPUTS=1

PROG = "onnxruntime_perf_test"
# getopt string of the 1.20 command_args_parser.cc ("x:" takes a value, a bare letter is a switch)
OPTSTRING = "m:e:r:t:p:x:y:c:d:o:u:i:f:F:S:T:C:R:b:AMPIlDZvhsqzn"
SRC = "/onnxruntime_src/onnxruntime"
SESSION_CTOR = ("onnxruntime::perftest::OnnxRuntimeTestSession::OnnxRuntimeTestSession(Ort::Env&, "
                "std::random_device&, const onnxruntime::perftest::PerformanceTestConfig&, const TestModelInfo&)")
MODEL_INFO_CTOR = "onnxruntime::test::OnnxModelInfo::OnnxModelInfo(const PATH_CHAR_TYPE*, bool)"
BFC = ("/onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::BFCArena::"
       "AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn)")
# -e value -> (ORT provider name, the word ort_test_session.cc uses in "<word> is not supported in this build")
PROVIDERS = {
    "cpu": ("CPUExecutionProvider", "CPU"), "cuda": ("CUDAExecutionProvider", "CUDA"),
    "dnnl": ("DnnlExecutionProvider", "DNNL"), "tensorrt": ("TensorrtExecutionProvider", "TensorRT"),
    "openvino": ("OpenVINOExecutionProvider", "OpenVINO"), "dml": ("DmlExecutionProvider", "DML"),
    "acl": ("ACLExecutionProvider", "Acl"), "nnapi": ("NnapiExecutionProvider", "NNAPI"),
    "coreml": ("CoreMLExecutionProvider", "CoreML"), "qnn": ("QNNExecutionProvider", "QNN"),
    "snpe": ("SNPEExecutionProvider", "SNPE"), "rocm": ("ROCMExecutionProvider", "ROCM"),
    "migraphx": ("MIGraphXExecutionProvider", "MIGraphX"), "xnnpack": ("XnnpackExecutionProvider", "Xnnpack"),
    "vitisai": ("VitisAIExecutionProvider", "VitisAI"), "webgpu": ("WebGpuExecutionProvider", "WebGPU"),
}
_THROW_LINE = 412  # placeholder line of ort_test_session.cc for the "not supported in this build" throws

USAGE = """usage: perf_test [options...] model_path [result_file]
Options:
\t-m [test_mode]: Specifies the test mode. Value could be 'duration' or 'times'.
\t\tProvide 'duration' to run the test for a fix duration, and 'times' to repeated for a certain times. 
\t-M: Disable memory pattern.
\t-A: Disable memory arena
\t-I: Generate tensor input binding (Free dimensions are treated as 1.)
\t-c [parallel runs]: Specifies the (max) number of runs to invoke simultaneously. Default:1.
\t-e [cpu|cuda|dnnl|tensorrt|openvino|dml|acl|nnapi|coreml|qnn|snpe|rocm|migraphx|xnnpack|vitisai|webgpu]: \
Specifies the provider 'cpu','cuda','dnnl','tensorrt', 'openvino', 'dml', 'acl', 'nnapi', 'coreml', 'qnn', 'snpe', \
'rocm', 'migraphx', 'xnnpack', 'vitisai' or 'webgpu'. Default:'cpu'.
\t-b [tf|ort]: backend to use. Default:ort
\t-r [repeated_times]: Specifies the repeated times if running in 'times' test mode.Default:1000.
\t-t [seconds_to_run]: Specifies the seconds to run for 'duration' mode. Default:600.
\t-p [profile_file]: Specifies the profile name to enable profiling and dump the profile data to the file.
\t-s: Show statistics result, like P75, P90. If no result_file provided this defaults to on.
\t-S: Given random seed, to produce the same input data. This defaults to -1(no initialize).
\t-v: Show verbose information.
\t-x [intra_op_num_threads]: Sets the number of threads used to parallelize the execution within nodes, \
A value of 0 means ORT will pick a default. Must >=0.
\t-y [inter_op_num_threads]: Sets the number of threads used to parallelize the execution of the graph \
(across nodes), A value of 0 means ORT will pick a default. Must >=0.
\t-f [free_dimension_override]: Specifies a free dimension by name to override to a specific value for \
performance optimization. Syntax is [dimension_name:override_value]. override_value must > 0
\t-F [free_dimension_override]: Specifies a free dimension by denotation to override to a specific value for \
performance optimization. Syntax is [dimension_denotation:override_value]. override_value must > 0
\t-P: Use parallel executor instead of sequential executor.
\t-o [optimization level]: Default is 99 (all). Valid values are 0 (disable), 1 (basic), 2 (extended), 99 (all).
\t\tPlease see onnxruntime_c_api.h (enum GraphOptimizationLevel) for the full list of all optimization levels.
\t-u [optimized_model_path]: Specify the optimized model path for saving.
\t-d [CUDA only][cudnn_conv_algorithm]: Specify CUDNN convolution algorithms: 0(benchmark), 1(heuristic), \
2(default). 
\t-q [CUDA only] use separate stream for copy. 
\t-z: Set denormal as zero. When turning on this option reduces latency dramatically, a model may have denormals.
\t-C: Specify session configuration entries as key-value pairs: -C "<key1>|<value1> <key2>|<value2>" 
\t    Refer to onnxruntime_session_options_config_keys.h for valid keys and values. 
\t    [Example] -C "session.disable_cpu_ep_fallback|1 ep.context_enable|1" 
\t-i: Specify EP specific runtime options as key value pairs. Different runtime options available are: 
\t    [Usage]: -e <provider_name> -i '<key1>|<value1> <key2>|<value2>'

\t    [ACL only] [enable_fast_math]: Options: 'true', 'false', default: 'false', 

\t-T [Set intra op thread affinities]: Specify intra op thread affinity string
\t [Example]: -T 1,2;3,4;5,6 or -T 1-2;3-4;5-6 
\t\t Use semicolon to separate configuration between threads.
\t\t E.g. 1,2;3,4;5,6 specifies affinities for three threads, the first thread will be attached to the first \
and second logical processor.
\t\t The number of affinities must be equal to intra_op_num_threads - 1

\t-D [Disable thread spinning]: disable spinning entirely for thread owned by onnxruntime intra-op thread pool.
\t-Z [Force thread to stop spinning between runs]: disallow thread from spinning during runs to reduce cpu usage.
\t-n [Exit after session creation]: allow user to measure session creation time to measure impact of enabling \
any initialization optimizations.
\t-l Provide file as binary in memory by using fopen before session creation.
\t-R [Register custom op]: allow user to register custom op by .so or .dll file.
\t-h: help
"""


class UsageError(Exception):
    """The command line is rejected: getopt's message (if any) on stderr, then the usage, exit 255."""


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()  # keep the order with ORT's own log lines, which go straight to fd 2


def _err(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(text)
    sys.stderr.flush()


def _g(value: float) -> str:
    """A double as a default std::ostream prints it (six significant digits, %g)."""
    return f"{value:g}"


def parse_args(argv: list[str]) -> dict[str, Any]:
    """glibc-getopt parsing of the 1.20 option string (options and operands may be mixed; ``--`` ends options)."""
    takes_value = {c for i, c in enumerate(OPTSTRING) if i + 1 < len(OPTSTRING) and OPTSTRING[i + 1] == ":"}
    known = set(OPTSTRING.replace(":", ""))
    opts: list[tuple[str, str | None]] = []
    operands: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            operands.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            operands.append(arg)
            continue
        j = 1
        while j < len(arg):
            letter = arg[j]
            j += 1
            if letter not in known:
                raise UsageError(f"{PROG}: invalid option -- '{letter}'\n")
            if letter in takes_value:
                if j < len(arg):
                    value = arg[j:]
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise UsageError(f"{PROG}: option requires an argument -- '{letter}'\n")
                opts.append((letter, value))
                break
            opts.append((letter, None))
    config: dict[str, Any] = {"mode": "times", "repeat": 1000, "seconds": 600, "provider": "cpu", "intra": 0,
                              "inter": 0, "generate": False, "stats": False, "verbose": False, "free_dims": {},
                              "opt_level": 99, "seed": -1, "stop_spinning": False}
    for letter, value in opts:
        if letter == "h":
            raise UsageError("")
        if letter == "m":
            if value not in ("times", "duration"):
                raise UsageError("")
            config["mode"] = value
        elif letter == "e":
            if value not in PROVIDERS:
                raise UsageError("")
            config["provider"] = value
        elif letter in "rtxyoS":
            number = _int(value)
            low = {"r": 1, "t": 1, "x": 0, "y": 0, "o": 0, "S": -(2 ** 31)}[letter]
            if number is None or number < low:
                raise UsageError("")
            config[{"r": "repeat", "t": "seconds", "x": "intra", "y": "inter", "o": "opt_level",
                    "S": "seed"}[letter]] = number
        elif letter == "f":
            name, _, size = (value or "").rpartition(":")
            if not name or (_int(size) or 0) <= 0:
                raise UsageError("")
            config["free_dims"][name] = int(size)
        elif letter == "I":
            config["generate"] = True
        elif letter == "s":
            config["stats"] = True
        elif letter == "v":
            config["verbose"] = True
        elif letter == "Z":
            config["stop_spinning"] = True
        # every other 1.20 option is accepted and has no effect here (-p, -M, -A, -P, -c, -u, ...)
    if not 1 <= len(operands) <= 2:
        raise UsageError("")
    config["model"] = operands[0]
    config["result_file"] = operands[1] if len(operands) == 2 else None
    if config["result_file"] is None:
        config["stats"] = True  # "If no result_file provided this defaults to on."
    return config


def _int(text: str | None) -> int | None:
    try:
        return int(str(text), 10)
    except ValueError:
        return None


def _ort_what(exc: BaseException) -> str:
    """An ORT Python exception as the C++ Ort::Exception's what(): without the ``[ONNXRuntimeError] : N : X :``."""
    return re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", str(exc))


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def _fields(buf: bytes) -> Any:
    """(field number, value) of a protobuf message: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == 1:
            yield number, buf[pos:pos + 8]
            pos += 8
        elif wire == 5:
            yield number, buf[pos:pos + 4]
            pos += 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            yield number, buf[pos:pos + size]
            pos += size
        else:
            return


def _first_node(model: Path) -> tuple[str, str]:
    """(op_type, name) of the model's first node, read off the protobuf (ModelProto.graph=7, GraphProto.node=1,
    NodeProto.name=3, op_type=4); ("Conv", "") when the file cannot be walked."""
    try:
        data = model.read_bytes()
        graph = next(value for number, value in _fields(data) if number == 7)
        node = next(value for number, value in _fields(graph) if number == 1)
        parts = {number: value.decode("utf-8", "replace") for number, value in _fields(node) if number in (3, 4)}
        return parts.get(4, "Conv"), parts.get(3, "")
    except Exception:  # a walk that fails only costs the realism of one error line
        return "Conv", ""


def _opset(model: Path) -> int:
    """The default domain's opset of the model (ModelProto.opset_import=8: domain=1, version=2)."""
    try:
        for number, value in _fields(model.read_bytes()):
            if number == 8:
                entry = dict(_fields(value))
                if not entry.get(1):
                    return int(entry.get(2, 0))
    except Exception:
        pass
    return 0


# TensorProto.DataType -> numpy dtype name (the types an SR model's inputs and outputs use)
_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 10: "float16", 11: "float64"}


def _read_tensor(path: Path) -> tuple[str, Any]:
    """(name, array) of a TensorProto file (dims=1, data_type=2, float_data=4, name=8, raw_data=9)."""
    import numpy as np

    dims: list[int] = []
    name, kind, raw, floats = "", 1, None, b""
    for number, value in _fields(path.read_bytes()):
        if number == 1:
            if isinstance(value, bytes):  # packed dims
                pos = 0
                while pos < len(value):
                    dim, pos = _varint(value, pos)
                    dims.append(dim)
            else:
                dims.append(value)
        elif number == 2:
            kind = value
        elif number == 4:
            floats += value
        elif number == 8:
            name = value.decode("utf-8")
        elif number == 9:
            raw = value
    dtype = np.dtype(_DTYPES.get(kind, "float32"))
    data = np.frombuffer(raw, dtype) if raw is not None else np.frombuffer(floats, np.float32).astype(dtype)
    return name, data.reshape(dims).copy()


def _tensor_bytes(name: str, array: Any) -> bytes:
    """A TensorProto (dims, data_type, name, raw_data) as ORT's TensorToTensorProto writes one."""
    import numpy as np

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    array = np.ascontiguousarray(array)
    kind = next(k for k, v in _DTYPES.items() if v == array.dtype.name)
    out = b"".join(varint(1 << 3) + varint(int(d)) for d in array.shape) + varint(2 << 3) + varint(kind)
    return out + field(8, name.encode("utf-8")) + field(9, array.tobytes())


def _test_data(model: Path, session: Any) -> list[dict[str, Any]]:
    """The feeds of every test_data_set_* next to the model (input_N.pb matched by name, else by position)."""
    names = [i.name for i in session.get_inputs()]
    sets = []
    for folder in sorted(model.parent.glob("test_data_set_*")):  # the path's folder, as the tool joins it
        feeds: dict[str, Any] = {}
        for position, path in enumerate(sorted(folder.glob("input_*.pb"))):
            name, array = _read_tensor(path)
            feeds[name if name in names else names[min(position, len(names) - 1)]] = array
        if feeds:
            sets.append(feeds)
    return sets


def _dump_outputs(session: Any, outputs: list[Any]) -> None:
    """A debug-node-IO build's dump of the graph's outputs (only those: this double does not see inner nodes)."""
    import re

    env = os.environ
    if env.get("ORT_DEBUG_NODE_IO_DUMP_OUTPUT_DATA", "0") in ("", "0"):
        return
    if env.get("ORT_DEBUG_NODE_IO_DUMP_DATA_DESTINATION", "stdout") != "files":
        return
    folder = Path(env.get("ORT_DEBUG_NODE_IO_OUTPUT_DIR", ""))
    for meta, value in zip(session.get_outputs(), outputs):
        _out(f"-----------\nOutput 0 Name: {meta.name}\n\n")
        (folder / (re.sub(r"[^A-Za-z0-9]", "_", meta.name) + ".tensorproto")).write_bytes(_tensor_bytes(meta.name, value))


def _check_dump_settings() -> str | None:
    """NodeDumpOptionsFromEnvironmentVariables' refusal to dump every node to files without confirmation."""
    env = os.environ
    wants = any(env.get(k, "0") not in ("", "0") for k in ("ORT_DEBUG_NODE_IO_DUMP_INPUT_DATA",
                                                              "ORT_DEBUG_NODE_IO_DUMP_OUTPUT_DATA"))
    unfiltered = not env.get("ORT_DEBUG_NODE_IO_NAME_FILTER") and not env.get("ORT_DEBUG_NODE_IO_OP_TYPE_FILTER")
    confirmed = env.get("ORT_DEBUG_NODE_IO_DUMPING_DATA_TO_FILES_FOR_ALL_NODES_IS_OK", "0") not in ("", "0")
    if wants and unfiltered and env.get("ORT_DEBUG_NODE_IO_DUMP_DATA_DESTINATION") == "files" and not confirmed:
        return (f"{SRC}/core/framework/debug_node_inputs_outputs_utils.cc:427 const onnxruntime::utils::"
                f"NodeDumpOptions& onnxruntime::utils::NodeDumpOptionsFromEnvironmentVariables() The current "
                f"environment variable configuration will dump node input or output data to files for every node. "
                f"This may cause a lot of files to be generated. Set the environment variable "
                f"ORT_DEBUG_NODE_IO_DUMPING_DATA_TO_FILES_FOR_ALL_NODES_IS_OK to confirm this is what you want.")
    return None


def _inputs(session: Any, free_dims: dict[str, int], seed: int) -> dict[str, Any]:
    """Random inputs of each input's shape (free dimensions -> -f override, else 1) and type."""
    import numpy as np

    rng = np.random.default_rng(None if seed < 0 else seed)
    feeds: dict[str, Any] = {}
    for meta in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else free_dims.get(str(d), 1) for d in meta.shape]
        kind = meta.type[len("tensor("):-1] if meta.type.startswith("tensor(") else "float"
        if kind in ("float", "double", "float16"):
            dtype = {"float": np.float32, "double": np.float64, "float16": np.float16}[kind]
            feeds[meta.name] = rng.random(shape, dtype=np.float64).astype(dtype)
        elif kind == "bool":
            feeds[meta.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            dtype = np.dtype(kind if kind.startswith(("int", "uint")) else "float32")
            info = np.iinfo(dtype) if dtype.kind in "iu" else None
            high = min(info.max, 255) if info else 1
            feeds[meta.name] = rng.integers(0, high, shape, endpoint=True).astype(dtype)
    return feeds


def _peak_working_set() -> int:
    """Peak resident set (VmHWM) in bytes, as the tool's Linux GetPeakWorkingSetSize reads it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds() -> float:
    """This process's CPU time, all threads (CLOCK_PROCESS_CPUTIME_ID: no 10 ms tick rounding as os.times has)."""
    return time.process_time()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use, as the tool's GetNumCpuCores sees
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run(config: dict[str, Any]) -> int:
    import onnxruntime as ort

    model = Path(config["model"])
    fail = os.environ.get("EDGEBENCH_DOUBLE_FAIL") or FAIL
    # OnnxModelInfo: the model is opened and parsed before any session exists
    if not model.is_file():
        _err(f"{SRC}/test/onnx/onnx_model_info.cc:22 {MODEL_INFO_CTOR} open file {model} fail, errcode = 2 - "
             f"No such file or directory\n\n")
        return 255
    ort.set_default_logger_severity(0 if config["verbose"] else 2)  # Ort::Env(VERBOSE or WARNING)
    options = ort.SessionOptions()
    options.log_severity_level = 0 if config["verbose"] else 2
    options.graph_optimization_level = {0: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                        1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                        2: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}.get(
        config["opt_level"], ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    options.inter_op_num_threads = config["inter"]
    for name, size in config["free_dims"].items():
        options.add_free_dimension_override_by_name(name, size)
    provider_name, word = PROVIDERS[config["provider"]]
    providers: list[Any] = ["CPUExecutionProvider"]
    if config["provider"] != "cpu":
        if provider_name not in ort.get_available_providers():
            try:  # the corrupt-model error still wins: OnnxModelInfo runs before the session's constructor
                ort.InferenceSession(str(model), ort.SessionOptions(), providers=["CPUExecutionProvider"])
            except Exception as exc:
                return _load_failure(exc)
            _err(f"{SRC}/test/perftest/ort_test_session.cc:{_THROW_LINE} {SESSION_CTOR} {word} is not supported "
                 f"in this build\n\n")
            return 255
        ep_options = {"intra_op_num_threads": str(config["intra"])} if config["provider"] == "xnnpack" else {}
        providers.insert(0, (provider_name, ep_options))
        if config["provider"] == "xnnpack":
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if config["intra"] > 0:
        _out(f"Setting intra_op_num_threads to {config['intra']}\n")
        options.intra_op_num_threads = config["intra"]
    if config["stop_spinning"]:
        options.add_session_config_entry("session.force_spinning_stop", "1")
        _out("Disabling intra-op thread spinning between runs\n")

    started = time.perf_counter()
    if fail == "unsupported-op":  # the kernel lookup of session initialisation, ORT #24479's wording
        op_type, name = _first_node(model)
        _err(f"Could not find an implementation for {op_type}({_opset(model)}) node with name '{name}'\n\n")
        return 255
    try:
        session = ort.InferenceSession(str(model), options, providers=providers)
    except Exception as exc:
        return _load_failure(exc)
    session_seconds = time.perf_counter() - started

    if config["generate"]:
        cases = [_inputs(session, config["free_dims"], config["seed"])]
    else:  # the onnx_test_runner layout: test_data_set_*/input_*.pb next to the model
        cases = _test_data(model, session)
        if not cases:
            first = session.get_inputs()[0].name if session.get_inputs() else ""
            _out(f"there is no test input data for input {first} and model {model.parent.name}\n"
                 f"Run failed:failed to initialize.\n")
            return 255
    feeds = cases[0]
    if DEBUG_NODE_IO and (refusal := _check_dump_settings()):
        _err(refusal + "\n\n")
        return 255

    # warm-up: the "First inference" (truncated to whole ms, duration_cast<milliseconds>)
    first_started = time.perf_counter()
    if fail == "alloc":
        op_type, name = _first_node(model)
        _err(f"Non-zero status code returned while running {op_type} node. Name:'{name}' Status Message: {BFC} "
             f"Failed to allocate memory for requested buffer of size {1 << 40}\n\n")
        return 255
    try:
        outputs = session.run(None, feeds)
    except Exception as exc:
        _err(_ort_what(exc).rstrip("\n") + "\n\n")
        return 255
    first_ms = int((time.perf_counter() - first_started) * 1000)
    if DEBUG_NODE_IO:
        _dump_outputs(session, outputs)

    costs: list[float] = []
    cpu_started, loop_started = _cpu_seconds(), time.perf_counter()
    while True:
        if config["mode"] == "times" and len(costs) >= config["repeat"]:
            break
        if config["mode"] == "duration" and time.perf_counter() - loop_started >= config["seconds"]:
            break
        feeds = cases[len(costs) % len(cases)]  # the test cases in turn, as the tool's runs take them
        run_started = time.perf_counter()
        try:
            outputs = session.run(None, feeds)
        except Exception as exc:
            _err(_ort_what(exc).rstrip("\n") + "\n\n")
            return 255
        costs.append(time.perf_counter() - run_started)
        if DEBUG_NODE_IO:  # outside the timed region: the real dump's cost is inside it, a known difference
            _dump_outputs(session, outputs)
        if config["verbose"]:
            _out(f"iteration:{len(costs)},time_cost:{_g(costs[-1])}\n")
    run_seconds = time.perf_counter() - loop_started
    trace = os.environ.get("EDGEBENCH_DOUBLE_LOOP_FILE")
    if trace:  # test instrumentation, not the tool's: where its timed loop really was, on the wall clock
        ended = time.time()
        with open(trace, "w", encoding="utf-8") as handle:
            handle.write(f"{ended - run_seconds} {ended}\n")
    # integer percent of all usable cores, as the tool prints it; clamped since clocks of this grain may overlap
    cpu = max(0, min(100, int((_cpu_seconds() - cpu_started) / max(run_seconds, 1e-9) / _cores() * 100)))
    peak = _peak_working_set()

    total = sum(costs)
    _out(f"Session creation time cost: {_g(session_seconds)} s\n"
         f"First inference time cost: {first_ms} ms\n"
         f"Total inference time cost: {_g(total)} s\n"
         f"Total inference requests: {len(costs)}\n"
         f"Average inference time cost: {_g(total / len(costs) * 1000)} ms\n"
         f"Total inference run time: {_g(run_seconds)} s\n"
         f"Number of inferences per second: {_g(len(costs) / run_seconds)} \n"
         f"Avg CPU usage: {cpu} %\n"
         f"Peak working set size: {peak} bytes\n")
    stats = _statistics(costs, cpu, peak) if config["stats"] else ""
    if config["result_file"]:  # PerformanceResult::DumpToFile appends
        with open(config["result_file"], "a", encoding="utf-8") as handle:
            for index, cost in enumerate(costs):
                handle.write(f"{model.stem},{_g(cost)},{peak},{cpu},{index}\n")
            handle.write(stats)
    _out(stats)
    return 0


def _statistics(costs: list[float], cpu: int, peak: int) -> str:
    """The -s block: percentiles are sorted[int(n * p)], as the tool indexes them."""
    ordered = sorted(costs)
    n = len(ordered)
    lines = [f"Avg CPU usage:{cpu}", f"Peak working set size:{peak}", f"Runs:{n}",
             f"Min Latency: {_g(ordered[0])} s", f"Max Latency: {_g(ordered[-1])} s"]
    for label, fraction in (("P50", 0.5), ("P90", 0.9), ("P95", 0.95), ("P99", 0.99), ("P999", 0.999)):
        lines.append(f"{label} Latency: {_g(ordered[min(int(n * fraction), n - 1)])} s")
    return "\n".join(lines) + "\n"


def _load_failure(exc: BaseException) -> int:
    """A model ORT cannot load: protobuf garbage as OnnxModelInfo says it, anything else as ORT's own text."""
    what = _ort_what(exc)
    if type(exc).__name__ == "InvalidProtobuf" or "Protobuf parsing failed" in what:
        _err(f"{SRC}/test/onnx/onnx_model_info.cc:29 {MODEL_INFO_CTOR} Failed to load model because protobuf "
             f"parsing failed.\n\n")
    else:
        _err(what.rstrip("\n") + "\n\n")
    return 255


def main(argv: list[str]) -> int:
    try:
        config = parse_args(argv)
    except UsageError as exc:
        if str(exc):
            _err(str(exc))
        _out(USAGE)
        return 255
    return run(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
