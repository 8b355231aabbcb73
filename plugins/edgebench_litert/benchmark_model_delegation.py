"""Delegation proof in ``benchmark_model`` output: which delegate took how many nodes.

Wordings understood (one cleaned line each, prefixes already removed by the caller):

* ``Replacing N out of M node(s) with delegate (NAME) node, yielding K partitions[ for the whole graph|
  for subgraph S].`` (TF 2.x / LiteRT);
* ``Replacing N node(s) with delegate (NAME) node, yielding K partitions.`` (older: no total);
* SimpleDelegate: ``NAME delegate: N nodes delegated out of M nodes with K partitions.`` (also
  ``NAME: N nodes delegated ...``; names may hold spaces, e.g. ``Vx Delegate``);
* ``Explicitly applied NAME delegate, and the model graph will be completely executed by the delegate.``;
* ``Explicitly applied NAME delegate, and the model graph will be partially executed by the delegate
  w/ K delegate kernels.``;
* old GPU: ``Applied GPU delegate, and the model graph will be completely executed w/ the delegate.``;
* ``Though NAME delegate is explicitly applied, the model graph will not be executed by the delegate.``;
* GPU: ``N operations will run on the GPU, and the remaining M operations will run on the CPU.``;
* failures: ``Failed to apply NAME delegate.``, ``TfLiteGpuDelegate Init|Prepare: ...``; unsupported ops:
  ``Following operations are not supported by GPU delegate:`` and the ``OP: reason`` lines after it.

The node total comes from this text or from the caller's ``model_nodes``, never from the op profiler
(its "N nodes observed" counts delegate kernels, not model nodes).
"""

from __future__ import annotations

import re
from typing import Any

_REPLACE = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((.+?)\) node, yielding (\d+) partitions?"
                      r"(?: for subgraph (\d+))?")
_REPLACE_OLD = re.compile(r"Replacing (\d+) node\(s\) with delegate \((.+?)\) node, yielding (\d+) partitions?")
_SIMPLE = re.compile(r"^(.+?): (\d+) nodes delegated out of (\d+) nodes(?: with (\d+) partitions?)?")
_EXPLICIT = re.compile(r"(?:Explicitly applied|^Applied) (.+?) delegate, and the model graph will be "
                       r"(completely|partially) executed (?:by|w/) the delegate(?: w/ (\d+) delegate kernels)?")
_NOT_EXECUTED = re.compile(r"Though (.+?) delegate is explicitly applied, the model graph will not be executed")
_GPU_SPLIT = re.compile(r"(\d+) operations will run on the GPU, and the remaining (\d+) operations? will run on "
                        r"the CPU")
_APPLY_FAILED = re.compile(r"Failed to apply (.+?) delegate")
_DELEGATE_FAILED = re.compile(r"^TfLite\w*Delegate\w* (?:Init|Prepare|Invoke): .+")
_UNSUPPORTED_HEAD = re.compile(r"operations are not supported by (.+?) delegate", re.I)
_OP_REASON = re.compile(r"^[A-Z][A-Z0-9_]+: \S")
_UNSUPPORTED = re.compile(r"not supported|isn't compatible|unsupported", re.I)

# name fragments (lower case) -> canonical kind; first match wins
_KINDS = (("xnnpack", "xnnpack"), ("nnapi", "nnapi"), ("gpu", "gpu"), ("opencl", "gpu"), ("metal", "gpu"),
          ("hexagon", "hexagon"), ("coreml", "coreml"), ("core ml", "coreml"), ("vx", "vx"), ("flex", "flex"),
          ("qnn", "qnn"))


def delegate_kind(name: str) -> str:
    """Canonical delegate kind of a printed delegate name (``TfLiteGpuDelegateV2`` -> ``gpu``)."""
    low = name.lower()
    for fragment, kind in _KINDS:
        if fragment in low:
            return kind
    # a vendor's own: "EthosuDelegate" -> "ethosu", "NeutronDelegate" -> "neutron"
    return re.sub(r"^tflite|[ _-]?delegate(?:v\d+)?$", "", low.strip()).strip(" _-") or low.strip()


def _event(name: str, delegated: int | None, total: int | None, partitions: int | None, full: bool | None,
           subgraph: int | None, source: str) -> dict[str, Any]:
    return {"delegate": name, "kind": delegate_kind(name), "delegated": delegated, "total": total,
            "partitions": partitions, "full": full, "subgraph": subgraph, "source": source}


def scan(lines: list[str]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(delegation events, delegate error lines, unsupported-op lines) from cleaned lines.

    A line repeated verbatim (logcat often prints twice) counts once.
    """
    events: list[dict[str, Any]] = []
    errors: list[str] = []
    unsupported: list[str] = []
    seen: set[str] = set()
    in_unsupported = False
    for line in lines:
        if line in seen:
            continue
        seen.add(line)
        if (m := _REPLACE.search(line)):
            whole = line.rstrip(".").endswith("whole graph")
            full = int(m.group(1)) == int(m.group(2)) if whole or m.group(5) is None else None
            events.append(_event(m.group(3), int(m.group(1)), int(m.group(2)), int(m.group(4)), full,
                                 int(m.group(5)) if m.group(5) is not None else None, "replacing"))
        elif (m := _REPLACE_OLD.search(line)):
            events.append(_event(m.group(2), int(m.group(1)), None, int(m.group(3)), None, None, "replacing"))
        elif (m := _SIMPLE.search(line)):
            # "NAME delegate", after any "[Qnn Delegate] " tag the vendor puts in front
            name = re.sub(r" delegate$", "", re.sub(r"^\[[^\]]*\]\s*", "", m.group(1).strip()))
            delegated, total = int(m.group(2)), int(m.group(3))
            events.append(_event(name, delegated, total, int(m.group(4)) if m.group(4) else None,
                                 delegated == total and total > 0, None, "simple_delegate"))
        elif (m := _EXPLICIT.search(line)):
            full = m.group(2) == "completely"
            events.append(_event(m.group(1), None, None, int(m.group(3)) if m.group(3) else None, full, None,
                                 "applied"))
        elif (m := _NOT_EXECUTED.search(line)):
            events.append(_event(m.group(1), 0, None, None, False, None, "not_executed"))
        elif (m := _GPU_SPLIT.search(line)):
            on_gpu, on_cpu = int(m.group(1)), int(m.group(2))
            events.append(_event("GPU", on_gpu, on_gpu + on_cpu, None, on_cpu == 0, None, "gpu_split"))
        if _APPLY_FAILED.search(line) or _DELEGATE_FAILED.search(line):
            errors.append(line)
        # the GPU delegate lists "OP: reason" lines under its "not supported" heading
        if _UNSUPPORTED_HEAD.search(line):
            in_unsupported = True
            unsupported.append(line)
        elif _OP_REASON.search(line) and (in_unsupported or _UNSUPPORTED.search(line)):
            unsupported.append(line)
        else:
            in_unsupported = False
    return events, errors, unsupported


def summarize(events: list[dict[str, Any]], model_nodes: int | None = None) -> dict[str, Any]:
    """The primary delegation: the explicitly applied, non-default delegate if any, else XNNPACK.

    An ``EXTERNAL`` delegate and the one counting line of another kind (``Vx Delegate``) describe the
    same delegation and are merged.
    """
    empty = {"delegate": None, "delegate_kind": None, "delegated_nodes": None, "total_nodes": None,
             "partitions": None, "delegation": None}
    if not events:
        return empty
    groups: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        groups.setdefault(event["kind"], []).append(event)
    counted = [k for k in groups if k not in ("xnnpack", "external")
               and any(e["source"] in ("replacing", "simple_delegate") for e in groups[k])]
    if "external" in groups and len(counted) == 1:
        groups[counted[0]] = groups.pop("external") + groups[counted[0]]

    def took_nodes(kind: str) -> bool:
        return any(e["source"] == "applied" or (e["delegated"] or 0) > 0 for e in groups[kind])

    others = [k for k in groups if k != "xnnpack"]
    primary = next((k for k in others if took_nodes(k)), others[0] if others else "xnnpack")
    group = groups[primary]
    counts = [e for e in group if e["source"] in ("replacing", "simple_delegate")]
    if not counts:
        counts = [e for e in group if e["source"] == "gpu_split"]
    named = counts[0] if counts else group[0]
    delegated = sum(e["delegated"] for e in counts) if counts else None
    totals = [e["total"] for e in counts]
    total = sum(totals) if counts and None not in totals else None
    partitions = sum(e["partitions"] for e in counts) if counts and all(
        e["partitions"] is not None for e in counts) else None
    applied = [e for e in group if e["source"] == "applied"]
    if any(e["source"] == "not_executed" for e in group) and not counts and not applied:
        delegated = 0  # "will not be executed by the delegate": no node taken
    if total is None:
        total = model_nodes
    full_said = any(e["full"] for e in applied)
    partial_said = any(e["full"] is False for e in applied)
    if partitions is None and applied and applied[-1]["partitions"] is not None:
        partitions = applied[-1]["partitions"]
    if delegated is None and full_said and total is not None:
        delegated = total  # "completely executed by the delegate": every node of the model
    if full_said or (delegated is not None and total is not None and delegated == total and total > 0):
        delegation = "full"
    elif partial_said or (delegated is not None and total is not None and 0 < delegated < total):
        delegation = "partial"
    else:
        delegation = None
    return {"delegate": named["delegate"], "delegate_kind": primary, "delegated_nodes": delegated,
            "total_nodes": total, "partitions": partitions, "delegation": delegation}
