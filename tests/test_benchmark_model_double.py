"""The benchmark_model test double: a real tflite artifact run through each emulated tool generation."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgebench.artifacts import ArtifactCache
from edgebench.plugins import backends
from edgebench.testing import tiny_model
from edgebench.testing.benchmark_model_tool import write_benchmark_model

pytest.importorskip("ai_edge_litert")
pytest.importorskip("litert_torch")

SPEC = tiny_model("tiny-tfl", scale=3)  # the artifact tests/test_litert.py exports too (shared cache)
QUICK = ["--min_secs=0", "--warmup_min_secs=0"]
SMALL = "serving_48x64"  # the artifact's tile signature: 1x48x64x3 int8 in, 1x144x192x3 out


@pytest.fixture(scope="module")
def artifact() -> Path:
    return ArtifactCache().get(SPEC, backends.get("tflite"), "int8").path


def interpreter(path: Path, xnnpack: bool = False):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if xnnpack:
        return Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path),
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


@pytest.fixture(scope="module")
def nodes(artifact: Path) -> int:
    """Nodes of the primary subgraph, counted by the interpreter (what the delegate lines must say)."""
    return int(interpreter(artifact)._interpreter.NumNodes())


def run(binary: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the double as an executable; `env python3` must find this interpreter (numpy, ai_edge_litert)."""
    env = dict(os.environ)
    here = Path(sys.executable).parent
    if (here / "python3").exists():
        env["PATH"] = f"{here}{os.pathsep}{env.get('PATH', '')}"
        argv = [str(binary), *args]
    else:  # pragma: no cover - an interpreter without a python3 next to it
        argv = [sys.executable, str(binary), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


def double(tmp_path: Path, name: str = "benchmark_model", **behaviour) -> Path:
    return write_benchmark_model(tmp_path / name, **behaviour)


def stats(text: str) -> list[dict[str, int | float]]:
    rows = []
    for m in re.finditer(r"count=(\d+)((?: \w+=[-\d.e+]+)*)", text):
        row: dict[str, int | float] = {"count": int(m.group(1))}
        row.update({k: float(v) for k, v in re.findall(r"(\w+)=([-\d.e+]+)", m.group(2))})
        rows.append(row)
    return rows


def small_input(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(1, 48, 64, 3), dtype=np.int8)


def reference(path: Path, image: np.ndarray, xnnpack: bool = False) -> bytes:
    runner = interpreter(path, xnnpack).get_signature_runner(SMALL)
    return np.ascontiguousarray(runner(args_0=image)["output_0"]).tobytes()


def feed(tmp_path: Path, image: np.ndarray, name: str = "serving_48x64_args_0") -> list[str]:
    value_file = tmp_path / "input.bin"
    value_file.write_bytes(image.tobytes())
    return [f"--signature_to_run_for={SMALL}", f"--input_layer={name}", "--input_layer_shape=1,48,64,3",
            f"--input_layer_value_files={name}:{value_file}"]


def test_written_file_is_an_executable_script_with_its_behaviour_baked_in(tmp_path):
    binary = double(tmp_path, generation="tf2.9", delegates={"gpu": "partial:3"}, drift=2)
    text = binary.read_text()
    # its first line names this interpreter (a stock phone has no python3 on its PATH), or the one asked for
    assert text.startswith(f"#!{sys.executable}\n") and os.access(binary, os.X_OK)
    assert write_benchmark_model(tmp_path / "arm", interpreter="/usr/bin/python3").read_text().startswith(
        "#!/usr/bin/python3\n")
    assert 'BEHAVIOUR_JSON = \'{"delegates": {"gpu": "partial:3"}, "drift": 2, "generation": "tf2.9"}\'' in text
    assert "import edgebench" not in text and "from edgebench" not in text
    for bad in ({"generation": "tf3"}, {"delegates": {"gpu": "half"}}, {"delegates": {"tpu": "full"}},
                {"drift": -1}, {"fail": "boom"}, {"colour": "red"}):
        with pytest.raises(ValueError):
            double(tmp_path, "bad", **bad)


GENERATION_ARGS = {
    "tf1.15": ["--num_runs=3", "--warmup_runs=2"],
    "tf2.4": ["--num_runs=3", "--warmup_runs=2"],
    "tf2.9": ["--num_runs=3", "--warmup_runs=2"],
    "tf2.18": ["--num_runs=3", "--warmup_runs=2", f"--signature_to_run_for={SMALL}"],
    "litert": ["--num_runs=3", "--warmup_runs=2", f"--signature_to_run_for={SMALL}"],
}


@pytest.mark.parametrize("generation", list(GENERATION_ARGS))
def test_each_generation_prints_its_own_lines_with_real_timings(tmp_path, artifact, nodes, generation):
    proc = run(double(tmp_path, generation=generation), f"--graph={artifact}", *GENERATION_ARGS[generation], *QUICK)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0, err
    warmup, regular = stats(out)
    assert warmup["count"] == 2 and regular["count"] == 3
    for row in (warmup, regular):  # real measured times, and the tool's arithmetic on them
        if "first" in row:
            assert row["min"] <= row["avg"] <= row["max"] and row["min"] > 0 and row["std"] >= 0
    assert "INFO: Initialized TensorFlow Lite runtime." in err
    if generation == "tf1.15":
        assert out.startswith("STARTING!\nMin num runs: [3]\n") and "Use nnapi : [0]\n" in out
        assert "resolved reporter\n" in out and "Failed" not in err
        assert re.search(r"^Initialized session in [\d.]+ms$", out, re.M)
        m = re.search(r"^Average inference timings in us: Warmup: ([\d.e+]+), Init: (\d+), no stats: ([\d.e+]+)$",
                      out, re.M)
        assert m and "Inference timings in us" not in out and "p5=" not in out
        assert "The input model file size" not in out and "Replacing" not in err
        return
    if generation == "litert":
        assert out.startswith("INFO: STARTING!\nINFO: Log parameter values verbosely: [0]\n")
        assert "p5=" in out and "========== BENCHMARK RESULTS ==========" in err
        assert re.search(r"INFO: \[benchmark_litert_model.h:\d+\] Inference \(avg\):\s+[\d.]+ ms \(3 runs\)", err)
        assert f"{nodes} out of {nodes} node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions " \
               "for subgraph 1." in err
        return
    prefix = "INFO: " if generation == "tf2.18" else ""
    assert out.startswith(f"{prefix}STARTING!\n{prefix}Log parameter values verbosely: [0]\n")
    assert re.search(rf"^{prefix}Initialized session in [\d.]+ms\.$", out, re.M)
    m = re.search(rf"^{prefix}Inference timings in us: Init: (\d+), First inference: (\d+), Warmup \(avg\): "
                  r"([\d.e+]+), Inference \(avg\): ([\d.e+]+)$", out, re.M)
    assert m and int(m.group(2)) == warmup["first"] and float(m.group(4)) == pytest.approx(regular["avg"], rel=1e-5)
    assert re.search(rf"^{prefix}The input model file size \(MB\): 0\.0\d+$", out, re.M)
    if generation == "tf2.4":
        assert "Peak memory footprint (MB): init=" in out and "p5=" not in out and "Replacing" not in err
        assert "XNNPACK" not in err  # no default XNNPACK delegate in that generation's Android build
    elif generation == "tf2.9":
        assert "Peak memory footprint (MB): init=" in out and "p5=" not in out
        assert "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in err  # the default delegate
        assert f"VERBOSE: Replacing {nodes} node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 " \
               "partitions.\n" in err
    else:
        assert "INFO: Signature to run: [serving_48x64]\n" in out and "INFO: Using signature: serving_48x64\n" in out
        assert "INFO: Memory footprint delta from the start of the tool (MB): init=" in out
        assert {"p5", "median", "p95"} <= set(regular) and regular["p5"] <= regular["median"] <= regular["p95"]
        assert f"VERBOSE: Replacing {nodes} out of {nodes} node(s) with delegate (TfLiteXNNPackDelegate) node, " \
               "yielding 1 partitions for the whole graph." in err


def test_a_single_quality_run_invokes_once_and_writes_the_interpreters_output(tmp_path, artifact):
    image = small_input()
    out_file = tmp_path / "out.bin"
    binary = double(tmp_path)
    proc = run(binary, f"--graph={artifact}", "--num_runs=1", "--warmup_runs=0", *QUICK, "--use_xnnpack=false",
               *feed(tmp_path, image), f"--output_filepath={out_file}")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^INFO: count=0 p5=0 median=0 p95=0$", proc.stdout, re.M)  # no warm-up run
    assert re.search(r"^INFO: count=1 curr=\d+ p5=\d+ median=\d+ p95=\d+$", proc.stdout, re.M)  # exactly one
    assert "Tensor # " not in proc.stdout  # the name matches the tensor: no warning
    assert out_file.read_bytes() == reference(artifact, image)  # byte-exact: the CPU kernels ran it
    assert len(out_file.read_bytes()) == 144 * 192 * 3
    # the default XNNPACK delegate (no --use_xnnpack): the interpreter's own XNNPACK output
    proc = run(binary, f"--graph={artifact}", "--num_runs=1", "--warmup_runs=0", *QUICK, *feed(tmp_path, image),
               f"--output_filepath={out_file}")
    assert proc.returncode == 0 and out_file.read_bytes() == reference(artifact, image, xnnpack=True)


def test_input_names_are_positional_and_only_warned_about(tmp_path, artifact):
    image = small_input(1)
    out_file = tmp_path / "out.bin"
    proc = run(double(tmp_path), f"--graph={artifact}", "--num_runs=1", "--warmup_runs=0", *QUICK,
               "--use_xnnpack=false", *feed(tmp_path, image, name="args_0"), f"--output_filepath={out_file}")
    assert proc.returncode == 0, proc.stderr
    assert "WARN: Tensor # 0 is named serving_48x64_args_0 but flags call it args_0\n" in proc.stdout
    assert out_file.read_bytes() == reference(artifact, image)


def test_bad_input_files_abort_like_the_real_tool(tmp_path, artifact):
    binary = double(tmp_path)
    out_file = tmp_path / "out.bin"
    args = [f"--graph={artifact}", "--num_runs=1", "--warmup_runs=0", *QUICK, f"--output_filepath={out_file}"]
    # a value file whose name is not one of --input_layer: FATAL before anything runs
    proc = run(binary, *args, f"--input_layer_value_files=nope:{tmp_path / 'x.bin'}")
    assert proc.returncode == -signal.SIGABRT
    assert "FATAL: Cannot find the corresponding input_layer name(nope) in --input_layer as \n" in proc.stderr
    # a file of the wrong size
    (tmp_path / "short.bin").write_bytes(b"\0" * 100)
    proc = run(binary, *args, f"--signature_to_run_for={SMALL}", f"--input_layer={SMALL}_args_0",
               "--input_layer_shape=1,48,64,3", f"--input_layer_value_files={SMALL}_args_0:{tmp_path / 'short.bin'}")
    assert proc.returncode == -signal.SIGABRT and not out_file.exists()
    assert f"FATAL: The size of {tmp_path / 'short.bin'} is 100 bytes. It should be {48 * 64 * 3} bytes." \
           in proc.stderr


def gpu_args(artifact: Path, *extra: str) -> list[str]:
    return [f"--graph={artifact}", "--num_runs=1", "--warmup_runs=0", *QUICK, "--use_xnnpack=false", *extra]


def test_full_and_partial_gpu_delegation_print_counts_from_the_model(tmp_path, artifact, nodes):
    proc = run(double(tmp_path, "full"), *gpu_args(artifact, "--use_gpu=true"))
    assert proc.returncode == 0, proc.stderr
    assert "INFO: Created TensorFlow Lite delegate for GPU.\n" in proc.stderr
    assert "INFO: GPU delegate created.\n" in proc.stdout
    assert f"VERBOSE: Replacing {nodes} out of {nodes} node(s) with delegate (TfLiteGpuDelegateV2) node, yielding " \
           "1 partitions for the whole graph." in proc.stderr
    assert "INFO: Explicitly applied GPU delegate, and the model graph will be completely executed by the " \
           "delegate.\n" in proc.stdout
    partial = double(tmp_path, "partial", delegates={"gpu": "partial:4"})
    proc = run(partial, *gpu_args(artifact, "--use_gpu=true"))
    assert proc.returncode == 0, proc.stderr
    assert "ERROR: Following operations are not supported by GPU delegate:\n" in proc.stderr
    assert f"\n4 operations will run on the GPU, and the remaining {nodes - 4} operations will run on the CPU.\n" \
           in proc.stderr
    assert f"VERBOSE: Replacing 4 out of {nodes} node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 " \
           "partitions for the whole graph." in proc.stderr
    assert "INFO: Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate " \
           "w/ 1 delegate kernels.\n" in proc.stdout
    # --require_full_delegation=true turns the partial delegation into a failure
    proc = run(partial, *gpu_args(artifact, "--use_gpu=true", "--require_full_delegation=true"))
    assert proc.returncode == 1
    assert proc.stderr.endswith("ERROR: Disallowed CPU fallback detected.\nERROR: Benchmarking failed.\n")
    assert "Inference timings" not in proc.stdout
    # the older wordings: no "out of" (2.9), no Replacing line but "Created 1 GPU delegate kernels." (2.4)
    proc = run(double(tmp_path, "tf29", generation="tf2.9", delegates={"gpu": "partial:4"}),
               *gpu_args(artifact, "--use_gpu=true"))
    assert proc.returncode == 0 and "VERBOSE: Replacing 4 node(s) with delegate (TfLiteGpuDelegateV2) node, " \
                                   "yielding 2 partitions.\n" in proc.stderr
    proc = run(double(tmp_path, "tf115", generation="tf1.15"), *gpu_args(artifact, "--use_gpu=true"))
    assert proc.returncode == 0 and "Applied GPU delegate.\n" in proc.stdout and "Replacing" not in proc.stderr


def test_nnapi_failures_stop_the_tool_and_absence_falls_back_to_the_cpu(tmp_path, artifact, nodes):
    args = gpu_args(artifact, "--use_nnapi=true")
    proc = run(double(tmp_path, "apply", delegates={"nnapi": "fail-apply"}), *args)
    assert proc.returncode == 1 and "Inference timings" not in proc.stdout
    assert proc.stderr.endswith("ERROR: Restored original execution plan after delegate application failure.\n"
                                "ERROR: Failed to apply NNAPI delegate.\nERROR: Benchmarking failed.\n")
    prepare = double(tmp_path, "prepare", delegates={"nnapi": "prepare-fail"})
    proc = run(prepare, *args)
    assert proc.returncode == 1
    assert f"ERROR: Node number {nodes} (TfLiteNnapiDelegate) failed to prepare.\n" in proc.stderr
    assert "ERROR: Failed to apply NNAPI delegate.\n" in proc.stderr
    # a delegate allowing dynamic tensors is prepared by the tool's own AllocateTensors
    proc = run(prepare, *args, "--nnapi_allow_dynamic_dimensions=true")
    assert proc.returncode == 1
    assert proc.stderr.endswith(f"ERROR: Node number {nodes} (TfLiteNnapiDelegate) failed to prepare.\n"
                                "ERROR: Failed to allocate tensors!\nERROR: Benchmarking failed.\n")
    absent = double(tmp_path, "absent", delegates={"nnapi": "absent"})
    proc = run(absent, *args)
    assert proc.returncode == 0 and "WARN: NNAPI acceleration is unsupported on this platform.\n" in proc.stdout
    assert "Explicitly applied" not in proc.stdout and "INFO: Inference timings in us:" in proc.stdout
    proc = run(absent, *args, "--require_full_delegation=true")
    assert proc.returncode == 1 and "ERROR: Disallowed CPU fallback detected.\n" in proc.stderr
    # TF 1.15: a FATAL log, i.e. abort()
    proc = run(double(tmp_path, "old", generation="tf1.15", delegates={"nnapi": "fail-apply"}), *args)
    assert proc.returncode == -signal.SIGABRT and proc.stderr.endswith("Failed to apply NNAPI delegate.\n")


def test_old_generations_ignore_the_flags_they_lack(tmp_path, artifact):
    out_file = tmp_path / "out.bin"
    extra = [f"--output_filepath={out_file}", f"--signature_to_run_for={SMALL}", "--require_full_delegation=true"]
    proc = run(double(tmp_path, "tf29", generation="tf2.9"), *gpu_args(artifact), *extra)
    assert proc.returncode == 0 and not out_file.exists()
    assert f"Unconsumed cmdline flags: --output_filepath={out_file} --signature_to_run_for={SMALL}\n" in proc.stdout
    old = double(tmp_path, "tf115", generation="tf1.15")
    proc = run(old, *gpu_args(artifact), *extra)  # silently ignored, even --require_full_delegation
    assert proc.returncode == 0 and not out_file.exists()
    assert "Unconsumed" not in proc.stdout and "delegation" not in proc.stdout.lower()
    proc = run(old, "--help")
    assert proc.returncode == 0 and proc.stderr.startswith(f"usage: {old}\nFlags:\n\t--num_runs=50\tint32\t")
    assert "--output_filepath" not in proc.stderr and "--use_xnnpack" not in proc.stderr
    proc = run(double(tmp_path, "tf218"), "--help")
    assert proc.returncode == 1 and "--output_filepath=" in proc.stderr and "--signature_to_run_for=" in proc.stderr
    assert proc.stderr.startswith(f"ERROR: usage: {tmp_path / 'tf218'} <flags>\nFlags:\n")
    proc = run(double(tmp_path, "litert", generation="litert"), *gpu_args(artifact), "--use_nnapi=true",
               f"--signature_to_run_for={SMALL}")
    assert proc.returncode == 0 and "WARN: Unconsumed cmdline flags: --use_xnnpack=false --use_nnapi=true\n" \
                                    in proc.stdout


def test_drift_moves_delegate_outputs_by_at_most_n(tmp_path, artifact):
    image = small_input(2)
    out_file = tmp_path / "out.bin"
    binary = double(tmp_path, drift=3)
    args = [f"--graph={artifact}", "--num_runs=1", "--warmup_runs=0", *QUICK, "--use_xnnpack=false",
            *feed(tmp_path, image), f"--output_filepath={out_file}"]
    cpu = np.frombuffer(reference(artifact, image), np.int8).astype(int)
    assert run(binary, *args).returncode == 0  # no accelerator ran: exact
    assert np.array_equal(np.frombuffer(out_file.read_bytes(), np.int8).astype(int), cpu)
    assert run(binary, *args, "--use_gpu=true").returncode == 0
    diff = np.abs(np.frombuffer(out_file.read_bytes(), np.int8).astype(int) - cpu)
    assert 0 < diff.max() <= 3


def test_crash_and_unopenable_model(tmp_path, artifact):
    proc = run(double(tmp_path, "crash", fail="crash"), f"--graph={artifact}", "--num_runs=2", "--warmup_runs=1",
               *QUICK, f"--signature_to_run_for={SMALL}")
    assert proc.returncode == -signal.SIGSEGV
    assert re.search(r"\nINFO: count=\d+ [^\n]*$", proc.stdout)  # cut off inside the regular runs' line
    assert "Inference timings" not in proc.stdout
    proc = run(double(tmp_path, "closed", fail="cannot-open"), f"--graph={artifact}")
    assert proc.returncode == 1
    assert proc.stderr == (f"ERROR: Could not open '{artifact}'.\nERROR: Failed to load model {artifact}\n"
                           "ERROR: Benchmarking failed.\n")


@pytest.mark.parametrize("generation", list(GENERATION_ARGS))
def test_the_parser_reads_the_doubles_own_figures(tmp_path, artifact, generation):
    parse = pytest.importorskip("edgebench_litert.benchmark_model").parse
    proc = run(double(tmp_path, generation=generation), f"--graph={artifact}", *GENERATION_ARGS[generation], *QUICK)
    assert proc.returncode == 0, proc.stderr
    warmup, regular = stats(proc.stdout)
    parsed = parse(proc.stdout + "\n" + proc.stderr)
    for key in ("count", "curr", "avg", "std", "median"):
        if key in regular:
            assert parsed["runs"][key] == pytest.approx(regular[key]), key
    assert parsed["warmup"]["count"] == warmup["count"]
    init = re.search(r"Initialized session in ([\d.]+)ms", proc.stdout)
    if "init_us" in parsed and parsed["init_us"] is not None:
        assert parsed["init_us"] == pytest.approx(float(init.group(1)) * 1000, abs=10)
