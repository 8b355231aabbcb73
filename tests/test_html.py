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


THREE_BACKENDS = [  # (model, backend, delegate, precision, median ms, PSNR)
    ("smsrn-pruned-50", "onnxruntime", "cpu", "int8", 572.0, 28.6),
    ("smsrn-pruned-50", "onnxruntime", "cpu", "fp32", 900.0, 28.9),
    ("scsrn", "executorch", "xnnpack", "int8", 250.0, 28.2),
    ("scsrn", "executorch", "xnnpack", "fp32", 640.0, 28.4),
    ("abpn", "tflite", "xnnpack", "int8", 40.0, 27.9),
    ("abpn", "tflite", "nnapi", "int8", 30.0, 27.8),
]


@pytest.fixture
def three_backends(tmp_path):
    store = Store.open(tmp_path / "plot.db")
    run = add_run(store)
    for i, (model, backend, delegate, precision, median, psnr) in enumerate(THREE_BACKENDS):
        add_result(store, run, model=model, backend=backend, delegate=delegate, precision=precision, median=median,
                   psnr=psnr, seed=i, artifact_sha=f"{model}-{backend}-{precision}")
    rows = board_rows(load_results(store.db), load_runs(store.db))
    store.close()
    assert sum(r["pareto"] for r in rows) >= 2
    return rows


def test_plot_keeps_its_legend_off_the_axes_and_names_backend_and_precision(three_backends):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from edgebench.plot import pareto_figure

    fig = pareto_figure(three_backends)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        (legend,) = fig.legends
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer))  # outside every panel
        assert {"onnxruntime", "executorch", "tflite"} <= {t.get_text() for t in legend.get_texts()}
        labels = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert len(labels) == len(three_backends)  # few points: every one is named
        for r in three_backends:
            assert any(r["model"] in label and r["backend"] in label and label.endswith(r["precision"])
                       for label in labels), r
        assert "abpn · tflite/nnapi int8" in labels  # a delegate that is not the CPU is named
        front = {to_hex(line.get_color()) for ax in fig.axes for line in ax.lines
                 if line.get_label() == "Pareto front"}
        points = {to_hex(line.get_color()) for ax in fig.axes for line in ax.lines
                  if line.get_label() != "Pareto front"}
        assert len(front) == 1 and len(points) == 3 and not front & points
    finally:
        plt.close(fig)


def test_svg_plot_keeps_its_legend_off_the_axes_and_names_backend_and_precision(three_backends):
    import re
    import xml.etree.ElementTree as ET

    from edgebench.report_html import STYLE, pareto_svg

    svg = ET.fromstring(pareto_svg(three_backends, "host"))
    ns = "{http://www.w3.org/2000/svg}"
    axis = next(e for e in svg.iter(f"{ns}rect") if e.get("class") == "axis")
    right = float(axis.get("x")) + float(axis.get("width"))
    texts = [(float(e.get("x")), e.text) for e in svg.iter(f"{ns}text") if e.get("x")]
    legend = {text: x for x, text in texts if text in {"onnxruntime", "executorch", "tflite", "Pareto front"}}
    assert len(legend) == 4 and min(legend.values()) > right and float(svg.get("width")) > max(legend.values())
    labels = [text for _, text in texts if text and " · " in text]
    for r in three_backends:
        assert any(r["model"] in label and r["backend"] in label and label.endswith(r["precision"])
                   for label in labels), r
    fills = {e.get("fill").lower() for e in svg.iter() if e.get("data-point")}
    (path,) = [e for e in svg.iter(f"{ns}path") if e.get("class") == "front"]
    css = re.search(r"svg \.front\{[^}]*stroke:(#[0-9a-f]+)", STYLE).group(1)
    assert len(fills) == 3 and path.get("stroke").lower() not in fills and css not in fills
