"""The HTML leaderboard in a real headless browser, and the Pareto plot image."""

import struct

import pytest
from click.testing import CliRunner

from edgebench import hookimpl
from edgebench.cli import cli
from edgebench.leaderboard import board_rows, load_results, load_runs
from edgebench.report_html import render_html
from edgebench.store import Store
from edgebench.testing import registered, tiny_model

from board_helpers import HOST_INFO, add_result, add_run
from cdp import Browser, chromium

EVIL = '<img src=x onerror="console.error(1)">'


class Tiny:
    __name__ = "html-tiny"

    @hookimpl
    def edgebench_register_models(self, register):
        register(tiny_model("html-tiny"))


@pytest.fixture
def board(tmp_path):
    """A store with a real measured run plus stored rows on two more devices, and its HTML page."""
    db = tmp_path / "board.db"
    runner = CliRunner()
    with registered(Tiny()):
        result = runner.invoke(cli, ["--db", str(db), "run", "--quick", "-m", "html-tiny", "-p", "fp32"])
        assert result.exit_code == 0, result.output
    store = Store.open(db)
    for device, info in (("pixel", {"model": "Pixel 8", "soc": "Tensor G3"}), ("rpi4", {"model": "Pi 4"})):
        run = add_run(store, device, info={**HOST_INFO, **info})
        for i, (model, median, psnr) in enumerate([("abpn", 12.0, 28.1), ("scsrn", 9.0, 27.6),
                                                   ("bicubic", 2.0, 26.2), (EVIL, 15.0, 27.0)]):
            add_result(store, run, model=model, median=median, psnr=psnr, device=device, seed=i,
                       spread=0.2 if model == "scsrn" else 0.005)
    page = tmp_path / "board.html"
    result = runner.invoke(cli, ["--db", str(db), "leaderboard", "--include-quick", "--format", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    rows = board_rows(load_results(store.db), load_runs(store.db), include_quick=True)
    store.close()
    return page, rows


def test_page_is_self_contained_and_escaped(board):
    page, rows = board
    text = page.read_text()
    assert "default-src 'none'" in text  # the page may load nothing from anywhere
    for needle in ("http://", "https://", "<link", "src=\"http"):
        assert needle not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert EVIL not in text and "&lt;img src=x onerror=" in text
    assert "2^(2·PSNR)" in text and len(rows) == 9


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed: bash scripts/install-browser.sh")
def test_page_renders_in_headless_chromium(board, tmp_path):
    page, rows = board
    with Browser() as browser:
        browser.open(page)
        shot = tmp_path / "board.png"
        browser.screenshot(shot)
        tables = browser.evaluate("""Array.from(document.querySelectorAll('section.device')).map(s => ({
            device: s.dataset.device,
            heads: Array.from(s.querySelectorAll('thead th')).map(th => th.textContent),
            rows: Array.from(s.querySelectorAll('tbody tr')).map(tr =>
                Array.from(tr.cells).map(td => td.textContent.trim())),
            flags: Array.from(s.querySelectorAll('tbody tr')).map(tr => tr.className),
            rings: s.querySelectorAll('svg circle.ring').length,
            points: s.querySelectorAll('svg [data-point]').length}))""")
        formula = browser.evaluate("document.querySelector('.formula').innerText")
        # sorting: click "Median ms" on the pixel table, twice
        col = tables[0]["heads"].index("Median ms")
        click = (f"(() => {{ const s = document.querySelector('section[data-device=\"pixel\"]');"
                 f" s.querySelectorAll('thead th')[{col}].click();"
                 f" return Array.from(s.querySelectorAll('tbody tr')).map(tr => parseFloat(tr.cells[{col}]"
                 f".dataset.v)); }})()")
        ascending, descending = browser.evaluate(click), browser.evaluate(click)
        injected = browser.evaluate("document.querySelectorAll('img').length")
        problems, requests = browser.problems(), browser.requests()
    assert problems == [], problems
    assert requests == [page.resolve().as_uri()]  # nothing fetched but the page itself
    assert injected == 0  # the stored <img onerror> is text, not markup
    assert "2^(2·PSNR)" in formula and "Pareto front" in formula
    assert [t["device"] for t in tables] == ["host", "pixel", "rpi4"]
    for table in tables:
        mine = [r for r in rows if r["device"] == table["device"]]
        assert len(table["rows"]) == len(mine)  # every stored configuration is a row
        shown = {(cells[1].rstrip(" ★"), cells[4]) for cells in table["rows"]}
        assert shown == {(r["model"], r["precision"]) for r in mine}
        assert table["rings"] == sum(r["pareto"] for r in mine) and table["points"] == len(mine)
    pixel = next(t for t in tables if t["device"] == "pixel")
    by_model = {cells[1].rstrip(" ★"): cells for cells in pixel["rows"]}
    assert by_model["bicubic"][5] == "26.20" and by_model["bicubic"][1].endswith("★")  # fastest: on the front
    assert "unstable" in by_model["scsrn"][-1]  # a 20 % spread is flagged in the page
    assert ascending == sorted(ascending) and descending == sorted(descending, reverse=True)
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # PNG IHDR
    assert width >= 1000 and height > 800


def test_plot_command_writes_the_pareto_png(board, tmp_path):
    pytest.importorskip("matplotlib")
    db = board[0].parent / "board.db"
    out = tmp_path / "pareto.png"
    result = CliRunner().invoke(cli, ["--db", str(db), "plot", "--include-quick", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "9 configurations" in result.output
    head = out.read_bytes()
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert width > 3 * height / 2  # three device panels side by side


def test_empty_board_renders_a_hint():
    text = render_html([])
    assert "No results stored yet" in text and "<table" not in text
