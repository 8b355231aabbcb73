"""The onnxruntime_perf_test double really runs the exported model and prints what the real parser reads.

The double (``edgebench.testing.ort_perf_test_double``, ONNX Runtime 1.20.1 format) is written as an executable by
``write_ort_perf_test`` and run through its shebang; ``perf_test.parse`` (tested on published outputs in
``test_ort_perf_test_parser.py``) must read back exactly the figures it printed.
"""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("torch")

from edgebench.errors import ArtifactError, BackendUnavailable  # noqa: E402
from edgebench.testing import tiny_model  # noqa: E402
from edgebench.testing.ort_perf_test_tool import write_ort_perf_test  # noqa: E402
from edgebench_onnxruntime.perf_test import check, parse  # noqa: E402


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model exported by the onnxruntime backend, fp32 and int8, into a private cache."""
    from edgebench.artifacts import ArtifactCache
    from edgebench.plugins import backends

    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEBENCH_CACHE", str(root))
        cache, backend, spec = ArtifactCache(), backends.get("onnxruntime"), tiny_model()
        return {precision: Path(cache.get(spec, backend, precision).path) for precision in ("fp32", "int8")}


def run_tool(binary: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The written tool run through its shebang, stdout and stderr merged as a device shell returns them."""
    import os

    environ = {k: v for k, v in os.environ.items() if k != "EDGEBENCH_DOUBLE_FAIL"}
    environ.update(env or {})
    return subprocess.run([str(binary), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=environ, timeout=300)


def optimized_node_count(model: Path, tmp_path: Path) -> int:
    """Nodes of the graph ORT places (optimised at the tool's default level 99), counted independently."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / f"{model.stem}.optimized.onnx")
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return len(onnx.load(options.optimized_model_filepath).graph.node)


def printed(text: str, pattern: str) -> float:
    """A figure as printed (seconds or ms), exactly, via Decimal."""
    match = re.search(pattern, text, re.M)
    assert match, f"{pattern!r} not printed:\n{text}"
    return float(Decimal(match.group(1)))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_parser_reads_exactly_what_the_double_printed(precision: str, artifacts: dict[str, Path], tmp_path: Path):
    model = artifacts[precision]
    binary = write_ort_perf_test(tmp_path / "onnxruntime_perf_test")
    assert binary.read_text().startswith("#!/") and binary.stat().st_mode & 0o111
    done = run_tool(binary, "-r", "7", "-e", "cpu", "-s", "-v", "-I", str(model))
    assert done.returncode == 0, done.stdout[-3000:]
    out = done.stdout
    parsed = parse(out)
    assert not parsed["failed"], parsed["error"]
    assert parsed["runs"] == 7 and len(parsed["timings_ms"]) == 7
    assert parsed["session_creation_ms"] == float(Decimal(str(printed(out, r"^Session creation time cost: (\S+) s$")))
                                                  * 1000)
    assert parsed["first_inference_ms"] == printed(out, r"^First inference time cost: (\d+) ms$")
    assert parsed["avg_ms"] == printed(out, r"^Average inference time cost: (\S+) ms$")
    assert parsed["total_s"] == printed(out, r"^Total inference time cost: (\S+) s$")
    assert parsed["run_time_s"] == printed(out, r"^Total inference run time: (\S+) s$")
    assert parsed["inferences_per_second"] == printed(out, r"^Number of inferences per second: (\S+) $")
    assert 0 <= parsed["cpu_usage_pct"] == printed(out, r"^Avg CPU usage: (\d+) %$") <= 100
    assert parsed["peak_working_set_bytes"] == printed(out, r"^Peak working set size: (\d+) bytes$") > 0
    assert parsed["min_ms"] == float(Decimal(re.search(r"^Min Latency: (\S+) s$", out, re.M).group(1)) * 1000)
    assert parsed["max_ms"] == float(Decimal(re.search(r"^Max Latency: (\S+) s$", out, re.M).group(1)) * 1000)
    assert set(parsed["percentiles"]) == {"p50", "p90", "p95", "p99", "p999"}
    assert parsed["min_ms"] <= parsed["avg_ms"] <= parsed["max_ms"]
    assert parsed["min_ms"] <= parsed["percentiles"]["p50"] <= parsed["max_ms"] == parsed["percentiles"]["p999"]
    assert sorted(parsed["timings_ms"])[0] == parsed["min_ms"] and max(parsed["timings_ms"]) == parsed["max_ms"]
    # placements are ORT's own verbose log lines for the real session
    nodes = optimized_node_count(model, tmp_path)
    assert parsed["provider_nodes"] == {"CPUExecutionProvider": nodes} and parsed["total_nodes"] == nodes
    assert parsed["execution_provider"] is None or parsed["execution_provider"] == "cpu"


def test_result_file_and_duration_mode(artifacts: dict[str, Path], tmp_path: Path):
    binary = write_ort_perf_test(tmp_path / "onnxruntime_perf_test")
    result = tmp_path / "result.csv"
    done = run_tool(binary, "-m", "duration", "-t", "1", "-x", "1", "-I", str(artifacts["fp32"]), str(result))
    assert done.returncode == 0, done.stdout[-3000:]
    parsed = parse(done.stdout)
    assert not parsed["failed"] and parsed["threads"] == 1 and parsed["percentiles"] is None  # no -s with a file
    assert parsed["runs"] == len(result.read_text().splitlines()) >= 1


def test_missing_nnapi_is_backend_unavailable(artifacts: dict[str, Path], tmp_path: Path):
    done = run_tool(write_ort_perf_test(tmp_path / "onnxruntime_perf_test"), "-e", "nnapi", "-r", "3", "-I",
                    str(artifacts["fp32"]))
    assert done.returncode == 255 and "NNAPI is not supported in this build" in done.stdout
    parsed = parse(done.stdout)
    assert parsed["failed"] and parsed["error_kind"] == "provider"
    with pytest.raises(BackendUnavailable) as raised:
        check(parsed)
    assert "\n" not in str(raised.value) and "execution provider unavailable" in str(raised.value)


def test_missing_nnapi_message_names_nnapi(artifacts: dict[str, Path], tmp_path: Path):
    done = run_tool(write_ort_perf_test(tmp_path / "onnxruntime_perf_test"), "-e", "nnapi", "-I",
                    str(artifacts["fp32"]))
    with pytest.raises(BackendUnavailable, match="NNAPI"):
        check(parse(done.stdout))


def test_corrupt_model_is_one_artifact_error(tmp_path: Path):
    corrupt = tmp_path / "model.onnx"
    corrupt.write_bytes(b"\x08\x07garbage, not a ModelProto\xff\xff\xff")
    # the model is parsed before the session exists: the protobuf error wins over a missing provider too
    for extra in ((), ("-e", "nnapi")):
        done = run_tool(write_ort_perf_test(tmp_path / "onnxruntime_perf_test"), *extra, "-I", str(corrupt))
        assert done.returncode == 255 and "protobuf parsing failed" in done.stdout
        with pytest.raises(ArtifactError) as raised:
            check(parse(done.stdout))
        assert type(raised.value) is ArtifactError and "\n" not in str(raised.value)
        assert "Failed to load model because protobuf parsing failed." in str(raised.value)


@pytest.mark.parametrize("how", ["writer", "env"])
def test_allocation_failure(how: str, artifacts: dict[str, Path], tmp_path: Path):
    binary = write_ort_perf_test(tmp_path / "onnxruntime_perf_test", fail="alloc" if how == "writer" else None)
    env = {"EDGEBENCH_DOUBLE_FAIL": "alloc"} if how == "env" else None
    done = run_tool(binary, "-r", "7", "-I", str(artifacts["fp32"]), env=env)
    assert done.returncode == 255 and "Average inference time cost" not in done.stdout
    parsed = parse(done.stdout)
    assert parsed["error_kind"] == "allocation"
    with pytest.raises(ArtifactError, match=r"^onnxruntime_perf_test: out of memory: Failed to allocate memory for "
                                            r"requested buffer of size \d+$"):
        check(parsed)


def test_unknown_flag_prints_the_usage(artifacts: dict[str, Path], tmp_path: Path):
    done = run_tool(write_ort_perf_test(tmp_path / "onnxruntime_perf_test"), "-K", "-I", str(artifacts["fp32"]))
    assert done.returncode == 255
    assert done.stdout.startswith("onnxruntime_perf_test: invalid option -- 'K'\nusage: perf_test [options...]")
    assert parse(done.stdout)["failed"]


def test_writer_rejects_unknown_failures(tmp_path: Path):
    with pytest.raises(ValueError):
        write_ort_perf_test(tmp_path / "x", fail="crash")
