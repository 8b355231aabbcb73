"""Per-configuration summaries in the results store, so a board reads a few hundred rows, not every timing.

A farm stores 100,000+ results of a few hundred configurations; ranking them from the raw results
decodes millions of timings each time. The store keeps, for every board row (the leaderboard's
ROW_KEY) and identity (runtime, artifact, device: what must match to pool), one ``board_pools`` row
with what :class:`edgebench.leaderboard.Pool` keeps of its results: their ids, the order statistics
of all their timings, each one's median, the merged warnings. The pooled timings themselves sit in
``board_pool_values`` so the next result of the configuration is merged in without re-reading the
others.

Triggers (migration m004) note every insert, delete and relevant update of ``results`` and every
change of a run's ``device_info`` in ``board_dirty``, whoever writes: :meth:`Store.add_result`
folds its own result in at once, :func:`refresh` brings the rest up to date before a board is read
(an appended result is merged in; anything else rebuilds its configuration from its raw results).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
from array import array
from typing import Any, Iterable

from .leaderboard import KEY, ROW_KEY, Pool, PoolSummary, _chunks, _identity_key, _marks, iter_results, load_runs

# figures a board reads of each pool (board_pools' columns, the latest result's come from a join)
_POOL_COLUMNS = ("group_key", "n", "first_id", "latest_id", "result_ids", "no_timings", "median_all", "n_values",
                 "low_all", "high_all", "run_medians", "mem_median", "warnings")
_LATEST_COLUMNS = ("id", "run_id", *KEY, "params", "artifact_size", "artifact_sha", "input_h", "input_w", "threads",
                   "median_ms", "ci_low_ms", "ci_high_ms", "n_runs", "psnr", "psnr_y", "ssim", "scale", "quick",
                   "affinity", "dataset", "n_images", "baseline_psnr", "energy_mj", "energy_low_mj", "energy_high_mj")


def _canon(value: Any) -> str:
    """A value as text that is equal exactly when Python's ``==`` says so (the in-memory board groups
    with it): 1 and 1.0 are one value, '1' is another."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value)


def group_key(values: Iterable[Any]) -> str:
    """A board row's key (ROW_KEY values) as text."""
    return json.dumps([_canon(v) for v in values])


def ident_key(result: dict[str, Any], runs: dict[int, dict[str, Any]]) -> str:
    """The result's identity (leaderboard._identity_key: equal means pooled) as text."""
    *plain, device = _identity_key(result, runs)
    return json.dumps([*map(_canon, plain), [list(pair) for pair in device]])


def _config_key(values: Iterable[Any]) -> str:
    """The (device, model, backend, delegate, precision) a dirty mark names: the unit rebuilt together."""
    return group_key(list(values)[:len(KEY)])


# -- lists of figures: packed machine numbers when they are all floats or all ints (always, from edgebench:
# decoding 100,000 ids or timings that way is ~20x faster than JSON), else JSON (a list mixing ints and
# floats keeps each one's type: a median of ints prints as an int)

_INT64 = (-(2**63), 2**63 - 1)


def _pack(values: list[Any]) -> bytes | str:
    kinds = set(map(type, values))  # C speed: this runs on every insert, over all of a pool's timings
    if kinds <= {float}:
        code = "d"
    elif kinds == {int} and _INT64[0] <= min(values) and max(values) <= _INT64[1]:
        code = "q"
    else:
        return json.dumps(values)
    packed = array(code, values)
    if sys.byteorder == "big":  # little-endian on disk: a store copied between machines still reads
        packed.byteswap()
    return code.encode() + packed.tobytes()


def _unpack(data: bytes | str | None) -> list[Any]:
    if data is None:
        return []
    if isinstance(data, bytes):
        values = array(chr(data[0]))
        values.frombytes(data[1:])
        if sys.byteorder == "big":
            values.byteswap()
        return values.tolist()
    return json.loads(data)


# -- reading ---------------------------------------------------------------------------------

def load(db: sqlite3.Connection, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Every pool (of the rows ``where`` selects), each with its :class:`PoolSummary` and its latest result."""
    pool_cols = ", ".join(f"p.{c}" for c in _POOL_COLUMNS)
    latest_cols = ", ".join(f"r.{c}" for c in _LATEST_COLUMNS)
    sql = (f"SELECT {pool_cols}, {latest_cols}, json_extract(r.runtime, '$.runtime'), "
           f"json_extract(r.runtime, '$.version') FROM (SELECT * FROM board_pools"
           + (f" WHERE {where}" if where else "") + ") AS p JOIN results AS r ON r.id = p.latest_id")
    out = []
    loads = json.loads
    n_pool = len(_POOL_COLUMNS)
    for values in db.execute(sql, list(params)):
        p = dict(zip(_POOL_COLUMNS, values[:n_pool]))
        latest = dict(zip(_LATEST_COLUMNS, values[n_pool:]))
        latest["runtime"] = {"runtime": values[-2], "version": values[-1]}
        order = None if p["n_values"] is None else (p["median_all"], p["n_values"], p["low_all"], p["high_all"])
        p["summary"] = PoolSummary(_unpack(p["result_ids"]), p["no_timings"], order, _unpack(p["run_medians"]),
                                   p["mem_median"], loads(p["warnings"]))
        p["latest"] = latest
        out.append(p)
    return out


# -- keeping them up to date ------------------------------------------------------------------

class _State:
    """A pool being updated: its row id (None: new), its accumulator and the row key values it files under."""

    def __init__(self, pool_id: int | None, acc: Pool, row_values: list[Any]) -> None:
        self.pool_id, self.acc, self.row_values = pool_id, acc, row_values


def refresh(db: sqlite3.Connection, result_id: int | None = None) -> int:
    """Bring the summaries up to date with every change ``board_dirty`` noted; returns the marks cleared.

    ``result_id``: only the configuration of that (just inserted) result (:meth:`Store.add_result`).
    Runs in the caller's transaction if one is open (under a savepoint), else in its own.
    """
    if result_id is None:
        if db.execute("SELECT 1 FROM board_dirty LIMIT 1").fetchone() is None:
            return 0  # the usual case: nothing to write, no write lock taken
    own = not db.in_transaction
    db.execute("BEGIN IMMEDIATE" if own else "SAVEPOINT board_pools")
    try:
        cleared = _refresh(db, result_id)
    except BaseException:
        db.execute("ROLLBACK" if own else "ROLLBACK TO board_pools")
        if not own:
            db.execute("RELEASE board_pools")
        raise
    db.execute("COMMIT" if own else "RELEASE board_pools")
    return cleared


def _refresh(db: sqlite3.Connection, result_id: int | None) -> int:
    cols = ", ".join(ROW_KEY)
    if result_id is None:
        marks = db.execute(f"SELECT id, result_id, {cols} FROM board_dirty ORDER BY id").fetchall()
    else:  # the marks of the result's configuration: the only ones this insert may clear
        mine = db.execute(f"SELECT {', '.join(KEY)} FROM board_dirty WHERE result_id = ?", [result_id]).fetchone()
        if mine is None:
            return 0
        marks = db.execute(f"SELECT id, result_id, {cols} FROM board_dirty WHERE "
                           + " AND ".join(f"{k} = ?" for k in KEY) + " ORDER BY id", list(mine)).fetchall()
    units: dict[str, tuple[list[Any], list[int | None]]] = {}
    for mark in marks:
        unit = units.setdefault(_config_key(mark[2:]), (list(mark[2:2 + len(KEY)]), []))
        unit[1].append(mark[1])
    for key_values, added in units.values():
        _update_config(db, key_values, added)
    ids = [mark[0] for mark in marks]
    for chunk in _chunks(ids):
        db.execute(f"DELETE FROM board_dirty WHERE id IN ({_marks(chunk)})", chunk)
    return len(ids)


def _update_config(db: sqlite3.Connection, key_values: list[Any], added: list[int | None]) -> None:
    """Fold appended results into their pools, or rebuild the configuration when anything else changed."""
    where = " AND ".join(f"{k} = ?" for k in KEY)
    newest = db.execute(f"SELECT max(latest_id) FROM board_pools WHERE {where}", key_values).fetchone()[0]
    ids = sorted({i for i in added if i is not None})
    if None not in added and (newest is None or ids[0] > newest):  # results appended after all the others
        results = [r for chunk in _chunks(ids) for r in iter_results(db, f"id IN ({_marks(chunk)})", chunk)]
        if len(results) == len(ids):
            _fold(db, results, key_values, rebuild=False)
            return
    # a delete, an update, a changed device_info, an insert out of order: pool its results afresh
    _fold(db, iter_results(db, where, key_values), key_values, rebuild=True)


def _fold(db: sqlite3.Connection, results: Iterable[dict[str, Any]], key_values: list[Any], rebuild: bool) -> None:
    """Add results (in id order) to their pools and save the pools touched."""
    where = " AND ".join(f"{k} = ?" for k in KEY)
    if rebuild:
        db.execute(f"DELETE FROM board_pool_values WHERE pool_id IN (SELECT id FROM board_pools WHERE {where})",
                   key_values)
        db.execute(f"DELETE FROM board_pools WHERE {where}", key_values)
    states: dict[tuple[str, str], _State] = {}
    runs: dict[int, dict[str, Any]] = {}
    for r in results:
        if r["run_id"] not in runs:
            runs.update(load_runs(db, [r["run_id"]]) or {r["run_id"]: {}})
        key = (group_key(r.get(k) for k in ROW_KEY), ident_key(r, runs))
        state = states.get(key)
        if state is None:
            state = states[key] = (None if rebuild else _restore(db, *key)) or _State(None, Pool(), [])
        state.row_values = [r.get(k) for k in ROW_KEY]
        state.acc.add(r)
    for (gkey, ikey), state in states.items():
        _save(db, gkey, ikey, state)


def _restore(db: sqlite3.Connection, gkey: str, ikey: str) -> _State | None:
    """A stored pool as an accumulator that further results can be added to."""
    found = db.execute("SELECT p.id, p.result_ids, p.no_timings, p.run_medians, p.warnings, v.timings, v.mems "
                       "FROM board_pools AS p LEFT JOIN board_pool_values AS v ON v.pool_id = p.id "
                       "WHERE p.group_key = ? AND p.ident = ?", [gkey, ikey]).fetchone()
    if found is None:
        return None
    acc = Pool()
    acc.ids, acc.no_timings, acc.medians = _unpack(found[1]), found[2], _unpack(found[3])
    acc.by_code, acc.values, acc.mems = json.loads(found[4]), _unpack(found[5]), _unpack(found[6])
    return _State(found[0], acc, [])


def _save(db: sqlite3.Connection, gkey: str, ikey: str, state: _State) -> None:
    acc = state.acc
    values = acc.sorted_values()
    order = acc.summary().order  # None when a member has no raw timings: the board then shows the latest's
    median_all, n_values, low_all, high_all = order if order is not None else (None, None, None, None)
    figures = {
        "n": len(acc.ids), "first_id": acc.ids[0], "latest_id": acc.ids[-1], "result_ids": _pack(acc.ids),
        "no_timings": acc.no_timings, "median_all": median_all, "n_values": n_values, "low_all": low_all,
        "high_all": high_all, "run_medians": _pack(acc.medians),
        "mem_median": statistics.median(acc.mems) if acc.mems else None, "warnings": json.dumps(acc.by_code),
    }
    if state.pool_id is None:
        cols = ["group_key", "ident", *ROW_KEY, *figures]
        cur = db.execute(f"INSERT INTO board_pools ({', '.join(cols)}) VALUES ({_marks(cols)})",
                         [gkey, ikey, *state.row_values, *figures.values()])
        state.pool_id = int(cur.lastrowid)
    else:
        db.execute(f"UPDATE board_pools SET {', '.join(f'{k} = ?' for k in figures)} WHERE id = ?",
                   [*figures.values(), state.pool_id])
    db.execute("INSERT OR REPLACE INTO board_pool_values (pool_id, timings, mems) VALUES (?, ?, ?)",
               [state.pool_id, _pack(values) if values else None, _pack(acc.mems)])
