"""onnxruntime_perf_test output parser, checked on published outputs of the tool's versions.

tests/data/ort_perf_test/published/ holds real outputs copied as published (SOURCES.md names each source,
manifest.json the values read off each by eye). The focused tests below quote single lines from published sources
(named next to each) or say that their input is hand-made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgebench.errors import ArtifactError, BackendUnavailable
from edgebench_onnxruntime.perf_test import check, parse

PUBLISHED = Path(__file__).parent / "data" / "ort_perf_test" / "published"
MANIFEST = json.loads((PUBLISHED / "manifest.json").read_text())
SAMPLES = {sample["file"]: sample for sample in MANIFEST["samples"]}

SCALARS = ("failed", "error", "error_kind", "session_creation_ms", "first_inference_ms", "runs", "total_s", "avg_ms",
           "min_ms", "max_ms", "percentiles", "peak_working_set_bytes", "cpu_usage_pct", "cpu_usage_total_pct",
           "run_time_s", "inferences_per_second", "execution_provider", "threads", "command", "provider_nodes",
           "total_nodes", "delegated_nodes", "partitions", "delegation", "summary_only")
LISTS = ("timings_ms", "error_lines")


def published(name: str) -> str:
    return (PUBLISHED / name).read_text()


def test_the_corpus_is_the_manifest():
    files = {p.name for p in PUBLISHED.iterdir() if p.name not in ("manifest.json", "SOURCES.md")}
    assert files == set(SAMPLES)
    runs = [s for s in SAMPLES.values() if not s["file"].startswith("session_log_")]
    assert len(runs) >= 8
    # at least two failures the tool itself reported (not cut excerpts)
    assert sum(s["expected"].get("error_kind") == "input" for s in runs) >= 2
    sources = (PUBLISHED / "SOURCES.md").read_text()
    assert all(f"`{name}`" in sources for name in files)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_published_sample_gives_every_expected_value(name: str):
    expected: dict[str, Any] = SAMPLES[name]["expected"]
    parsed = parse(published(name))
    for key in SCALARS:  # a value the text does not carry stays None
        assert parsed[key] == expected.get(key), key
    for key in LISTS:
        assert parsed[key] == expected.get(key, []), key
    assert parsed["failed"] is (parsed["avg_ms"] is None or parsed["error"] is not None)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_check_passes_a_run_and_raises_one_line_for_a_failure(name: str):
    parsed = parse(published(name))
    if not parsed["failed"]:
        assert check(parsed) is None
        return
    with pytest.raises(ArtifactError) as raised:
        check(parsed)
    assert "\n" not in str(raised.value) and str(raised.value).startswith("onnxruntime_perf_test")


# --- versions and units ----------------------------------------------------------------------------------

def test_seconds_are_read_as_seconds_in_every_wording():
    old = parse(published("ort2019_readme_sample_tab_indented.txt"))  # "is 0.0559777sec", last one "se"
    assert old["min_ms"] == 55.9777 and old["percentiles"]["p999"] == 62.3472
    assert old["total_s"] == 58.8053  # "Total time cost:58.8053" has no unit: seconds
    new = parse(published("armlp_cobalt100_linux_first_inference.md"))  # "P50 Latency: 0.00185674 s"
    assert new["percentiles"]["p50"] == 1.85674 and new["first_inference_ms"] == 2.0


def test_average_total_wording_of_recent_versions():
    parsed = parse(published("armlp_android_vivo_x300_average_total.md"))
    assert parsed["avg_ms"] == 98.961997 and parsed["runs"] == 5 and parsed["summary_only"] is True


def test_total_cpu_usage_is_not_the_average():
    parsed = parse(published("spacemit_k1_riscv_total_cpu_usage.md"))
    assert parsed["cpu_usage_pct"] is None and parsed["cpu_usage_total_pct"] == 382.0


def test_the_last_of_several_runs_counts():
    two = parse(published("pr7663_windows_stats_two_runs.txt"))
    assert two["avg_ms"] == 81.4283 and two["session_creation_ms"] == 2705.22  # not the first run's 125.017
    cut = parse(published("acl850_ort131_two_runs_cut_excerpt.txt"))  # the first (ACL) run is complete
    assert cut["failed"] and cut["error_kind"] == "cut" and cut["avg_ms"] is None
    assert cut["execution_provider"] == "cpu"  # the second command line has no -e


def test_provider_from_the_command_line_only():
    assert parse(published("issue2762_linux_tensorrt_no_input_data_failure.md"))["execution_provider"] == "tensorrt"
    help_page = parse(published("ort1_20_sdk_doc_acl_rst_with_help.rst"))  # the --help "-e [cpu|...]" is no command
    assert help_page["execution_provider"] == "acl"
    assert parse(published("lutnn_pixel6_android_cpu_stats.md"))["execution_provider"] is None  # not echoed


# --- node placements ------------------------------------------------------------------------------------

def test_placements_give_provider_nodes_and_delegation():
    migraphx = parse(published("session_log_migraphx_node_placements_excerpt.txt"))
    assert migraphx["provider_nodes"] == {"MIGraphXExecutionProvider": 2, "CPUExecutionProvider": 39}
    assert migraphx["delegation"] == "partial"
    old = parse(published("session_log_ppc64le_all_nodes_have_been_placed_excerpt.txt"))
    assert old["provider_nodes"] == {"CPUExecutionProvider": None} and old["total_nodes"] is None


def test_capability_summary_counts_model_nodes_even_when_wrapped():
    nnapi = parse(published("session_log_nnapi_capability_logcat_wrapped.md"))
    assert (nnapi["delegated_nodes"], nnapi["total_nodes"], nnapi["partitions"]) == (197, 988, 62)
    coreml = parse(published("session_log_coreml_capability_and_placements.md"))
    assert coreml["provider_nodes"]["CoreMLExecutionProvider"] == 1  # one fused node ...
    assert coreml["delegated_nodes"] == 72 and coreml["total_nodes"] == 9403  # ... standing for 72 of 9403


def test_benign_verbose_lines_are_no_failure_cause():
    # microsoft/onnxruntime#19590 (Android Studio logcat, verbose NNAPI support check)
    line = ("11:36:31.321  V   [V:onnxruntime:ort-java, op_builder_helpers.cc:236 IsSupportedBatchMatMul] "
            "Unsupported op type: QDQ MatMul\n")
    parsed = parse(line)
    assert parsed["error_kind"] == "no_figure" and parsed["error_lines"] == []


def test_all_nodes_on_cpu_is_no_delegation_when_an_accelerator_was_asked_for():
    # hand-made: the source's verbose wording (session_state.cc) under an echoed "-e nnapi" command line
    text = ("$ ./onnxruntime_perf_test -e nnapi -m times -r 2 -v model.onnx\n"
            "Node placements\n All nodes placed on [CPUExecutionProvider]. Number of nodes: 12\n")
    parsed = parse(text)
    assert parsed["execution_provider"] == "nnapi" and parsed["delegation"] == "none"
    assert parsed["delegated_nodes"] == 0 and parsed["total_nodes"] == 12


# --- per-run timings (hand-made: no published -v run was found) -------------------------------------------

def test_verbose_iteration_lines_are_every_run():
    # the format of performance_runner.h: "iteration:" << n << "," << "time_cost:" << seconds
    text = ("iteration:1,time_cost:0.0201\niteration:2,time_cost:0.0199\n"
            "Session creation time cost: 0.05 s\nTotal inference time cost: 0.04 s\nTotal inference requests: 2\n"
            "Average inference time cost: 20 ms\n")
    parsed = parse(text)
    assert parsed["timings_ms"] == [20.1, 19.9] and parsed["summary_only"] is False and not parsed["failed"]


# --- prefixes (hand-made from a published sample) ---------------------------------------------------------

def test_logcat_ansi_crlf_and_prompt_prefixes_do_not_change_the_figures():
    lines = published("lutnn_pixel6_android_cpu_stats.md").splitlines()
    wrapped = "$ adb shell /data/local/tmp/onnxruntime_perf_test -e xnnpack -x 4 m.onnx\r\n" + "".join(
        f"01-02 03:04:05.678  1234  1234 I perf_test: \x1b[32m{line}\x1b[0m\r\n" for line in lines)
    plain, prefixed = parse(published("lutnn_pixel6_android_cpu_stats.md")), parse(wrapped)
    for key in ("avg_ms", "runs", "percentiles", "peak_working_set_bytes", "session_creation_ms", "min_ms"):
        assert prefixed[key] == plain[key], key
    assert prefixed["execution_provider"] == "xnnpack" and prefixed["threads"] == 1  # the tool's own line wins


# --- malformed input (hand-made) --------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   \n\n", None, "\x00\xff\n" * 3, "lorem ipsum\n", b"\xff\xfe",
                                  42, "P50 Latency: nonsense s\n", "Average inference time cost: ms\n"])
def test_malformed_input_fails_with_an_error_and_never_raises(text: Any):
    parsed = parse(text)
    assert parsed["failed"] is True and isinstance(parsed["error"], str) and parsed["error"]
    with pytest.raises(ArtifactError):
        check(parsed)


def test_empty_output_says_so():
    assert parse("")["error"] == "onnxruntime_perf_test printed nothing"


def test_truncated_output_is_cut_not_read():
    text = published("armlp_cobalt100_linux_first_inference.md")
    mid_average = text[:text.index("1.85739 ms") + 4]  # "Average inference time cost: 1.85" and no newline
    parsed = parse(mid_average)
    assert parsed["failed"] and parsed["error_kind"] == "cut" and parsed["avg_ms"] is None
    mid_p99 = text[:text.index("P99 Latency: ") + len("P99 Latency: 0.0019")]
    parsed = parse(mid_p99)
    assert not parsed["failed"] and "p99" not in parsed["percentiles"] and parsed["avg_ms"] == 1.85739


# --- check(): one line per failure, published wordings ----------------------------------------------------

@pytest.mark.parametrize("line", [
    "NNAPI is not supported in this build",  # onnxruntime/test/perftest/ort_test_session.cc (the tool's source)
    # yalue/onnxruntime_go#56
    "    onnxruntime_test.go:1490: Couldn't enable OpenVINO: /onnxruntime_src/onnxruntime/core/session/"
    "provider_bridge_ort.cc:1375 void onnxruntime::ProviderSharedLibrary::Ensure() [ONNXRuntimeError] : 1 : FAIL : "
    "Failed to load library libonnxruntime_providers_shared.so",
    # microsoft/onnxruntime#12793 (NNAPI on a Snapdragon 855)
    "    ai.onnxruntime.OrtException: Error code - ORT_EP_FAIL - message: The model cannot run using current set of "
    "target devices, [Name: [qti-default], Type [4]], [Name: [qti-dsp], Type [4]], [Name: [qti-gpu], Type [3]], "
    "[Name: [qti-hta], Type [4]], ",
])
def test_missing_provider_is_backend_unavailable(line: str):
    parsed = parse(line + "\n")
    assert parsed["error_kind"] == "provider"
    with pytest.raises(BackendUnavailable, match="execution provider unavailable") as raised:
        check(parsed)
    assert "\n" not in str(raised.value)


def test_unsupported_operator_is_one_line():
    # microsoft/onnxruntime#24479
    line = ("NotImplemented: [ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for Pad(13) "
            "node with name '/Pad'\n")
    with pytest.raises(ArtifactError) as raised:
        check(parse(line))
    assert str(raised.value) == ("onnxruntime_perf_test: unsupported operator: Could not find an implementation for "
                                 "Pad(13) node with name '/Pad'")


@pytest.mark.parametrize("text", [
    # microsoft/onnxruntime#22702: the status line, then ORT's file:line message
    "onnxruntime.capi.onnxruntime_pybind11_state.RuntimeException: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : "
    "Non-zero status code returned while running Conv node. Name:'/patch_embed/stages/stages.0/blocks/blocks.0/mlp/"
    "fc1/Conv' Status Message: \n/onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::"
    "BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Failed "
    "to allocate memory for requested buffer of size 4585490524328388608\n",
    # microsoft/onnxruntime#16305
    "[ onnxruntime::SequentialExecutor::Execute] Non-zero status code returned while running FusedMatMul node. "
    "Name:'MatMul_With_Transpose_token_14_FusedMatMulAndScale' Status Message: bad allocation\n",
])
def test_allocation_failure_is_one_line(text: str):
    parsed = parse(text)
    assert parsed["error_kind"] == "allocation"
    with pytest.raises(ArtifactError, match="^onnxruntime_perf_test: out of memory: ") as raised:
        check(parsed)
    assert "\n" not in str(raised.value) and "AllocateRawInternal" not in str(raised.value)


def test_missing_test_data_names_the_cause_not_the_wrapper():
    with pytest.raises(ArtifactError) as raised:
        check(parse(published("issue4331_arm_linux_no_input_data_failure.txt")))
    assert str(raised.value) == ("onnxruntime_perf_test: missing model or input data: there is no test input data "
                                 "for input data_0 and model squeezenet")
