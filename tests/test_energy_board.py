"""mJ/frame on the board (terminal, Markdown, CSV, JSON), the HTML page, the plot and the export; MAI's score unchanged."""

from __future__ import annotations

import json
import struct

import pytest
from click.testing import CliRunner

from edgebench import exchange
from edgebench.cli import cli
from edgebench.leaderboard import board_from_store, mai_score
from edgebench.report_html import render_html
from edgebench.store import Store

from board_helpers import add_result, add_run, rows_of

ENERGY = {"meter": "um25c", "mj_per_frame": 21.5, "ci_low_mj": 20.9, "ci_high_mj": 22.1, "samples": [[0.0, 1.5],
                                                                                                      [0.1, 3.2]]}


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "board.db")
    run = add_run(s, "board")
    add_result(s, run, model="abpn", median=11.0, psnr=28.1, device="board", energy_mj=21.5, energy_low_mj=20.9,
               energy_high_mj=22.1, energy=ENERGY)
    add_result(s, run, model="scsrn", median=9.0, psnr=27.6, device="board", seed=1)  # measured without a meter
    yield s
    s.close()


def invoke(store, *args):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["--db", str(store.path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_board_shows_mj_per_frame_and_keeps_the_mai_score(store):
    rows = {r["model"]: r for r in board_from_store(store.db)}
    assert rows["abpn"]["energy_mj"] == 21.5 and rows["abpn"]["energy_low_mj"] == 20.9
    assert "energy_mj" not in rows["scsrn"]  # no meter: no figure, not zero
    assert rows["abpn"]["score"] == mai_score(28.1, rows["abpn"]["median_ms"])  # energy plays no part
    # the store's summaries and the in-memory board agree
    memory = {r["model"]: r for r in rows_of(store)}
    assert memory["abpn"]["energy_mj"] == 21.5 and "energy_mj" not in memory["scsrn"]

    text = " ".join(invoke(store, "leaderboard", "--wide").split())  # the console wraps the notes
    assert "mJ/frame" in text and "21.5" in text and "(mean power during the timed runs - idle power)" in text
    markdown = invoke(store, "leaderboard", "-f", "markdown")
    header = next(line for line in markdown.splitlines() if line.startswith("| #"))
    abpn = next(line for line in markdown.splitlines() if "| abpn |" in line)
    cells = [c.strip() for c in header.split("|")]
    assert "mJ/frame" in cells and [c.strip() for c in abpn.split("|")][cells.index("mJ/frame")] == "21.5"
    doc = json.loads(invoke(store, "leaderboard", "-f", "json"))
    by_model = {r["model"]: r for r in doc["rows"]}
    assert by_model["abpn"]["energy_mj"] == 21.5 and by_model["abpn"]["energy_high_mj"] == 22.1
    csv_lines = invoke(store, "leaderboard", "-f", "csv").splitlines()
    header = csv_lines[0].split(",")
    abpn = next(line.split(",") for line in csv_lines[1:] if ",abpn," in line)
    assert abpn[header.index("energy_mj")] == "21.5"


def test_a_board_without_energy_has_no_energy_column(tmp_path):
    s = Store.open(tmp_path / "plain.db")
    add_result(s, add_run(s), model="abpn")
    assert "mJ/frame" not in invoke(s, "leaderboard", "--wide") and "mJ/frame" not in render_html(rows_of(s))
    s.close()


def test_the_html_page_has_the_energy_column_with_its_interval(store):
    page = render_html(rows_of(store))
    assert ">mJ/frame</th>" in page
    assert 'data-v="21.5"' in page and "95% interval 20.9–22.1 mJ per inference" in page


def test_plot_y_energy_draws_energy_against_latency(store, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "energy.png"
    result = CliRunner().invoke(cli, ["--db", str(store.path), "plot", "--y", "energy", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 configurations" in result.output  # only the result measured with a meter
    head = out.read_bytes()
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24])[0] > 300


def test_plot_y_energy_without_energy_is_one_line(tmp_path):
    pytest.importorskip("matplotlib")
    s = Store.open(tmp_path / "plain.db")
    add_result(s, add_run(s), model="abpn")
    s.close()
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "plain.db"), "plot", "--y", "energy", "-o",
                                      str(tmp_path / "e.png")])
    assert result.exit_code == 1 and "no stored result has an energy figure" in result.output
    assert "--power" in result.output


def test_energy_and_its_raw_samples_travel_through_export_and_import(store, tmp_path):
    doc = exchange.export_doc(store)
    results = [r for run in doc["runs"] for r in run["results"]]
    abpn = next(r for r in results if r["model"] == "abpn")
    assert abpn["energy_mj"] == 21.5 and abpn["energy"]["samples"] == [[0.0, 1.5], [0.1, 3.2]]
    path = tmp_path / "board.json"
    exchange.write(doc, path)
    other = Store.open(tmp_path / "other.db")
    assert exchange.import_doc(other, exchange.read(path))["results"] == 2
    (copied,) = other.results("model = ?", ["abpn"])
    assert copied["energy_mj"] == 21.5 and copied["energy"] == ENERGY
    other.close()
    abpn["energy_mj"] = "21.5 mJ"
    with pytest.raises(Exception, match=r"energy_mj must be a finite number"):
        exchange.check(doc, "board.json")


def test_m005_gives_an_older_store_empty_energy_columns(tmp_path, monkeypatch):
    from edgebench import store as store_mod

    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        m.setattr(store_mod, "MIGRATIONS", [s for s in store_mod.MIGRATIONS if s.__name__ < "m005"])
        old = Store.open(path)
        add_result(old, add_run(old), model="abpn")
        assert "energy_mj" not in {r[1] for r in old.db.execute("PRAGMA table_info(results)")}
        old.close()
    s = Store.open(path)
    (row,) = s.results()
    assert row["energy_mj"] is None and row["energy"] is None
    assert [r["model"] for r in board_from_store(s.db)] == ["abpn"]
    assert {name for (name,) in s.db.execute("SELECT name FROM _edgebench_migrations")} >= {"m004_board_pools",
                                                                                              "m005_energy"}
    s.close()
