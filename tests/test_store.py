import sqlite3

import pytest

from edgebench import store as store_mod
from edgebench.errors import EdgebenchError
from edgebench.store import Store, migrate


def columns(db, table):
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def test_blank_database_gets_the_schema():
    db = sqlite3.connect(":memory:")
    assert migrate(db) == [m.__name__ for m in store_mod.MIGRATIONS]
    assert {"id", "run_id", "model", "backend", "delegate", "precision", "median_ms", "psnr", "timings",
            "mem_peak_bytes", "environment"} <= set(columns(db, "results"))
    assert migrate(db) == []  # idempotent


def test_new_migration_applies_to_existing_database_with_rows(tmp_path, monkeypatch):
    path = tmp_path / "r.db"
    s = Store.open(path)
    run = s.start_run("host")
    s.add_result(run, {"device": "host", "model": "m", "backend": "b", "delegate": "cpu", "precision": "fp32",
                       "timings": [1.0, 2.0]})
    s.close()

    def m999_add_notes(db):
        db.execute("ALTER TABLE results ADD COLUMN notes TEXT")

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, m999_add_notes])
    s = Store.open(path)
    assert "notes" in columns(s.db, "results")
    (row,) = s.results()
    assert row["timings"] == [1.0, 2.0] and row["notes"] is None
    names = [r[0] for r in s.db.execute("SELECT name FROM _edgebench_migrations")]
    assert names[-1] == "m999_add_notes"


def test_failed_migration_leaves_no_bookkeeping_row(tmp_path, monkeypatch):
    def m998_broken(db):
        db.execute("CREATE TABLE half (x)")
        raise sqlite3.OperationalError("boom")

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, m998_broken])
    with pytest.raises(EdgebenchError, match="boom"):
        Store.open(tmp_path / "r.db")
    db = sqlite3.connect(tmp_path / "r.db")
    assert "m998_broken" not in {r[0] for r in db.execute("SELECT name FROM _edgebench_migrations")}
    assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchall()


def test_results_are_committed_at_once(tmp_path):
    s = Store.open(tmp_path / "r.db")
    run = s.start_run("host", settings={"runs": 3})
    s.add_result(run, {"device": "host", "model": "m", "backend": "b", "delegate": "cpu", "precision": "int8",
                       "warnings": [{"code": "x"}]})
    # a second connection sees the row before the run finishes
    other = Store.open(tmp_path / "r.db")
    assert other.count_run(run) == 1
    assert other.results()[0]["warnings"] == [{"code": "x"}]
    assert other.runs()[0]["status"] == "running" and other.runs()[0]["settings"] == {"runs": 3}


def test_corrupt_database_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EdgebenchError, match="cannot be opened"):
        Store.open(bad)


def test_processes_opening_one_new_database_at_once_all_get_the_schema(tmp_path):
    """Several `edgebench run`s (or one per device) starting on a fresh file: the migrations race.

    Each opener takes the write lock before applying a step and looks again under it; before that,
    a second opener re-ran a step and failed with "duplicate column name: ...".
    """
    import subprocess
    import sys

    script = ("import sys, time; from edgebench.store import Store\n"
              "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
              "Store.open(sys.argv[1]).close()\n")
    for attempt in range(3):
        db = tmp_path / f"race-{attempt}.db"
        import time

        start = time.time() + 1.5  # every process past its imports, then all at once
        procs = [subprocess.Popen([sys.executable, "-c", script, str(db), str(start)], stderr=subprocess.PIPE,
                                  text=True) for _ in range(6)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), "\n".join(errors)
        done = [r[0] for r in sqlite3.connect(db).execute("SELECT name FROM _edgebench_migrations")]
        assert sorted(done) == sorted(m.__name__ for m in store_mod.MIGRATIONS)
