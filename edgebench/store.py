"""The SQLite results store.

One ``runs`` row per ``edgebench run`` (device, environment, settings, plugin set) and one
``results`` row per measured (model, backend, delegate, precision), committed the moment it is
measured so an interrupted run keeps everything it finished.

Schema changes are append-only, name-keyed migrations (the llm / sqlite-utils pattern): add a
function to ``MIGRATIONS``, never edit one that shipped. Each step and its bookkeeping row commit
in one transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import EdgebenchError

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []
migration = MIGRATIONS.append

JSON_COLUMNS = ("timings", "warmup", "runtime", "environment", "warnings", "extra", "thermal", "memory",
                "conditions", "energy")


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',   -- running | finished | interrupted | failed
            device TEXT NOT NULL,
            device_info TEXT,                         -- JSON: what the transport reported
            host_info TEXT,                           -- JSON: the machine edgebench ran on
            settings TEXT,                            -- JSON: sizes, runs, threads, dataset...
            edgebench_version TEXT,
            git_sha TEXT,
            plugins TEXT,                             -- JSON: name -> version of loaded plugins
            argv TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE results (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            created_at TEXT NOT NULL,
            device TEXT NOT NULL,
            model TEXT NOT NULL,
            backend TEXT NOT NULL,
            delegate TEXT NOT NULL,
            precision TEXT NOT NULL,
            scale INTEGER,
            params INTEGER,
            artifact_size INTEGER,
            artifact_sha TEXT,
            input_h INTEGER,
            input_w INTEGER,
            threads INTEGER,
            init_ms REAL, first_ms REAL, min_ms REAL, median_ms REAL, mean_ms REAL,
            p90_ms REAL, max_ms REAL, std_ms REAL, ci_low_ms REAL, ci_high_ms REAL,
            n_runs INTEGER,
            timings TEXT,             -- JSON: every timed run in ms, in order
            warmup TEXT,              -- JSON: warm-up runs in ms
            mem_peak_bytes INTEGER,   -- VmHWM after measuring minus VmHWM before loading the model
            mem_source TEXT,
            memory TEXT,              -- JSON: raw figures the runner read
            psnr REAL, psnr_y REAL, ssim REAL,
            dataset TEXT,
            n_images INTEGER,
            quality_on TEXT,          -- 'device', or 'host-cpu' (a native tool that cannot return images; 'host' before 0.2)
            thermal TEXT,             -- JSON: temperatures before/after
            runtime TEXT,             -- JSON: runtime version, providers, delegated nodes...
            environment TEXT,         -- JSON: per-result environment (runner python, affinity...)
            warnings TEXT,            -- JSON: [{code, message, hint}]
            extra TEXT                -- JSON: anything a backend adds
        )"""
    )
    db.execute("CREATE INDEX results_config ON results(device, model, backend, delegate, precision)")
    db.execute("CREATE INDEX results_run ON results(run_id)")


@migration
def m002_uids(db: sqlite3.Connection) -> None:
    # A random id on every run and result that travels with `edgebench export`, so importing the
    # same results twice, or boards from several machines, never duplicates a row. A trigger fills
    # it for rows inserted without one (the harness), imports keep the exported id.
    for table in ("runs", "results"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN uid TEXT")
        db.execute(f"UPDATE {table} SET uid = lower(hex(randomblob(16)))")
        db.execute(f"CREATE UNIQUE INDEX {table}_uid ON {table}(uid)")
        db.execute(f"""CREATE TRIGGER {table}_uid_default AFTER INSERT ON {table} WHEN NEW.uid IS NULL
                       BEGIN UPDATE {table} SET uid = lower(hex(randomblob(16))) WHERE id = NEW.id; END""")


# the preset of `edgebench run --quick` (harness.Settings.quick): results from before m003 that used it
QUICK_SIZE = (48, 64)


def legacy_quick(settings: dict[str, Any] | None, input_h: Any, input_w: Any) -> bool:
    """Whether a result stored without a ``quick`` flag was a ``--quick`` smoke test: its run's
    settings say so, or (no settings) it was timed at the quick preset's 48x64."""
    if isinstance(settings, dict) and isinstance(settings.get("smoke_test"), bool):
        return settings["smoke_test"]
    if isinstance(settings, dict) and settings.get("height") is not None:
        return (settings.get("height"), settings.get("width")) == QUICK_SIZE and settings.get("warmup") == 1
    return (input_h, input_w) == QUICK_SIZE


@migration
def m003_settings_and_conditions(db: sqlite3.Connection) -> None:
    # quick: a `--quick` smoke test (never ranked); affinity: the core mask the result ran on (its
    # identity, like threads); conditions: load, frequencies, battery... before/after (JSON);
    # baseline_psnr: bicubic PSNR of the same images (the floor a model must beat)
    db.execute("ALTER TABLE results ADD COLUMN quick INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE results ADD COLUMN affinity TEXT")
    db.execute("ALTER TABLE results ADD COLUMN conditions TEXT")
    db.execute("ALTER TABLE results ADD COLUMN baseline_psnr REAL")
    runs = {row[0]: row[1] for row in db.execute("SELECT id, settings FROM runs")}
    for rid, run_id, h, w in db.execute("SELECT id, run_id, input_h, input_w FROM results").fetchall():
        try:
            settings = json.loads(runs.get(run_id) or "null")
        except ValueError:
            settings = None
        if legacy_quick(settings, h, w):
            db.execute("UPDATE results SET quick = 1 WHERE id = ?", [rid])


@migration
def m004_board_pools(db: sqlite3.Connection) -> None:
    # Per-configuration summaries (edgebench.board_pools): a board of 100,000 results reads a few
    # hundred rows instead of every raw timing. Columns without a type keep figures as stored (an int
    # median stays an int). Triggers note every change to results in board_dirty, whoever makes it;
    # add_result and every board fold those notes in.
    row_key = ("device", "model", "backend", "delegate", "precision", "input_h", "input_w", "scale", "quick",
               "threads", "affinity")  # leaderboard.ROW_KEY when this shipped
    # what a pool is made of: an update of one of these columns rebuilds the configuration's summary
    pool_inputs = ("id", "run_id", *row_key, "timings", "warnings", "mem_peak_bytes", "runtime", "artifact_sha")
    cols = ", ".join(row_key)
    db.execute(
        f"""CREATE TABLE board_pools (
            id INTEGER PRIMARY KEY,
            group_key TEXT NOT NULL,      -- the board row: its ROW_KEY values as text
            ident TEXT NOT NULL,          -- what must match to pool: runtime, version, artifact, device identity
            {cols},                       -- the row key's values, for --device/--model/--backend filters
            n INTEGER NOT NULL,           -- results pooled
            first_id INTEGER NOT NULL,
            latest_id INTEGER NOT NULL,
            result_ids NOT NULL,          -- their ids, in order (board_pools._pack)
            no_timings INTEGER NOT NULL,  -- how many have no raw timings (the row then shows the latest's summary)
            median_all, n_values INTEGER, low_all, high_all,  -- order statistics of every pooled timing
            run_medians NOT NULL,         -- each result's median (board_pools._pack)
            mem_median,                   -- median peak memory (bytes)
            warnings TEXT NOT NULL,       -- JSON: code -> merged warning with its count
            UNIQUE (group_key, ident)
        )"""
    )
    db.execute("CREATE INDEX board_pools_config ON board_pools(device, model, backend, delegate, precision)")
    # the pooled timings, sorted, and peak memories (board_pools._pack): read only to add a result
    db.execute("CREATE TABLE board_pool_values (pool_id INTEGER PRIMARY KEY, timings, mems)")
    db.execute(f"CREATE TABLE board_dirty (id INTEGER PRIMARY KEY, result_id INTEGER, {cols})")
    new, old = (", ".join(f"{row}.{c}" for c in row_key) for row in ("NEW", "OLD"))
    mark = f"INSERT INTO board_dirty (result_id, {cols}) VALUES"
    db.execute(f"CREATE TRIGGER board_results_insert AFTER INSERT ON results BEGIN {mark} (NEW.id, {new}); END")
    db.execute(f"CREATE TRIGGER board_results_delete AFTER DELETE ON results BEGIN {mark} (NULL, {old}); END")
    db.execute(f"""CREATE TRIGGER board_results_update AFTER UPDATE OF {', '.join(pool_inputs)} ON results
                   BEGIN {mark} (NULL, {old}); {mark} (NULL, {new}); END""")
    db.execute(f"""CREATE TRIGGER board_runs_update AFTER UPDATE OF id, device_info ON runs BEGIN
                   INSERT INTO board_dirty (result_id, {cols})
                   SELECT DISTINCT NULL, {cols} FROM results WHERE run_id IN (OLD.id, NEW.id); END""")
    # every stored result still to summarise: Store.open builds the summaries once the schema is
    # complete (a later change of what a summary holds: a migration that empties them and marks all again)
    db.execute(f"INSERT INTO board_dirty (result_id, {cols}) SELECT DISTINCT NULL, {cols} FROM results")


@migration
def m005_energy(db: sqlite3.Connection) -> None:
    # energy per inference from `run --power` (edgebench.energy): the figure and its 95 % interval as
    # columns (the board, sorting, filters read them), and `energy` (JSON) with how it was measured: the
    # meter, units found, idle and timed windows, alignment error and the raw (time, watts) samples.
    # Results measured without a meter keep NULL: no energy, not zero.
    db.execute("ALTER TABLE results ADD COLUMN energy_mj REAL")
    db.execute("ALTER TABLE results ADD COLUMN energy_low_mj REAL")
    db.execute("ALTER TABLE results ADD COLUMN energy_high_mj REAL")
    db.execute("ALTER TABLE results ADD COLUMN energy TEXT")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied."""
    db.execute("CREATE TABLE IF NOT EXISTS _edgebench_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    db.commit()
    done = {row[0] for row in db.execute("SELECT name FROM _edgebench_migrations")}
    applied = []
    saved, db.isolation_level = db.isolation_level, None  # sqlite3 would autocommit DDL otherwise
    try:
        for step in MIGRATIONS:
            if step.__name__ in done:
                continue
            # one transaction: the change and its bookkeeping row. The write lock first, then look
            # again: another process opening the same new file may have applied this step meanwhile
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("SELECT 1 FROM _edgebench_migrations WHERE name = ?", (step.__name__,)).fetchone():
                    db.execute("COMMIT")
                    continue
                step(db)
                db.execute("INSERT INTO _edgebench_migrations VALUES (?, ?)", (step.__name__, now()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            applied.append(step.__name__)
    finally:
        db.isolation_level = saved
    return applied


def _summarise(db: sqlite3.Connection) -> None:
    """Build the board summaries a migration asked for (m004 on a store of an earlier edgebench: ~10 s
    per 100,000 results, once), rather than on the first board."""
    from . import board_pools

    try:
        board_pools.refresh(db)
    except Exception:  # noqa: BLE001  a store must open (to run, export...) even if one result cannot be
        pass  # summarised: its note stays and the board reports the problem


def default_db_path() -> Path:
    env = os.environ.get("EDGEBENCH_DB")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("edgebench")) / "results.db"


class Store:
    """Results database. Open with :meth:`open`; every write commits at once."""

    def __init__(self, db: sqlite3.Connection, path: Path | str):
        self.db, self.path = db, path

    @classmethod
    def open(cls, path: Path | str | None = None) -> "Store":
        path = Path(path) if path is not None else default_db_path()
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(str(path), timeout=30)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            if migrate(db):
                _summarise(db)
        except sqlite3.DatabaseError as exc:
            raise EdgebenchError(f"results database {path} cannot be opened: {exc}") from None
        return cls(db, path)

    def close(self) -> None:
        self.db.close()

    # -- runs ---------------------------------------------------------------------------------
    def start_run(self, device: str, **fields: Any) -> int:
        fields = {k: _encode(v) for k, v in fields.items()}
        cols = ["started_at", "device", *fields]
        with self.db:
            cur = self.db.execute(
                f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [now(), device, *fields.values()],
            )
        return int(cur.lastrowid)

    def update_run(self, run_id: int, **fields: Any) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.db:
            self.db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*map(_encode, fields.values()), run_id])

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        self.update_run(run_id, finished_at=now(), status=status)

    def runs(self) -> list[dict[str, Any]]:
        return [_decode(row) for row in self.db.execute("SELECT * FROM runs ORDER BY id")]

    # -- results ------------------------------------------------------------------------------
    def add_result(self, run_id: int, row: dict[str, Any]) -> int:
        row = {"run_id": run_id, "created_at": now(), **row}
        cols = list(row)
        with self.db:
            cur = self.db.execute(
                f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [_encode(row[c]) for c in cols],
            )
            result_id = int(cur.lastrowid)
            self._pool(result_id)
        return result_id

    def _pool(self, result_id: int) -> None:
        """Fold a new result into its configuration's board summary, in the insert's transaction."""
        from . import board_pools

        try:
            board_pools.refresh(self.db, result_id)
        except Exception:  # noqa: BLE001  never lose a measurement over a summary: its dirty mark stays,
            pass  # and the next board folds it in (and reports there what went wrong)

    def results(self, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        sql = "SELECT * FROM results" + (f" WHERE {where}" if where else "") + " ORDER BY id"
        return [_decode(row) for row in self.db.execute(sql, list(params))]

    def count_run(self, run_id: int) -> int:
        return int(self.db.execute("SELECT count(*) FROM results WHERE run_id = ?", [run_id]).fetchone()[0])

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM results").fetchone()[0])


def _encode(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return value


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in (*JSON_COLUMNS, "device_info", "host_info", "settings", "plugins"):
        if isinstance(out.get(key), str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                pass
    return out
