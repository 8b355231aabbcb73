"""Export stored results to one versioned JSON document and import them back (docs/leaderboard.md).

The document nests each run's results under the run, with every stored column: the environment
(device info, host info, runtime versions, edgebench version, git sha, plugin set, settings) and
every raw timing. Local row ids are left out; each run and result carries the random ``uid`` the
store gave it (migration m002), which an import keeps, so importing the same results twice (or
results that came from this store in the first place) adds nothing: boards from several
machines merge by importing each machine's export.

Every field an import knows is checked for its type and range before anything is written (a text
latency or a null PSNR must not reach the board): the first bad one refuses the whole file with
one line naming it, e.g. ``board.json: runs[0].results[3].median_ms must be a number > 0, got the
text "12.5 ms"``. Fields this edgebench does not know (a newer one's) are accepted unchecked.

Format history (``version``):
  1 — first version. Optional fields added since, readable by every version-1 reader (an older
      one keeps fields it has no column for under ``extra["imported"]``): results' ``quick``,
      ``affinity``, ``conditions`` and ``baseline_psnr`` (store migration m003). A result without
      ``quick`` is marked from its run's settings (:func:`edgebench.store.legacy_quick`). Results'
      ``energy_mj``, ``energy_low_mj``, ``energy_high_mj`` and ``energy`` (the meter, units, windows,
      alignment error and raw (time, watts) samples; store migration m005).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterable

from . import __version__
from .errors import EdgebenchError
from .store import Store, legacy_quick, now

FORMAT = "edgebench-results"
VERSION = 1
RUN_JSON = ("device_info", "host_info", "settings", "plugins", "argv")
RESULT_JSON = ("timings", "warmup", "runtime", "environment", "warnings", "extra", "thermal", "memory",
               "conditions", "energy")
LOCAL = ("id", "run_id")  # row ids of one store: never exported


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _decode(row: dict[str, Any], json_cols: Iterable[str]) -> dict[str, Any]:
    for key in json_cols:
        if isinstance(row.get(key), str):
            try:
                row[key] = json.loads(row[key])
            except ValueError:
                pass  # not JSON after all: keep the text as it is
    return row


def _read_store(db: sqlite3.Connection, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Runs (decoded, with their decoded results under ``results``) in id order."""
    run_cols, res_cols = _columns(db, "runs"), _columns(db, "results")
    runs: dict[int, dict[str, Any]] = {}
    for row in db.execute(f"SELECT {', '.join(run_cols)} FROM runs ORDER BY id"):
        runs[row[0]] = _decode(dict(zip(run_cols, row)), RUN_JSON) | {"results": []}
    sql = f"SELECT {', '.join(res_cols)} FROM results" + (f" WHERE {where}" if where else "") + " ORDER BY id"
    for row in db.execute(sql, list(params)):
        result = _decode(dict(zip(res_cols, row)), RESULT_JSON)
        runs[result["run_id"]]["results"].append(result)
    return list(runs.values())


def export_doc(store: Store, where: str = "", params: Iterable[Any] = (), include_empty: bool = False) -> dict:
    """The export document for the results matching ``where`` (all by default)."""
    out_runs = []
    for run in _read_store(store.db, where, params):
        if not run["results"] and not include_empty:
            continue
        results = [{k: v for k, v in r.items() if k not in LOCAL} for r in run["results"]]
        out_runs.append({**{k: v for k, v in run.items() if k not in (*LOCAL, "results")}, "results": results})
    return {"format": FORMAT, "version": VERSION, "exported_at": now(),
            "exported_by": {"edgebench": __version__}, "runs": out_runs}


def dumps(doc: dict[str, Any]) -> str:
    # compact like pyperf's (indenting puts every raw timing on its own line: 2x the size); sorted
    # keys so two exports diff cleanly after `python -m json.tool`; floats keep full precision
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def write(doc: dict[str, Any], path: Path) -> None:
    text = dumps(doc)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def read(path: Path) -> dict[str, Any]:
    """Load and check an export document (``.gz`` accepted)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                doc = json.load(fh)
        else:
            doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgebenchError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise EdgebenchError(f"{path}: not an edgebench export ({exc})") from None
    check(doc, str(path))
    return doc


def check(doc: Any, where: str) -> None:
    """Refuse a document that is not an export, or whose first bad field is named in one line."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise EdgebenchError(f"{where}: not an edgebench export (no \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EdgebenchError(f"{where}: bad export version {version!r}")
    if version > VERSION:
        raise EdgebenchError(f"{where}: export format version {version} is newer than this edgebench reads "
                             f"({VERSION}); upgrade edgebench")
    if not isinstance(doc.get("runs"), list):
        raise EdgebenchError(f"{where}: \"runs\" must be a list")
    for i, run in enumerate(doc["runs"]):
        validate_run(run, f"runs[{i}]", where)


# -- field rules ------------------------------------------------------------------------------------
# A rule is (test, what the value must be); a test never sees None (nullability is separate).

Rule = tuple[Callable[[Any], bool], str]
INT_MAX = 2**63 - 1  # SQLite's INTEGER
PSNR_MAX = 200.0  # dB: uint8 images differing by one level in one pixel of a 1e9-value set reach ~138
RUN_STATUSES = ("running", "finished", "interrupted", "failed", "imported")


def _is_number(value: Any) -> bool:
    # bool is an int in Python, never a figure here; NaN and ±inf are no measurement either
    return type(value) in (int, float) and math.isfinite(value)


def _number(low: float | None = None, strict: bool = False) -> Rule:
    if low is None:
        return _is_number, "a finite number"
    if strict:
        return (lambda v: _is_number(v) and v > low), f"a number > {low:g}"
    return (lambda v: _is_number(v) and v >= low), f"a number ≥ {low:g}"


def _whole(low: int, high: int = INT_MAX) -> Rule:
    text = f"a whole number ≥ {low}" if high == INT_MAX else f"a whole number from {low} to {high}"
    return (lambda v: type(v) is int and low <= v <= high), text


def _positive_list(values: Any) -> bool:
    return isinstance(values, list) and all(type(x) in (int, float) and 0 < x < math.inf for x in values)


def _is_warning(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("code"), str) and isinstance(value.get("message"), str)


TEXT: Rule = (lambda v: isinstance(v, str), "a text")
OBJECT: Rule = (lambda v: isinstance(v, dict), "an object")
LATENCY = _number(0, strict=True)  # a 0 ms figure is a parse that found nothing (nn-Meter#77), not a speed
PSNR: Rule = (lambda v: (type(v) is float and v == math.inf) or (_is_number(v) and 0 < v <= PSNR_MAX),
              f"a number in (0, {PSNR_MAX:g}] dB or Infinity")  # Infinity: output identical to the reference
TIMINGS: Rule = (_positive_list, "a list of numbers > 0")
FLAG: Rule = (lambda v: type(v) is bool or (type(v) is int and v in (0, 1)), "true, false, 0 or 1")

# every result field this edgebench knows; None allowed unless the field is required or NOT_NULL
RESULT_RULES: dict[str, Rule] = {
    **dict.fromkeys(("uid", "created_at", "device", "model", "backend", "delegate", "precision", "dataset",
                     "quality_on", "artifact_sha", "mem_source"), TEXT),
    "affinity": (lambda v: isinstance(v, str) and re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", v) is not None,
                 "a hex core mask such as \"f0\""),  # what taskset takes (edgebench.cpus.cpus_mask)
    **dict.fromkeys(("first_ms", "min_ms", "median_ms", "mean_ms", "p90_ms", "max_ms", "ci_high_ms"), LATENCY),
    "init_ms": _number(0),  # loading, not inference: a tool may round a fast load to 0
    "std_ms": _number(0),
    "ci_low_ms": _number(),  # a t-interval of a tool's (mean, std, n) can reach below 0
    "n_runs": _whole(1), "n_images": _whole(1), "params": _whole(0), "artifact_size": _whole(1),
    "input_h": _whole(1, 1 << 16), "input_w": _whole(1, 1 << 16), "threads": _whole(0, 4096),
    "scale": _whole(1, 64), "mem_peak_bytes": _whole(0),
    "timings": TIMINGS, "warmup": TIMINGS,
    "psnr": PSNR, "psnr_y": PSNR, "baseline_psnr": PSNR,
    "ssim": (lambda v: _is_number(v) and -1 <= v <= 1, "a number from -1 to 1"),
    "warnings": (lambda v: isinstance(v, list) and all(map(_is_warning, v)),
                 "a list of objects with a text \"code\" and \"message\""),
    **dict.fromkeys(("runtime", "environment", "thermal", "memory", "extra", "conditions", "energy"), OBJECT),
    # mJ/frame and its interval: a finite number, below zero only when the runs drew less than idle (noise)
    **dict.fromkeys(("energy_mj", "energy_low_mj", "energy_high_mj"), _number()),
    "quick": FLAG,
}
RESULT_REQUIRED = ("uid", "created_at", "device", "model", "backend", "delegate", "precision")
NOT_NULL = ("quick", "status")  # NOT NULL columns: absent is fine (default or derived), null is not
QUALITY = ("psnr", "psnr_y", "ssim")  # null only on a result that measured no quality

RUN_RULES: dict[str, Rule] = {
    **dict.fromkeys(("uid", "started_at", "device", "finished_at", "edgebench_version", "git_sha"), TEXT),
    **dict.fromkeys(("device_info", "host_info", "settings", "plugins"), OBJECT),
    "argv": (lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v), "a list of texts"),
    "status": (lambda v: v in RUN_STATUSES, "one of " + ", ".join(RUN_STATUSES)),
}
RUN_REQUIRED = ("uid", "started_at", "device")


def describe(value: Any) -> str:
    """A value as the one-line error shows it: JSON's words, texts quoted and shortened."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        text = json.dumps(value if len(value) <= 60 else value[:57] + "…", ensure_ascii=False)
        return f"the text {text}"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _refuse(where: str, path: str, must: str, value: Any) -> EdgebenchError:
    return EdgebenchError(f"{where}: {path} must be {must}, got {describe(value)}")


def _first_bad_item(path: str, values: list, ok: Callable[[Any], bool]) -> tuple[str, Any]:
    """The path and value of the first item of a list that fails ``ok`` (for a precise message)."""
    for k, item in enumerate(values):
        if not ok(item):
            return f"{path}[{k}]", item
    return path, values


def _check_fields(obj: dict[str, Any], path: str, where: str, rules: dict[str, Rule],
                  required: Iterable[str]) -> None:
    for key in required:
        if obj.get(key) in (None, ""):
            raise EdgebenchError(f"{where}: {path} has no {key!r}")
    for key, value in obj.items():  # in the file's own order: the first bad field is named
        rule = rules.get(key)
        if rule is None or (value is None and key not in NOT_NULL):
            continue
        test, must = rule
        if test(value):
            continue
        if key in ("timings", "warmup") and isinstance(value, list):
            item_path, item = _first_bad_item(f"{path}.{key}", value, lambda x: _positive_list([x]))
            raise _refuse(where, item_path, "a number > 0", item)
        if key == "warnings" and isinstance(value, list):
            item_path, item = _first_bad_item(f"{path}.{key}", value, _is_warning)
            raise _refuse(where, item_path, "an object with a text \"code\" and \"message\"", item)
        raise _refuse(where, f"{path}.{key}", must, value)


def validate_result(result: Any, path: str, where: str) -> None:
    """Refuse the first result field of the wrong type or out of range (unknown fields pass)."""
    if not isinstance(result, dict):
        raise _refuse(where, path, "an object", result)
    _check_fields(result, path, where, RESULT_RULES, RESULT_REQUIRED)
    if result.get("dataset") or result.get("n_images") is not None:  # quality was measured: say what it was
        for key in QUALITY:
            if result.get(key) is None:
                test, must = RESULT_RULES[key]
                raise _refuse(where, f"{path}.{key}", f"{must} (the result has a dataset)", result.get(key))


def validate_run(run: Any, path: str, where: str) -> None:
    """Refuse the first bad field of a run or of one of its results."""
    if not isinstance(run, dict):
        raise _refuse(where, path, "an object", run)
    _check_fields(run, path, where, RUN_RULES, RUN_REQUIRED)
    if not isinstance(run.get("results", []), list):
        raise EdgebenchError(f"{where}: {path}.results must be a list")
    for j, result in enumerate(run.get("results", [])):
        validate_result(result, f"{path}.results[{j}]", where)

def _encode(value: Any, as_json: bool) -> Any:
    if value is None:
        return None
    if as_json or isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _quick(result: dict[str, Any], run: dict[str, Any]) -> int:
    """0/1: the result's own flag, or (an export from before m003) what its run's settings say."""
    if result.get("quick") is not None:
        return int(result["quick"])
    return int(legacy_quick(run.get("settings"), result.get("input_h"), result.get("input_w")))


def import_doc(store: Store, doc: dict[str, Any]) -> dict[str, int]:
    """Add the document's runs and results that this store lacks (by uid), all in one transaction.

    Returns counts: runs and results added, results skipped as already present. Fields this
    store has no column for (from a newer edgebench) are kept under ``extra["imported"]``.
    """
    check(doc, "import")
    db = store.db
    run_cols, res_cols = set(_columns(db, "runs")) - set(LOCAL), set(_columns(db, "results")) - set(LOCAL)
    known_runs = {uid: run_id for run_id, uid in db.execute("SELECT id, uid FROM runs")}
    known_results = {uid for (uid,) in db.execute("SELECT uid FROM results")}
    counts = {"runs": 0, "results": 0, "duplicates": 0}
    with db:  # all or nothing
        for run in doc["runs"]:
            fields = {k: v for k, v in run.items() if k not in ("results", *LOCAL)}
            new = [r for r in run.get("results", []) if r["uid"] not in known_results]
            counts["duplicates"] += len(run.get("results", [])) - len(new)
            if fields["uid"] not in known_runs:
                cols = [k for k in fields if k in run_cols]
                cur = db.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                 [_encode(fields[k], k in RUN_JSON) for k in cols])
                known_runs[fields["uid"]] = int(cur.lastrowid)
                counts["runs"] += 1
            for result in new:
                row = {k: v for k, v in result.items() if k not in LOCAL}
                if "quick" in res_cols:
                    row["quick"] = _quick(row, run)
                unknown = {k: row.pop(k) for k in list(row) if k not in res_cols}
                if unknown:
                    row["extra"] = {**(row.get("extra") or {}), "imported": unknown}
                cols = ["run_id", *row]
                db.execute(f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                           [known_runs[fields["uid"]], *(_encode(row[k], k in RESULT_JSON) for k in row)])
                known_results.add(row["uid"])
                counts["results"] += 1
    return counts
