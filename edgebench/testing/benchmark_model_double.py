#!/usr/bin/env python3
"""A test double of TensorFlow Lite's native ``benchmark_model`` that really runs the .tflite file.

Pushed to a (virtual) phone in place of the real binary, it answers flag for flag and line for
line like the real tool of one chosen generation, while the graph really runs on this CPU through
``ai_edge_litert.interpreter`` (or ``tflite_runtime.interpreter``): every printed time is a measured
wall time of a real ``Invoke``, every node count comes from the model, and ``--output_filepath``
writes the interpreter's real output bytes.  Accelerators (NNAPI, GPU) cannot exist here: their
proof lines are printed from the model's real node counts while the CPU computes the result.

Stand-alone on purpose (stdlib + numpy + the interpreter; never imports edgebench): it is pushed
to the phone and run there as an executable.  The behaviour is baked into ``BEHAVIOUR_JSON`` by
``edgebench.testing.benchmark_model_tool.write_benchmark_model``::

    generation  "tf1.15" | "tf2.4" | "tf2.9" | "tf2.18" (default) | "litert"
    delegates   {"nnapi": B, "gpu": B}, B = "full" (default) | "partial:K" | "fail-apply" |
                "absent" | "prepare-fail"
    drift       0 (default) or N: outputs written with --output_filepath move by a deterministic
                +-N (integers, clipped to the dtype) or +-N float16 ulps (floats) whenever an
                accelerator delegate ran: a stand-in for fp16 drift
    fail        null (default) | "crash" (SIGSEGV half way through a count= line) |
                "cannot-open" (the model file cannot be opened)

Sources (read for this module; wording is copied from them line by line, code is not)
--------------------------------------------------------------------------------------
* tf1.15 -- ``uve/tensorflow@e08079463bf43e5963acc41da1f57e95603f8080`` (a fork at TF 2.0.0,
  version.h GraphDef 2019-08-06; TF 1.15 was branched in the same weeks and ships the same lite
  tool): tensorflow/lite/tools/benchmark/{benchmark_model.cc, benchmark_tflite_model.cc,
  benchmark_main.cc, logging.h}, tensorflow/lite/{core/subgraph.cc, mmap_allocation.cc},
  tensorflow/core/util/stats_calculator.h; the flag parser of that era
  (tensorflow/lite/tools/benchmark/command_line_flags.cc @7a8fcf0170c1d3f48a8d87022c886e126b6e1905).
  Confirmed: INFO/WARN lines on stdout and ERROR/FATAL on stderr, no prefixes; parameters always
  echoed (``Use nnapi : [0]`` ...); ``resolved reporter``; ``Initialized session in 21.039ms`` (no
  dot); ``Applied GPU delegate.``; FATAL ``Failed to apply NNAPI delegate.`` aborts (SIGABRT);
  ``Average inference timings in us: Warmup: W, Init: I, no stats: A``; ``main`` returns 0 even
  when the flags do not parse; unknown flags are silently ignored (only a first unknown argument
  equal to ``--help`` prints the usage); bool values are ``true``/``false`` only.  Not confirmed:
  whether r1.15 already had ``--require_full_delegation`` (the 2019-08 source has not; taken as
  absent).
* tf2.4 / tf2.9 -- tensorflow/tensorflow: benchmark_tflite_model.cc @010f3edcdc25a44755a4fc439a31be2282e9e9db
  (ProvidedDelegateList, ``Explicitly applied ... completely/partially executed ... w/ N delegate
  kernels``, ``Though ... will not be executed``, ``Disallowed CPU fallback detected.``,
  ``Failed to allocate tensors!``, input_layer_value_files semantics), tools/command_line_flags.cc
  @379b8fb2fddc8980577a7895db3e47ed173a0342 (``Failed to parse flag 'x' against argv 'y'``, bools
  true/false/0/1, usage layout), benchmark_model.cc @08df8c40b4376ed012fa3ba03ff3e3068d8d2a94
  (``Unconsumed cmdline flags:``, --help via the default provider, ``Benchmarking failed.``, exit
  1), plus real outputs quoted in tensorflow/tensorflow#42507 (2.3), #43541 (2.3/2.4 Android:
  no Replacing line, ``Created 1 GPU delegate kernels.``), #58379 (2.7), #56301/#56482 (2.9
  Android: ``NNAPI delegate created.``, ``NNAPI accelerators available: [..]``, ``Following
  operations are not supported by GPU delegate:``), asus4/tf-lite-unity-sample#214 (2022 Android:
  ``Replacing 269 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 13 partitions.``)
  and a 2021 run kept in the index (``Unconsumed cmdline flags: --allow_fp16``).  Reconstructed,
  most plausible (no tagged source here): the exact flag lists of 2.4/2.9, ``Peak memory
  footprint (MB): init=.. overall=..`` for both, no prefixes, no Replacing line in 2.4 and a
  VERBOSE one without ``out of`` in 2.9, no ``--output_filepath``/``--signature_to_run_for`` before
  2.18, XNNPACK applied by default from 2.9 on.
* tf2.18 -- google-ai-edge/LiteRT@7d88950ea (the Nov 2024 import of tensorflow/lite, right after
  TF 2.18.0): tflite/tools/benchmark/{benchmark_model.cc, benchmark_tflite_model.cc,
  benchmark_main.cc, benchmark_params.h}, tflite/tools/{logging.h, command_line_flags.cc,
  tool_params.h}, tflite/tools/delegates/{delegate_provider.cc, default_execution_provider.cc,
  gpu_delegate_provider.cc, nnapi_delegate_provider.cc, xnnpack_delegate_provider.cc},
  tflite/core/{subgraph.cc, interpreter.cc}, tflite/minimal_logging{,_android,_default}.cc,
  tflite/profiling/memory_info.cc, tflite/delegates/gpu/{delegate.cc, common/model_builder.cc};
  xla/tsl/util/stats_calculator.h (StatWithPercentiles: ``p5= median= p95=`` by nth_element at
  ``n*p/100``, population std truncated to an integer).  Confirmed: ``INFO: ``/``WARN: `` on
  stdout, ``ERROR: ``/``FATAL: `` on stderr; runtime lines (``INFO: Initialized TensorFlow Lite
  runtime.``, ``VERBOSE: Replacing N out of M node(s) with delegate (X) node, yielding P partitions
  for the whole graph.``) on stderr (Android prints VERBOSE); ``Signature to run: []`` always
  echoed; ``Using signature: K``; ``Memory footprint delta from the start of the tool (MB)``.
  Assumed: that v2.18.0 already had the percentiles (the import two months later has them).
* litert -- google-ai-edge/LiteRT tag v2.1.0: litert/tools/benchmark_litert_model{.h,.cc,_main.cc},
  litert/c/internal/litert_logging.{h,cc} (``INFO: [file:line] msg`` on stderr),
  litert/runtime/accelerators/auto_registration.cc; the ``========== BENCHMARK RESULTS
  ==========`` block in ms.  That tool has no --input_layer*/--output_filepath/--use_nnapi/
  --use_xnnpack/--enable_op_profiling (they are unconsumed flags there); the wording of its
  compile errors is a plausible reconstruction.

Semantics established from those sources
----------------------------------------
* ``--input_layer_value_files=NAME:FILE[,NAME:FILE]`` (tf2.4+; tf2.18 escapes ``:`` as ``::``):
  FILE holds the raw bytes of one input tensor (its size must equal the tensor's byte size, else
  FATAL ``The size of FILE is N bytes. It should be M bytes.`` and SIGABRT).  NAME must be one of
  the ``--input_layer`` names (so ``--input_layer`` and ``--input_layer_shape`` are required too,
  else FATAL ``Cannot find the corresponding input_layer name(NAME) in --input_layer as ...``);
  the names are matched to the runner's inputs by POSITION -- the i-th ``--input_layer`` name feeds
  the i-th input tensor of the primary subgraph, or of the ``--signature_to_run_for`` subgraph --
  and a name that differs from that tensor's name only logs ``Tensor # i is named T but flags call
  it NAME``; signature input names are never looked up.  ``--input_layer_shape`` resizes the input.
* ``--output_filepath=FILE`` (tf2.18): after the last run, the raw bytes of every output tensor of
  the runner's subgraph, in the subgraph's output order, concatenated, no header; nothing is
  written when the run fails.
* Runs: warm-up then timed runs loop ``while (run < N || now < min_end) && now <= max_end``; the
  defaults ``--min_secs=1 --warmup_min_secs=0.5`` keep looping, so a one-invocation quality pass is
  ``--num_runs=1 --warmup_runs=0 --min_secs=0 --warmup_min_secs=0``.  A single run (or identical
  times) prints ``count=1 curr=T`` -- no first/min/max/avg/std -- as the real Stat does.
* Unknown flags: ignored silently (tf1.15) or ``Unconsumed cmdline flags: ...`` and the run goes
  on (later); the flags an old generation lacks are therefore not honoured (no output file ...).
* Delegates: ``fail-apply``/``prepare-fail`` stop the tool (FATAL abort in tf1.15, ``Failed to
  apply X delegate.`` + ``Benchmarking failed.`` + exit 1 later); the delegate kernel's failed
  Prepare happens inside ModifyGraphWithDelegate, so ``Node number N (TfLiteGpuDelegateV2) failed
  to prepare.`` is followed by ``Restored ... execution plan ...`` and ``Failed to apply``; only a
  delegate that allows dynamic tensors (NNAPI with ``--nnapi_allow_dynamic_dimensions=true``)
  fails at the tool's own AllocateTensors (``Failed to allocate tensors!``).  ``absent`` prints
  ``... acceleration is unsupported on this platform.`` and runs on the CPU (tf2.18 with
  --require_full_delegation: ``Disallowed CPU fallback detected.``).  With
  --require_full_delegation a partial delegation stops with ``Disallowed CPU fallback detected.``.

Not emulated: the --enable_op_profiling tables (no per-op timer in the Python interpreter; the
flag is accepted and echoed), hexagon/external/coreml providers, the default XNNPACK delegate taking
the CPU leftovers of a partial accelerator delegation.
"""

import json
import math
import os
import re
import signal
import struct
import sys
import time

BEHAVIOUR_JSON = "{}"  # replaced by write_benchmark_model

DEFAULT_BEHAVIOUR = {"generation": "tf2.18", "delegates": {"nnapi": "full", "gpu": "full"}, "drift": 0,
                     "fail": None}
GENERATIONS = ("tf1.15", "tf2.4", "tf2.9", "tf2.18", "litert")
DELEGATE_KERNEL = {"gpu": "TfLiteGpuDelegateV2", "nnapi": "TfLiteNnapiDelegate", "xnnpack": "TfLiteXNNPackDelegate"}
PROVIDER_NAME = {"gpu": "GPU", "nnapi": "NNAPI", "xnnpack": "XNNPACK"}


def load_behaviour():
    behaviour = json.loads(json.dumps(DEFAULT_BEHAVIOUR))
    baked = json.loads(BEHAVIOUR_JSON)
    delegates = dict(behaviour["delegates"], **(baked.pop("delegates", None) or {}))
    behaviour.update(baked)
    behaviour["delegates"] = delegates
    if behaviour["generation"] not in GENERATIONS:
        raise SystemExit("benchmark_model double: unknown generation %r" % behaviour["generation"])
    return behaviour


# --------------------------------------------------------------------------------------------
# C++ iostream formatting


def g(value):
    """A double as ``std::ostream << double`` prints it (precision 6, %g)."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return "%g" % value


def show(value, kind):
    if kind == "bool":
        return "1" if value else "0"
    if kind == "float":
        return g(value)
    return str(value)


# --------------------------------------------------------------------------------------------
# Generation profiles


class Generation:
    def __init__(self, name):
        self.name = name
        self.old = name == "tf1.15"
        self.litert = name == "litert"
        self.prefixed = name in ("tf2.18", "litert")  # INFO:/WARN:/ERROR:/FATAL: on the tool's lines
        self.new_parser = not self.old
        self.percentiles = name in ("tf2.18", "litert")
        self.truncated_variance = name in ("tf2.18", "litert")
        self.replacing = {"tf1.15": None, "tf2.4": None, "tf2.9": "plain", "tf2.18": "whole",
                          "litert": "subgraph"}[name]
        self.delegate_created_line = name in ("tf2.9", "tf2.18")
        self.default_xnnpack = name in ("tf2.9", "tf2.18", "litert")
        self.memory = {"tf1.15": None, "tf2.4": "peak", "tf2.9": "peak", "tf2.18": "delta",
                       "litert": "litert"}[name]
        self.reporter_prefix = not self.old  # the runtime's ErrorReporter: "ERROR: " from 2.x on
        self.flags = build_flags(name)
        self.flag_names = {f.name for f in self.flags}

    def has(self, flag):
        return flag in self.flag_names


class Flag:
    def __init__(self, name, kind, default, usage):
        self.name, self.kind, self.default, self.usage = name, kind, default, usage

    def display_default(self):
        if self.kind == "bool":
            return "true" if self.default else "false"
        if self.kind == "float":
            return g(self.default)
        return str(self.default)


def _f(name, kind, default, usage):
    return Flag(name, kind, default, usage)


def build_flags(gen):
    runs = "expected number of runs, see also min_secs, max_secs"
    min_secs = ("minimum number of seconds to rerun for, potentially making the actual number of runs to be "
                "greater than num_runs")
    max_secs = ("maximum number of seconds to rerun for, potentially making the actual number of runs to be less "
                "than num_runs. Note if --max-secs is exceeded in the middle of a run, the benchmark will continue "
                "to the end of the run but will not start the next run.")
    warmup = ("minimum number of runs performed on initialization, to allow performance characteristics to "
              "settle, see also warmup_min_secs")
    warmup_secs = ("minimum number of seconds to rerun for, potentially making the actual number of warm-up runs "
                   "to be greater than warmup_runs")
    if gen == "tf1.15":
        return [
            _f("num_runs", "int32", 50, runs), _f("min_secs", "float", 1.0, min_secs),
            _f("max_secs", "float", 150.0, max_secs), _f("run_delay", "float", -1.0, "delay between runs in seconds"),
            _f("num_threads", "int32", 1, "number of threads"), _f("benchmark_name", "string", "", "benchmark name"),
            _f("output_prefix", "string", "", "benchmark output prefix"), _f("warmup_runs", "int32", 1, warmup),
            _f("warmup_min_secs", "float", 0.5, warmup_secs), _f("graph", "string", "", "graph file name"),
            _f("input_layer", "string", "", "input layer names"),
            _f("input_layer_shape", "string", "", "input layer shape"),
            _f("use_nnapi", "bool", False, "use nnapi delegate api"),
            _f("use_legacy_nnapi", "bool", False, "use legacy nnapi api"),
            _f("nnapi_accelerator_name", "string", "",
               "the name of the nnapi accelerator to use (requires Android Q+)"),
            _f("use_gpu", "bool", False, "use gpu"), _f("allow_fp16", "bool", False, "allow fp16"),
            _f("enable_op_profiling", "bool", False, "enable op profiling"),
            _f("max_profiling_buffer_entries", "int32", 1024, "max profiling buffer entries"),
        ]
    base = [
        _f("num_runs", "int32", 50, runs), _f("min_secs", "float", 1.0, min_secs),
        _f("max_secs", "float", 150.0, max_secs), _f("run_delay", "float", -1.0, "delay between runs in seconds"),
    ]
    if gen != "tf2.4":
        base.append(_f("run_frequency", "float", -1.0,
                       "Execute at a fixed frequency, instead of a fixed delay.Note if the targeted rate per second "
                       "cannot be reached, the benchmark would start the next run immediately, trying its best to "
                       "catch up. If set, this will override run_delay."))
    base += [
        _f("num_threads", "int32", -1, "number of threads"),
        _f("use_caching", "bool", False, "Enable caching of prepacked weights matrices in matrix multiplication "
                                         "routines. Currently implies the use of the Ruy library."),
        _f("benchmark_name", "string", "", "benchmark name"),
        _f("output_prefix", "string", "", "benchmark output prefix"),
        _f("warmup_runs", "int32", 1, warmup), _f("warmup_min_secs", "float", 0.5, warmup_secs),
        _f("verbose", "bool", False, "Whether to log parameters whose values are not set. By default, only log "
                                     "those parameters that are set by parsing their values from the commandline "
                                     "flags."),
        _f("dry_run", "bool", False, "Whether to run the tool just with simply loading the model, allocating "
                                     "tensors etc. but without actually invoking any op kernels."),
        _f("report_peak_memory_footprint", "bool", False,
           "Report the peak memory footprint by periodically checking the memory footprint. Internally, a separate "
           "thread will be spawned for this periodic check. Therefore, the performance benchmark result could be "
           "affected."),
        _f("memory_footprint_check_interval_ms", "int32", 50,
           "The interval in millisecond between two consecutive memory footprint checks. This is only used when "
           "--report_peak_memory_footprint is set to true."),
    ]
    if gen in ("tf2.18", "litert"):
        base.append(_f("gpu_invoke_loop_times", "int32", 1,
                       "Number of GPU delegate invoke loop iterations. If > 0 then reported latency is divided by "
                       "this number. Used only when TFLITE_GPU_ENABLE_INVOKE_LOOP is defined."))
    if gen == "litert":
        return base + [
            _f("graph", "string", "", "The path to the model file."),
            _f("signature_to_run_for", "string", "", "The signature to run for."),
            _f("use_cpu", "bool", True, "Whether to use CPU accelerator."),
            _f("use_gpu", "bool", False, "Whether to use GPU accelerator."),
            _f("use_npu", "bool", False, "Whether to use NPU accelerator."),
            _f("dispatch_library_path", "string", "", "Dispatch library path."),
            _f("compiler_plugin_library_path", "string", "", "Compiler plugin library path. Only for JIT compilation."),
            _f("compiler_cache_path", "string", "", "Compiler plugin cache path, used to store JIT-compiled models."),
            _f("require_full_delegation", "bool", False, "Whether to require full delegation."),
            _f("use_profiler", "bool", False, "Whether to use profiler."),
            _f("enable_perfetto", "bool", False, "Whether to enable perfetto tracing."),
            _f("gpu_backend", "string", "", "GPU backend to use when using GPU accelerator."),
            _f("allow_fp16", "bool", True, "Whether to allow FP16."),
            _f("gpu_low_priority", "bool", False, "Whether to use low priority for GPU accelerator."),
            _f("result_file_path", "string", "", "Path to save the benchmark result in binary proto format."),
            _f("model_runtime_info_output_file", "string", "",
               "Path to save the model runtime info in binary proto format."),
            _f("mediatek_nerun_pilot_version", "string", "version8", "Which version of the MediaTek NPU SDK to use."),
        ]
    value_files = ("A map-like string representing value file. Each item is separated by ',', and the item value "
                   "consists of input layer name and value file path separated by ':', e.g. "
                   "input1:file_path1,input2:file_path2. If the input_name appears both in input_layer_value_range "
                   "and input_layer_value_files, input_layer_value_range of the input_name will be ignored. The "
                   "file format is binary and it should be array format or null separated strings format.")
    tflite = [
        _f("graph", "string", "", "graph file name"), _f("input_layer", "string", "", "input layer names"),
        _f("input_layer_shape", "string", "", "input layer shape"),
        _f("input_layer_value_range", "string", "",
           "A map-like string representing value range for *integer* input layers. Each item is separated by ':', "
           "and the item value consists of input layer name and integer-only range values (both low and high are "
           "inclusive) separated by ',', e.g. input1,1,2:input2,0,254"),
        _f("input_layer_value_files", "string", "", value_files),
        _f("allow_fp16", "bool", False, "allow fp16"),
        _f("require_full_delegation", "bool", False, "require delegate to run the entire graph"),
        _f("enable_op_profiling", "bool", False, "enable op profiling"),
    ]
    if gen == "tf2.18":
        tflite += [
            _f("op_profiling_output_mode", "string", "stdout",
               "Output mode for op profiling results. Supported values are: 'stdout', 'csv' and 'proto'."),
            _f("op_profiling_output_file", "string", "", "Output file for op profiling results."),
            _f("max_profiling_buffer_entries", "int32", 1024, "max initial profiling buffer entries"),
            _f("allow_dynamic_profiling_buffer_increase", "bool", False,
               "allow dynamic increase on profiling buffer entries"),
            _f("profiling_output_csv_file", "string", "",
               "[DEPRECATED: Use op_profiling_output_file and op_profiling_output_mode instead] File path to export "
               "profile data as CSV, if not set prints to stdout."),
            _f("export_model_runtime_info", "bool", False, "Enable Model Runtime Info Export"),
            _f("model_runtime_info_output_file", "string", "", "Proto File to export model runtime info to"),
        ]
    else:
        tflite += [
            _f("max_profiling_buffer_entries", "int32", 1024, "max profiling buffer entries"),
            _f("profiling_output_csv_file", "string", "",
               "File path to export profile data as CSV, if not set prints to stdout."),
        ]
    tflite += [
        _f("print_preinvoke_state", "bool", False,
           "print out the interpreter internals just before calling Invoke. The internals will include allocated "
           "memory size of each tensor etc."),
        _f("print_postinvoke_state", "bool", False,
           "print out the interpreter internals just before benchmark completes (i.e. after all repeated Invoke "
           "calls complete). The internals will include allocated memory size of each tensor etc."),
    ]
    if gen == "tf2.18":
        tflite += [
            _f("release_dynamic_tensors", "bool", False,
               "Ensure dynamic tensor's memory is released when they are not used."),
            _f("optimize_memory_for_large_tensors", "int32", 0,
               "Optimize memory usage for large tensors with sacrificing latency."),
            _f("disable_delegate_clustering", "bool", False, "Disable delegate clustering."),
            _f("enable_builtin_cast_constant_cache", "bool", False,
               "Cache the output of the builtin cast operation when its input is a constant tensor."),
            _f("output_filepath", "string", "", "File path to export outputs layer as binary data."),
            _f("output_proto_filepath", "string", "", "File path to export outputs layer as tf example proto."),
            _f("signature_to_run_for", "string", "",
               "If the model contains multiple signatures, use this flag to specify the signature to benchmark. If "
               "multiple signatures are present and this flag is not specified, the benchmark will throw an error. "
               "If only one signature is present and this flag is not specified, the default signature will be "
               "used."),
            _f("list_signatures", "bool", False,
               "Displays all signatures present in the model and then terminates the program."),
        ]
    providers = [
        _f("help", "bool", False, "Print out all supported flags if true."),
        _f("num_threads", "int32", -1, "number of threads used for inference on CPU."),
        _f("max_delegated_partitions", "int32", 0, "Max number of partitions to be delegated."),
        _f("min_nodes_per_partition", "int32", 0,
           "The minimal number of TFLite graph nodes of a partition that has to be reached for it to be delegated.A "
           "negative value or 0 means to use the default choice of each delegate."),
    ]
    if gen != "tf2.4":
        providers += [
            _f("delegate_serialize_dir", "string", "",
               "Directory to be used by delegates for serializing any model data. This allows the delegate to save "
               "data into this directory to reduce init time after the first run. Currently supported by NNAPI "
               "delegate with specific backends on Android. Note that delegate_serialize_token is also required to "
               "enable this feature."),
            _f("delegate_serialize_token", "string", "",
               "Model-specific token acting as a namespace for delegate serialization. Unique tokens ensure that "
               "the delegate doesn't read inapplicable/invalid data. Note that delegate_serialize_dir is also "
               "required to enable this feature."),
        ]
    providers += [
        _f("use_gpu", "bool", False, "use gpu"),
        _f("gpu_precision_loss_allowed", "bool", True,
           "Allow to process computation in lower precision than FP32 in GPU. By default, it's enabled."),
        _f("gpu_experimental_enable_quant", "bool", True,
           "Whether to enable the GPU delegate to run quantized models or not. By default, it's enabled."),
    ]
    if gen != "tf2.4":
        providers.append(_f("gpu_inference_for_sustained_speed", "bool", False,
                            "Whether to prefer maximizing the throughput. This mode will help when the same delegate "
                            "will be used repeatedly on multiple inputs. This is supported on non-iOS platforms. By "
                            "default, it's disabled."))
    providers += [
        _f("gpu_backend", "string", "", "Force the GPU delegate to use a particular backend for execution, and fail "
                                        "if unsuccessful. Should be one of: cl, gl"),
        _f("use_nnapi", "bool", False, "use nnapi delegate api"),
        _f("nnapi_execution_preference", "string", "",
           "execution preference for nnapi delegate. Should be one of the following: fast_single_answer, "
           "sustained_speed, low_power, undefined"),
        _f("nnapi_execution_priority", "string", "",
           "The model execution priority in nnapi, and it should be one of the following: default, low, medium "
           "and high. This requires Android 11+."),
        _f("nnapi_accelerator_name", "string", "",
           "the name of the nnapi accelerator to use (requires Android Q+)"),
        _f("disable_nnapi_cpu", "bool", True, "Disable the NNAPI CPU device"),
        _f("nnapi_allow_fp16", "bool", False, "Allow fp32 computation to be run in fp16"),
    ]
    if gen != "tf2.4":
        providers += [
            _f("nnapi_allow_dynamic_dimensions", "bool", False,
               "Whether to allow dynamic dimension sizes without re-compilation. This requires Android 9+."),
            _f("nnapi_use_burst_mode", "bool", False, "use NNAPI Burst mode if supported. Burst mode allows "
                                                      "accelerators to efficiently manage resources, which would "
                                                      "significantly reduce overhead especially if the same delegate "
                                                      "instance is to be used for multiple inferences."),
        ]
    providers.append(_f("use_xnnpack", "bool", False,
                        "explicitly apply the XNNPACK delegate. Note the XNNPACK delegate could be implicitly applied "
                        "by the TF Lite runtime regardless the value of this parameter. To disable this implicit "
                        "application, set the value to false explicitly."))
    return base + tflite + providers


def param_log_entries(gen):
    """(param, description, always) in LogParams order for the 2.x generations."""
    entries = [("num_runs", "Min num runs", False), ("min_secs", "Min runs duration (seconds)", False),
               ("max_secs", "Max runs duration (seconds)", False), ("run_delay", "Inter-run delay (seconds)", False)]
    if gen.has("run_frequency"):
        entries.append(("run_frequency", "Number of prorated runs per second", False))
    entries += [("num_threads", "Num threads", False), ("use_caching", "Use caching", False),
                ("benchmark_name", "Benchmark name", False), ("output_prefix", "Output prefix", False),
                ("warmup_runs", "Min warmup runs", False),
                ("warmup_min_secs", "Min warmup runs duration (seconds)", False),
                ("dry_run", "Run w/o invoking kernels", False),
                ("report_peak_memory_footprint", "Report the peak memory footprint", False),
                ("memory_footprint_check_interval_ms", "Memory footprint check interval (ms)", False)]
    if gen.litert:  # BenchmarkLiteRtModel does not extend LogParams
        return entries
    entries.append(("graph", "Graph", True))
    if gen.name == "tf2.18":
        entries += [("signature_to_run_for", "Signature to run", True),
                    ("list_signatures", "List signatures from the provided model", None)]
    entries += [("input_layer", "Input layers", False), ("input_layer_shape", "Input shapes", False),
                ("input_layer_value_range", "Input value ranges", False),
                ("input_layer_value_files", "Input value files", False), ("allow_fp16", "Allow fp16", False),
                ("require_full_delegation", "Require full delegation", False),
                ("enable_op_profiling", "Enable op profiling", False)]
    if gen.name == "tf2.18":
        entries += [("op_profiling_output_mode", "Op profiling output mode.", False),
                    ("op_profiling_output_file", "Op profiling output file.", False),
                    ("max_profiling_buffer_entries", "Max initial profiling buffer entries", False),
                    ("allow_dynamic_profiling_buffer_increase", "Allow dynamic increase on profiling buffer entries",
                     False),
                    ("profiling_output_csv_file", "CSV File to export profiling data to", False),
                    ("export_model_runtime_info", "Enable Model Runtime Info Export", False),
                    ("model_runtime_info_output_file", "Proto File to export model runtime info to", False),
                    ("print_preinvoke_state", "Print pre-invoke interpreter state", False),
                    ("print_postinvoke_state", "Print post-invoke interpreter state", False),
                    ("release_dynamic_tensors", "Release dynamic tensor memory", False),
                    ("optimize_memory_for_large_tensors", "Optimize memory usage for large tensors", False),
                    ("disable_delegate_clustering", "Disable delegate clustering", False),
                    ("enable_builtin_cast_constant_cache", "Constant CAST output cache", False),
                    ("output_filepath", "File path to export outputs layer to", False),
                    ("output_proto_filepath", "File path to export outputs layer as tf example to", False)]
    else:
        entries += [("max_profiling_buffer_entries", "Max profiling buffer entries", False),
                    ("profiling_output_csv_file", "CSV File to export profiling data to", False),
                    ("print_preinvoke_state", "Print pre-invoke interpreter state", False),
                    ("print_postinvoke_state", "Print post-invoke interpreter state", False)]
    # delegate providers, in their registration order on Android: default, gpu, nnapi, xnnpack
    entries += [("help", "print out all supported flags", False),
                ("num_threads", "#threads used for CPU inference", False),
                ("max_delegated_partitions", "Max number of delegated partitions", False),
                ("min_nodes_per_partition", "Min nodes per partition", False)]
    if gen.has("delegate_serialize_dir"):
        entries += [("delegate_serialize_dir", "Directory for delegate serialization", False),
                    ("delegate_serialize_token", "Model-specific token/key for delegate serialization.", False)]
    entries += [("use_gpu", "Use gpu", False), ("gpu_precision_loss_allowed", "Allow lower precision in gpu", False),
                ("gpu_experimental_enable_quant", "Enable running quant models in gpu", False)]
    if gen.has("gpu_inference_for_sustained_speed"):
        entries.append(("gpu_inference_for_sustained_speed", "Prefer maximizing the throughput in gpu", False))
    entries += [("gpu_backend", "GPU backend", False), ("use_nnapi", "Use NNAPI", False),
                ("nnapi_execution_preference", "NNAPI execution preference", False),
                ("nnapi_execution_priority", "Model execution priority in nnapi", False),
                ("nnapi_accelerator_name", "NNAPI accelerator name", False), ("@nnapi", None, None),
                ("disable_nnapi_cpu", "Disable NNAPI cpu", False), ("nnapi_allow_fp16", "Allow fp16 in NNAPI", False),
                ("nnapi_allow_dynamic_dimensions", "Allow dynamic dimensions in NNAPI", False),
                ("nnapi_use_burst_mode", "Use burst mode in NNAPI", False), ("use_xnnpack", "Use xnnpack", False)]
    return entries


# --------------------------------------------------------------------------------------------
# Output: the tool's TFLITE_LOG, the runtime's minimal logger and error reporter, LITERT_LOG


class Log:
    def __init__(self, gen):
        self.gen = gen

    @staticmethod
    def _write(stream, text):
        stream.write(text)
        stream.flush()

    def tool(self, severity, message):
        prefix = severity + ": " if self.gen.prefixed else ""
        stream = sys.stdout if severity in ("INFO", "WARN") else sys.stderr
        self._write(stream, prefix + message + "\n")

    def info(self, message):
        self.tool("INFO", message)

    def warn(self, message):
        self.tool("WARN", message)

    def error(self, message):
        self.tool("ERROR", message)

    def fatal(self, message):
        self.tool("FATAL", message)
        sys.stdout.flush()
        os.abort()

    def runtime(self, severity, message):
        """tflite's MinimalLogger: "<SEVERITY>: message" on stderr (Android also prints VERBOSE)."""
        self._write(sys.stderr, "%s: %s\n" % (severity, message))

    def reporter(self, message):
        """The runtime's default ErrorReporter (StderrReporter)."""
        if self.gen.reporter_prefix:
            self.runtime("ERROR", message)
        else:
            self._write(sys.stderr, message + "\n")

    def litert(self, severity, where, message):
        self._write(sys.stderr, "%s: [%s] %s\n" % (severity, where, message))


class Stop(Exception):
    """The tool returns an error status from Run()."""


# --------------------------------------------------------------------------------------------
# Flags


_INT = re.compile(r"\s*[+-]?\d+")
_FLOAT = re.compile(r"\s*[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|nan)", re.I)


def parse_value(flag, text, new_parser):
    """(ok, value) the way the tool's std::istringstream based parser reads a flag value."""
    if flag.kind == "string":
        return True, text
    if flag.kind == "bool":
        allowed = ("true", "false", "0", "1") if new_parser else ("true", "false")
        return (True, text in ("true", "1")) if text in allowed else (False, None)
    match = (_INT if flag.kind == "int32" else _FLOAT).match(text)
    if not match:
        return (True, 0) if not text.strip() else (False, None)  # empty: eof, not a failure
    return True, int(match.group(0)) if flag.kind == "int32" else float(match.group(0))


class Params:
    def __init__(self, gen):
        self.values = {f.name: f.default for f in gen.flags}
        self.kinds = {f.name: f.kind for f in gen.flags}
        self.set = set()
        self.position = {}

    def get(self, name, default=None):
        return self.values.get(name, default)

    def assign(self, name, value, position):
        self.values[name] = value
        self.set.add(name)
        self.position[name] = position


def parse_flags(gen, argv, log):
    """Flags::Parse of the generation: returns (params, leftover arguments, ok)."""
    params = Params(gen)
    ok = True
    if not gen.new_parser:
        unknown = []
        i = 1
        while i < len(argv):
            if argv[i] == "--":
                unknown.extend(argv[i:])
                break
            found = False
            for flag in gen.flags:
                prefix = "--%s=" % flag.name
                if argv[i].startswith(prefix):
                    good, value = parse_value(flag, argv[i][len(prefix):], False)
                    if good:
                        params.assign(flag.name, value, i)
                    else:
                        ok = False
                    found = True
                    break
            if not found:
                unknown.append(argv[i])
            i += 1
        return params, unknown, ok and not (unknown and unknown[0] == "--help")
    consumed = [False] * len(argv)
    processed = {}
    for flag in gen.flags:
        prefix = "--%s=" % flag.name
        if processed.get(flag.name, -1) != -1:  # a duplicate flag re-reads the same argument
            good, value = parse_value(flag, argv[processed[flag.name]][len(prefix):], True)
            if good:
                params.assign(flag.name, value, processed[flag.name])
            continue
        processed[flag.name] = -1
        for i in range(1, len(argv)):
            if consumed[i] or not argv[i].startswith(prefix):
                continue
            good, value = parse_value(flag, argv[i][len(prefix):], True)
            if good:
                params.assign(flag.name, value, i)
            else:
                log.error("Failed to parse flag '%s' against argv '%s'" % (flag.name, argv[i]))
                ok = False
            consumed[i] = True
            processed[flag.name] = i
            break
    leftover = [argv[i] for i in range(1, len(argv)) if not consumed[i]]
    return params, leftover, ok and not (leftover and leftover[0] == "--help")


def usage(gen, argv0):
    if not gen.new_parser:
        lines = ["usage: %s" % argv0, "Flags:"]
        lines += ["\t--%s=%s\t%s\t%s" % (f.name, f.display_default(), f.kind, f.usage) for f in gen.flags]
        return "\n".join(lines) + "\n"
    names = ["--%s=%s" % (f.name, f.display_default()) for f in gen.flags]
    width = max(len(n) for n in names)
    lines = ["usage: %s <flags>" % argv0, "Flags:"]
    lines += ["\t%s\t%s\toptional\t%s" % (n.ljust(width), f.kind, f.usage) for n, f in zip(names, gen.flags)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The .tflite flatbuffer (enough of it: subgraphs, operators, tensor names, signatures)


class TFLiteFile:
    def __init__(self, data):
        self.b = data
        root = self._table(self._u32(0))
        self.opcodes = []
        for t in self._tables(self._field(root, 1)):
            deprecated = self._scalar(t, 0, "<b", 0)
            builtin = self._scalar(t, 3, "<i", 0)
            custom = self._string(self._field(t, 1))
            self.opcodes.append((max(deprecated, builtin), custom))
        self.subgraphs = []
        for t in self._tables(self._field(root, 2)):
            tensors = [self._string(self._field(x, 3)) or "" for x in self._tables(self._field(t, 0))]
            operators = [self._scalar(op, 0, "<I", 0) for op in self._tables(self._field(t, 3))]
            self.subgraphs.append({"tensors": tensors, "inputs": self._ints(self._field(t, 1)),
                                   "outputs": self._ints(self._field(t, 2)), "ops": operators,
                                   "name": self._string(self._field(t, 4)) or ""})
        self.signatures = []
        for t in self._tables(self._field(root, 7)):
            self.signatures.append({"key": self._string(self._field(t, 2)) or "",
                                    "subgraph": self._scalar(t, 4, "<I", 0)})

    def _u32(self, pos):
        return struct.unpack_from("<I", self.b, pos)[0]

    def _table(self, pos):
        vtable = pos - struct.unpack_from("<i", self.b, pos)[0]
        return pos, vtable, struct.unpack_from("<H", self.b, vtable)[0]

    def _field(self, table, index):
        pos, vtable, size = table
        entry = 4 + 2 * index
        if entry >= size:
            return None
        offset = struct.unpack_from("<H", self.b, vtable + entry)[0]
        return pos + offset if offset else None

    def _scalar(self, table, index, fmt, default):
        at = self._field(table, index)
        return default if at is None else struct.unpack_from(fmt, self.b, at)[0]

    def _vector(self, at):
        if at is None:
            return 0, 0
        start = at + self._u32(at)
        return start + 4, self._u32(start)

    def _tables(self, at):
        start, n = self._vector(at)
        return [self._table(start + 4 * i + self._u32(start + 4 * i)) for i in range(n)]

    def _ints(self, at):
        start, n = self._vector(at)
        return list(struct.unpack_from("<%di" % n, self.b, start)) if n else []

    def _string(self, at):
        if at is None:
            return None
        start, n = self._vector(at)
        return self.b[start:start + n].decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# The interpreter


def import_interpreter():
    try:
        from ai_edge_litert import interpreter as tfl
    except ImportError:
        from tflite_runtime import interpreter as tfl
    return tfl


class quiet_stderr:
    """Keeps the runtime's own native logging (fd 2) out of the tool's output."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


class Runtime:
    """One interpreter over the model, and the subgraph the tool's runner drives."""

    def __init__(self, tfl, path, threads, default_delegates):
        kwargs = {}
        if threads is not None and threads != -1:
            kwargs["num_threads"] = int(threads)
        resolver = getattr(tfl, "OpResolverType", None)
        if not default_delegates and resolver is not None:
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        with quiet_stderr():
            self.it = tfl.Interpreter(model_path=path, **kwargs)
        self.subgraph = 0

    @property
    def w(self):
        # never keep the wrapper in an attribute: the interpreter refuses to allocate while a second
        # reference to it exists (Interpreter._safe_to_run)
        return self.it._interpreter

    def use_signature(self, key):
        with quiet_stderr():
            runner = self.it.get_signature_runner(key)
        self.subgraph = int(getattr(runner, "_subgraph_index", 0))

    def allocate(self):
        with quiet_stderr():
            self.it.allocate_tensors()
            if self.subgraph:
                self.w.AllocateTensors(self.subgraph)

    def detail(self, index):
        return self.it._get_tensor_details(index, subgraph_index=self.subgraph)

    def resize(self, index, shape):
        import numpy as np

        with quiet_stderr():
            self.w.ResizeInputTensor(index, np.array(shape, dtype=np.int32), False, self.subgraph)

    def set(self, index, value):
        self.w.SetTensor(index, value, self.subgraph)

    def invoke(self):
        self.w.Invoke(self.subgraph)

    def get(self, index):
        return self.w.GetTensor(index, self.subgraph)

    def xnnpack_coverage(self, model):
        """Original nodes of subgraph 0 that the interpreter's XNNPACK delegate took (None: no introspection)."""
        try:
            count = self.w.NumNodes()
            inputs = [list(self.w.NodeInputs(i)) for i in range(count)]
            outputs = [list(self.w.NodeOutputs(i)) for i in range(count)]
        except Exception:
            return None
        original = len(model.subgraphs[0]["ops"])
        producer = {}
        for i in range(min(original, count)):
            for t in outputs[i]:
                producer[int(t)] = i
        covered = set()
        for k in range(original, count):
            boundary = {int(t) for t in inputs[k]}
            stack = [int(t) for t in outputs[k]]
            while stack:
                node = producer.get(stack.pop())
                if node is None or node in covered:
                    continue
                covered.add(node)
                stack.extend(int(t) for t in inputs[node] if int(t) >= 0 and int(t) not in boundary)
        return covered


# --------------------------------------------------------------------------------------------
# Statistics (tensorflow::Stat / StatWithPercentiles)


class Stat:
    def __init__(self, gen):
        self.gen = gen
        self.values = []

    def add(self, value):
        self.values.append(int(value))

    def count(self):
        return len(self.values)

    def first(self):
        return self.values[0] if self.values else 0

    def avg(self):
        # quiet_NaN of an integer ValueType is 0: an empty stat averages to 0
        return sum(self.values) / len(self.values) if self.values else 0.0

    def std(self):
        v = self.values
        if not v or min(v) == max(v):
            return 0
        mean = sum(v) / len(v)
        variance = sum(float(x) * x for x in v) / len(v) - mean * mean
        if self.gen.truncated_variance:
            variance = float(int(variance))
        return int(math.sqrt(max(variance, 0.0)))

    def percentile(self, p):
        if not self.values:
            return 0
        return sorted(self.values)[len(self.values) * p // 100]

    def line(self):
        v = self.values
        if not v:
            text = "count=0"
        elif min(v) == max(v):
            text = "count=%d curr=%d" % (len(v), v[-1]) + ("(all same)" if len(v) > 1 else "")
        else:
            text = "count=%d first=%d curr=%d min=%d max=%d avg=%s std=%d" % (
                len(v), v[0], v[-1], min(v), max(v), g(self.avg()), self.std())
        if self.gen.percentiles:
            text += " p5=%d median=%d p95=%d" % (self.percentile(5), self.percentile(50), self.percentile(95))
        return text


def now_us():
    return time.monotonic_ns() // 1000


def max_rss_kb():
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except Exception:
        return -1


# --------------------------------------------------------------------------------------------
# The benchmark


class Delegation:
    """What one provider delegate did to each subgraph."""

    def __init__(self, kind, behaviour):
        self.kind = kind
        self.behaviour = behaviour
        self.taken = {}  # subgraph -> sorted node indices taken by the delegate
        self.prepare_fails = False  # its kernel fails in the tool's own AllocateTensors


def partitions(ops_count, taken):
    """Node subsets of a subgraph (runs of delegated / not delegated nodes in execution order)."""
    runs, last = 0, None
    for node in range(ops_count):
        state = node in taken
        if state != last:
            runs += 1
            last = state
    return runs, sum(1 for i in range(ops_count) if i in taken and (i == 0 or i - 1 not in taken))


class Benchmark:
    def __init__(self, behaviour, argv):
        self.behaviour = behaviour
        self.gen = Generation(behaviour["generation"])
        self.log = Log(self.gen)
        self.argv = argv
        self.params = None
        self.model = None
        self.rt = None
        self.delegations = []
        self.inputs_info = []
        self.input_data = []
        self.last_outputs = None
        self.accelerated = False
        self.tfl = None

    # ---- entry point -------------------------------------------------------------------

    def main(self):
        gen, log = self.gen, self.log
        log.info("STARTING!")
        params, leftover, ok = parse_flags(gen, self.argv, log)
        self.params = params
        if not ok or params.get("help"):
            log.error(usage(gen, self.argv[0]))
            if gen.old:
                return 0
            log.error("Benchmarking failed.")
            return 1
        if leftover and gen.new_parser:
            log.warn("Unconsumed cmdline flags: " + " ".join(leftover))
        try:
            self.run()
        except Stop:
            if gen.old:
                return 0
            log.error("Benchmarking failed.")
            return 1
        return 0

    # ---- parameters ----------------------------------------------------------------------

    def validate(self):
        p, log = self.params, self.log
        if p.get("report_peak_memory_footprint") and p.get("memory_footprint_check_interval_ms") <= 0:
            log.warn("--memory_footprint_check_interval_ms is set to %d (ms), This value is invalid, and it will be "
                     "set to the default value 50 (ms)." % p.get("memory_footprint_check_interval_ms"))
            p.values["memory_footprint_check_interval_ms"] = 50
        if not p.get("graph"):
            log.error("Please specify the name of your TF Lite input file with --graph")
            if not self.gen.old:  # TF 1.15 ignores ValidateParams' result
                raise Stop()
        if self.gen.litert:
            return
        if self.gen.name == "tf2.18" and p.get("enable_op_profiling"):
            mode = p.get("op_profiling_output_mode")
            if mode not in ("stdout", "csv", "proto"):
                log.error("Output mode%s is not supported. Supported values are: 'stdout', 'csv' and 'proto'." % mode)
                raise Stop()
        self.populate_input_layers()

    def populate_input_layers(self):
        p, log, gen = self.params, self.log, self.gen
        names_text, shapes_text = p.get("input_layer"), p.get("input_layer_shape")
        names = names_text.split(",") if names_text else []
        shapes = shapes_text.split(":") if shapes_text else []
        if len(names) != len(shapes):
            log.error("The number of items in --input_layer_shape (%s, with %d items) must match the number of items "
                      "in --input_layer (%s, with %d items). For example --input_layer=input1,input2 "
                      "--input_layer_shape=1,224,224,4:1,20" % (shapes_text, len(shapes), names_text, len(names)))
            if gen.old:
                return
            raise Stop()
        info = []
        for name, shape in zip(names, shapes):
            try:
                dims = [int(x) for x in shape.split(",")]
            except ValueError:
                log.fatal("Incorrect size string specified: %s" % shape)
            if -1 in dims:
                log.error("Any unknown sizes in the shapes (-1's) must be replaced with the size you want to "
                          "benchmark with.")
                if gen.old:
                    return
                raise Stop()
            info.append({"name": name, "shape": dims, "file": "", "range": None})
        self.inputs_info = info
        if gen.old:
            return

        def find(name):
            for i, item in enumerate(info):
                if item["name"] == name:
                    return i
            log.fatal("Cannot find the corresponding input_layer name(%s) in --input_layer as %s" % (name, names_text))

        ranges = p.get("input_layer_value_range")
        for item in ranges.split(":") if ranges else []:
            parts = item.split(",")
            if len(parts) != 3:
                log.error("Wrong input value range item specified: %s" % item)
                raise Stop()
            index = find(parts[0])
            try:
                low, high = int(parts[1]), int(parts[2])
            except ValueError:
                low, high = 1, 0
            if low > high:
                log.error("Wrong low and high value of the input value range specified: %s" % item)
                raise Stop()
            info[index]["range"] = (low, high)
        files = p.get("input_layer_value_files")
        for item in files.split(",") if files else []:
            pair = self.split_name_and_file(item)
            if pair is None:
                raise Stop()
            index = find(pair[0])
            if info[index]["range"] is not None:
                log.warn("The input_name:%s appears both in input_layer_value_files and input_layer_value_range. The "
                         "input_layer_value_range of the input_name will be ignored." % info[index]["name"])
            info[index]["file"] = pair[1]

    def split_name_and_file(self, item):
        log = self.log
        if self.gen.name != "tf2.18":
            parts = item.split(":")
            if len(parts) != 2:
                log.error("Wrong input value file item specified: %s" % item)
                return None
            return parts
        delim, i = -1, 0
        while i < len(item) - 1:
            if item[i] == ":":
                if item[i + 1] == ":":
                    i += 1
                elif delim == -1:
                    delim = i
                else:
                    log.error("%s contains more than one delimiter." % item)
                    log.error("Wrong input value file item specified: %s" % item)
                    log.error("1")
                    return None
            i += 1
        if delim == -1:
            log.error("%s doesn't contain any delimiter." % item)
            log.error("Wrong input value file item specified: %s" % item)
            log.error("1")
            return None
        return item[:delim].replace("::", ":"), item[delim + 1:].replace("::", ":")

    def log_params(self):
        p, log, gen = self.params, self.log, self.gen
        if gen.old:
            for name, text in (("num_runs", "Min num runs"), ("min_secs", "Min runs duration (seconds)"),
                               ("max_secs", "Max runs duration (seconds)"), ("run_delay", "Inter-run delay (seconds)"),
                               ("num_threads", "Num threads"), ("benchmark_name", "Benchmark name"),
                               ("output_prefix", "Output prefix"), ("warmup_runs", "Min warmup runs"),
                               ("warmup_min_secs", "Min warmup runs duration (seconds)"), ("graph", "Graph"),
                               ("input_layer", "Input layers"), ("input_layer_shape", "Input shapes"),
                               ("use_nnapi", "Use nnapi "), ("use_legacy_nnapi", "Use legacy nnapi "),
                               ("nnapi_accelerator_name", "nnapi accelerator name"), ("use_gpu", "Use gpu "),
                               ("allow_fp16", "Allow fp16 "), ("enable_op_profiling", "Enable op profiling"),
                               ("max_profiling_buffer_entries", "Max profiling buffer entries")):
                log.info("%s: [%s]" % (text, show(p.get(name), p.kinds[name])))
            return
        verbose = bool(p.get("verbose"))
        log.info("Log parameter values verbosely: [%s]" % show(verbose, "bool"))
        for name, text, always in param_log_entries(gen):
            if name == "@nnapi":
                if p.get("use_nnapi") and self.behaviour["delegates"].get("nnapi") != "absent":
                    log.info("NNAPI accelerators available: [nnapi-reference]")
                continue
            if name not in p.kinds:
                continue
            if name.startswith("nnapi_") or name == "disable_nnapi_cpu":
                if not p.get("use_nnapi"):
                    continue
            if always or (always is not None and verbose) or name in p.set:
                log.info("%s: [%s]" % (text, show(p.get(name), p.kinds[name])))

    # ---- the run -------------------------------------------------------------------------

    def run(self):
        gen, p, log = self.gen, self.params, self.log
        self.validate()
        self.log_params()
        self.tfl = import_interpreter()  # a native tool has its runtime loaded before Init() is timed
        graph = p.get("graph")
        size = self.model_file_size(graph)
        start_kb = max_rss_kb()
        t0 = now_us()
        self.init(graph)
        init_kb = max_rss_kb()
        startup_us = now_us() - t0
        if not gen.old:
            if size > 0:
                log.info("The input model file size (MB): %s" % g(size / 1e6))
            else:
                log.warn("Failed to get the input model file size.")
        log.info("Initialized session in %s%s" % (g(startup_us / 1e3), "ms" if gen.old else "ms."))
        self.prepare_inputs()
        if p.get("dry_run"):
            p.values.update(warmup_runs=0, warmup_min_secs=-1.0, num_runs=0, min_secs=-1.0)
        warmup = self.loop(p.get("warmup_runs"), p.get("warmup_min_secs"), p.get("max_secs"), last=False)
        regular = self.loop(p.get("num_runs"), p.get("min_secs"), p.get("max_secs"), last=True)
        end_kb = max_rss_kb()
        self.report(startup_us, warmup, regular, size, start_kb, init_kb, end_kb)
        self.save_outputs()

    def model_file_size(self, graph):
        try:
            return os.path.getsize(graph)
        except OSError:
            return -1

    def open_failure(self, graph):
        gen, log = self.gen, self.log
        if gen.litert:
            log.litert("ERROR", "benchmark_litert_model.cc:199", "Failed to load model.")
            raise Stop()
        log.reporter("Could not open '%s'." % graph)
        if gen.old:
            log.fatal("Failed to mmap model %s" % graph)
        log.error(("Failed to load model %s" if gen.name == "tf2.18" else "Failed to mmap model %s") % graph)
        raise Stop()

    def invalid_model(self, graph):
        gen, log = self.gen, self.log
        log.reporter("The model is not a valid Flatbuffer file")
        if gen.old:
            log.fatal("Failed to mmap model %s" % graph)
        log.error(("Failed to load model %s" if gen.name == "tf2.18" else "Failed to mmap model %s") % graph)
        raise Stop()

    def init(self, graph):
        gen, p, log = self.gen, self.params, self.log
        if gen.litert:
            log.litert("INFO", "benchmark_litert_model.cc:197", "Loading model from: %s" % graph)
        try:
            if self.behaviour.get("fail") == "cannot-open":
                raise OSError("cannot open")
            with open(graph, "rb") as handle:
                data = handle.read()
            self.model = TFLiteFile(data)
        except (OSError, struct.error, IndexError):
            self.open_failure(graph)
        if not gen.litert:
            log.info("Loaded model %s" % graph)
        if gen.old:
            log.info("resolved reporter")
        if gen.litert:
            return self.init_litert(graph)
        xnnpack_flag = p.get("use_xnnpack") if gen.has("use_xnnpack") else None
        requested = self.requested_accelerators()
        explicit_xnnpack = bool(xnnpack_flag)
        cpu_default = (gen.default_xnnpack and not ("use_xnnpack" in p.set and not xnnpack_flag) and not requested
                       and not explicit_xnnpack)
        threads = p.get("num_threads")
        try:
            self.rt = Runtime(self.tfl, graph, threads, default_delegates=cpu_default or explicit_xnnpack)
        except ValueError:
            self.invalid_model(graph)
        log.runtime("INFO", "Initialized TensorFlow Lite runtime.")
        if gen.old:
            self.init_old(requested)
        else:
            self.init_new(requested, explicit_xnnpack, cpu_default)

    def requested_accelerators(self):
        p = self.params
        chosen = [k for k in ("gpu", "nnapi") if self.gen.has("use_" + k) and p.get("use_" + k)]
        if self.gen.old:
            return chosen  # a std::map: "GPU" before "NNAPI"
        return sorted(chosen, key=lambda k: p.position.get("use_" + k, 0))

    # -- TF 1.15 -------------------------------------------------------------------------

    def init_old(self, requested):
        log = self.log
        created = []
        for kind in requested:
            behaviour = self.behaviour["delegates"].get(kind, "full")
            if behaviour == "absent":
                log.warn("%s acceleration is unsupported on this platform." % PROVIDER_NAME[kind])
                continue
            log.runtime("INFO", "Created TensorFlow Lite delegate for %s." % PROVIDER_NAME[kind])
            created.append(kind)
        for kind in created:
            if not self.apply_delegate(kind):
                log.fatal("Failed to apply %s delegate." % PROVIDER_NAME[kind])
            log.info("Applied %s delegate." % PROVIDER_NAME[kind])
        self.check_inputs()
        self.allocate()

    # -- TF 2.x ------------------------------------------------------------------------------

    def init_new(self, requested, explicit_xnnpack, cpu_default):
        gen, p, log = self.gen, self.params, self.log
        if gen.name == "tf2.18":
            self.create_runner()
            if cpu_default and p.get("signature_to_run_for"):
                self.default_xnnpack()  # GetSignatureRunner applies the lazy delegate providers
                cpu_default = False
            self.check_inputs()
        kinds = list(requested)
        if explicit_xnnpack:
            kinds.append("xnnpack")
            kinds.sort(key=lambda k: p.position.get("use_" + k, 0))
        created = []
        for kind in kinds:
            behaviour = "full" if kind == "xnnpack" else self.behaviour["delegates"].get(kind, "full")
            if behaviour == "absent":
                log.warn("%s acceleration is unsupported on this platform." % PROVIDER_NAME[kind])
                continue
            if kind == "xnnpack":
                log.runtime("INFO", "Created TensorFlow Lite XNNPACK delegate for CPU.")
            else:
                log.runtime("INFO", "Created TensorFlow Lite delegate for %s." % PROVIDER_NAME[kind])
            if gen.delegate_created_line and not created:
                log.info("%s delegate created." % PROVIDER_NAME[kind])
            created.append(kind)
        if gen.name == "tf2.18" and len(created) >= 2:
            log.info("Going to apply %d delegates one after another." % len(created))
        if gen.name == "tf2.18" and not created and p.get("require_full_delegation"):
            log.error("Disallowed CPU fallback detected.")
            raise Stop()
        for kind in created:
            if not self.apply_delegate(kind):
                log.error("Failed to apply %s delegate." % PROVIDER_NAME[kind])
                raise Stop()
            taken = self.delegations[-1].taken.get(self.rt.subgraph, [])
            total = len(self.model.subgraphs[self.rt.subgraph]["ops"])
            _, new_kernels = partitions(total, set(taken))
            fully = new_kernels == 1 and len(taken) == total
            if p.get("require_full_delegation") and not fully:
                log.error("Disallowed CPU fallback detected.")
                raise Stop()
            name = PROVIDER_NAME[kind]
            if fully:
                log.info("Explicitly applied %s delegate, and the model graph will be completely executed by the "
                         "delegate." % name)
            elif new_kernels > 0:
                log.info("Explicitly applied %s delegate, and the model graph will be partially executed by the "
                         "delegate w/ %d delegate kernels." % (name, new_kernels))
            else:
                log.info("Though %s delegate is explicitly applied, the model graph will not be executed by the "
                         "delegate." % name)
        if gen.name != "tf2.18":
            self.check_inputs()
        if cpu_default:
            self.default_xnnpack()  # Interpreter::AllocateTensors applies the lazy delegate providers first
        self.allocate()

    def create_runner(self):
        p, log = self.params, self.log
        key = p.get("signature_to_run_for")
        if p.get("list_signatures"):
            keys = [s["key"] for s in self.model.signatures]
            log.info("The Model contains %d signature key(s)." % len(keys))
            if keys:
                log.info("They are listed below: ")
            for k in keys:
                log.info("-> Signature Key: %s" % k)
            raise Stop()
        if not key:
            return
        keys = [s["key"] for s in self.model.signatures]
        if len(keys) > 1 and key not in keys:
            log.error("Signature not specified or incorrect for graph with multiple signatures. Pass one of the "
                      "following to the flag \"--signature_to_run_for\"")
            for k in keys:
                log.error(" #> Signature key: %s" % k)
            raise Stop()
        if not keys:
            return
        log.info("Using signature: %s" % key)
        if key not in keys:
            raise Stop()
        self.rt.use_signature(key)

    # -- delegates -----------------------------------------------------------------------

    def apply_delegate(self, kind):
        """ModifyGraphWithDelegate over every subgraph; False when it fails."""
        gen, log = self.gen, self.log
        behaviour = "full" if kind == "xnnpack" else self.behaviour["delegates"].get(kind, "full")
        delegation = Delegation(kind, behaviour)
        self.delegations.append(delegation)
        restored = "Restored %s execution plan after delegate application failure." % (
            "previous" if gen.old else "original")
        if behaviour == "fail-apply":
            log.reporter(restored)
            return False
        dynamic = (kind == "nnapi" and bool(self.params.get("nnapi_allow_dynamic_dimensions")))
        if behaviour == "prepare-fail" and not dynamic:
            if kind == "gpu":
                log.reporter("TfLiteGpuDelegate Prepare: delegate is not initialized")
            node = len(self.model.subgraphs[0]["ops"])
            log.reporter("Node number %d (%s) failed to prepare.%s" % (node, DELEGATE_KERNEL[kind],
                                                                         "\n" if gen.old else ""))
            log.reporter(restored)
            return False
        coverage = None
        if kind == "xnnpack":  # the interpreter's own XNNPACK delegate: applied when tensors are allocated
            self.allocate_quietly()
            coverage = self.rt.xnnpack_coverage(self.model)
        for index, sub in enumerate(self.model.subgraphs):
            total = len(sub["ops"])
            taken = self.taken_nodes(kind, behaviour, index, total, coverage)
            delegation.taken[index] = taken
            if kind == "gpu" and len(taken) < total:
                self.gpu_unsupported(index, taken)
            if taken:
                self.replacing_line(kind, index, total, set(taken))
            if kind == "gpu":
                if taken and index == 0:
                    log.runtime("INFO", "Initialized OpenCL-based API.")
                if not gen.old:
                    log.runtime("INFO", "Created %d GPU delegate kernels." % partitions(total, set(taken))[1])
        if kind != "xnnpack" and any(delegation.taken.values()):
            self.accelerated = True
        if behaviour == "prepare-fail":  # a delegate that allows dynamic tensors: fails in AllocateTensors
            delegation.prepare_fails = True
        return True

    def taken_nodes(self, kind, behaviour, index, total, coverage):
        if kind == "xnnpack":
            if coverage is None:
                return list(range(total))
            if index == 0:
                return sorted(coverage)
            # other signatures: the XNNPACK decision per op type seen in subgraph 0 (not introspectable here)
            ops0 = self.model.subgraphs[0]["ops"]
            good = {ops0[i] for i in coverage}
            bad = {ops0[i] for i in range(len(ops0)) if i not in coverage}
            return [i for i, op in enumerate(self.model.subgraphs[index]["ops"]) if op in good and op not in bad]
        if behaviour.startswith("partial:"):
            try:
                k = int(behaviour.split(":", 1)[1])
            except ValueError:
                k = total
            return list(range(max(0, min(k, total))))
        return list(range(total))

    def op_name(self, opcode_index):
        code, custom = self.model.opcodes[opcode_index]
        if custom:
            return custom
        names = getattr(self, "_op_names", None)
        if names is None:
            names = {}
            try:
                from ai_edge_litert import schema_py_generated as schema

                names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
            except Exception:
                try:
                    for i, op in enumerate(self.model.subgraphs[0]["ops"]):
                        names.setdefault(self.model.opcodes[op][0], self.rt.w.NodeName(i))
                except Exception:
                    pass
            self._op_names = names
        return names.get(code, "OP_%d" % code)

    def gpu_unsupported(self, index, taken):
        gen, log = self.gen, self.log
        ops = self.model.subgraphs[index]["ops"]
        taken = set(taken)
        supported = {ops[i] for i in taken}
        lines = set()
        for i, op in enumerate(ops):
            if i in taken:
                continue
            name = self.op_name(op)
            if gen.old:
                lines.add("%s: " % name)
            elif op in supported:
                lines.add("%s: OP is supported, but tensor type/shape isn't compatible." % name)
            else:
                lines.add("%s: Operation is not supported." % name)
        total, k = len(ops), len(taken)
        if gen.old:
            log.reporter("Next operations are not supported by GPU delegate:\n%s\nFirst %d operations will run on "
                         "the GPU, and the remaining %d on the CPU." % ("\n".join(sorted(lines)), k, total - k))
            return
        tail = ("%d operations will run on the GPU, and the remaining %d" % (k, total - k) if k
                else "No operations will run on the GPU, and all %d" % total)
        log.reporter("Following operations are not supported by GPU delegate:\n%s\n%s operations will run on the "
                     "CPU." % ("\n".join(sorted(lines)), tail))

    def replacing_line(self, kind, index, total, taken):
        gen, log = self.gen, self.log
        count, _ = partitions(total, taken)
        name = DELEGATE_KERNEL[kind]
        if gen.replacing == "plain":
            log.runtime("VERBOSE", "Replacing %d node(s) with delegate (%s) node, yielding %d partitions."
                        % (len(taken), name, count))
        elif gen.replacing == "whole":
            log.runtime("VERBOSE", "Replacing %d out of %d node(s) with delegate (%s) node, yielding %d partitions "
                        "for the whole graph." % (len(taken), total, name, count))
        elif gen.replacing == "subgraph":
            log.runtime("VERBOSE", "Replacing %d out of %d node(s) with delegate (%s) node, yielding %d partitions "
                        "for subgraph %d." % (len(taken), total, name, count, index))

    def default_xnnpack(self):
        """The runtime's default (lazy) XNNPACK delegate, really applied by the interpreter."""
        self.allocate_quietly()
        coverage = self.rt.xnnpack_coverage(self.model)
        self.log.runtime("INFO", "Created TensorFlow Lite XNNPACK delegate for CPU.")
        for index, sub in enumerate(self.model.subgraphs):
            total = len(sub["ops"])
            taken = self.taken_nodes("xnnpack", "full", index, total, coverage)
            if taken:
                self.replacing_line("xnnpack", index, total, set(taken))

    def allocate_quietly(self):
        self.rt.allocate()

    def allocate(self):
        for delegation in self.delegations:
            if delegation.prepare_fails:
                node = len(self.model.subgraphs[0]["ops"])
                self.log.reporter("Node number %d (%s) failed to prepare." % (node, DELEGATE_KERNEL[delegation.kind]))
                if self.gen.old:
                    self.log.fatal("Failed to allocate tensors!")
                self.log.error("Failed to allocate tensors!")
                raise Stop()
        try:
            self.allocate_quietly()
        except (RuntimeError, ValueError) as exc:
            self.log.reporter(str(exc).strip().splitlines()[0] if str(exc).strip() else "AllocateTensors failed")
            if self.gen.old:
                self.log.fatal("Failed to allocate tensors!")
            self.log.error("Failed to allocate tensors!")
            raise Stop()

    def runner_inputs(self):
        return self.model.subgraphs[self.rt.subgraph]["inputs"]

    def runner_outputs(self):
        return self.model.subgraphs[self.rt.subgraph]["outputs"]

    def check_inputs(self):
        gen, log = self.gen, self.log
        inputs = self.runner_inputs()
        info = self.inputs_info
        names = self.model.subgraphs[self.rt.subgraph]["tensors"]
        if info and len(info) != len(inputs):
            if gen.old:
                log.fatal("Inputs mismatch: Model inputs #:%d expected: %d" % (len(inputs), len(info)))
            log.fatal("Inputs mismatch: Model inputs #:%d expected: %d" % (len(info), len(inputs)))
        for j, item in enumerate(info):
            index = inputs[j]
            if item["name"] != names[index]:
                log.warn("Tensor # %d is named %s but flags call it %s" % (index, names[index], item["name"]))
            if not gen.old:
                dims = len(self.rt.detail(index)["shape"])
                if len(item["shape"]) != dims:
                    log.error("Input tensor #%d should have %d dimensions!" % (index, dims))
                    raise Stop()
        for j, item in enumerate(info):
            index = inputs[j]
            if list(self.rt.detail(index)["shape"]) != list(item["shape"]):
                self.rt.resize(index, item["shape"])

    # -- LiteRT --------------------------------------------------------------------------

    def init_litert(self, graph):
        p, log = self.params, self.log
        gpu = self.behaviour["delegates"].get("gpu", "full")
        if gpu == "absent":
            log.litert("WARNING", "auto_registration.cc:158", "GPU accelerator could not be loaded and registered.")
        else:
            log.litert("INFO", "auto_registration.cc:135",
                       "Dynamically loaded GPU accelerator(libLiteRtGpuAccelerator.so) registered.")
        log.litert("INFO", "auto_registration.cc:168", "CPU accelerator registered.")
        use_gpu = bool(p.get("use_gpu")) and gpu != "absent"
        if p.get("use_cpu") and p.get("require_full_delegation"):
            log.litert("ERROR", "benchmark_litert_model.cc:74",
                       "Requesting full delegation and CPU acceleration are incompatible.")
            os.abort()
        threads = p.get("num_threads")
        cpu = p.get("use_cpu") or not p.get("require_full_delegation")
        self.rt = Runtime(self.tfl, graph, threads if threads and threads > 0 else None, default_delegates=not use_gpu)
        key = p.get("signature_to_run_for")
        if use_gpu:
            if gpu in ("fail-apply", "prepare-fail") or (not cpu and gpu.startswith("partial:")):
                log.litert("ERROR", "benchmark_litert_model.cc:221", "Failed to compile model.")
                raise Stop()
            delegation = Delegation("gpu", gpu)
            self.delegations.append(delegation)
            for index, sub in enumerate(self.model.subgraphs):
                delegation.taken[index] = self.taken_nodes("gpu", gpu, index, len(sub["ops"]), None)
            self.accelerated = any(delegation.taken.values())
        elif not cpu:
            log.litert("ERROR", "benchmark_litert_model.cc:221", "Failed to compile model.")
            raise Stop()
        log.runtime("INFO", "Initialized TensorFlow Lite runtime.")
        if not use_gpu:
            self.allocate_quietly()
            coverage = self.rt.xnnpack_coverage(self.model)
            log.runtime("INFO", "Created TensorFlow Lite XNNPACK delegate for CPU.")
            for index, sub in enumerate(self.model.subgraphs):
                taken = self.taken_nodes("xnnpack", "full", index, len(sub["ops"]), coverage)
                if taken:
                    self.replacing_line("xnnpack", index, len(sub["ops"]), set(taken))
        if key:
            keys = [s["key"] for s in self.model.signatures]
            if key not in keys:
                log.litert("ERROR", "benchmark_litert_model.cc:247", "Failed to create input buffer.")
                raise Stop()
            self.rt.use_signature(key)
        self.allocate_quietly()

    # ---- inputs, runs, results ---------------------------------------------------------------

    def prepare_inputs(self):
        import numpy as np

        log = self.log
        rng = np.random.default_rng()
        data = []
        for j, index in enumerate(self.runner_inputs()):
            detail = self.rt.detail(index)
            dtype, shape = np.dtype(detail["dtype"]), [int(d) for d in detail["shape"]]
            nbytes = int(np.prod(shape)) * dtype.itemsize
            item = self.inputs_info[j] if j < len(self.inputs_info) else None
            if item and item["file"]:
                path = item["file"]
                try:
                    with open(path, "rb") as handle:
                        raw = handle.read()
                except OSError:
                    log.fatal("Failed to read the input_layer_value_file:%s" % path)
                if len(raw) != nbytes:
                    log.fatal("The size of %s is %d bytes. It should be %d bytes." % (path, len(raw), nbytes))
                data.append(np.frombuffer(raw, dtype=dtype).reshape(shape).copy())
                continue
            low, high = (item["range"] if item and item["range"] else (None, None))
            if dtype == np.float32 or dtype == np.float64:
                value = rng.uniform(-0.5, 0.5, size=shape).astype(dtype)
            elif dtype == np.bool_:
                value = rng.integers(0, 2, size=shape).astype(dtype)
            else:
                defaults = {np.dtype(np.uint8): (0, 254), np.dtype(np.int8): (-127, 127)}
                lo, hi = defaults.get(dtype, (0, 99))
                if low is not None:
                    lo, hi = low, high
                value = rng.integers(lo, hi + 1, size=shape).astype(dtype)
            data.append(value)
        self.input_data = data

    def loop(self, min_runs, min_secs, max_secs, last):
        import numpy as np

        gen, p, log = self.gen, self.params, self.log
        stat = Stat(gen)
        log.info("Running benchmark for at least %d iterations and at least %s seconds but terminate if "
                 "exceeding %s seconds." % (min_runs, g(min_secs), g(max_secs)))
        start = now_us()
        min_end = start + int(np.float32(min_secs) * np.float32(1e6))
        max_end = start + int(np.float32(max_secs) * np.float32(1e6))
        delay = p.get("run_delay") or -1.0
        frequency = p.get("run_frequency") if gen.has("run_frequency") else -1.0
        gap = 1.0 / frequency if frequency and frequency > 0 else 0.0
        next_finish = start * 1e-6 + gap
        inputs = self.runner_inputs()
        now, run = start, 0
        while (run < min_runs or now < min_end) and now <= max_end:
            for index, value in zip(inputs, self.input_data):
                self.rt.set(index, value)
            t0 = now_us()
            self.rt.invoke()
            t1 = now_us()
            stat.add(t1 - t0)
            if frequency and frequency > 0:
                delay = next_finish - now_us() * 1e-6
                next_finish += gap
            if delay and delay > 0:
                time.sleep(delay)
            now = now_us()
            run += 1
        if run:
            self.last_outputs = [np.array(self.rt.get(index), copy=True) for index in self.runner_outputs()]
        line = stat.line()
        if last and self.behaviour.get("fail") == "crash":
            head = ("INFO: " if gen.prefixed else "") + line[:max(8, len(line) // 2)]
            sys.stdout.write(head)
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(1)
        log.info(line + "\n")
        return stat

    def report(self, startup_us, warmup, regular, size, start_kb, init_kb, end_kb):
        gen, p, log = self.gen, self.params, self.log
        if gen.old:
            log.info("Average inference timings in us: Warmup: %s, Init: %d, no stats: %s"
                     % (g(warmup.avg()), startup_us, g(regular.avg())))
            return
        supported = start_kb >= 0
        peak_mb = end_kb / 1024.0 if p.get("report_peak_memory_footprint") and supported else -1.0
        if gen.litert:
            self.report_litert(startup_us, warmup, regular, start_kb, init_kb, end_kb, peak_mb)
            return
        log.info("Inference timings in us: Init: %d, First inference: %d, Warmup (avg): %s, Inference (avg): %s"
                 % (startup_us, warmup.first(), g(warmup.avg()), g(regular.avg())))
        if not supported:
            return
        log.info("Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to "
                 "the actual memory footprint of the model at runtime. Take the information at your discretion.")
        init_mb, overall_mb = (init_kb - start_kb) / 1024.0, (end_kb - start_kb) / 1024.0
        if gen.memory == "peak":
            log.info("Peak memory footprint (MB): init=%s overall=%s" % (g(init_mb), g(overall_mb)))
        else:
            log.info("Memory footprint delta from the start of the tool (MB): init=%s overall=%s"
                     % (g(init_mb), g(overall_mb)))
        if peak_mb > 0:
            log.info("Overall peak memory footprint (MB) via periodic monitoring: %s" % g(peak_mb))
            if gen.memory == "delta":
                rss, shared = self.statm()
                log.info("Memory status at the end of exeution:")
                log.info("- VmRSS              : %d MB" % rss)
                log.info("+ RssAnnon           : %d MB" % (rss - shared))
                log.info("+ RssFile + RssShmem : %d MB" % shared)

    @staticmethod
    def statm():
        try:
            with open("/proc/self/statm") as handle:
                fields = [int(x) for x in handle.read().split()[:3]]
            page = os.sysconf("SC_PAGE_SIZE")
            return fields[1] * page >> 20, fields[2] * page >> 20
        except (OSError, ValueError, IndexError):
            return 0, 0

    def report_litert(self, startup_us, warmup, regular, start_kb, init_kb, end_kb, peak_mb):
        log = self.log
        where = "benchmark_litert_model.h:%d"
        log.litert("INFO", where % 81, "\n========== BENCHMARK RESULTS ==========")
        log.litert("INFO", where % 82, "Model initialization: %.2f ms" % (startup_us / 1000.0))
        log.litert("INFO", where % 83, "Warmup (first):       %.2f ms" % (warmup.first() / 1000.0))
        log.litert("INFO", where % 85, "Warmup (avg):         %.2f ms (%d runs)" % (warmup.avg() / 1000.0,
                                                                                      warmup.count()))
        log.litert("INFO", where % 87, "Inference (avg):      %.2f ms (%d runs)" % (regular.avg() / 1000.0,
                                                                                      regular.count()))
        if regular.count():
            log.litert("INFO", where % 91, "Inference (min):      %.2f ms" % (min(regular.values) / 1000.0))
            log.litert("INFO", where % 93, "Inference (max):      %.2f ms" % (max(regular.values) / 1000.0))
            log.litert("INFO", where % 95, "Inference (std):      %.2f" % (regular.std() / 1000.0))
        else:
            log.litert("INFO", where % 98, "No inference runs were performed.")
        input_bytes = sum(int(v.nbytes) for v in self.input_data)
        seconds = regular.avg() / 1e6
        throughput = input_bytes / 1e6 / seconds if seconds > 0 else 0.0
        if throughput > 0:
            log.litert("INFO", where % 103, "Throughput:           %.2f MB/s" % throughput)
        else:
            log.litert("INFO", where % 105, "No throughput data available (throughput <= 0).")
        if start_kb >= 0:
            log.litert("INFO", where % 112, "\nMemory Usage:")
            log.litert("INFO", where % 113, "Init footprint:       %.2f MB" % ((init_kb - start_kb) / 1024.0))
            log.litert("INFO", where % 115, "Overall footprint:    %.2f MB" % ((end_kb - start_kb) / 1024.0))
            if peak_mb > 0:
                log.litert("INFO", where % 120, "Peak memory:          %.2f MB" % peak_mb)
            else:
                log.litert("INFO", where % 122, "Peak memory usage not available. (peak_mb <= 0)")
        log.litert("INFO", where % 126, "======================================\n")

    def save_outputs(self):
        import numpy as np

        p = self.params
        path = p.get("output_filepath") if self.gen.has("output_filepath") else ""
        if not path or self.last_outputs is None:
            return
        drift = int(self.behaviour.get("drift") or 0)
        try:
            handle = open(path, "wb")
        except OSError:
            return
        with handle:
            for value in self.last_outputs:
                if drift and self.accelerated:
                    value = perturb(value, drift)
                handle.write(np.ascontiguousarray(value).tobytes())


def perturb(value, n):
    """A deterministic +-n drift: integer steps clipped to the dtype, or float16 ulps for floats."""
    import numpy as np

    rng = np.random.RandomState(20210321)
    steps = rng.randint(-n, n + 1, size=value.shape)
    if np.issubdtype(value.dtype, np.integer):
        info = np.iinfo(value.dtype)
        return np.clip(value.astype(np.int64) + steps, info.min, info.max).astype(value.dtype)
    ulp = np.spacing(np.abs(value).astype(np.float16)).astype(value.dtype)
    return (value + steps.astype(value.dtype) * ulp).astype(value.dtype)


def main(argv=None):
    behaviour = load_behaviour()
    argv = list(sys.argv if argv is None else argv)
    try:
        status = Benchmark(behaviour, argv).main()
    except BrokenPipeError:
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
