"""What ran decides what is stored: delegate identity from published benchmark_model outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebench.errors import BackendUnavailable
from edgebench_litert.benchmark_model import parse
from edgebench_litert.native import failure, identify_delegate, to_result

PUBLISHED = Path(__file__).parent / "data" / "benchmark_model" / "published"


def parsed(name: str, model_nodes: int | None = None) -> dict:
    return parse((PUBLISHED / name).read_text(), model_nodes=model_nodes)


def test_a_requested_delegate_that_took_nothing_names_what_ran_instead():
    # NNAPI was applied after the GPU delegate had taken every node: nnapi took 0 of them
    with pytest.raises(BackendUnavailable, match=r"delegate 'nnapi' took no node on device 'pixel': "
                                                 r"\S.* took 49 of 49 nodes instead"):
        identify_delegate("nnapi", parsed("tf2_two_delegates_gpu_and_nnapi.txt"), "pixel")
    # an XNNPACK-only run stored as nnapi was a real bug
    with pytest.raises(BackendUnavailable, match=r"delegate 'nnapi' took no node .*XNNPack\S* took 1036 of 1097 nodes instead"):
        identify_delegate("nnapi", parsed("tf2_logcat_brief_xnnpack_subgraph.md"), "pixel")
    with pytest.raises(BackendUnavailable, match="the whole graph ran on the CPU kernels"):
        identify_delegate("gpu", parsed("tf1_zedboard_op_profiling.txt"), "pixel")


def test_full_and_partial_delegation_from_the_tools_words():
    ran, runtime, notes = identify_delegate("gpu", parsed("tf2_two_delegates_gpu_and_nnapi.txt"), "pixel")
    assert (ran, runtime["delegated_nodes"], runtime["total_nodes"], runtime["delegation_kind"]) == ("gpu", 49, 49, "full")
    assert notes == []
    ran, runtime, notes = identify_delegate("gpu", parsed("tf2_old_gpu_applied_wording.log"), "pixel")
    assert ran == "gpu" and runtime["delegation_kind"] == "full" and runtime["delegation"] == "fully delegated"
    ran, runtime, notes = identify_delegate("nnapi", parsed("issue56301_nnapi_partial_logcat_excerpt.md"), "pixel")
    assert runtime["delegation_kind"] == "partial" and notes and notes[0].startswith("partial delegation: nnapi")
    with pytest.raises(BackendUnavailable, match=r"nnapi.*took only .* \(--require-full-delegation\)"):
        identify_delegate("nnapi", parsed("issue56301_nnapi_partial_logcat_excerpt.md"), "pixel", require_full=True)


def test_the_total_comes_from_the_model_when_the_text_has_none():
    # the old "Replacing 31 node(s) with delegate" wording prints no total
    _, runtime, _ = identify_delegate("nnapi", parsed("tf2_synap_nnapi_cache_error_elided.md"), "synap")
    assert runtime["total_nodes"] is None and runtime["delegation_kind"] is None  # unknown stays unknown
    _, runtime, _ = identify_delegate("nnapi", parsed("tf2_synap_nnapi_cache_error_elided.md", model_nodes=31), "synap")
    assert (runtime["delegated_nodes"], runtime["total_nodes"], runtime["delegation_kind"]) == (31, 31, "full")
    _, runtime, notes = identify_delegate("nnapi", parsed("tf2_synap_nnapi_cache_error_elided.md", model_nodes=40), "s")
    assert runtime["delegation"] == "31 of 40 nodes delegated" and runtime["delegation_kind"] == "partial"


def test_failures_keep_the_tools_cause():
    message = str(failure(parsed("issue56166_xnnpack_apply_failed.txt"), "xnnpack", "pixel", 1))
    assert message == "delegate 'xnnpack' failed on device 'pixel': Failed to apply XNNPACK delegate. (exit status 1)"
    message = str(failure(parsed("issue62506_flex_failure_quoted_excerpt.md"), "cpu", "pixel", 1))
    assert "Node number 1139 (TfLiteFlexDelegate) failed to prepare" in message
    assert "Benchmarking failed" not in message


def test_the_result_is_the_tools_summary_not_repeated_timings():
    result = to_result(parsed("tf2_yocto_riscv_sci_notation.md"))
    summary = result["summary"]
    assert result["timings_ms"] == [] and summary["mean_ms"] == pytest.approx(2950.34)
    assert summary["n_runs"] == parsed("tf2_yocto_riscv_sci_notation.md")["runs"]["count"]
    assert result["native"]["summary_only"] is True
