"""`edgebench import` checks every known field's type and range: the first bad one refuses the whole file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgebench import exchange
from edgebench.cli import cli
from edgebench.errors import EdgebenchError
from edgebench.store import Store

from board_helpers import add_result, add_run

LOCAL = ("id", "run_id")


def export_of(tmp_path: Path, n_runs: int = 1, **fields: Any) -> dict:
    """An export of a store holding ``n_runs`` runs of two results each (quality measured)."""
    store = Store.open(tmp_path / "source.db")
    for r in range(n_runs):
        run = add_run(store, settings={"height": 360, "width": 640, "warmup": 5, "quick": False})
        for seed in range(2):
            add_result(store, run, model=f"m{r}{seed}", seed=seed, dataset="bundled", n_images=2, **fields)
    doc = exchange.export_doc(store)
    store.close()
    return doc


def import_cli(tmp_path: Path, doc: dict, name: str = "board.json") -> tuple[int, list[str], int]:
    """(exit code, output lines, results in the target store) of `edgebench import` of ``doc``."""
    path = tmp_path / name
    path.write_text(exchange.dumps(doc))  # NaN and Infinity written as Python's json does
    db = tmp_path / "target.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "import", str(path)])
    store = Store.open(db)
    try:
        return result.exit_code, result.output.strip().splitlines(), store.count()
    finally:
        store.close()


BAD_RESULT_FIELDS = [
    ("median_ms", "12.5 ms", 'median_ms must be a number > 0, got the text "12.5 ms"'),
    ("psnr", None, "psnr must be a number in (0, 200] dB or Infinity (the result has a dataset), got null"),
    ("mean_ms", math.nan, "mean_ms must be a number > 0, got NaN"),
    ("std_ms", -0.5, "std_ms must be a number ≥ 0, got the number -0.5"),
    ("threads", True, "threads must be a whole number from 0 to 4096, got true"),
    ("timings", "10.1,10.2", 'timings must be a list of numbers > 0, got the text "10.1,10.2"'),
    ("timings", {"0": 10.1}, "timings must be a list of numbers > 0, got an object"),
    ("timings", [10.1, "10.2", 10.3], 'timings[1] must be a number > 0, got the text "10.2"'),
    ("warmup", [10.1, 0], "warmup[1] must be a number > 0, got the number 0"),
    ("min_ms", 0.0, "min_ms must be a number > 0, got the number 0.0"),
    ("max_ms", math.inf, "max_ms must be a number > 0, got Infinity"),
    ("psnr", 0, "psnr must be a number in (0, 200] dB or Infinity, got the number 0"),
    ("psnr_y", -math.inf, "psnr_y must be a number in (0, 200] dB or Infinity, got -Infinity"),
    ("psnr", "28.1", 'psnr must be a number in (0, 200] dB or Infinity, got the text "28.1"'),
    ("ssim", 1.5, "ssim must be a number from -1 to 1, got the number 1.5"),
    ("ssim", None, "ssim must be a number from -1 to 1 (the result has a dataset), got null"),
    ("baseline_psnr", math.nan, "baseline_psnr must be a number in (0, 200] dB or Infinity, got NaN"),
    ("n_runs", 0, "n_runs must be a whole number ≥ 1, got the number 0"),
    ("n_images", 2.0, "n_images must be a whole number ≥ 1, got the number 2.0"),
    ("scale", "x3", 'scale must be a whole number from 1 to 64, got the text "x3"'),
    ("params", -1, "params must be a whole number ≥ 0, got the number -1"),
    ("mem_peak_bytes", 1.5e6, "mem_peak_bytes must be a whole number ≥ 0, got the number 1500000.0"),
    ("input_h", 0, "input_h must be a whole number from 1 to 65536, got the number 0"),
    ("warnings", [{"code": "high-cv"}],
     'warnings[0] must be an object with a text "code" and "message", got an object'),
    ("warnings", "none", 'warnings must be a list of objects with a text "code" and "message", got the text "none"'),
    ("runtime", "onnxruntime", 'runtime must be an object, got the text "onnxruntime"'),
    ("conditions", [1, 2], "conditions must be an object, got a list of 2 item(s)"),
    ("extra", 3, "extra must be an object, got the number 3"),
    ("dataset", 5, "dataset must be a text, got the number 5"),
    ("model", ["m"], "model must be a text, got a list of 1 item(s)"),
    ("affinity", 240, 'affinity must be a hex core mask such as "f0", got the number 240'),
    ("affinity", "big", 'affinity must be a hex core mask such as "f0", got the text "big"'),
    ("quick", None, "quick must be true, false, 0 or 1, got null"),
    ("quick", 2, "quick must be true, false, 0 or 1, got the number 2"),
    ("model", "", "has no 'model'"),
]


@pytest.mark.parametrize("field, value, message", BAD_RESULT_FIELDS,
                         ids=[f"{f}={v!r}" for f, v, _ in BAD_RESULT_FIELDS])
def test_a_bad_result_field_refuses_the_whole_file_naming_it(tmp_path, field, value, message):
    doc = export_of(tmp_path, n_runs=2)
    doc["runs"][1]["results"][1][field] = value  # everything before it is fine, and still not imported
    code, lines, stored = import_cli(tmp_path, doc)
    separator = " " if message.startswith("has no") else "."
    assert code != 0 and stored == 0
    assert lines == [f"Error: {tmp_path / 'board.json'}: runs[1].results[1]{separator}{message}"]


BAD_RUN_FIELDS = [
    ("status", "done", 'status must be one of running, finished, interrupted, failed, imported, got the text "done"'),
    ("status", None, "status must be one of running, finished, interrupted, failed, imported, got null"),
    ("settings", "quick", 'settings must be an object, got the text "quick"'),
    ("device_info", [], "device_info must be an object, got a list of 0 item(s)"),
    ("argv", "edgebench run", 'argv must be a list of texts, got the text "edgebench run"'),
    ("git_sha", 12345, "git_sha must be a text, got the number 12345"),
    ("results", {}, "results must be a list"),
]


@pytest.mark.parametrize("field, value, message", BAD_RUN_FIELDS, ids=[f"{f}={v!r}" for f, v, _ in BAD_RUN_FIELDS])
def test_a_bad_run_field_is_named(tmp_path, field, value, message):
    doc = export_of(tmp_path)
    doc["runs"][0][field] = value
    code, lines, stored = import_cli(tmp_path, doc)
    assert code != 0 and stored == 0
    assert len(lines) == 1 and lines[0].endswith(f"board.json: runs[0].{message}")


def test_a_long_text_is_shortened_and_stays_on_one_line(tmp_path):
    doc = export_of(tmp_path)
    doc["runs"][0]["results"][0]["median_ms"] = "12.5 ms\n" * 40
    code, lines, _ = import_cli(tmp_path, doc)
    shown = "12.5 ms\\n" * 7 + "1…"  # 60 characters at most, the newlines escaped
    assert code != 0 and len(lines) == 1 and lines[0].endswith(f'got the text "{shown}"')


def test_the_api_refuses_too_and_writes_nothing(tmp_path):
    doc = export_of(tmp_path)
    doc["runs"][0]["results"][1]["p90_ms"] = "fast"
    store = Store.open(tmp_path / "api.db")
    with pytest.raises(EdgebenchError, match=r"^import: runs\[0\]\.results\[1\]\.p90_ms must be a number > 0"):
        exchange.import_doc(store, doc)
    assert store.count() == 0 and store.runs() == []


def test_a_valid_export_round_trips(tmp_path):
    src = Store.open(tmp_path / "src.db")
    run = add_run(src, settings={"height": 360, "width": 640, "warmup": 5, "quick": False}, argv=["edgebench"])
    add_result(src, run, dataset="bundled", n_images=3, psnr=math.inf, psnr_y=math.inf, ssim=1.0,
               quick=1, affinity="f0", baseline_psnr=26.5, first_ms=11.0, init_ms=0.0,
               conditions={"before": {"load": 0.1}, "after": {"load": 0.2}})
    add_result(src, run, model="no-quality", psnr=None, psnr_y=None, ssim=None, mem_peak_bytes=None)
    doc = json.loads(exchange.dumps(exchange.export_doc(src)))  # through the text, as a file would be
    doc["runs"][0]["results"][1]["carbon_g"] = "lots"  # a field of a newer edgebench: kept, unchecked
    exchange.check(doc, "board.json")
    dst = Store.open(tmp_path / "dst.db")
    assert exchange.import_doc(dst, doc) == {"runs": 1, "results": 2, "duplicates": 0}

    def strip(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in LOCAL} for r in rows]

    assert strip(dst.runs()) == strip(src.runs())
    assert strip(dst.results())[0] == strip(src.results())[0]
    first = dst.results()[0]
    assert first["quick"] == 1 and first["affinity"] == "f0" and first["conditions"]["after"] == {"load": 0.2}
    assert first["psnr"] == math.inf and first["baseline_psnr"] == 26.5
    assert dst.results()[1]["extra"]["imported"] == {"carbon_g": "lots"}


@pytest.mark.parametrize("settings, quick", [
    ({"height": 48, "width": 64, "warmup": 1, "runs": 3}, 1),  # the --quick preset, before it had a flag
    ({"smoke_test": True, "height": 48, "width": 64}, 1),  # what the harness stores since m003
    ({"smoke_test": False, "height": 48, "width": 64, "warmup": 1}, 0),  # a full run that chose 48x64
    ({"height": 360, "width": 640, "warmup": 5, "runs": 30}, 0),
    (None, 0),
])
def test_an_old_export_without_quick_is_marked_from_its_settings(tmp_path, settings, quick):
    doc = export_of(tmp_path)
    doc["runs"][0]["settings"] = settings
    for result in doc["runs"][0]["results"]:
        del result["quick"]  # an export from before the column
    code, lines, stored = import_cli(tmp_path, doc)
    assert code == 0 and stored == 2, lines
    store = Store.open(tmp_path / "target.db")
    assert [r["quick"] for r in store.results()] == [quick, quick]


def test_a_result_at_the_quick_size_without_settings_is_quick(tmp_path):
    doc = export_of(tmp_path, input_h=48, input_w=64)
    doc["runs"][0]["settings"] = None
    for result in doc["runs"][0]["results"]:
        result.pop("quick")
    store = Store.open(tmp_path / "q.db")
    exchange.import_doc(store, doc)
    assert [r["quick"] for r in store.results()] == [1, 1]


def test_a_result_without_quality_may_have_null_psnr(tmp_path):
    doc = export_of(tmp_path)
    for result in doc["runs"][0]["results"]:
        result.update(dataset=None, n_images=None, psnr=None, psnr_y=None, ssim=None, quality_on=None)
    code, lines, stored = import_cli(tmp_path, doc)
    assert code == 0 and stored == 2, lines
