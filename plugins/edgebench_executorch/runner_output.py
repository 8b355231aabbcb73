"""Parse what ExecuTorch's native runners print: ``executor_runner`` (portable), ``xnn_executor_runner``
(the same runner linked with the XNNPACK delegate) and the runners built on them.

Lines understood (every ExecuTorch version from 0.1 to 1.4; see tests/data/executorch_runner/published):

* timing: ``Model executed successfully N time(s) in X ms.`` (0.6+, X is the total of N executions; the
  runner has no warm-up), ``Iteration i of N: X ms`` (1.3+, one per execution), the Qualcomm runner's
  ``N inference took X ms, avg Y ms``; before 0.6 only ``Model executed successfully.`` (no time);
* load: ``Model loaded in X ms.`` (program + method load, 1.3+); ``Method loaded.``;
* memory planning: ``Setting up planned buffer N, size S.``, 1.4's ``Setting up CPU planned buffer N, size S.``
  and ``Setting up device planned buffer N, size S, device_type D.``, 0.1's ``Setting up non-const buffer N,
  size S.`` (``planned_bytes`` is their sum, each buffer id counted once);
* ``Output 0: tensor(sizes=[...], ...)`` (``OutputX 0:`` in 1.0+), ``Using method``/``Running method``,
  ``Resetting threadpool with num threads = N``, ``ETDump written to file '...'``/``Write etdump to ...``;
* failures: ``Backend X is not registered.``, ``Missing operator: [N] op``, ``kernel 'op' not found.``,
  ``Memory allocation failed: ...``, a truncated ``.pte`` (``offset + size > file_size_``), ``Failed to load
  data for backend``, ``Failed to parse model file``, ``Loading of method ... failed with status 0x..``,
  ``Execution of method ... failed with status 0x..``, ET_CHECK's ``In function f(), assert failed (...): ...``
  and any ``E``/``F`` log line.

Line prefixes removed: ET_LOG's ``I 00:00:00.012345 executorch:file.cpp:123] `` (with or without the
timestamp), the Arm bare-metal ``I [executorch:file.cpp:123 main()] ``, the minimal PAL's ``[file.cpp:123] ``,
logcat (threadtime, brief, ``-v time``; tags ``ExecuTorch`` and the old ``ETLOG``), markdown quotes and fences,
``$ ``/``# `` prompts, ANSI colours, CR/LF. Command lines that start a runner are ignored. When one text holds
several runs (several ``Model file ... is loaded.``), the last one is parsed.

A result without a time is ``failed``; ``completed`` still says whether the model ran (an old runner, or a
Release build whose ET_LOG lines are compiled out, prints outputs but no time).
"""

from __future__ import annotations

import re
from typing import Any

from edgebench.errors import ArtifactError, BackendUnavailable, DeviceError


class RunnerOutputError(DeviceError):
    """The runner's output holds no time edgebench can use, though nothing in it says the model failed."""


# runtime/core/error.h: the status codes the runner prints as 0x..
ERROR_NAMES = {
    0x01: "Internal", 0x02: "InvalidState", 0x03: "EndOfMethod", 0x04: "AlreadyLoaded",
    0x10: "NotSupported", 0x11: "NotImplemented", 0x12: "InvalidArgument", 0x13: "InvalidType",
    0x14: "OperatorMissing", 0x15: "RegistrationExceedingMaxKernels", 0x16: "RegistrationAlreadyRegistered",
    0x20: "NotFound", 0x21: "MemoryAllocationFailed", 0x22: "AccessFailed", 0x23: "InvalidProgram",
    0x24: "InvalidExternalData", 0x25: "OutOfResources", 0x30: "DelegateInvalidCompatibility",
    0x31: "DelegateMemoryAllocationFailed", 0x32: "DelegateInvalidHandle",
}

_NUM = r"\d+(?:\.\d+)?"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# logcat in its formats; the level letter is kept (group "level")
_LOGCAT = [re.compile(p) for p in (
    r"^(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+(?P<level>[VDIWEF])\s+[^:]*?\s*:\s?",  # threadtime
    r"^(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+:?\s+(?P<level>[VDIWEF])/[^(:]*?\s*(?:\(\s*\d+\))?:\s?",  # -v time
    r"^(?P<level>[VDIWEF])/[\w.\- ]+?\s*(?:\(\s*\d+\))?:\s?",  # brief
    r"^(?P<level>[VDIWEF])\s+(?:ExecuTorch|ETLOG)\s*:\s?",  # tag format
)]
# ET_LOG's own prefixes: posix PAL (timestamp optional: WASM, some ports), Arm bare-metal, minimal PAL
_ETLOG = [re.compile(p) for p in (
    r"^(?P<level>[DIEF])\s+(?:\d+:\d\d:\d\d\.\d+\s+)?executorch:(?P<file>[\w./+-]+):\d+\]\s?",
    r"^(?P<level>[DIEF])\s+\[executorch:(?P<file>[\w./+-]+):\d+(?:\s+[^\]]*)?\]\s?",
    r"^\[(?P<file>[\w./+-]+\.(?:cpp|cc|c|h|mm|m)):\d+\]\s?",
)]
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_PROMPT = re.compile(r"^(?:[$#%]\s+)")
# a shell line that starts a runner ("... $ ./xnn_executor_runner --model_path=...")
_COMMAND = re.compile(r"(?:^|[\s/])[\w.-]*runner(?:\.js)?\s+-{1,2}\w")

_SUMMARY = re.compile(r"^Model executed successfully(?: (\d+) time\(s\) in (%s) ms)?\.?\s*$" % _NUM)
_ITERATION = re.compile(r"^Iteration (\d+) of (\d+): (%s) ms" % _NUM)
_QNN_SUMMARY = re.compile(r"^(\d+) inference took (%s) ms, avg (%s) ms" % (_NUM, _NUM))
_LOAD = re.compile(r"^Model loaded in (%s) ms" % _NUM)
_PLANNED = re.compile(r"^Setting up (?:(?:CPU |device )?planned|non-const) buffer (\d+), size (\d+)")
_OUTPUT = re.compile(r"^Output(?:X)? (\d+): tensor\(sizes=\[([\d,\s]*)\]")
_OUTPUT_VALUE = re.compile(r"^Output(?:X)?\s*\[?\d+\]?(?:\[\d+\])?:")
_METHOD = re.compile(r"^(?:Using|Running) method (\S+)")
_THREADS = re.compile(r"^Resetting threadpool with num threads = (\d+)")
_ETDUMP = re.compile(r"^(?:ETDump written to file '([^']+)'|Write etdump to (\S+?),)")
_MODEL_FILE = re.compile(r"^Model file .* is loaded\.?$")
_RUN_END = re.compile(r"^(?:Model executed successfully|\d+ inference took|\d+ outputs:|Output|ETDump written"
                      r"|Write etdump|\]\)$)")
_STATUS = re.compile(r"(?:status|error)[ :]+0x:?([0-9a-fA-F]+)")
_BACKEND = re.compile(r"Backend (\S+?) is not registered")
_MISSING_OP = re.compile(r"Missing operator: \[\d+\] (\S+)")
_KERNEL = re.compile(r"kernel '([^']+)' not found")
_ASSERT = re.compile(r"assert failed(?: \(.*?\))?: (.+)$")  # the condition may hold parentheses
# the cause in ExecuTorch's words, most specific first (the first pattern that matches any line wins)
_CAUSES = [re.compile(p) for p in (
    r"Backend \S+ is not registered",
    r"Missing operator: \[\d+\] \S+",
    r"kernel '[^']+' not found",
    r"Memory allocation failed",
    r"offset \d+ \+ size \d+ > file_size_",  # a truncated .pte
    r"Failed to load data for backend",
    r"Init failed for backend",
    r"Failed to (?:parse model file|open|read)|FileDataLoader::from\(\) failed|Program has no methods",
    r"assert failed",
    r"(?i)loading (?:of )?method \S+ failed|Failed to load method",
    r"Execution of method \S+ failed",
    r"Could not (?:prepare|load) inputs",
)]
_FATAL = re.compile(r"(?:^|\s)(?:\w+(?:Error|Exception)|Aborted|Segmentation fault|CANNOT LINK EXECUTABLE)\b"
                    r"|No such file or directory|: not found$|terminating due to uncaught exception")
# error-level lines that a completed run also prints and that say nothing about a failure
# (the threadpool's cpuinfo_utils.cpp probes files that many kernels lack: "Failed to open midr file ...")
_NOISE = re.compile(r"ignoring error from set_output_data_ptr|Overriding output data pointer allocated by memory"
                    r" plan|dtype: \d+ \| dim order|^\d+,$|^\]$|Failed to open midr file|^Reading file /sys/|"
                    r"CPU info and manual query")
_STEPS = ("Model file", "Using method", "Running method", "Setting up", "Method loaded", "Model loaded",
          "Inputs prepared", "Iteration")


def _strip(line: str) -> tuple[str, str | None, str | None]:
    """(message, level letter or None, source file or None) of one output line."""
    line = _QUOTE.sub("", line).strip()
    line = _PROMPT.sub("", line)
    level = source = None
    for pattern in _LOGCAT:
        if (m := pattern.match(line)):
            level, line = m.group("level"), line[m.end():]
            break
    for pattern in _ETLOG:
        if (m := pattern.match(line)):
            level = m.groupdict().get("level") or level
            source, line = m.group("file"), line[m.end():]
            break
    return line.strip(), level, source


def _lines(text: str) -> list[tuple[str, str | None, str | None]]:
    """Cleaned lines of the last run in ``text`` (fences, blank and command lines dropped)."""
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for raw in text.split("\n"):
        if raw.strip().startswith("```") or _COMMAND.search(raw):
            continue
        message, level, source = _strip(raw)
        if message:
            lines.append((message, level, source))
    starts = [i for i, (message, _, _) in enumerate(lines) if _MODEL_FILE.match(message)]
    if len(starts) < 2:
        return lines
    # several runs: the last one starts after the previous run's last line (its threadpool line comes
    # before "Model file ... is loaded."), or at its own "Model file" line when the previous run never ended
    ends = [i for i in range(starts[-2], starts[-1]) if _RUN_END.match(lines[i][0])]
    return lines[ends[-1] + 1:] if ends else lines[starts[-1]:]


def _as_text(text: Any) -> str:
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", "replace")
    return text if isinstance(text, str) else str(text)


def _ms(value: str) -> float:
    return round(float(value), 6)  # the runner prints %f: 6 decimals, no float noise past them


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))  # logcat repeats a line once per instruction


def parse(text: Any) -> dict[str, Any]:
    """Every figure and failure in one runner output (see the module docstring); never raises."""
    try:
        return _parse(_as_text(text))
    except Exception as exc:  # a parser bug must not hide the run's output: report it as the failure
        result = _empty()
        result.update(failed=True, failure="incomplete",
                      error=f"could not read ExecuTorch runner output ({type(exc).__name__}: {exc})")
        return result


def _empty() -> dict[str, Any]:
    return {"failed": True, "error": None, "completed": False, "runs": None, "total_ms": None, "avg_ms": None,
            "timings_ms": [], "summary_only": None, "load_ms": None, "planned_bytes": None, "outputs": [],
            "backends_missing": [], "missing_ops": [], "error_code": None, "error_name": None,
            "error_lines": [], "failure": None, "method": None, "threads": None, "etdump": None, "runner": None}


def _parse(text: str) -> dict[str, Any]:
    result = _empty()
    lines = _lines(text)
    planned: dict[int, int] = {}
    iterations: dict[int, float] = {}
    iterations_expected = None
    summary_seen = values_printed = False
    missing: list[str] = []
    backends: list[str] = []
    errors: list[str] = []
    for message, level, source in lines:
        if (m := _SUMMARY.match(message)):
            summary_seen = True
            result["runner"] = source or result["runner"]
            if m.group(1) is not None:
                result["runs"], result["total_ms"] = int(m.group(1)), _ms(m.group(2))
        elif (m := _ITERATION.match(message)):
            iterations[int(m.group(1))] = _ms(m.group(3))
            iterations_expected = int(m.group(2))
        elif (m := _QNN_SUMMARY.match(message)):
            summary_seen = True
            result.update(runs=int(m.group(1)), total_ms=_ms(m.group(2)), avg_ms=_ms(m.group(3)),
                          runner=source or result["runner"])
        elif (m := _LOAD.match(message)):
            result["load_ms"] = _ms(m.group(1))
        elif (m := _PLANNED.match(message)):
            planned[int(m.group(1))] = int(m.group(2))
        elif (m := _OUTPUT.match(message)):
            result["outputs"].append([int(d) for d in m.group(2).replace(" ", "").split(",") if d])
        elif _OUTPUT_VALUE.match(message):
            values_printed = True  # --print_output=all / the Arm runner: values, no shape
        elif (m := _METHOD.match(message)):
            result["method"] = m.group(1)
        elif (m := _THREADS.match(message)):
            result["threads"] = int(m.group(1))
        elif (m := _ETDUMP.match(message)):
            result["etdump"] = m.group(1) or m.group(2)
        if (m := _BACKEND.search(message)):
            backends.append(m.group(1))
        if (m := _MISSING_OP.search(message)) or (m := _KERNEL.search(message)):
            missing.append(m.group(1).rstrip("."))
        if (m := _STATUS.search(message)) and result["error_code"] is None:
            result["error_code"] = "0x%02x" % int(m.group(1), 16)
        if level in ("E", "F") and not _NOISE.search(message):
            errors.append(message)
    result["backends_missing"], result["missing_ops"] = _unique(backends), _unique(missing)
    result["error_lines"] = _unique(errors)
    if planned:
        result["planned_bytes"] = sum(planned.values())
    if result["error_code"] is not None:
        result["error_name"] = ERROR_NAMES.get(int(result["error_code"], 16))
    timings = [iterations[i] for i in sorted(iterations)]
    complete_iterations = bool(timings) and (summary_seen or len(timings) == iterations_expected)
    if complete_iterations:
        result.update(timings_ms=timings, summary_only=False)
        if result["runs"] is None:
            result.update(runs=len(timings), total_ms=round(sum(timings), 6))
    elif result["total_ms"] is not None:
        result["summary_only"] = True
    if result["total_ms"] is not None and result["runs"] and result["avg_ms"] is None:
        result["avg_ms"] = round(result["total_ms"] / result["runs"], 6)
    result["completed"] = summary_seen or bool(result["outputs"]) or values_printed
    result["failed"] = result["avg_ms"] is None
    if result["failed"]:
        result["failure"], result["error"] = _error(lines, result, timings, iterations_expected, summary_seen)
    return result


def _error(lines: list[tuple[str, str | None, str | None]], result: dict[str, Any], timings: list[float],
           iterations_expected: int | None, summary_seen: bool) -> tuple[str, str]:
    """(kind, cause) of an output without a time, the cause in ExecuTorch's words where it gave any."""
    messages = [message for message, _, _ in lines if not _NOISE.search(message)]
    if result["backends_missing"]:
        return "backend_missing", next(m for m in messages if _BACKEND.search(m))
    if result["missing_ops"]:
        return "missing_operator", next(m for m in messages if _MISSING_OP.search(m) or _KERNEL.search(m))
    for cause in _CAUSES:
        line = next((message for message in messages if cause.search(message)), None)
        if line is not None:
            kind = "memory_allocation" if "Memory allocation failed" in line else "runtime_error"
            return kind, (m.group(1).strip() if (m := _ASSERT.search(line)) else line)
    if result["error_lines"]:
        return "runtime_error", result["error_lines"][0]
    fatal = next((message for message in messages if _FATAL.search(message)), None)
    if fatal:
        return "runtime_error", fatal
    if result["runs"] == 0:
        return "no_timing", "ExecuTorch's runner executed the model 0 times (--num_executions=0)"
    if timings:
        return "incomplete", (f"ExecuTorch's runner output ends after iteration {len(timings)} of "
                              f"{iterations_expected}, before its summary")
    if summary_seen:
        return "no_timing", ("ExecuTorch's runner printed 'Model executed successfully.' without a time: runners "
                             "before ExecuTorch 0.6 time nothing; executor_runner 0.6+ prints 'Model executed "
                             "successfully N time(s) in X ms.'")
    if result["completed"]:
        return "no_timing", ("ExecuTorch's runner printed its outputs but no log line, so no time: Release builds "
                             "compile ET_LOG out unless built with -DEXECUTORCH_ENABLE_LOGGING=ON (an Android build "
                             "of ExecuTorch 1.0+ logs to logcat, tag ExecuTorch, unless built with "
                             "-DEXECUTORCH_PAL_DEFAULT=posix)")
    step = next((message for message in reversed(messages) if message.startswith(_STEPS)), None)
    if step is not None:
        return "incomplete", ("ExecuTorch's runner output ends before the model finished executing "
                              f"(last step: '{step}')")
    return "incomplete", "no output of an ExecuTorch runner (no 'Model executed successfully' line)"


def _status(parsed: dict[str, Any]) -> str:
    code, name = parsed.get("error_code"), parsed.get("error_name")
    return f" (status {code}{' ' + name if name else ''})" if code else ""


def check(parsed: dict[str, Any]) -> None:
    """Raise one line for a run without a time: BackendUnavailable when the runner binary lacks a delegate
    the .pte needs, ArtifactError when the .pte could not be loaded or run (missing operator, allocation
    failure, any runtime error), RunnerOutputError (a DeviceError) when nothing says the model failed but no
    time was printed (an old or Release-built runner, an output cut short)."""
    if not parsed.get("failed"):
        return
    error = " ".join((parsed.get("error") or "no time in ExecuTorch's runner output").split())
    kind = parsed.get("failure")
    if kind == "backend_missing":
        backends = parsed.get("backends_missing") or []
        hint = (" (build the runner with -DEXECUTORCH_BUILD_XNNPACK=ON and link xnnpack_backend whole-archive)"
                if "XnnpackBackend" in backends else "")
        raise BackendUnavailable(f"ExecuTorch runner has no {', '.join(backends)} registered{hint}: {error}")
    if kind == "missing_operator":
        ops = parsed.get("missing_ops") or []
        raise ArtifactError(f"ExecuTorch runner has no kernel for {len(ops)} operator(s) of the .pte: "
                            f"{', '.join(ops)}{_status(parsed)}")
    if kind == "memory_allocation":
        raise ArtifactError(f"ExecuTorch runner could not allocate memory for the .pte: {error}{_status(parsed)}")
    if kind == "runtime_error":
        raise ArtifactError(f"ExecuTorch runner failed to run the .pte: {error}{_status(parsed)}")
    raise RunnerOutputError(error)
