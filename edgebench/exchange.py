"""Export stored results to one versioned JSON document and import them back (docs/leaderboard.md).

The document nests each run's results under the run, with every stored column: the environment
(device info, host info, runtime versions, edgebench version, git sha, plugin set, settings) and
every raw timing. Local row ids are left out; each run and result carries the random ``uid`` the
store gave it (migration m002), which an import keeps, so importing the same results twice (or
results that came from this store in the first place) adds nothing: boards from several
machines merge by importing each machine's export.

Format history (``version``):
  1 — first version.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .errors import EdgebenchError
from .store import Store, now

FORMAT = "edgebench-results"
VERSION = 1
RUN_JSON = ("device_info", "host_info", "settings", "plugins", "argv")
RESULT_JSON = ("timings", "warmup", "runtime", "environment", "warnings", "extra", "thermal", "memory")
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
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise EdgebenchError(f"{where}: not an edgebench export (no \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if not isinstance(version, int) or version < 1:
        raise EdgebenchError(f"{where}: bad export version {version!r}")
    if version > VERSION:
        raise EdgebenchError(f"{where}: export format version {version} is newer than this edgebench reads "
                             f"({VERSION}); upgrade edgebench")
    if not isinstance(doc.get("runs"), list):
        raise EdgebenchError(f"{where}: \"runs\" must be a list")
    for i, run in enumerate(doc["runs"]):
        for key in ("uid", "started_at", "device"):
            if not isinstance(run, dict) or not run.get(key):
                raise EdgebenchError(f"{where}: runs[{i}] has no {key!r}")
        if not isinstance(run.get("results", []), list):
            raise EdgebenchError(f"{where}: runs[{i}].results must be a list")
        for j, result in enumerate(run.get("results", [])):
            for key in ("uid", "created_at", "device", "model", "backend", "delegate", "precision"):
                if not isinstance(result, dict) or result.get(key) in (None, ""):
                    raise EdgebenchError(f"{where}: runs[{i}].results[{j}] has no {key!r}")


def _encode(value: Any, as_json: bool) -> Any:
    if value is None:
        return None
    if as_json or isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


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
                unknown = {k: row.pop(k) for k in list(row) if k not in res_cols}
                if unknown:
                    row["extra"] = {**(row.get("extra") or {}), "imported": unknown}
                cols = ["run_id", *row]
                db.execute(f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                           [known_runs[fields["uid"]], *(_encode(row[k], k in RESULT_JSON) for k in row)])
                known_results.add(row["uid"])
                counts["results"] += 1
    return counts
