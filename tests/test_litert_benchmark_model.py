"""benchmark_model output parser, checked on published outputs of every tool generation.

tests/data/benchmark_model/published/ holds real outputs copied as published (manifest.json names each
source and the values read off it by eye); malformed/ holds a few hand-made broken inputs. The focused
tests below quote single lines from the same published sources unless they say otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgebench_litert.benchmark_model import BenchmarkOutputError, check, parse, parse_op_profile
from edgebench_litert.benchmark_model_delegation import delegate_kind

DATA = Path(__file__).parent / "data" / "benchmark_model"
PUBLISHED = DATA / "published"
MANIFEST = json.loads((PUBLISHED / "manifest.json").read_text())
SAMPLES = {sample["file"]: sample for sample in MANIFEST["samples"]}

SCALARS = ("failed", "error", "generation", "inference_avg_us", "init_us", "first_us", "warmup_avg_us",
           "memory_overall_mb", "delegate", "delegate_kind", "delegated_nodes", "total_nodes", "partitions",
           "delegation", "model_size_mb", "init_session_ms", "nodes_observed", "runs", "warmup")
LISTS = ("delegations", "delegate_errors", "unsupported_ops", "error_lines")
MEMORY = ("init_mb", "overall_mb", "periodic_peak_mb", "definition", "available")


def published(name: str) -> str:
    return (PUBLISHED / name).read_text()


def test_the_corpus_is_the_manifest():
    files = {p.name for p in PUBLISHED.iterdir() if p.name not in ("manifest.json", "SOURCES.md")}
    assert files == set(SAMPLES)
    assert len(files) >= 25


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_published_sample_gives_every_expected_value(name: str):
    sample = SAMPLES[name]
    expected: dict[str, Any] = sample["expected"]
    parsed = parse(published(name))
    assert parsed["generation"] == sample["generation"]
    for key in SCALARS:  # a value the text does not carry stays None
        assert parsed[key] == expected.get(key), key
    for key in LISTS:
        assert parsed[key] == expected.get(key, []), key
    assert parsed["memory"] == {key: expected.get("memory", {}).get(key) for key in MEMORY}
    for key, value in expected.get("params", {}).items():
        assert parsed["params"][key] == value, key
    profile = expected.get("op_profile", {"rows": 0})
    assert len(parsed["op_profile"]) == profile["rows"]
    for key, value in profile.get("first", {}).items():
        assert parsed["op_profile"][0][key] == value, key
    assert parsed["failed"] is (parsed["inference_avg_us"] is None)


def test_generation_counts_in_the_corpus():
    counts: dict[str | None, int] = {}
    for sample in SAMPLES.values():
        counts[sample["generation"]] = counts.get(sample["generation"], 0) + 1
    assert counts["tf1"] >= 4 and counts["tf2"] >= 12 and counts["litert"] >= 2


# --- the op profiler is never the inference figure, the run summary or the node total -----------------

def test_profiler_timings_line_is_not_the_inference_figure():
    parsed = parse(published("tf1_readme_op_profiling_only.md"))  # only the profiler's count= line is there
    assert parsed["inference_avg_us"] == 79760.9 and parsed["runs"] is None
    zedboard = parse(published("tf1_zedboard_op_profiling.txt"))  # profiler avg=394059 comes last
    assert zedboard["runs"]["avg"] == 394183.0 and zedboard["inference_avg_us"] == 394183.0


def test_profiler_node_count_is_never_the_node_total():
    parsed = parse(published("tf2_imx_vx_external_partial.log"))  # profiler: 2 rows, "2 nodes observed"
    assert parsed["nodes_observed"] == 2 and len(parsed["op_profile"]) == 2
    assert parsed["total_nodes"] is None and parsed["delegated_nodes"] is None
    assert parse(published("tf2_imx_vx_external_partial.log"), model_nodes=64)["total_nodes"] == 64


def test_model_nodes_fills_a_missing_total_but_never_overrides_the_text():
    full = parse(published("tf2_imx_vx_external_full.log"), model_nodes=31)  # "completely executed"
    assert (full["delegated_nodes"], full["total_nodes"], full["delegation"]) == (31, 31, "full")
    old = parse(published("tf2_synap_nnapi_cache_error_elided.md"), model_nodes=31)  # "Replacing 31 node(s)"
    assert (old["delegated_nodes"], old["total_nodes"], old["delegation"]) == (31, 31, "full")
    assert parse(published("tf2_synap_nnapi_cache_error_elided.md"), model_nodes=40)["delegation"] == "partial"
    text_wins = parse(published("tf2_synap_nnapi_full_indented.md"), model_nodes=12)
    assert (text_wins["delegated_nodes"], text_wins["total_nodes"]) == (31, 31)


# --- units ---------------------------------------------------------------------------------------------

def test_litert_milliseconds_become_microseconds():
    parsed = parse(published("issue1134_litert_results_block_excerpt.md"))
    assert parsed["inference_avg_us"] == 7430200.0 and parsed["init_us"] == 23744730.0
    assert parsed["runs"]["std"] == 9920.0  # "Inference (std): 9.92" has no unit: milliseconds too
    small = parse(published("litert_arm_learning_path_sme2.md"))
    assert small["inference_avg_us"] == 460.0 and small["first_us"] == 1030.0  # not 460.00000000000006
    assert small["runs"]["avg"] == 464.545  # the count= line keeps the tool's microseconds


def test_scientific_notation():
    parsed = parse(published("tf2_yocto_riscv_sci_notation.md"))
    assert parsed["runs"]["avg"] == 2950340.0 and parsed["warmup_avg_us"] == 3512390.0


# --- robustness ----------------------------------------------------------------------------------------

def _without_prefix_noise(parsed: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parsed.items() if k not in ("op_profile",)}


def test_crlf_and_ansi_colours_change_nothing():
    text = published("tf2_synap_timvx_vx_delegate.md")
    coloured = "".join(f"\x1b[0;32m{line}\x1b[0m\r\n" for line in text.splitlines())
    assert parse(coloured) == parse(text)


def test_logcat_prefixes_and_doubled_lines_do_not_double_counts():
    text = published("tf2_synap_timvx_vx_delegate.md")
    logcat = "".join(f"06-12 10:11:12.345  1234  1234 I tflite  : {line}\n" * 2 for line in text.splitlines())
    parsed, plain = parse(logcat), parse(text)
    for key in ("inference_avg_us", "runs", "warmup", "memory", "delegated_nodes", "total_nodes", "partitions",
                "delegation", "delegations"):
        assert parsed[key] == plain[key], key
    assert parsed["delegated_nodes"] == 31 and len(parsed["delegations"]) == 2


def test_android_studio_logcat_columns_are_a_prefix():
    # line layout from https://github.com/ultralytics/ultralytics/issues/3172
    line = ("2023-06-14 10:55:21.084 18088-18088 tflite                  org.tensorflow.lite.benchmark        "
            "I  Num threads: [4]\n")
    assert parse(line)["params"] == {"num_threads": "4"}


def test_old_android_studio_logcat_error_line():
    # line from https://github.com/tensorflow/tensorflow/issues/28902
    line = ("2019-06-02 13:59:36.143 6836-6836/com.example.testmodel E/tflite: TfLiteGpuDelegate Prepare: Shader "
            "compilation failed: ERROR: 0:6: 'data' : Syntax error:  syntax error\n")
    parsed = parse(line)
    cause = "TfLiteGpuDelegate Prepare: Shader compilation failed: ERROR: 0:6: 'data' : Syntax error:  syntax error"
    assert parsed["failed"] is True and parsed["error"] == cause
    assert parsed["delegate_errors"] == [cause] and parsed["error_lines"] == [cause]


def test_several_runs_in_one_text_the_last_counts():
    parsed = parse(published("tf2_set_x_two_runs_cpu_then_gpu.md"))
    assert parsed["inference_avg_us"] == 115246.0  # the GPU run, not the CPU run's 105784
    assert [d["kind"] for d in parsed["delegations"]] == ["gpu"]  # label_image's "Applied GPU delegate." is not one


# --- delegation wordings -------------------------------------------------------------------------------

@pytest.mark.parametrize("line, event", [
    ("VERBOSE: Replacing 31 out of 31 node(s) with delegate (Vx Delegate) node, yielding 1 partitions for the "
     "whole graph.", ("Vx Delegate", "vx", 31, 31, 1, True, None)),
    ("07-08 15:33:55.790 I/tflite  ( 5395): Replacing 1036 out of 1097 node(s) with delegate "
     "(TfLiteXNNPackDelegate) node, yielding 23 partitions for subgraph 0.",
     ("TfLiteXNNPackDelegate", "xnnpack", 1036, 1097, 23, None, 0)),
    ("INFO: Replacing 31 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1 partitions.",
     ("TfLiteNnapiDelegate", "nnapi", 31, None, 1, None, None)),
    ("INFO: TfLiteFlexDelegate delegate: 29 nodes delegated out of 1139 nodes with 14 partitions.",
     ("TfLiteFlexDelegate", "flex", 29, 1139, 14, False, None)),
    # https://github.com/tensorflow/tensorflow/issues/83344
    ("INFO: TfLiteQnnDelegate delegate: 0 nodes delegated out of 31 nodes with 0 partitions.",
     ("TfLiteQnnDelegate", "qnn", 0, 31, 0, False, None)),
    ("INFO: EthosuDelegate: 1 nodes delegated out of 1 nodes with 1 partitions.",
     ("EthosuDelegate", "ethosu", 1, 1, 1, True, None)),
    # a vendor tag in front of the SimpleDelegate line (QNN's "[Qnn Delegate]", quoted in m96chan's droidrunner)
    ("INFO: [Qnn Delegate] QNN delegate: 47 nodes delegated out of 47 nodes with 1 partitions.",
     ("QNN", "qnn", 47, 47, 1, True, None)),
    ("Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.",
     ("GPU", "gpu", None, None, None, True, None)),
    ("Explicitly applied EXTERNAL delegate, and the model graph will be partially executed by the delegate w/ 1 "
     "delegate kernels.", ("EXTERNAL", "external", None, None, 1, False, None)),
    ("Applied GPU delegate, and the model graph will be completely executed w/ the delegate.",
     ("GPU", "gpu", None, None, None, True, None)),
    ("INFO: Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.",
     ("NNAPI", "nnapi", 0, None, None, False, None)),
])
def test_each_delegation_wording(line: str, event: tuple):
    keys = ("delegate", "kind", "delegated", "total", "partitions", "full", "subgraph")
    assert parse(line + "\n")["delegations"] == [dict(zip(keys, event))]


def test_subgraph_lines_are_summed_per_delegate():
    # assembled: the published subgraph-0 line plus the same wording for a second subgraph
    text = ("Replacing 1036 out of 1097 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 23 partitions "
            "for subgraph 0.\n"
            "Replacing 4 out of 5 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions "
            "for subgraph 1.\n")
    parsed = parse(text)
    assert (parsed["delegated_nodes"], parsed["total_nodes"], parsed["partitions"]) == (1040, 1102, 24)
    assert parsed["delegation"] == "partial" and parsed["delegate_kind"] == "xnnpack"


def test_primary_delegate_is_the_explicit_one_not_the_default_xnnpack():
    text = ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
            "VERBOSE: Replacing 1 out of 1 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions "
            "for subgraph 0.\n"
            "VERBOSE: Replacing 31 out of 31 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1 partitions "
            "for the whole graph.\n"
            "INFO: Explicitly applied NNAPI delegate, and the model graph will be completely executed by the "
            "delegate.\n")
    parsed = parse(text)
    summary = (parsed["delegate"], parsed["delegate_kind"], parsed["delegated_nodes"])
    assert summary == ("TfLiteNnapiDelegate", "nnapi", 31)
    assert parse(published("tf2_two_delegates_gpu_and_nnapi.txt"))["delegate_kind"] == "gpu"  # not the idle NNAPI


@pytest.mark.parametrize("name, kind", [("TfLiteGpuDelegateV2", "gpu"), ("TfLiteHexagonDelegate", "hexagon"),
                                        ("TfLiteCoreMlDelegate", "coreml"), ("Vx Delegate", "vx"),
                                        ("TfLiteXNNPackDelegate", "xnnpack"), ("NNAPI", "nnapi"),
                                        ("EXTERNAL", "external")])
def test_delegate_kinds(name: str, kind: str):
    assert delegate_kind(name) == kind


def test_unsupported_gpu_ops_with_a_completed_run_are_partial_delegation_not_failure():
    # assembled from https://github.com/tensorflow/tensorflow/issues/56301 (its GPU run's delegate lines,
    # its NNAPI run's figure lines)
    text = ("05-31 10:38:42.589 22206 22206 I tflite  : GPU delegate created.\n"
            "05-31 10:38:42.607 22206 22206 E tflite  : Following operations are not supported by GPU delegate:\n"
            "05-31 10:38:42.607 22206 22206 E tflite  : UNPACK: Operation is not supported.\n"
            "05-30 15:16:46.365  3380  3380 I tflite  : count=75 first=12840 curr=11853 min=11787 max=13649 "
            "avg=12167.6 std=325\n"
            "05-30 15:16:46.366  3380  3380 I tflite  : Inference timings in us: Init: 126059, First inference: 32942, "
            "Warmup (avg): 12581.9, Inference (avg): 12167.6\n")
    parsed = parse(text)
    assert parsed["failed"] is False and parsed["error"] is None and parsed["inference_avg_us"] == 12167.6
    assert parsed["unsupported_ops"] == ["Following operations are not supported by GPU delegate:",
                                         "UNPACK: Operation is not supported."]
    assert parsed["error_lines"] == parsed["unsupported_ops"]


# --- failures ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, error", [
    ("STARTING!\nFailed to apply NNAPI delegate.\nBenchmarking failed.\n", "Failed to apply NNAPI delegate."),
    ("ERROR: Node number 57 (BATCH_MATMUL) failed to prepare.\nFailed to allocate tensors!\nBenchmarking failed.\n",
     "Node number 57 (BATCH_MATMUL) failed to prepare; Failed to allocate tensors!"),
    ("STARTING!\nGraph: [/data/local/tmp/m.tflite]\nBenchmarking failed.\n", "Benchmarking failed."),
])
def test_failure_causes_most_specific_first(text: str, error: str):
    parsed = parse(text)
    assert parsed["failed"] is True and parsed["error"] == error


def test_failed_delegate_application_is_recorded():
    parsed = parse(published("issue56166_xnnpack_apply_failed.txt"))
    assert parsed["error"] == "Failed to apply XNNPACK delegate."  # not "Benchmarking failed."
    assert parsed["delegate_errors"] == ["Failed to apply XNNPACK delegate."]


def test_output_cut_inside_a_count_line_is_an_error():
    parsed = parse((DATA / "malformed" / "cut_inside_regular_count_line.txt").read_text())
    assert parsed["failed"] is True and "cut off" in parsed["error"]
    assert parsed["runs"] is None and parsed["inference_avg_us"] is None


def test_output_cut_inside_the_summary_line_is_not_read_as_a_figure():
    parsed = parse((DATA / "malformed" / "cut_inside_inference_timings_line.txt").read_text())
    assert parsed["failed"] is True and parsed["inference_avg_us"] is None  # "Inference (avg): 25" was cut
    assert "cut off" in parsed["error"]


def test_output_ending_before_its_summary_is_failed_but_keeps_the_runs():
    parsed = parse((DATA / "malformed" / "cut_before_summary.txt").read_text())
    assert parsed["failed"] is True and parsed["error"] == "benchmark_model's output has no inference figure"
    assert parsed["runs"]["avg"] == 2525.59 and parsed["inference_avg_us"] is None


def test_garbage_and_empty_output():
    garbage = parse((DATA / "malformed" / "garbage_linker_error.txt").read_text())
    assert garbage["failed"] is True and garbage["error"].startswith("CANNOT LINK EXECUTABLE")
    empty = parse("")
    assert empty["failed"] is True and empty["error"] == "benchmark_model printed nothing"
    assert parse("\x00\xff\n" * 3)["failed"] is True


def test_check_raises_the_cause_or_returns_the_parse():
    with pytest.raises(BenchmarkOutputError, match="Failed to apply XNNPACK delegate"):
        check(parse(published("issue56166_xnnpack_apply_failed.txt")))
    parsed = parse(published("tf2_synap_timvx_vx_delegate.md"))
    assert check(parsed) is parsed


def test_parse_op_profile_reads_the_regular_runs_table():
    rows = parse_op_profile(published("tf2_old_gpu_applied_wording.log"))  # init table first, then regular
    assert [row["op"] for row in rows] == ["TfLiteGpuDelegateV2"] and rows[0]["name"] == "[Identity]:77"
