"""The terminal table at the widths users' terminals have (issue 16, item 1), and what the formats agree on
(item 8: the sign of Δ int8 in every format, milliseconds without stray dots)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from edgebench import hookimpl, stats
from edgebench.cli import cli
from edgebench.board_terminal import COLUMN_NAMES, parse_columns, render_rich
from edgebench.leaderboard import _cell, columns_for, fmt_ms, render_csv, render_json
from edgebench.report_html import render_html
from edgebench.store import Store
from edgebench.testing import registered, tiny_model

from board_helpers import add_result, add_run, rows_of

WIDTHS = (80, 100, 120, 150, 200)
ESSENTIAL_HEADERS = ["#", "Model", "Backend", "Prec.", "PSNR dB", "Median ms", "Score"]
# (model, backend, delegate, precision, median ms, PSNR, spread): a realistic board with long-ish names, an fp32
# reference for each int8 row, a delegate with its CPU baseline, an unstable row and a flagged int8 collapse
BOARD = [
    ("smsrn-pruned-50", "onnxruntime", "cpu", "int8", 572.0, 28.61, 0.01),
    ("smsrn-pruned-50", "onnxruntime", "cpu", "fp32", 911.0, 28.95, 0.01),
    ("scsrn", "executorch", "xnnpack", "int8", 250.0, 28.20, 0.01),
    ("scsrn", "executorch", "xnnpack", "fp32", 640.0, 28.40, 0.01),
    ("abpn", "onnxruntime", "cpu", "int8", 40.0, 27.90, 0.30),
    ("abpn", "onnxruntime", "cpu", "fp32", 61.0, 28.02, 0.01),
    ("edsr-kd", "tflite", "xnnpack", "int8", 12.5, 27.10, 0.01),
    ("edsr-kd", "tflite", "nnapi", "int8", 9.8, 27.08, 0.01),
    ("edsr-kd", "tflite", "xnnpack", "fp32", 30.0, 27.20, 0.01),
    ("espcn-int8-bad", "onnxruntime", "cpu", "int8", 8.0, 21.00, 0.01),
    ("espcn-int8-bad", "onnxruntime", "cpu", "fp32", 11.0, 27.00, 0.01),
    ("bicubic", "onnxruntime", "cpu", "fp32", 0.734, 26.20, 0.01),
]


@pytest.fixture
def store(tmp_path):
    with contextlib.closing(Store.open(tmp_path / "board.db")) as s:
        yield s


@pytest.fixture
def board(store):
    run = add_run(store)
    for i, (model, backend, delegate, precision, median, psnr, spread) in enumerate(BOARD):
        add_result(store, run, model=model, backend=backend, delegate=delegate, precision=precision, median=median,
                   psnr=psnr, spread=spread, seed=i, artifact_sha=f"{model}-{backend}-{precision}")
    return rows_of(store)


def render(rows, width, **kw) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    render_rich(rows, console, **kw)
    return console.export_text()


def cells(line: str, sep: str) -> list[str]:
    return [c.strip() for c in line.strip().strip(sep).split(sep)]


def table(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the body lines (as cells) of the rich tables in ``text``."""
    header = next(cells(line, "┃") for line in text.splitlines() if line.startswith("┃"))
    body = [cells(line, "│") for line in text.splitlines() if line.startswith("│")]
    return header, body


def essentials(row) -> tuple[str, ...]:
    return (_cell(row, "rank", ""), row["model"], row["backend"], row["precision"], f"{row['psnr']:.2f}",
            fmt_ms(row["median_ms"]), f"{row['score']:.3g}")


def shown_essentials(text: str) -> set[tuple[str, ...]]:
    header, body = table(text)
    at = [header.index(h) for h in ESSENTIAL_HEADERS]
    return {tuple(line[i] for i in at) for line in body}


def test_board_has_what_the_widths_must_cope_with(board):
    flags = {(r["model"], r["delegate"], r["precision"]): r["flag"] for r in board}
    assert flags[("espcn-int8-bad", "cpu", "int8")] == "flagged" and flags[("abpn", "cpu", "int8")] == "unstable"
    assert any(r["vs_cpu"] is not None for r in board) and any(r["rank_label"] == "–" for r in board)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_row_stays_whole_at_any_width(board, width):
    text = render(board, width)
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    header, body = table(text)
    assert header[:len(ESSENTIAL_HEADERS)] != [] and set(ESSENTIAL_HEADERS) <= set(header)
    assert "Device" not in header  # the section title names it
    assert not [line for line in lines if line.startswith(("┃", "│")) and "…" in line]
    assert {essentials(r) for r in board} <= shown_essentials(text)
    assert len(body) == len(board)  # no name had to fold: one line per row
    assert "edgebench leaderboard: host · 360x640 · x3" in text


def test_optional_columns_join_by_priority_as_the_terminal_widens(board):
    headers = {w: table(render(board, w))[0] for w in WIDTHS}
    counts = [len(headers[w]) for w in WIDTHS]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert "Delegate" in headers[100] and "Δ int8" in headers[100]  # the first optional columns
    every = [h for k, h, _ in columns_for(board) if k != "device"]
    assert headers[200] == every  # in the board's column order, not the priority order


def test_the_stability_warning_is_printed_when_its_column_does_not_fit(board):
    text = render(board, 80)
    assert "Stability" not in table(text)[0]
    assert "host abpn onnxruntime cpu int8: run-to-run spread" in " ".join(text.split())
    assert "espcn-int8-bad onnxruntime cpu int8: int8 loses 6.00 dB" in " ".join(text.split())


def test_flagged_and_unstable_rows_keep_their_colours(board):
    console = Console(width=100, record=True, file=io.StringIO(), force_terminal=True, color_system="standard")
    render_rich(board, console)
    lines = console.export_text(styles=True).splitlines()

    def line_of(model: str, precision: str) -> str:
        plain = [(re.sub(r"\x1b\[[0-9;]*m", "", line), line) for line in lines]
        return next(styled for text, styled in plain if f"│ {model} " in text and f"│ {precision} " in text)

    unstable, flagged = line_of("abpn", "int8"), line_of("espcn-int8-bad", "int8")
    assert "\x1b[33m" in unstable and "\x1b[31m" in flagged  # yellow, red


def test_a_long_model_name_folds_and_nothing_is_cut(store):
    name = "edsr-knowledge-distilled-x3-pruned-75-final-v2"
    run = add_run(store)
    add_result(store, run, model=name, median=12.5, psnr=28.3)
    add_result(store, run, model="abpn", median=40.0, psnr=27.9, seed=1, artifact_sha="other")
    rows = rows_of(store)
    text = render(rows, 80)
    assert max(cell_len(line) for line in text.splitlines()) <= 80 and "…" not in text
    header, body = table(text)
    model = header.index("Model")
    first = next(i for i, line in enumerate(body) if name.startswith(line[model]) and line[0] == "1")
    folded = [body[first][model]] + [line[model] for line in body[first + 1:] if line[0] == ""]
    assert len(folded) > 1 and "".join(folded) == name
    row = next(r for r in rows if r["model"] == name)
    expected = essentials(row)
    assert tuple(body[first][header.index(h)] for h in ESSENTIAL_HEADERS if h != "Model") == \
        expected[:1] + expected[2:]


def test_wide_shows_every_column_uncut(board):
    text = render(board, 80, wide=True)
    header, _ = table(text)
    assert header == [h for k, h, _ in columns_for(board) if k != "device"]
    assert {essentials(r) for r in board} <= shown_essentials(text)
    assert not [line for line in text.splitlines() if line.startswith(("┃", "│")) and "…" in line]


def test_columns_picks_and_orders_and_rejects_unknown_names(board):
    keys = parse_columns("rank, model,median,PSNR,score,device")
    text = render(board, 80, columns=keys)
    assert table(text)[0] == ["#", "Model", "Median ms", "PSNR dB", "Score", "Device"]
    assert parse_columns("median_ms,delta_int8") == ["median_ms", "delta_int8_db"]  # JSON keys work too
    with pytest.raises(ValueError, match="unknown column.*bogus; valid: rank, device, model"):
        parse_columns("rank,bogus")
    assert set(COLUMN_NAMES.values()) == {k for k, _, _ in columns_for([{"vs_cpu": 1.0, "settings_tried": 2, "energy_mj": 1.0}])}


def test_leaderboard_command_options(board, tmp_path):
    runner = CliRunner()
    db = ["--db", str(tmp_path / "board.db")]
    bad = runner.invoke(cli, [*db, "leaderboard", "--columns", "rank,bogus"])
    assert bad.exit_code == 2 and "valid: rank, device, model, backend" in bad.output
    picked = runner.invoke(cli, [*db, "leaderboard", "--columns", "model,psnr"], env={"COLUMNS": "80"})
    assert table(picked.output)[0] == ["Model", "PSNR dB"]
    wide = runner.invoke(cli, [*db, "leaderboard", "--wide"], env={"COLUMNS": "80"}).output
    assert {"Size KB", "Params", "n", "× vs CPU"} <= set(table(wide)[0])
    fitted = runner.invoke(cli, [*db, "leaderboard"], env={"COLUMNS": "100"}).output  # piped, but COLUMNS rules
    assert max(cell_len(line) for line in fitted.splitlines()) <= 100
    assert {essentials(r) for r in board} <= shown_essentials(fitted)
    piped = runner.invoke(cli, [*db, "leaderboard"]).output  # no COLUMNS: 200 wide, every column
    assert "Size KB" in table(piped)[0]


class LongNames:
    __name__ = "table-width-models"

    @hookimpl
    def edgebench_register_models(self, register):
        register(tiny_model("smsrn-pruned-50", scale=3))


def test_run_prints_its_results_whole_at_100_columns(tmp_path):
    with registered(LongNames()):
        result = CliRunner().invoke(cli, ["--db", str(tmp_path / "run.db"), "run", "--quick", "-m", "smsrn-pruned-50",
                                          "-b", "onnxruntime"], env={"COLUMNS": "100"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "run 1: results · host" in result.output and "edgebench leaderboard" not in result.output
    start = result.output.index("run 1: results")
    text = result.output[start:]
    assert max(cell_len(line) for line in text.splitlines()) <= 100
    with contextlib.closing(Store.open(tmp_path / "run.db")) as store:
        rows = rows_of(store, include_quick=True)
    assert len(rows) == 2 and {essentials(r) for r in rows} <= shown_essentials(text)


# -- item 8: one sign for Δ int8 in every format; milliseconds without stray dots --------------------------


def test_delta_int8_has_the_tables_sign_in_every_format(board):
    int8 = next(r for r in board if (r["model"], r["precision"]) == ("smsrn-pruned-50", "int8"))
    assert int8["delta_int8_db"] == pytest.approx(28.61 - 28.95)  # int8 minus fp32: negative = dB lost
    assert int8["psnr_drop"] == pytest.approx(28.95 - 28.61)  # kept for 0.x readers: dB lost
    header, body = table(render(board, 200))
    line = next(b for b in body if b[header.index("Model")] == "smsrn-pruned-50" and b[header.index("Prec.")] == "int8")
    assert line[header.index("Δ int8")] == "-0.34"
    (in_csv,) = [r for r in csv.DictReader(io.StringIO(render_csv(board)))
                 if (r["model"], r["precision"]) == ("smsrn-pruned-50", "int8")]
    assert "psnr_drop" not in in_csv and float(in_csv["delta_int8_db"]) == pytest.approx(-0.34)
    (in_json,) = [r for r in json.loads(render_json(board))["rows"]
                  if (r["model"], r["precision"]) == ("smsrn-pruned-50", "int8")]
    assert in_json["delta_int8_db"] == pytest.approx(-0.34)
    page = render_html(board)
    assert re.search(r'<td data-v="-0\.3\d+">-0\.34</td>', page)


def test_milliseconds_have_three_significant_digits_and_no_stray_dot(board):
    assert [stats.fmt_sig(v) for v in (572.0, 619.4, 12.5, 0.734, 9.996, 0.5)] == \
        ["572", "619", "12.5", "0.734", "10.0", "0.500"]
    assert fmt_ms(0.734) == "0.734" and fmt_ms(12.5) == "12.50"
    spread = stats.run_spread({"n_pooled": 2, "run_cv": 0.06, "run_medians": [619.4, 572.0]})
    assert "(572–619 ms)" in spread.message
    bicubic = next(r for r in board if r["model"] == "bicubic")
    assert re.fullmatch(r"0\.7\d\d", _cell(bicubic, "median_ms", "")) and "." not in _cell(bicubic, "ci", "")[-1:]
