#!/usr/bin/env python3
"""A test double of ExecuTorch's native ``executor_runner`` (the XNNPACK build) that really runs the .pte.

Format followed: **ExecuTorch 1.4.1**, ``examples/portable/executor_runner/executor_runner.cpp`` at tag v1.4.1
(flags, log lines and their order, line numbers), its posix PAL's log format
(``runtime/platform/default/posix.cpp``: ``%c %02u:%02u:%02u.%06lu executorch:%s:%zu] %s`` on stderr, the time
since start) and gflags' command line (``--flag=value`` or ``--flag value``, ``--help`` lists every flag as
``    -name (description) type: T default: V`` on stdout and exits 1, an unknown flag is ``ERROR: unknown command
line flag 'x'`` and exit 1).  Every printed time is measured here: the program is loaded and each execution runs
with ExecuTorch's own runtime (``executorch.runtime``, this interpreter's install), timed by ``perf_counter``.

Acted on: ``--model_path``, ``--num_executions``, ``--inputs`` (raw files, one per input, sized exactly as the
input tensor), ``--output_file`` (``<base>-<i>.bin``, raw bytes of each tensor output), ``--print_output``
(none|summary|all), ``--method_name``, ``--cpu_threads`` (logged as the runner does; the runtime's own pool is
not resized).  Without ``--inputs`` every input is ones, as in the real runner.  The program's memory planning
is read from the file (``Setting up CPU planned buffer``).  ``--input_shapes`` does not exist in 1.4.1: like the
real runner this one refuses it as an unknown flag.

Behaviour baked by :func:`edgebench.testing.executor_runner_tool.write_executor_runner`:

* ``BACKENDS``: the delegates linked in (default ``("XnnpackBackend",)``); a .pte needing another one fails as
  ``method.cpp:88] Backend XnnpackBackend is not registered.`` then the ET_CHECK abort ``In function main(),
  assert failed (method.ok()): Loading of method forward failed with status 0x20`` (status NotFound, exit 134).
* ``LOGGING``: False is a Release build without ``-DEXECUTORCH_ENABLE_LOGGING``: no ET_LOG line at all, only
  the ``OutputX`` lines on stdout (so no time: issue 15547's output).
* ``FAIL``: ``"alloc"`` (the method allocator's pool is too small: ``memory_allocator.h:107] Memory allocation
  failed: NB requested (adjusted for alignment), MB available``, load status 0x21) or ``"missing-op"``
  (``method.cpp:819] Missing operator: [0] <op>`` and ``There are 1 instructions don't have corresponding
  operator registered.``, load status 0x14).  ``EDGEBENCH_DOUBLE_FAIL`` overrides it at run time.
"""

from __future__ import annotations

import os
import sys
import time

BACKENDS = ("XnnpackBackend",)  # baked by write_executor_runner
LOGGING = True  # baked by write_executor_runner
FAIL = None  # baked by write_executor_runner ("alloc", "missing-op"); EDGEBENCH_DOUBLE_FAIL overrides it

SOURCE = "executor_runner.cpp"
START = time.monotonic()
FLAGS = {  # name: (type, default, description) as v1.4.1 defines them
    "model_path": ("string", "model.pte", "Model serialized in flatbuffer format."),
    "data_path": ("string", "", "Path to data file (.ptd)."),
    "inputs": ("string", "", "Comma-separated list of input files"),
    "output_file": ("string", "", "Base name of output file. If not empty output will be written to the file(s)."),
    "server_mode": ("bool", "false", "Run continuously, executing one inference per line read from stdin. In server "
                    "mode, input files specified by --inputs are re-read before each execution and outputs are "
                    "overwritten under --output_file."),
    "print_output": ("string", "summary", "Output printing mode: 'none' to suppress, 'summary' for first/last 100 "
                     "elements, 'all' for everything."),
    "num_executions": ("uint32", "1", "Number of times to run the model."),
    "method_name": ("string", "", "Name of the method to run. If empty, uses the first method in the program."),
    "etdump_path": ("string", "model.etdump", "Write ETDump data to this path."),
    "cpu_threads": ("int32", "-1", "Number of CPU threads for inference. Defaults to -1, which implies we'll use a "
                    "heuristic to derive the # of performant cores for a specific device."),
}


def log(level: str, line: int, message: str, source: str = SOURCE) -> None:
    if not LOGGING:
        return
    t = time.monotonic() - START
    hours, rest = divmod(t, 3600)
    minutes, seconds = divmod(rest, 60)
    micros = int((seconds - int(seconds)) * 1e6)
    sys.stderr.write(f"{level} {int(hours):02d}:{int(minutes):02d}:{int(seconds):02d}.{micros:06d} "
                     f"executorch:{source}:{line}] {message}\n")
    sys.stderr.flush()


def abort(line: int, condition: str, message: str) -> int:
    """ET_CHECK_MSG: a Fatal log line, then abort() (the shell reports 128 + SIGABRT)."""
    log("F", line, f"In function main(), assert failed ({condition}): {message}")
    return 134


def usage() -> int:
    out = ["executor_runner: Warning: SetUsageMessage() never called", "",
           "  Flags from /executorch/examples/portable/executor_runner/executor_runner.cpp:"]
    for name, (kind, default, text) in sorted(FLAGS.items()):
        shown = f'"{default}"' if kind == "string" else default
        out.append(f"    -{name} ({text}) type: {kind} default: {shown}")
    sys.stdout.write("\n".join(out) + "\n\n")
    return 1


def parse_flags(argv: list[str]) -> dict[str, str] | int:
    values = {name: default for name, (_, default, _) in FLAGS.items()}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--help", "-help", "--helpfull", "-h"):
            return usage()
        if not arg.startswith("-"):
            log("E", 312, f"Extra commandline args: {' '.join(argv[i:])}")
            return 1
        name, eq, value = arg.lstrip("-").partition("=")
        kind = FLAGS.get(name, (None,))[0]
        if kind is None and name.startswith("no") and FLAGS.get(name[2:], (None,))[0] == "bool":
            values[name[2:]] = "false"
        elif kind is None:
            sys.stderr.write(f"ERROR: unknown command line flag '{name}'\n")
            return 1
        elif kind == "bool" and not eq:
            values[name] = "true"
        else:
            if not eq:
                i += 1
                if i >= len(argv):
                    sys.stderr.write(f"ERROR: flag '{name}' is missing its argument\n")
                    return 1
                value = argv[i]
            values[name] = value
        i += 1
    return values


def _pte(path: str) -> tuple[list[str], list[str], list[int]]:
    """(delegate ids, operator names, planned buffer sizes) read from the program itself."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    with open(path, "rb") as handle:
        program = deserialize_pte_binary(handle.read()).program
    plan = program.execution_plan[0]
    ops = [f"{o.name}.{o.overload}" if o.overload else o.name for o in plan.operators]
    return [d.id for d in plan.delegates], ops, list(plan.non_const_buffer_sizes)[1:]


def main(argv: list[str]) -> int:
    flags = parse_flags(argv)
    if isinstance(flags, int):
        return flags
    fail = os.environ.get("EDGEBENCH_DOUBLE_FAIL") or FAIL
    if not LOGGING:  # the runtime's own ET_LOG lines (cpuinfo, backends) are compiled out of a Release build too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    import numpy as np

    threads = int(flags["cpu_threads"])
    log("I", 340, f"Resetting threadpool with num threads = {threads if threads > 0 else os.cpu_count()}")
    inputs: list[bytes] = []
    if flags["inputs"]:
        log("I", 393, "Loading inputs from input file(s).")
        for path in flags["inputs"].split(","):
            try:
                with open(path, "rb") as handle:
                    inputs.append(handle.read())
            except OSError:
                log("E", 156, f"Failed to open input file: {path}")
                return abort(405, "load_status == Error::Ok", "Could not load inputs: 0x22")
    model = flags["model_path"]
    try:
        delegates, ops, planned = _pte(model)
    except FileNotFoundError:
        return abort(461, "file_loader.ok()", "FileDataLoader::from() failed: 0x22")
    except Exception:
        log("E", 473, f"Failed to parse model file {model}")
        return 1
    from executorch.runtime import Runtime

    loaded = time.perf_counter()
    program = Runtime.get().load_program(model)
    log("I", 476, f"Model file {model} is loaded.")
    method_name = flags["method_name"] or sorted(program.method_names)[0]
    log("I", 486, f"Using method {method_name}")
    for index, size in enumerate(planned):
        log("I", 556, f"Setting up CPU planned buffer {index}, size {size}.")
    missing = [d for d in delegates if d not in BACKENDS]
    if missing:
        log("E", 88, f"Backend {missing[0]} is not registered.", source="method.cpp")
        return abort(617, "method.ok()", f"Loading of method {method_name} failed with status 0x20")
    if fail == "alloc":
        need = sum(planned) + 4 * 1024 * 1024
        log("E", 107, f"Memory allocation failed: {need}B requested (adjusted for alignment), 1024B available",
            source="memory_allocator.h")
        return abort(617, "method.ok()", f"Loading of method {method_name} failed with status 0x21")
    if fail == "missing-op":
        log("E", 819, f"Missing operator: [0] {ops[0] if ops else 'aten::convolution.out'}", source="method.cpp")
        log("E", 1125, "There are 1 instructions don't have corresponding operator registered. See logs for "
                       "details", source="method.cpp")
        return abort(617, "method.ok()", f"Loading of method {method_name} failed with status 0x14")
    method = program.load_method(method_name)
    log("I", 624, f"Model loaded in {(time.perf_counter() - loaded) * 1000:f} ms.")

    import torch

    meta = method.metadata
    feeds = []
    for i in range(meta.num_inputs()):
        tm = meta.input_tensor_meta(i)
        dtype = {6: torch.float32, 0: torch.uint8, 1: torch.int8, 3: torch.int32, 4: torch.int64}.get(tm.dtype(),
                                                                                                     torch.float32)
        shape = tuple(tm.sizes())
        if i < len(inputs):
            if len(inputs[i]) != tm.nbytes():
                log("E", 112, f"Input size ({len(inputs[i])}) and tensor size ({tm.nbytes()}) mismatch!",
                    source="inputs.cpp")
                return abort(751, "res.ok()", "Could not prepare inputs: 0x12")
            array = np.frombuffer(inputs[i], dtype=torch.empty(0, dtype=dtype).numpy().dtype).reshape(shape)
            feeds.append(torch.from_numpy(array.copy()))
        else:
            feeds.append(torch.ones(shape, dtype=dtype))
    total = 0.0
    executions = int(flags["num_executions"])
    outputs: list = []
    for i in range(executions):
        started = time.perf_counter()
        outputs = method.execute(feeds)
        elapsed = (time.perf_counter() - started) * 1000
        total += elapsed
        log("I", 779, f"Iteration {i + 1} of {executions}: {elapsed:f} ms")
    log("I", 789, f"Model executed successfully {executions} time(s) in {total:f} ms.")
    log("I", 798, f"{len(outputs)} outputs: ")
    if flags["output_file"]:
        for i, out in enumerate(outputs):
            name = f"{flags['output_file']}-{i}.bin"
            log("I", 809, f"Writing output to file: {name}")
            with open(name, "wb") as handle:
                handle.write(out.contiguous().numpy().tobytes())
    if flags["print_output"] != "none":
        for i, out in enumerate(outputs):
            flat = out.reshape(-1).tolist()
            shown = flat if flags["print_output"] == "all" or len(flat) <= 200 else flat[:100] + ["..."] + flat[-100:]
            values = ", ".join(v if isinstance(v, str) else f"{v:g}" for v in shown)
            sys.stdout.write(f"OutputX {i}: tensor(sizes=[{', '.join(str(d) for d in out.shape)}], [{values}])\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
