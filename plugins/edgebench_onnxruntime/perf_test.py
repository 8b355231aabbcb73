"""Parse the output of ONNX Runtime's ``onnxruntime_perf_test``, every published generation of it.

Figures understood (the tool prints seconds for most of them; everything is converted to ms here):

* 2019 (README sample): ``Total time cost:S`` (seconds, no unit), ``Total iterations:N``,
  ``Average time cost:X ms``, ``Total run time:S s``, ``Min|Max|P50..P999 Latency is Xsec``;
* 2020 (1.1-1.3): ``Session creation time cost:S s``, ``Total inference time cost:S s``,
  ``Total inference requests:N``, ``Average inference time cost:X ms``, ``Total inference run time:S s``
  (with or without a space after the colon), then ``Avg CPU usage: N %`` and ``Peak working set size: N bytes``;
* 2021+: the same with ``First inference time cost: N ms`` and ``Number of inferences per second: X``; with ``-s``
  (the default when no result file is given) ``Avg CPU usage:N`` / ``Peak working set size:N`` / ``Runs:N`` and
  ``Min|Max|P50|P90|P95|P99|P999 Latency: S s``;
* 2025+: ``Average inference time cost total: X ms``; vendor builds (SpacemiT) print ``Total CPU usage: N %``;
* ``-v``: ``iteration:N,time_cost:S`` per timed run (seconds) and the session's verbose log, whose node placement
  lines give the providers' node counts: ``All nodes placed on [EP]. Number of nodes: N``,
  `` Node(s) placed on [EP]. Number of nodes: N``, the older ``All nodes have been placed on [EP].`` (no count),
  ``Provider: [EP]: [a, b, ]`` and ``Node [x] has been placed on [EP].``, and the EP summary
  ``NnapiExecutionProvider::GetCapability, number of partitions supported by NNAPI: P number of nodes in the
  graph: T number of nodes supported by NNAPI: S`` (CoreML prints the same; XNNPACK prints no summary).

Placement counts are nodes *after* partitioning: a compiling EP (NNAPI, CoreML, QNN) fuses each partition into one
node, so "Number of nodes: 1" on NNAPI can stand for hundreds of model nodes; the GetCapability summary counts the
model's own nodes and, when printed, is what ``total_nodes`` and ``delegation`` come from.

Lines may carry CR/LF endings, ANSI colours, logcat prefixes, ORT's own ``[W:onnxruntime:, file.cc:N fn]`` prefix,
markdown quotes and fences, indentation and prompts (``$ ``, ``# ``, ``user@host:~$ ``, ``C:\\dir>``). When a text
holds several runs (echoed command lines, or a second summary), the last run is parsed. A run without its average
latency is failed, and ``error`` is the tool's most specific line.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from edgebench.errors import ArtifactError, BackendUnavailable

_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# ORT's logger prefix: "2020-01-08 11:14:46.9047758 [W:onnxruntime:, graph.cc:2412 fn] message"
_ORT_LOG = re.compile(r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+)?\[([VIWEF]):onnxruntime:[^,\]]*,\s*[^\]]*\]\s?")
# prefixes in front of a pasted line, with the severity they carry (group "sev") when they have one
_PREFIXES = [re.compile(p) for p in (
    r"^\s+",
    r"^>\s?",  # markdown quote
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+-\d+\s+\S+\s+\S+\s+(?P<sev>[VDIWEF])\s+",  # Android Studio logcat
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \d+-\d+/\S+ (?=[VDIWEF]/)",  # old Android Studio logcat
    r"^(?:\d\d-\d\d )?\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+(?P<sev>[VDIWEF])\s+[\w.]+\s*:\s?",  # logcat threadtime
    r"^(?:\d\d-\d\d \d\d:\d\d:\d\d\.\d+ )?(?P<sev>[VDIWEF])/[\w.]+\s*(?:\(\s*\d+\))?:\s?",  # logcat brief
    r"^(?:\d\d:\d\d:\d\d\.\d+\s+)?(?P<sev>[VDIWEF])\s{2,}(?=\[)",  # Android Studio's compact "V   [V:onnx..."
    r"^[\w.-]+@[\w.-]+:[^\s$#]*[$#]\s+",  # user@host:~/dir$ prompt
    r"^[A-Za-z]:\\[^>\s]*>(?=\S)",  # Windows prompt glued to its command
    r"^(?:[#$%]|//)(?:\s+|$)",  # a prompt or comment marker ("# onnxruntime_perf_test ...", a bare "#")
)]
_FENCE = re.compile(r"^(?:```|~~~)")

_SESSION = re.compile(r"^Session creation time cost:\s*(%s)\s*s\b" % _NUM)
_FIRST = re.compile(r"^First inference time cost:\s*(%s)\s*ms\b" % _NUM)
_TOTAL = re.compile(r"^(?:Total inference time cost|Total time cost):\s*(%s)(?:\s*s)?\s*$" % _NUM)
_REQUESTS = re.compile(r"^(?:Total inference requests|Total iterations):\s*(\d+)\s*$")
_RUNS = re.compile(r"^Runs:\s*(\d+)\s*$")
_AVG = re.compile(r"^(?:Average inference time cost(?: total)?|Average time cost):\s*(%s)\s*ms\s*$" % _NUM)
_RUN_TIME = re.compile(r"^(?:Total inference run time|Total run time):\s*(%s)\s*s\s*$" % _NUM)
_PER_SECOND = re.compile(r"^Number of inferences per second:\s*(%s)\s*$" % _NUM)
_CPU = re.compile(r"^Avg CPU usage:\s*(%s)(?:\s*%%)?\s*$" % _NUM)
_CPU_TOTAL = re.compile(r"^Total CPU usage:\s*(%s)\s*%%\s*$" % _NUM)
_PEAK = re.compile(r"^Peak working set size:\s*(\d+)(?:\s*bytes)?\s*$")
# "P50 Latency: 0.0122 s" (seconds in every version seen; README 2019: "is 0.0559777sec", once cut to "se")
_LATENCY = re.compile(r"^(Min|Max|P\d+) Latency(?::| is)\s*(%s)\s*(ms|us|s\w*)?\s*$" % _NUM)
_ITERATION = re.compile(r"^iteration:(\d+),\s*time_cost:(%s)\s*$" % _NUM)
_THREADS = re.compile(r"^Setting intra_op_num_threads to (\d+)")
_FIGURES = (_SESSION, _FIRST, _TOTAL, _REQUESTS, _RUNS, _AVG, _RUN_TIME, _PER_SECOND, _CPU, _CPU_TOTAL, _PEAK,
            _LATENCY, _ITERATION)
# an echoed command line: the tool's name followed by options or a model path (prose naming the tool is not one)
_COMMAND = re.compile(r"(?:^|[\s/\\\"'>])onnxruntime_perf_test(?:\.exe)?(?=\s|$)(.*)$")
_COMMAND_ARGS = re.compile(r"(?:^|\s)-[A-Za-z]|\.(?:onnx|ort)\b")
_EP_FLAG = re.compile(r"(?:^|\s)-e\s+['\"]?([\w-]+)")
_X_FLAG = re.compile(r"(?:^|\s)-x\s+(\d+)")

_PLACEMENTS_HEADER = re.compile(r"^Node placements\s*$")
_PLACED_COUNT = re.compile(r"^(?:All nodes|Node\(s\)) placed on \[(\w+)\]\.\s*Number of nodes:\s*(\d+)")
_PLACED_OLD = re.compile(r"^All nodes have been placed on \[(\w+)\]\.?\s*$")
_PLACED_LIST = re.compile(r"^Provider: \[(\w+)\]: \[(.*)\]\s*$")
_PLACED_ONE = re.compile(r"^Node \[.*\] has been placed on \[(\w+)\]\.?\s*$")
# may be wrapped over two lines when pasted, hence \s+ between its parts
_CAPABILITY = re.compile(r"(\w+?ExecutionProvider)::GetCapability,\s*(?:number of partitions supported by \w+:\s*(\d+)"
                         r"\s+)?number of nodes in the graph:\s*(\d+)\s+number of nodes supported by \w+:\s*(\d+)")
_CPU_EP = "CPUExecutionProvider"

# failure causes, most specific first; each applies to untagged lines and to E/F-severity log lines only, because
# verbose logs are full of benign "Unsupported op type" and "kernel not found" lines
_CAUSES: list[tuple[str, re.Pattern[str]]] = [(kind, re.compile(pattern, re.I)) for kind, pattern in (
    ("provider", r"is not supported in this build|Failed to load library|Specified provider is not supported|"
                 r"execution provider is not enabled in this build|"
                 r"The model cannot run using current set of target devices|ORT_EP_FAIL"),
    ("unsupported_op", r"Could not find an implementation for|Op type not registered|"
                       r"is not a registered function/op"),
    ("allocation", r"Failed to allocate|bad allocation|bad_alloc|out of memory|Cannot allocate memory"),
    ("input", r"there is no test input data|there is no test data for model|test case dir doesn't exist|"
              r"input path is not a valid model|No such file or directory|Load model from .* failed|"
              r"data count mismatch"),
    ("usage", r"See 'onnxruntime_perf_test --help'|: invalid option -- |: unrecognized option"),
    ("crash", r"Segmentation fault|Aborted|terminating with uncaught exception|Fatal signal|CANNOT LINK EXECUTABLE"),
    ("runtime", r"\[ONNXRuntimeError\]|Non-zero status code returned|\S\.(?:cc|cpp|h|hpp):\d+\s"),
    ("run", r"^Run failed:"),
)]
_CHECK_LABELS = {
    "provider": "execution provider unavailable",
    "unsupported_op": "unsupported operator",
    "allocation": "out of memory",
    "input": "missing model or input data",
    "usage": "command line rejected",
    "crash": "crashed",
}

_KEYS = ("failed", "error", "error_kind", "session_creation_ms", "first_inference_ms", "runs", "total_s", "avg_ms",
         "min_ms", "max_ms", "percentiles", "peak_working_set_bytes", "cpu_usage_pct", "cpu_usage_total_pct",
         "run_time_s", "inferences_per_second", "execution_provider", "threads", "command", "provider_nodes",
         "total_nodes", "delegated_nodes", "partitions", "delegation")


def _scaled(text: str, factor: int = 1) -> float:
    """A printed decimal times ``factor`` without binary noise (0.0197812 s -> 19.7812 ms)."""
    return float(Decimal(text) * factor)


def _clean(line: str) -> tuple[str, str | None]:
    """(the line without its prefixes, the severity a logcat/ORT prefix gave it); prefixes may stack."""
    severity = None
    previous = None
    while previous != line:
        previous = line
        for prefix in _PREFIXES:
            match = prefix.match(line)
            if match:
                severity = match.groupdict().get("sev") or severity
                line = line[match.end():]
        match = _ORT_LOG.match(line)
        if match:
            severity = match.group(1)
            line = line[match.end():]
    return line.rstrip(), severity


def _is_figure(line: str) -> bool:
    return any(pattern.match(line) for pattern in _FIGURES)


def _command(line: str) -> str | None:
    match = _COMMAND.search(line)
    if match and _COMMAND_ARGS.search(match.group(1)):
        return line.strip()
    return None


def _segments(lines: list[tuple[str, str | None]]) -> list[list[tuple[str, str | None]]]:
    """The runs in a text: a new one starts at an echoed command line, or at the start of a second session
    (placements, session creation) once the current run has printed its average."""
    runs: list[list[tuple[str, str | None]]] = [[]]
    averaged = False
    for line, severity in lines:
        starts_session = bool(_SESSION.match(line) or line.startswith("Total time cost:")
                              or _PLACEMENTS_HEADER.match(line) or _CAPABILITY.search(line)
                              or _THREADS.match(line) or _ITERATION.match(line))
        if _command(line) or (averaged and starts_session):
            runs.append([])
            averaged = False
        runs[-1].append((line, severity))
        averaged = averaged or bool(_AVG.match(line))
    return runs


def _has_content(run: list[tuple[str, str | None]]) -> bool:
    return any(_is_figure(line) or _cause(line, severity) or _PLACED_COUNT.match(line) or _CAPABILITY.search(line)
               for line, severity in run)


def _cause(line: str, severity: str | None) -> str | None:
    """The kind of failure a line reports, if it reports one."""
    if severity not in (None, "E", "F"):
        return None
    for kind, pattern in _CAUSES:
        if pattern.search(line):
            return kind
    return None


def _placements(run: list[tuple[str, str | None]]) -> tuple[dict[str, int | None] | None, dict[str, Any] | None]:
    """({provider: node count} from the placement lines, the first GetCapability summary)."""
    nodes: dict[str, int | None] = {}
    for line, _ in run:
        if (m := _PLACED_COUNT.match(line)):
            nodes[m.group(1)] = int(m.group(2))
        elif (m := _PLACED_OLD.match(line)):
            nodes.setdefault(m.group(1), None)
        elif (m := _PLACED_LIST.match(line)):
            nodes[m.group(1)] = len([item for item in m.group(2).split(", ") if item.strip()])
        elif (m := _PLACED_ONE.match(line)):
            nodes[m.group(1)] = (nodes.get(m.group(1)) or 0) + 1
    # the first summary is the main graph's; later ones come from re-partitioning passes and subgraphs
    m = _CAPABILITY.search("\n".join(line for line, _ in run))
    capability = None
    if m:
        capability = {"provider": m.group(1), "partitions": int(m.group(2)) if m.group(2) else None,
                      "graph_nodes": int(m.group(3)), "supported_nodes": int(m.group(4))}
    return nodes or None, capability


def _delegation(nodes: dict[str, int | None] | None, capability: dict[str, Any] | None,
                provider: str | None) -> dict[str, Any]:
    result: dict[str, Any] = dict.fromkeys(("provider_nodes", "total_nodes", "delegated_nodes", "partitions",
                                            "delegation"))
    if capability:
        supported, total = capability["supported_nodes"], capability["graph_nodes"]
        result.update(provider_nodes=nodes or {capability["provider"]: supported}, total_nodes=total,
                      delegated_nodes=supported, partitions=capability["partitions"],
                      delegation="none" if supported == 0 else "full" if supported >= total else "partial")
        return result
    if not nodes:
        return result
    counts = list(nodes.values())
    others = {ep: n for ep, n in nodes.items() if ep != _CPU_EP}
    result.update(provider_nodes=nodes,
                  total_nodes=sum(counts) if None not in counts else None)  # type: ignore[arg-type]
    if others:
        known = None not in others.values()
        result["delegated_nodes"] = sum(others.values()) if known else None  # type: ignore[arg-type]
        result["delegation"] = "partial" if nodes.get(_CPU_EP) else "full"
    elif provider not in (None, "cpu"):  # an accelerator was asked for and every node stayed on the CPU
        result.update(delegated_nodes=0, delegation="none")
    return result


def parse(text: str) -> dict[str, Any]:
    """Every figure of one onnxruntime_perf_test output (see the module docstring); never raises."""
    try:
        return _parse(text)
    except Exception as exc:  # a parser bug must not hide the run: report it as the failure
        result: dict[str, Any] = dict.fromkeys(_KEYS)
        result.update(failed=True, error=f"onnxruntime_perf_test's output could not be parsed ({exc!r})",
                      error_kind="parse", timings_ms=[], summary_only=False, error_lines=[])
        return result


def _parse(text: str) -> dict[str, Any]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = _ANSI.sub("", str(text or "")).replace("\r\n", "\n").replace("\r", "\n")
    raw = text.split("\n")
    unterminated = not text.endswith("\n")
    if not unterminated:
        raw.pop()
    cleaned = [_clean(line) for line in raw]
    lines = [("", None) if _FENCE.match(line) else (line, sev) for line, sev in cleaned]
    # a final line without its newline may be cut inside its number: its figure is not trusted
    cut_line = None
    if unterminated and lines and _is_figure(lines[-1][0]):
        cut_line = lines.pop()[0]
    runs = _segments(lines)
    run = next((r for r in reversed(runs) if _has_content(r)), runs[-1])

    result: dict[str, Any] = dict.fromkeys(_KEYS)
    percentiles: dict[str, float] = {}
    timings: list[float] = []
    run_failed = False
    for line, _ in run:
        if (m := _SESSION.match(line)):
            result["session_creation_ms"] = _scaled(m.group(1), 1000)
        elif (m := _FIRST.match(line)):
            result["first_inference_ms"] = _scaled(m.group(1))
        elif (m := _TOTAL.match(line)):
            result["total_s"] = _scaled(m.group(1))
        elif (m := _REQUESTS.match(line)):
            result["runs"] = int(m.group(1))
        elif (m := _RUNS.match(line)):
            result["runs"] = result["runs"] if result["runs"] is not None else int(m.group(1))
        elif (m := _AVG.match(line)):
            result["avg_ms"] = _scaled(m.group(1))
        elif (m := _RUN_TIME.match(line)):
            result["run_time_s"] = _scaled(m.group(1))
        elif (m := _PER_SECOND.match(line)):
            result["inferences_per_second"] = _scaled(m.group(1))
        elif (m := _CPU.match(line)):
            result["cpu_usage_pct"] = _scaled(m.group(1))
        elif (m := _CPU_TOTAL.match(line)):
            result["cpu_usage_total_pct"] = _scaled(m.group(1))
        elif (m := _PEAK.match(line)):
            result["peak_working_set_bytes"] = int(m.group(1))
        elif (m := _LATENCY.match(line)):
            unit = (m.group(3) or "s").lower()
            value = _scaled(m.group(2), 1) if unit == "ms" else float(Decimal(m.group(2)) / 1000) if unit == "us" \
                else _scaled(m.group(2), 1000)
            name = m.group(1).lower()
            if name in ("min", "max"):
                result[f"{name}_ms"] = value
            else:
                percentiles[name] = value
        elif (m := _ITERATION.match(line)):
            timings.append(_scaled(m.group(2), 1000))
        elif (m := _THREADS.match(line)):
            result["threads"] = int(m.group(1))
        elif line.startswith("Run failed:"):
            run_failed = True
        elif result["command"] is None and (command := _command(line)):
            result["command"] = command
    if result["command"]:
        flag = _EP_FLAG.search(result["command"])
        result["execution_provider"] = flag.group(1).lower() if flag else "cpu"  # the tool's documented default
        if result["threads"] is None and (x := _X_FLAG.search(result["command"])):
            result["threads"] = int(x.group(1))
    result["percentiles"] = percentiles or None
    result.update(_delegation(*_placements(run), result["execution_provider"]))

    error_lines = list(dict.fromkeys(line for line, severity in run if line and _cause(line, severity)))
    cut = cut_line is not None and result["avg_ms"] is None
    summary_started = any(result[k] is not None for k in ("session_creation_ms", "total_s", "runs"))
    failed = result["avg_ms"] is None or run_failed
    if failed:
        kind, error = _failure(run, error_lines, cut or summary_started, "".join(raw).strip() == "")
        result.update(error=error, error_kind=kind)
    result.update(failed=failed, timings_ms=timings, summary_only=not failed and not timings,
                  error_lines=error_lines)
    return result


def _failure(run: list[tuple[str, str | None]], error_lines: list[str], cut: bool, empty: bool) -> tuple[str, str]:
    """(kind, the tool's most specific line) for a failed run."""
    if empty:
        return "empty", "onnxruntime_perf_test printed nothing"
    severities = {line: severity for line, severity in run}
    for kind, _ in _CAUSES:  # the causes' order is their specificity
        line = next((line for line in error_lines if _cause(line, severities.get(line)) == kind), None)
        if line:
            return kind, line
    if cut:
        return "cut", "onnxruntime_perf_test's output is cut off before its 'Average inference time cost' line"
    return "no_figure", "onnxruntime_perf_test's output has no latency figure"


def _short(cause: str, kind: str) -> str:
    """The cause from its telling phrase on (ORT prefixes it with file:line and a C++ signature), on one line."""
    for name, pattern in _CAUSES:
        if name == kind and (m := pattern.search(cause)) and kind not in ("runtime", "run"):
            start = m.start()
            before = re.search(r"(\S+)\s+$", cause[:start])
            if kind == "provider" and before:  # "NNAPI is not supported in this build": keep the provider's name
                start = before.start(1)
            cause = cause[start:]
            break
    cause = re.sub(r"\s+", " ", cause.removeprefix("Run failed:")).strip()
    return cause if len(cause) <= 300 else cause[:297] + "..."


def check(parsed: dict[str, Any]) -> None:
    """Raise the failure of a parsed run as one line: BackendUnavailable for a missing or unusable execution
    provider, ArtifactError for everything else (unsupported operator, allocation failure, missing input,
    cut or empty output). A run that produced its figures passes."""
    if not parsed.get("failed"):
        return
    kind = parsed.get("error_kind") or "no_figure"
    cause = _short(str(parsed.get("error") or "no output"), kind)
    label = _CHECK_LABELS.get(kind)
    message = f"onnxruntime_perf_test {label}: {cause}" if label == "crashed" else \
        f"onnxruntime_perf_test: {label}: {cause}" if label else f"onnxruntime_perf_test failed: {cause}"
    if kind == "provider":
        raise BackendUnavailable(message)
    raise ArtifactError(message)
