"""`edgebench export` / `import`: the versioned JSON round-trips without loss and merges boards."""

import gzip
import json
import sqlite3

import pytest
from click.testing import CliRunner

from edgebench import exchange, hookimpl
from edgebench.cli import cli
from edgebench.errors import EdgebenchError
from edgebench.store import Store
from edgebench.testing import measure_one, registered, tiny_model

from board_helpers import HOST_INFO, add_result, add_run


def rows(path, table):
    """Every row of a table without its local ids, in id order."""
    db = sqlite3.connect(path)
    cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[1] not in ("id", "run_id")]
    return [dict(zip(cols, r)) for r in db.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id")]


def cli_ok(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


class Tiny:
    __name__ = "exchange-tiny"

    @hookimpl
    def edgebench_register_models(self, register):
        register(tiny_model("xchg-tiny"))


def test_real_results_round_trip_without_loss(tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    store = Store.open(src)
    with registered(Tiny()):
        measure_one("xchg-tiny", store=store)  # a real measurement with every figure and condition
    odd = add_run(store, git_sha="0123abc", argv=["edgebench", "run"], plugins={"p": "1"})
    add_result(store, odd, model="ünïcode <b>", psnr=float("inf"), ssim=None, extra={"nested": {"a": [1, 2.5]}})
    store.close()
    out = tmp_path / "export.json"
    cli_ok("--db", src, "export", "-o", out)
    assert "imported 2 result(s) in 2 new run(s)" in cli_ok("--db", dst, "import", out)
    for table in ("runs", "results"):
        assert rows(dst, table) == rows(src, table)  # byte for byte, JSON columns included
    again = tmp_path / "again.json"
    cli_ok("--db", dst, "export", "-o", again)
    a, b = json.loads(out.read_text()), json.loads(again.read_text())
    assert a.pop("exported_at") and b.pop("exported_at")
    assert a == b


def test_document_is_versioned_and_carries_the_environment(tmp_path):
    store = Store.open(tmp_path / "e.db")
    run = add_run(store, git_sha="feedbeef", edgebench_version="0.1.0", plugins={"onnxruntime": "0.1.0"})
    add_result(store, run)
    doc = exchange.export_doc(store)
    assert (doc["format"], doc["version"]) == ("edgebench-results", 1)
    (exported,) = doc["runs"]
    assert exported["device_info"] == HOST_INFO and exported["git_sha"] == "feedbeef"
    assert exported["edgebench_version"] == "0.1.0" and exported["plugins"] == {"onnxruntime": "0.1.0"}
    (result,) = exported["results"]
    assert result["runtime"] == {"runtime": "onnxruntime", "version": "1.32.0"} and len(result["timings"]) == 30
    assert "id" not in result and "run_id" not in result
    assert result["uid"] == store.results()[0]["uid"] and exported["uid"] == store.runs()[0]["uid"]


def test_migration_gives_existing_rows_unique_uids(tmp_path, monkeypatch):
    from edgebench import store as store_mod

    path = tmp_path / "old.db"
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])  # a store from before m002
    old = Store.open(path)
    for seed in range(3):
        add_result(old, add_run(old), seed=seed)
    old.close()
    monkeypatch.undo()
    store = Store.open(path)
    uids = [r["uid"] for r in store.results()] + [r["uid"] for r in store.runs()]
    assert len(set(uids)) == 6 and all(len(u) == 32 for u in uids)
    add_result(store, add_run(store))  # new rows get one from the trigger
    assert store.results()[-1]["uid"] and store.runs()[-1]["uid"] not in uids


def test_reimport_and_merging_two_machines_dedupe(tmp_path):
    boards = []
    for name in ("box-a", "box-b"):
        store = Store.open(tmp_path / f"{name}.db")
        add_result(store, add_run(store, info={**HOST_INFO, "hostname": name}), model=f"m-{name}")
        add_result(store, add_run(store, info={**HOST_INFO, "hostname": name}), model="shared", seed=1)
        path = tmp_path / f"{name}.json.gz"  # .gz compresses
        exchange.write(exchange.export_doc(store), path)
        boards.append(path)
        store.close()
    assert gzip.open(boards[0]).read(1) == b"{"
    merged = tmp_path / "merged.db"
    out = cli_ok("--db", merged, "import", *boards)
    assert out.count("imported 2 result(s) in 2 new run(s), skipped 0") == 2
    again = cli_ok("--db", merged, "import", *boards)
    assert again.count("imported 0 result(s) in 0 new run(s), skipped 2 already present") == 2
    assert len(rows(merged, "results")) == 4
    # importing a machine's own export into itself adds nothing
    assert "imported 0 result(s)" in cli_ok("--db", tmp_path / "box-a.db", "import", boards[0])
    board = json.loads(cli_ok("--db", merged, "leaderboard", "--include-quick", "-f", "json"))["rows"]
    shared = next(r for r in board if r["model"] == "shared")
    assert shared["n_results"] == 2 and shared["n_pooled"] == 1  # two machines: never pooled
    assert "device.hostname" in shared["not_pooled_reason"]


def test_reimport_adds_nothing(tmp_path):
    store = Store.open(tmp_path / "r.db")
    add_result(store, add_run(store))
    doc = exchange.export_doc(store)
    assert exchange.import_doc(store, doc) == {"runs": 0, "results": 0, "duplicates": 1}
    add_result(store, add_run(store), seed=5)
    doc2 = exchange.export_doc(store)
    other = Store.open(tmp_path / "o.db")
    assert exchange.import_doc(other, doc) == {"runs": 1, "results": 1, "duplicates": 0}
    assert exchange.import_doc(other, doc2) == {"runs": 1, "results": 1, "duplicates": 1}


def test_fields_from_a_newer_schema_are_kept(tmp_path):
    store = Store.open(tmp_path / "n.db")
    add_result(store, add_run(store))
    doc = exchange.export_doc(store)
    doc["runs"][0]["results"][0]["carbon_g"] = 12.5  # a column this edgebench does not have
    other = Store.open(tmp_path / "o.db")
    exchange.import_doc(other, doc)
    (stored,) = other.results()
    assert stored["extra"]["imported"] == {"carbon_g": 12.5}
    assert exchange.import_doc(other, doc)["duplicates"] == 1  # still recognised as the same result


@pytest.mark.parametrize("doc, message", [
    ({"format": "other"}, "not an edgebench export"),
    ({"format": "edgebench-results", "version": 99, "runs": []}, "newer than this edgebench reads"),
    ({"format": "edgebench-results", "version": 1, "runs": [{"uid": "u", "device": "host"}]},
     "runs[0] has no 'started_at'"),
    ({"format": "edgebench-results", "version": 1,
      "runs": [{"uid": "a", "device": "host", "started_at": "t", "results": []},  # fine, but the next is not
               {"uid": "b", "device": "host", "started_at": "t", "results": [{"uid": "c", "device": "host"}]}]},
     "runs[1].results[0] has no 'created_at'"),
])
def test_bad_documents_are_one_clear_error_and_import_nothing(tmp_path, doc, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "import", str(path)])
    assert result.exit_code == 1 and message in result.output
    assert Store.open(tmp_path / "x.db").count() == 0


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(EdgebenchError, match="not an edgebench export"):
        exchange.read(path)
    with pytest.raises(EdgebenchError, match="no such file"):
        exchange.read(tmp_path / "missing.json")


def test_every_exported_field_is_documented():
    """docs/leaderboard.md's schema tables name every column a store exports."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "leaderboard.md").read_text()
    documented = set()
    for line in doc.splitlines():
        if line.startswith("| `"):
            documented.update(part.strip("` ") for part in line.split("|")[1].split(","))
    store = Store.open(":memory:")
    for table in ("runs", "results"):
        columns = {r[1] for r in store.db.execute(f"PRAGMA table_info({table})")} - {"id", "run_id"}
        assert columns <= documented, f"{table}: undocumented {sorted(columns - documented)}"
