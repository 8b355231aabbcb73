"""Parse the output of TensorFlow Lite / LiteRT ``benchmark_model``, every generation of it.

Figures understood (microseconds everywhere; LiteRT's milliseconds are converted):

* TF 1.x: ``Average inference timings in us: Warmup: W, Init: I, no stats: A`` (TF 1.13+: ``Inference: A``);
* TF 2.x: ``Inference timings in us: Init: I, First inference: F, Warmup (avg): W, Inference (avg): A``;
* LiteRT results block (``========== BENCHMARK RESULTS ==========``): ``Model initialization: X ms``,
  ``Warmup (first): X ms``, ``Warmup (avg): X ms (N runs)``, ``Inference (avg): X ms (N runs)``,
  ``Inference (min|max): X ms``, ``Inference (std): X`` (ms, printed without a unit);
* run summaries ``count=N first= curr= min= max= avg= std= [p5= median= p95=]`` (numbers may be written
  ``2.95034e+06``): the first phase is the warm-up, the second the regular runs; the op profiler's
  ``Timings (microseconds): count=...`` line is never one of them;
* memory: ``Peak memory footprint (MB): init= overall=``, ``Memory footprint delta from the start of the
  tool (MB): init= overall=``, ``Overall peak memory footprint (MB) via periodic monitoring: X``, LiteRT's
  ``Init footprint: X MB`` / ``Overall footprint: X MB`` / ``Peak memory: X MB`` and
  ``Peak memory usage not available``;
* echoed parameters ``Name: [value]``; ``The input model file size (MB): X``; ``Initialized session in Xms.``;
  the ``--enable_op_profiling`` "Run Order" table; delegation proof (see ``benchmark_model_delegation``).

An output kept inside a JSON string (escaped newlines) is read as its lines. Lines may carry CR/LF
endings, ANSI colours, ``INFO:``/``VERBOSE:``/``WARNING:``/``ERROR:`` prefixes,
logcat prefixes (threadtime, brief, Android Studio), LiteRT's ``[file.h:N]`` tags, markdown quotes,
indentation, prompt and comment markers (``$ ``, ``# ``, ``// ``); command lines, ``set -x`` lines and ``...``
elisions are ignored. When one text holds
several runs (several ``STARTING!``), the last one is parsed. A run without a complete inference figure
is failed; its ``error`` is the tool's most specific line.
"""

from __future__ import annotations

import re
from typing import Any

from edgebench.errors import DeviceError

from .benchmark_model_delegation import scan, summarize


class BenchmarkOutputError(DeviceError):
    """benchmark_model's output has no (complete) figure edgebench can read."""


_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PREFIXES = [re.compile(p) for p in (
    r"^\s+",
    r"^>\s?",  # markdown quote
    r"^(?:[#$%]|//)\s+",  # a prompt or a comment marker in front of a pasted line ("# Inference timings ...")
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+-\d+\s+\S+\s+\S+\s+[VDIWEF]\s+",  # Android Studio logcat
    r"^(?:\d\d-\d\d )?\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+[\w.]+\s*:\s?",  # logcat threadtime
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \d+-\d+/\S+ (?=[VDIWEF]/)",  # old Android Studio logcat
    r"^(?:\d\d-\d\d \d\d:\d\d:\d\d\.\d+ )?[VDIWEF]/[\w.]+\s*(?:\(\s*\d+\))?:\s?",  # logcat brief
    r"^(?:\.\.\.\s+)?[VDIWEF]?\s*tflite\s*:\s",  # "I tflite  : ", "... tflite  : "
    r"^(?:INFO|VERBOSE|WARNING|ERROR|DEBUG|FATAL):\s?",
    r"^\[[\w./-]+\.(?:h|cc|cpp):\d+\]\s?",  # LiteRT source tags
)]
# severity in the stripped prefix: "ERROR: ", logcat "E/tag(pid):", "... 123 123 E tflite  : ", "E tflite: "
_ERROR_MARK = re.compile(r"(?:^|\s)(?:ERROR|FATAL):|(?:^|\s)[EF](?:/|\s)")
_STATS = re.compile(r"^count=(\d+)\b(.*)$")
_KEYVAL = re.compile(r"\b(\w+)=(%s)(?=\s|$)" % _NUM)
_PHASE = re.compile(r"^Running benchmark for (?:at least )?\d+ iterations")
_TF2 = re.compile(r"^Inference timings in us:(.*)$")
_TF1 = re.compile(r"^Average inference timings in us:(.*)$")
_FIELD = re.compile(r"([A-Za-z][A-Za-z ()]*?):\s*(%s)(?=,|\s*$)" % _NUM)
_LITERT = re.compile(r"^(Model initialization|Warmup \(first\)|Warmup \(avg\)|Inference \((?:avg|min|max|std)\)):"
                     r"\s*(%s)(?:\s*ms)?(?:\s*\((\d+) runs\))?\s*$" % _NUM)
_MEM = re.compile(r"^(Peak memory footprint \(MB\)|Memory footprint delta from the start of the tool \(MB\)):"
                  r"\s*init=(%s)\s+overall=(%s)" % (_NUM, _NUM))
_PERIODIC = re.compile(r"^(?:Overall peak memory footprint \(MB\) via periodic monitoring|Peak memory):\s*(%s)" % _NUM)
_LITERT_MEM = re.compile(r"^(Init|Overall) footprint:\s*(%s)\s*MB" % _NUM)
_PARAM = re.compile(r"^([#A-Za-z][^:\[\]=]*?)\s*:\s*\[(.*)\]\s*$")
_MODEL_SIZE = re.compile(r"^The input model file size \(MB\):\s*(%s)" % _NUM)
_INIT_SESSION = re.compile(r"^Initialized session in (%s)\s*ms" % _NUM)
_NODES_OBSERVED = re.compile(r"^(\d+) nodes observed")
_NODE_FAILED = re.compile(r"Node number \d+ \(.+?\) failed to (?:prepare|invoke)\.?")
_FATAL_TAIL = re.compile(r"^(?:Failed to allocate tensors!?|Failed to invoke!?|Failed to initialize the interpreter"
                         r"|Failed to run model)")
_FATAL = re.compile(r"Could not open|Failed to mmap model|Failed to load model|Failed to read model|CANNOT LINK "
                    r"EXECUTABLE|cannot open shared object file|not found|Failed to load delegate|"
                    r"Failed to create .*delegate|No such file or directory|Segmentation fault|Aborted", re.I)
_TABLE_BANNER = re.compile(r"^=+ (.+?) =+\s*$")
_TO_US = 1000.0


def _clean(line: str) -> str:
    """One output line without its prefixes (they may stack: a quoted, indented logcat INFO line)."""
    previous = None
    while previous != line:
        previous = line
        for prefix in _PREFIXES:
            line = prefix.sub("", line, count=1)
    return line.rstrip()


def _lines(text: str) -> tuple[list[str], list[bool], bool]:
    """(cleaned lines, error-severity flags) of the last run in ``text``; whether it ends with a newline."""
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    raw = text.split("\n")
    ends_with_newline = text.endswith("\n")
    if ends_with_newline:
        raw.pop()
    cleaned = [_clean(line) for line in raw]
    errors = [bool(_ERROR_MARK.search(line.rstrip()[:len(line.rstrip()) - len(clean)]))
              for line, clean in zip(raw, cleaned)]
    keep = [i for i, line in enumerate(cleaned) if not (i and line and line == cleaned[i - 1])]  # logcat doubles
    cleaned, errors = [cleaned[i] for i in keep], [errors[i] for i in keep]
    starts = [i for i, line in enumerate(cleaned) if line == "STARTING!"]
    first = starts[-1] if starts else 0  # several runs pasted together: the last one counts
    return cleaned[first:], errors[first:], ends_with_newline


def _stats(count: str, rest: str) -> dict[str, Any]:
    values: dict[str, Any] = {"count": int(count)}
    values.update({key: float(value) for key, value in _KEYVAL.findall(rest)})
    return values


def _fields(rest: str) -> dict[str, float]:
    return {key.strip(): float(value) for key, value in _FIELD.findall(rest)}


def _ms(value: str) -> float:
    return round(float(value) * _TO_US, 3)  # 0.46 ms -> 460.0 us, not 460.00000000000006


def parse_op_profile(text: str) -> list[dict[str, Any]]:
    """Rows of the regular runs' "Run Order" table (per op, in execution order).

    Newer tools print a first "Run Order" table for the initialization (ModifyGraphWithDelegate,
    AllocateTensors): the per-op table is the one after "Operator-wise Profiling Info for Regular
    Benchmark Runs" (the only one in older outputs and in LiteRT's).
    """
    marker = text.find("Operator-wise Profiling Info for Regular Benchmark Runs")
    lines = text[marker:].splitlines() if marker >= 0 else text.splitlines()
    rows: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        banner = _TABLE_BANNER.match(line.strip())
        if not banner or banner.group(1).strip() != "Run Order":
            continue
        if i + 1 >= len(lines):
            return rows
        header = [h.strip().lower() for h in re.findall(r"\[([^\]]+)\]", lines[i + 1])]
        for row_line in lines[i + 2:]:
            if not row_line.strip() or _TABLE_BANNER.match(row_line.strip()):
                break
            cells = [c.strip() for c in row_line.strip().split("\t") if c.strip()]
            if len(cells) < len(header):  # whitespace-aligned output (no tabs)
                cells = row_line.split(None, len(header) - 1)
            if len(cells) != len(header):
                continue
            row: dict[str, Any] = {}
            for key, cell in zip(header, cells):
                name = {"node type": "op", "avg ms": "avg_ms", "first": "first_ms", "start": "start_ms",
                        "mem kb": "mem_kb", "times called": "times_called", "%": "percent", "cdf%": "cdf_percent",
                        "name": "name"}.get(key, key.replace(" ", "_"))
                if name in ("op", "name"):
                    row[name] = cell
                    continue
                try:
                    row[name] = float(cell.rstrip("%"))
                except ValueError:
                    row[name] = cell
            if "op" in row and "avg_ms" in row:
                rows.append(row)
        break
    return rows


def _error(lines: list[str], flagged: list[str], delegate_errors: list[str]) -> str | None:
    """The cause in the tool's own words, most specific first."""
    node = next((line for line in lines if _NODE_FAILED.search(line)), None)
    if node is not None:
        node = _NODE_FAILED.search(node).group(0)
        tail = next((line for line in lines if _FATAL_TAIL.match(line)), None)
        return f"{node.rstrip('.')}; {tail}" if tail else node
    if delegate_errors:
        return delegate_errors[0]
    if flagged:
        return flagged[0]
    fatal = next((line for line in lines if _FATAL.search(line)), None)
    if fatal:
        return fatal
    return "Benchmarking failed." if "Benchmarking failed." in lines else None


def _unescaped(text: str) -> str:
    """An output kept inside a JSON string or a Python repr ("STARTING!\\nNum threads: [4]\\n...")
    as the lines it was: only when escaped newlines outnumber real ones."""
    if text.count("\\n") > max(3, text.count("\n")):
        text = text.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    return text


def parse(text: str, model_nodes: int | None = None) -> dict[str, Any]:
    """Every figure in one benchmark_model output (see the module docstring); never raises on bad text."""
    lines, error_flags, ends_with_newline = _lines(_unescaped(text or ""))
    result: dict[str, Any] = dict.fromkeys(("inference_avg_us", "init_us", "first_us", "warmup_avg_us", "runs",
                                            "warmup", "generation", "model_size_mb", "init_session_ms",
                                            "nodes_observed", "error"))
    memory: dict[str, Any] = dict.fromkeys(("init_mb", "overall_mb", "periodic_peak_mb", "definition", "available"))
    params: dict[str, str] = {}
    phases, phase_stats, cut = 0, {}, None
    litert: dict[str, tuple[float, int | None]] = {}
    for index, line in enumerate(lines):
        last_unterminated = index == len(lines) - 1 and not ends_with_newline
        if _PHASE.match(line):
            phases += 1
        elif (m := _STATS.match(line)):
            stats = _stats(m.group(1), m.group(2))
            if stats["count"] > 1 and not {"avg", "std"} <= stats.keys() or last_unterminated:
                cut = "benchmark_model's output is cut off inside a 'count=' timing line"
                continue
            phase_stats[phases] = stats
        elif (m := _TF2.match(line)) or (m := _TF1.match(line)):
            fields = _fields(m.group(1))
            figure = fields.get("Inference (avg)", fields.get("no stats", fields.get("Inference")))
            if figure is None or last_unterminated:
                cut = "benchmark_model's output is cut off inside its 'Inference timings' line"
                continue
            result.update(generation="tf2" if line.startswith("Inference") else "tf1", inference_avg_us=figure,
                          init_us=fields.get("Init"), first_us=fields.get("First inference"),
                          warmup_avg_us=fields.get("Warmup (avg)", fields.get("Warmup")))
        elif (m := _LITERT.match(line)):
            if last_unterminated:
                cut = "benchmark_model's output is cut off inside its results block"
                continue
            litert[m.group(1)] = (_ms(m.group(2)), int(m.group(3)) if m.group(3) else None)
        elif (m := _MEM.match(line)):
            memory.update(init_mb=float(m.group(2)), overall_mb=float(m.group(3)), definition=m.group(1),
                          available=True)
        elif (m := _PERIODIC.match(line)):
            memory.update(periodic_peak_mb=float(m.group(1)), available=True)
        elif (m := _LITERT_MEM.match(line)):
            memory["init_mb" if m.group(1) == "Init" else "overall_mb"] = float(m.group(2))
            memory.update(definition="Init footprint / Overall footprint (MB)", available=True)
        elif line.startswith("Peak memory usage not available"):
            memory["available"] = False
        elif (m := _PARAM.match(line)):
            key = re.sub(r"[^a-z0-9]+", "_", m.group(1).lower()).strip("_")
            params.setdefault(key, m.group(2))
        elif (m := _MODEL_SIZE.match(line)):
            result["model_size_mb"] = float(m.group(1))
        elif (m := _INIT_SESSION.match(line)):
            result["init_session_ms"] = float(m.group(1))
        elif (m := _NODES_OBSERVED.match(line)):
            result["nodes_observed"] = int(m.group(1))  # the last table's: profiler kernels, not model nodes
    # phase 1 is the warm-up, phase 2 the regular runs; outputs without phase headers list them in order
    ordered = [phase_stats[k] for k in sorted(phase_stats)]
    if phases:
        result["warmup"], result["runs"] = phase_stats.get(1), phase_stats.get(2)
    elif ordered:
        result["runs"], result["warmup"] = ordered[-1], ordered[0] if len(ordered) > 1 else None
    if "Inference (avg)" in litert:
        avg, count = litert["Inference (avg)"]
        result.update(generation="litert", inference_avg_us=avg, init_us=litert.get("Model initialization", (None,))[0],
                      first_us=litert.get("Warmup (first)", (None,))[0],
                      warmup_avg_us=litert.get("Warmup (avg)", (None,))[0])
        if result["runs"] is None:
            result["runs"] = {"count": count, "avg": avg, **{key: litert[f"Inference ({key})"][0]
                                                            for key in ("min", "max", "std")
                                                            if f"Inference ({key})" in litert}}
        if result["warmup"] is None and "Warmup (avg)" in litert:
            first = litert.get("Warmup (first)", (None,))[0]
            result["warmup"] = {"count": litert["Warmup (avg)"][1], "avg": litert["Warmup (avg)"][0],
                                **({"first": first} if first is not None else {})}
    if result["generation"] is None and any(_STATS.match(line) for line in lines):
        result["generation"] = "tf2"
    events, delegate_errors, unsupported = scan(lines)
    summary = summarize(events, model_nodes)
    error_lines = list(dict.fromkeys(line for line, flag in zip(lines, error_flags) if flag and line))
    failed = result["inference_avg_us"] is None or cut is not None
    if cut is not None:
        result["inference_avg_us"] = None
        result["error"] = cut
    elif failed:
        result["error"] = _error(lines, error_lines, delegate_errors) or (
            "benchmark_model printed nothing" if not "".join(lines).strip()
            else "benchmark_model's output has no inference figure")
    result.update(failed=failed, memory=memory, memory_overall_mb=memory["overall_mb"], params=params,
                  delegations=[{k: v for k, v in e.items() if k != "source"} for e in events],
                  delegate_errors=delegate_errors, unsupported_ops=unsupported, error_lines=error_lines,
                  op_profile=parse_op_profile("\n".join(lines)), **summary)
    return result


def check(parsed: dict[str, Any]) -> dict[str, Any]:
    """``parsed`` itself when the run produced its figure; raises BenchmarkOutputError with the cause."""
    if parsed["failed"]:
        raise BenchmarkOutputError(parsed["error"])
    return parsed
