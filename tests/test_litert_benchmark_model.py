"""benchmark_model output parser: outputs of several tool versions, truncated and garbage output."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebench_litert.benchmark_model import BenchmarkOutputError, parse, parse_op_profile, to_result

DATA = Path(__file__).parent / "data" / "benchmark_model"


def text(name: str) -> str:
    return (DATA / name).read_text()


def test_old_tool_cpu_with_op_profiling_and_start_column():
    parsed = parse(text("tf2.4_cpu_op_profiling.txt"))
    assert parsed["runs"] == {"count": 50, "first": 64897.0, "curr": 64120.0, "min": 63877.0, "max": 66512.0,
                              "avg": 64466.1, "std": 587.0}
    assert parsed["warmup"]["count"] == 8  # the first count= line is the warm-up pass
    assert (parsed["init_us"], parsed["first_us"], parsed["warmup_avg_us"], parsed["inference_avg_us"]) == \
        (22107.0, 71044.0, 65233.9, 64466.1)
    assert parsed["memory"] == {"init_mb": 2.59375, "overall_mb": 26.6016, "definition": "Peak memory footprint (MB)"}
    assert parsed["delegation"] == []
    ops = parsed["op_profile"]  # the regular runs' table, not the initialization one
    assert [op["op"] for op in ops] == ["CONV_2D"] * 7 + ["CONCATENATION", "RESHAPE", "TRANSPOSE", "RESHAPE", "TRANSPOSE"]
    assert ops[0]["start_ms"] == 0.0 and ops[0]["avg_ms"] == 4.129 and ops[0]["name"] == "[node_0]:0"
    assert ops[-1]["cdf_percent"] == pytest.approx(100.0, abs=0.01)
    assert parsed["nodes_observed"] == 12
    result = to_result(parsed)
    assert result["timings_ms"] == [pytest.approx(64.4661)] and result["init_ms"] == pytest.approx(22.107)
    assert result["first_ms"] == pytest.approx(71.044)
    assert result["memory"]["peak_bytes"] == int(26.6016 * 1024 * 1024)
    assert result["memory"]["source"] == "benchmark_model" and result["quality_on"] == "host"
    assert len(result["op_profile"]) == 12 and "delegation" not in result["runtime"]


def test_xnnpack_with_the_old_replacing_line():
    parsed = parse(text("tf2.9_xnnpack.txt"))
    assert parsed["runs"]["avg"] == 38102.4 and parsed["runs"]["count"] == 50
    assert parsed["delegation"] == [{"delegated": 15, "total": None, "delegate": "TfLiteXNNPackDelegate",
                                     "partitions": 2}]
    assert parsed["memory"]["overall_mb"] == 31.0898 and parsed["op_profile"] == []
    assert parsed["model_size_mb"] == 0.081264 and parsed["init_session_ms"] == 31.412


def test_tool_with_percentiles_reports_its_median_and_periodic_memory():
    parsed = parse(text("tf2.18_xnnpack_percentiles.txt"))  # INFO: prefix, p5/median/p95, 1.2e+04 numbers
    assert parsed["runs"] == {"count": 50, "first": 36110.0, "curr": 35760.0, "min": 35218.0, "max": 49873.0,
                              "avg": 36612.0, "std": 2104.0, "p5": 35301.0, "median": 35804.0, "p95": 41127.0}
    assert parsed["warmup"]["count"] == 14 and parsed["warmup"]["median"] == 35990.0
    assert parsed["memory"] == {"init_mb": 5.87109, "overall_mb": 29.4805, "periodic_peak_mb": 33.1523,
                                "definition": "Memory footprint delta from the start of the tool (MB)"}
    assert parsed["delegation"] == [{"delegated": 11, "total": 11, "delegate": "TfLiteXNNPackDelegate",
                                     "partitions": 1}]
    result = to_result(parsed)
    assert result["timings_ms"] == [pytest.approx(35.804)]  # the median, not Inference (avg)
    assert result["native"]["latency_figure"] == "median"
    assert result["runtime"]["delegation"] == "11 of 11 nodes delegated"
    assert to_result(parse(text("tf2.9_xnnpack.txt")))["native"]["latency_figure"] == "avg"


def test_new_tool_gpu_delta_memory_and_two_run_order_tables():
    parsed = parse(text("tf2.16_gpu_op_profiling.txt"))  # every line prefixed with INFO:
    assert parsed["runs"]["count"] == 84 and parsed["runs"]["avg"] == 11891.7  # not the profiler's Timings line
    assert parsed["memory"] == {"init_mb": 98.3711, "overall_mb": 104.512, "periodic_peak_mb": 112.875,
                                "definition": "Memory footprint delta from the start of the tool (MB)"}
    assert parsed["delegation"] == [{"delegated": 15, "total": 19, "delegate": "TfLiteGpuDelegateV2",
                                     "partitions": 2}]
    ops = parsed["op_profile"]
    assert [op["op"] for op in ops] == ["TRANSPOSE", "RESHAPE", "BROADCAST_TO", "RESHAPE", "TfLiteGpuDelegateV2"]
    assert "start_ms" not in ops[0] and ops[-1]["avg_ms"] == 9.412
    result = to_result(parsed)
    assert result["runtime"]["delegation"] == "15 of 19 nodes delegated"
    assert result["runtime"]["delegated_nodes"] == 15 and result["runtime"]["total_nodes"] == 19
    assert result["init_ms"] == pytest.approx(412.553) and result["warmup_ms"] == [pytest.approx(12.2124)]


@pytest.mark.parametrize("name, message", [
    ("truncated.txt", "cut off inside a 'count=' timing line"),
    ("truncated_before_summary.txt", "ends before its 'Inference timings in us' summary"),
    ("garbage.txt", "no timing figure .*CANNOT LINK EXECUTABLE"),
    ("nnapi_unsupported.txt", "no timing figure .*Benchmarking failed"),
])
def test_truncated_and_garbage_output_is_a_clear_error(name, message):
    with pytest.raises(BenchmarkOutputError, match=message):
        parse(text(name))


@pytest.mark.parametrize("junk", ["", "   \n", "\x00\xff garbage \x1b[31m", "count=abc first=1"])
def test_no_figure_is_an_error(junk):
    with pytest.raises(BenchmarkOutputError):
        parse(junk)


def test_op_table_alone_gives_rows_and_other_tables_none():
    assert len(parse_op_profile(text("tf2.4_cpu_op_profiling.txt"))) == 12
    assert parse_op_profile(text("tf2.9_xnnpack.txt")) == []
