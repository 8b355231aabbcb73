"""ExecuTorch runner output parser, checked on published outputs of every runner generation.

tests/data/executorch_runner/published/ holds real outputs copied as published (manifest.json names each
source and the values read off it by eye; SOURCES.md says what is only partially published). Inputs built
here by hand say so: they are either malformed on purpose or written from the runner's own format strings
(examples/portable/executor_runner/executor_runner.cpp, runtime/platform/assert.h) for the lines no
published output shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgebench.errors import ArtifactError, BackendUnavailable, DeviceError
from edgebench_executorch import runner_output
from edgebench_executorch.runner_output import RunnerOutputError, check, parse

PUBLISHED = Path(__file__).parent / "data" / "executorch_runner" / "published"
MANIFEST = json.loads((PUBLISHED / "manifest.json").read_text())
SAMPLES = {sample["file"]: sample for sample in MANIFEST["samples"]}

EMPTY: dict[str, Any] = {"error": None, "completed": False, "runs": None, "total_ms": None, "avg_ms": None,
                         "timings_ms": [], "summary_only": None, "load_ms": None, "planned_bytes": None,
                         "outputs": [], "backends_missing": [], "missing_ops": [], "error_code": None,
                         "error_name": None, "error_lines": [], "failure": None, "method": None, "threads": None,
                         "etdump": None, "runner": None}


def published(name: str) -> str:
    return (PUBLISHED / name).read_text()


def one_line_error(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


# --- the published corpus ------------------------------------------------------------------------------

def test_the_corpus_is_the_manifest():
    files = {p.name for p in PUBLISHED.iterdir() if p.name not in ("manifest.json", "SOURCES.md")}
    assert files == set(SAMPLES)
    assert len(files) >= 8
    failures = [s for s in SAMPLES.values() if s["expected"]["failed"] and s["expected"]["failure"] != "no_timing"]
    assert len(failures) >= 2
    for sample in SAMPLES.values():
        assert sample["file"] in (PUBLISHED / "SOURCES.md").read_text()
        source = sample["source"]
        assert source.get("url") or source.get("commit") or source.get("index_file_id")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_published_sample_gives_every_expected_value(name: str):
    expected = SAMPLES[name]["expected"]
    parsed = parse(published(name))
    assert set(parsed) == set(EMPTY) | {"failed"}
    assert parsed["failed"] is expected["failed"]
    for key, empty in EMPTY.items():  # a value the text does not carry stays empty
        assert parsed[key] == expected.get(key, empty), key
    assert parsed["failed"] is (parsed["avg_ms"] is None)


def test_runner_generations_in_the_corpus():
    versions = " ".join(s["version"] for s in SAMPLES.values())
    for generation in ("0.1", "0.4", "0.6", "1.0"):
        assert generation in versions
    timed = [s for s in SAMPLES.values() if not s["expected"]["failed"]]
    assert any(s["expected"].get("timings_ms") for s in timed)  # per-iteration lines
    assert any(s["expected"].get("summary_only") for s in timed)  # summary only, said so


# --- timing: every run where printed, else the summary, said so ----------------------------------------

def test_iteration_lines_are_the_timings_and_the_summary_the_total():
    parsed = parse(published("wasm_prototype_add_mul_iterations.md"))
    assert parsed["timings_ms"] == [1.62] and parsed["summary_only"] is False
    assert (parsed["runs"], parsed["total_ms"], parsed["avg_ms"], parsed["load_ms"]) == (1, 1.62, 1.62, 7.85)


def test_summary_only_is_said_so():
    parsed = parse(published("v1.4.1_docs_mv2_xnnpack_timed.md"))
    assert parsed["timings_ms"] == [] and parsed["summary_only"] is True and parsed["avg_ms"] == 15.013292


def test_qualcomm_runner_summary_gives_its_average():
    parsed = parse(published("issue3528_qnn_executor_runner_100_inferences.txt"))
    assert (parsed["runs"], parsed["total_ms"], parsed["avg_ms"], parsed["summary_only"]) == (100, 1096.626,
                                                                                              10.96626, True)


def test_several_iterations_built_from_the_runner_format_strings():
    # hand-made from executor_runner.cpp's "Iteration %u of %u: %f ms" and "... %u time(s) in %f ms."
    # (no published output runs more than once)
    text = ("I 00:00:00.100000 executorch:executor_runner.cpp:718] Model loaded in 12.500000 ms.\n"
            "I 00:00:00.110000 executorch:executor_runner.cpp:880] Iteration 1 of 3: 11.000000 ms\n"
            "I 00:00:00.120000 executorch:executor_runner.cpp:880] Iteration 2 of 3: 10.000000 ms\n"
            "I 00:00:00.130000 executorch:executor_runner.cpp:880] Iteration 3 of 3: 10.500000 ms\n"
            "I 00:00:00.130001 executorch:executor_runner.cpp:889] Model executed successfully 3 time(s) in "
            "31.500000 ms.\n")
    parsed = parse(text)
    assert parsed["timings_ms"] == [11.0, 10.0, 10.5] and parsed["summary_only"] is False
    assert (parsed["runs"], parsed["total_ms"], parsed["avg_ms"], parsed["load_ms"]) == (3, 31.5, 10.5, 12.5)
    # the same output cut before the summary: complete iterations still count, a missing one does not
    without_summary = parse(text.rsplit("I 00:00:00.130001", 1)[0])
    assert without_summary["avg_ms"] == 10.5 and without_summary["runs"] == 3
    cut = parse(text.split("I 00:00:00.130000")[0])
    assert cut["failed"] and cut["failure"] == "incomplete" and cut["timings_ms"] == []
    assert cut["error"] == "ExecuTorch's runner output ends after iteration 2 of 3, before its summary"


def test_old_runners_completed_without_a_time():
    for name in ("v0.1.0_docs_add_non_const_buffer.md", "v0.4.0_portable_readme_mv2.md",
                 "issue1231_executor_runner_resnet18_portable.md"):
        parsed = parse(published(name))
        assert parsed["completed"] and parsed["failed"] and parsed["failure"] == "no_timing", name
        assert parsed["runs"] is None and parsed["total_ms"] is None


def test_release_build_without_log_lines_explains_itself():
    parsed = parse(published("issue4005_xnn_executor_runner_android_no_log_excerpt.txt"))
    assert parsed["completed"] and parsed["outputs"] == [[1, 1000]] and parsed["failure"] == "no_timing"
    assert "-DEXECUTORCH_ENABLE_LOGGING=ON" in parsed["error"]


# --- memory, outputs, other printed facts ----------------------------------------------------------------

def test_planned_buffers_in_every_wording():
    assert parse(published("v0.1.0_docs_add_non_const_buffer.md"))["planned_bytes"] == 48  # non-const buffer 1
    assert parse(published("wasm_prototype_mv2_cpu_planned_buffer.md"))["planned_bytes"] == 9936896  # CPU planned
    assert parse(published("issue13399_arm_executor_runner_kernel_not_found_excerpt.txt"))["planned_bytes"] == 48
    # hand-made from executor_runner.cpp's two formats (1.4+): CPU and device buffers add up, a repeat does not
    text = ("I 00:00:00.1 executorch:executor_runner.cpp:640] Setting up CPU planned buffer 0, size 1024.\n"
            "I 00:00:00.1 executorch:executor_runner.cpp:660] Setting up device planned buffer 1, size 4096, "
            "device_type 1.\n"
            "I 00:00:00.1 executorch:executor_runner.cpp:640] Setting up CPU planned buffer 0, size 1024.\n")
    assert parse(text)["planned_bytes"] == 5120


def test_load_time_is_only_the_runners_own_line():
    assert parse(published("wasm_prototype_mv2_cpu_planned_buffer.md"))["load_ms"] == 29.49
    # torchchat's "Time to load model: 6.13 seconds" is not ExecuTorch's runner
    assert parse(published("torchchat662_backend_xnnpack_not_registered_excerpt.txt"))["load_ms"] is None


def test_the_last_of_several_runs_counts():
    both = published("wasm_prototype_add_mul_iterations.md") + published("wasm_prototype_mv2_cpu_planned_buffer.md")
    assert parse(both) == parse(published("wasm_prototype_mv2_cpu_planned_buffer.md"))
    # the threadpool line printed before "Model file ... is loaded." stays with its run
    etdump = published("arm_learning_path_etdump_linear_f32.md")
    assert parse(published("zephyr_docker_readme_add_timed.md") + etdump) == parse(etdump)
    assert parse(etdump)["threads"] == 1


# --- prefixes and transport noise ------------------------------------------------------------------------

def test_crlf_ansi_quotes_and_prompts_change_nothing():
    text = published("arm_learning_path_etdump_linear_f32.md")
    coloured = "".join(f"\x1b[0;32m{line}\x1b[0m\r\n" for line in text.splitlines())
    assert parse(coloured) == parse(text)
    quoted = "".join(f"> {line}\n" for line in text.splitlines())
    assert parse(quoted) == parse(text)
    prompted = "$ adb shell /data/local/tmp/xnn_executor_runner --model_path=m.pte\n" + text
    assert parse(prompted) == parse(text)


@pytest.mark.parametrize("prefix", [
    "06-24 18:43:18.773 12104 12700 {level} ExecuTorch: ",  # logcat threadtime, Android PAL (1.0+)
    "{level}/ExecuTorch(12104): ",  # logcat brief
    "{level} ExecuTorch: ",  # logcat tag format
    "11-24 09:35:11.099: {level}/ETLOG(3388): ",  # logcat -v time, old tag (as in issue 1199)
])
def test_logcat_prefixes(prefix: str):
    # hand-made: the Android PAL logs the bare message under tag ExecuTorch (runtime/platform/default/android.cpp)
    lines = [("I", "Model file /data/local/tmp/m.pte is loaded."),
             ("I", "Setting up planned buffer 0, size 2112."),
             ("I", "Model executed successfully 2 time(s) in 5.000000 ms."),
             ("E", "Missing operator: [3] aten::gelu.out")]
    parsed = parse("".join(prefix.format(level=level) + message + "\n" for level, message in lines))
    assert (parsed["runs"], parsed["total_ms"], parsed["avg_ms"], parsed["planned_bytes"]) == (2, 5.0, 2.5, 2112)
    assert parsed["missing_ops"] == ["aten::gelu.out"]
    assert parsed["error_lines"] == ["Missing operator: [3] aten::gelu.out"]


def test_command_lines_are_not_output():
    parsed = parse(published("issue3919_executor_runner_stops_after_inputs_prepared.txt"))
    assert parsed["error"] == ("ExecuTorch's runner output ends before the model finished executing "
                               "(last step: 'Inputs prepared.')")


# --- failures: each mapped to one clear line --------------------------------------------------------------

def test_backend_not_registered_is_backend_unavailable():
    for name in ("issue3696_backend_xnnpack_not_registered.md",
                 "torchchat662_backend_xnnpack_not_registered_excerpt.txt"):
        parsed = parse(published(name))
        assert parsed["backends_missing"] == ["XnnpackBackend"] and parsed["failure"] == "backend_missing"
        with pytest.raises(BackendUnavailable) as exc:
            check(parsed)
        message = one_line_error(exc)
        assert "XnnpackBackend" in message and "-DEXECUTORCH_BUILD_XNNPACK=ON" in message


@pytest.mark.parametrize("name, ops", [
    ("torchchat385_missing_operator_excerpt.txt", ["aten::view_copy.dtype_out"]),
    ("issue1199_logcat_etlog_missing_operator_excerpt.txt", ["aten::native_dropout.out"]),
    ("issue6749_ios_kernel_not_found_excerpt.txt", ["executorch_prim::et_view.default"]),
    ("issue13399_arm_executor_runner_kernel_not_found_excerpt.txt", ["aten::exp.out"]),
])
def test_missing_operator_is_an_artifact_error_naming_the_ops(name: str, ops: list[str]):
    parsed = parse(published(name))
    assert parsed["missing_ops"] == ops and parsed["failure"] == "missing_operator"
    with pytest.raises(ArtifactError) as exc:
        check(parsed)
    assert all(op in one_line_error(exc) for op in ops)


def test_status_codes_are_named():
    assert parse(published("torchchat385_missing_operator_excerpt.txt"))["error_name"] == "OperatorMissing"
    with pytest.raises(ArtifactError) as exc:
        check(parse(published("torchchat385_missing_operator_excerpt.txt")))
    assert one_line_error(exc).endswith("(status 0x14 OperatorMissing)")


def test_allocation_failure_is_an_artifact_error():
    parsed = parse(published("issue9491_stm32_memory_allocation_failed.md"))
    assert parsed["failure"] == "memory_allocation" and parsed["error_code"] == "0x21"
    with pytest.raises(ArtifactError) as exc:
        check(parsed)
    assert one_line_error(exc) == ("ExecuTorch runner could not allocate memory for the .pte: Memory allocation "
                                   "failed: 48B requested (adjusted for alignment), 44B available "
                                   "(status 0x21 MemoryAllocationFailed)")


def test_truncated_pte_is_an_artifact_error():
    parsed = parse(published("issue3848_android_truncated_pte_backend_data.md"))
    assert parsed["failure"] == "runtime_error" and "> file_size_" in parsed["error"]
    with pytest.raises(ArtifactError) as exc:
        check(parsed)
    assert "(status 0x12 InvalidArgument)" in one_line_error(exc)


def test_et_check_abort_gives_its_message():
    # hand-made from runtime/platform/assert.h's "In function %s(), assert failed (%s): " and the runner's message
    text = ("I 00:00:00.000100 executorch:executor_runner.cpp:218] Model file m.pte is loaded.\n"
            "F 00:00:00.000900 executorch:executor_runner.cpp:300] In function main(), assert failed (method.ok()): "
            "Loading of method forward failed with status 0x23\n"
            "Aborted\n")
    parsed = parse(text)
    assert parsed["error"] == "Loading of method forward failed with status 0x23"
    assert (parsed["error_code"], parsed["error_name"]) == ("0x23", "InvalidProgram")
    assert parsed["failure"] == "runtime_error"
    with pytest.raises(ArtifactError):
        check(parsed)


@pytest.mark.parametrize("name", [
    "issue1231_executor_runner_resnet18_portable.md",
    "issue15547_executor_runner_android_outputx_excerpt.txt",
    "issue3919_executor_runner_stops_after_inputs_prepared.txt",
])
def test_no_time_without_a_failure_is_a_device_error(name: str):
    with pytest.raises(RunnerOutputError) as exc:
        check(parse(published(name)))
    assert isinstance(exc.value, DeviceError) and not isinstance(exc.value, ArtifactError)
    one_line_error(exc)


@pytest.mark.parametrize("name", sorted(n for n, s in SAMPLES.items() if not s["expected"]["failed"]))
def test_check_accepts_timed_runs(name: str):
    assert check(parse(published(name))) is None


def test_a_completed_run_with_error_lines_is_not_failed():
    # issue 3528's maintainer quote shows these E lines in a run that completed; hand-made around its summary
    text = ("E 00:00:00.214101 executorch:method.cpp:939] Overriding output data pointer allocated by memory plan "
            "is not allowed.\n"
            "E 00:00:00.214145 executorch:qnn_executor_runner.cpp:263] ignoring error from set_output_data_ptr(): 0x2\n"
            + published("issue3528_qnn_executor_runner_100_inferences.txt"))
    parsed = parse(text)
    assert not parsed["failed"] and parsed["error"] is None and parsed["error_lines"] == []


# --- malformed input: failed with an error, never an exception -------------------------------------------

MALFORMED = [
    None, "", "   \n\n", b"", b"\xff\xfe\x00garbage", 12345, "\x00\x01\x02", "🙂" * 1000, "x" * 200_000,
    "Model executed successfully 10 time(s) in 12",  # cut inside the summary line
    "Model executed successfully nan time(s) in abc ms.",
    "Iteration 1 of 0: 3 ms",
    "Setting up planned buffer 0, size 99999999999999999999999999.",
    "Output 0: tensor(sizes=[1, , 3], [",
    "```\n```",
]


@pytest.mark.parametrize("text", MALFORMED, ids=[f"malformed{i}" for i in range(len(MALFORMED))])
def test_malformed_input_fails_with_an_error(text: Any):
    parsed = parse(text)
    assert parsed["failed"] is True and isinstance(parsed["error"], str) and parsed["error"]
    with pytest.raises((ArtifactError, RunnerOutputError)):
        check(parsed)


def test_zero_executions_is_failed():
    parsed = parse("I 00:00:00.1 executorch:executor_runner.cpp:340] Model executed successfully 0 time(s) in "
                   "0.000000 ms.\n")
    assert parsed["failed"] and parsed["runs"] == 0 and "0 times" in parsed["error"]


def test_a_parser_bug_becomes_a_failed_result(monkeypatch: pytest.MonkeyPatch):
    def broken(text: str) -> dict[str, Any]:
        raise ValueError("boom")

    monkeypatch.setattr(runner_output, "_parse", broken)
    parsed = parse("anything")
    assert parsed["failed"] and "ValueError: boom" in parsed["error"]
