"""The CLI end to end on the host: run, leaderboard, listings and the error paths."""

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgebench import hookimpl
from edgebench.cli import cli
from edgebench.store import Store
from edgebench.testing import registered, tiny_model

from helpers import EDGEBENCH, make_plugin_dist, subprocess_env


class TinyModels:
    __name__ = "tiny-models"

    def __init__(self, **extra):
        self.extra = extra

    @hookimpl
    def edgebench_register_models(self, register):
        register(tiny_model("tiny-a", scale=2))
        register(tiny_model("tiny-b", scale=3, channels=4))
        for spec in self.extra.values():
            register(spec)


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def test_run_then_leaderboard_in_every_format():
    with registered(TinyModels()):
        result = invoke("run", "--quick", "-m", "tiny-a", "-m", "tiny-b")
        assert result.exit_code == 0, result.output
        assert "tiny-a" in result.output and "Score" in result.output
        rows = json.loads(invoke("leaderboard", "--include-quick", "--format", "json").output)["rows"]
    assert {(r["model"], r["precision"]) for r in rows} == {
        ("tiny-a", "fp32"), ("tiny-a", "int8"), ("tiny-b", "fp32"), ("tiny-b", "int8")}
    for r in rows:  # the score is the MAI formula of the row's own PSNR and median, nothing else
        assert r["score"] == pytest.approx(2 ** (2 * r["psnr"]) / (2**56 * r["median_ms"]), rel=1e-9)
        assert 20 < r["psnr"] < 40 and 0.001 < r["median_ms"] < 1000
    by = {(r["model"], r["precision"]): r for r in rows}
    for model in ("tiny-a", "tiny-b"):  # Δ int8 is the difference of the two stored PSNRs
        assert by[(model, "int8")]["psnr_drop"] == pytest.approx(by[(model, "fp32")]["psnr"] - by[(model, "int8")]["psnr"])

    md = invoke("leaderboard", "--include-quick", "--format", "markdown", "--model", "tiny-b").output
    assert "| tiny-b |" in md.replace("  ", " ") or "tiny-b" in md
    assert "tiny-a" not in md and "2^(2·PSNR)" in md
    csv_text = invoke("leaderboard", "--include-quick", "--format", "csv", "--device", "host").output
    assert csv_text.splitlines()[0].startswith("rank,device,model") and len(csv_text.splitlines()) == 5
    assert "No results" in invoke("leaderboard", "--device", "nosuch").output or \
        invoke("leaderboard", "--device", "nosuch", "--format", "json").output


@pytest.mark.parametrize("option, value, kind", [
    ("--model", "nosuch", "model"), ("--device", "nosuch", "device"), ("--backend", "nosuch", "backend")])
def test_unknown_names_list_the_choices(option, value, kind):
    result = CliRunner().invoke(cli, ["run", "--quick", option, value])
    assert result.exit_code == 2
    assert f"Error: unknown {kind} 'nosuch'; choose from:" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_weights_is_one_line_and_other_models_still_run(tmp_path):
    broken = tiny_model("tiny-noweights", weights=tmp_path / "gone.pt")
    with registered(TinyModels(broken=broken)):
        result = CliRunner().invoke(cli, ["run", "--quick", "-m", "tiny-noweights", "-m", "tiny-a", "-p", "fp32"])
    assert result.exit_code == 0
    assert "weights for model 'tiny-noweights' not found" in result.output
    rows = json.loads(invoke("leaderboard", "--include-quick", "--format", "json").output)["rows"]
    assert [r["model"] for r in rows] == ["tiny-a"]


def test_corrupt_weights_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 10)
    with registered(TinyModels(bad=tiny_model("tiny-corrupt", weights=bad))):
        result = CliRunner().invoke(cli, ["run", "--quick", "-m", "tiny-corrupt", "-p", "fp32"])
    assert result.exit_code == 1
    assert "weights for model 'tiny-corrupt' could not be loaded" in result.output


def test_a_corrupted_cache_entry_is_re_exported_never_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))
    with registered(TinyModels()):
        assert invoke("run", "--quick", "-m", "tiny-a", "-p", "fp32").exit_code == 0
        (artifact,) = (tmp_path / "cache" / "artifacts").glob("*.onnx")
        good = artifact.read_bytes()
        artifact.write_bytes(b"\xff" * len(good))  # same size: only the SHA-256 can tell
        result = CliRunner().invoke(cli, ["run", "--quick", "-m", "tiny-a", "-p", "fp32"])
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.output.splitlines() if "SHA-256" in ln]
    assert "re-exported" in line
    (now,) = (tmp_path / "cache" / "artifacts").glob("*.onnx")
    assert now.read_bytes() == good  # the export is deterministic: the same bytes are back
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        first, second = store.results()
    finally:
        store.close()
    assert second["artifact_sha"] == first["artifact_sha"] and "SHA-256" in second["extra"]["cache"]


def test_bad_dataset_folder_and_corrupt_image(tmp_path):
    with registered(TinyModels()):
        result = CliRunner().invoke(cli, ["run", "--quick", "-m", "tiny-a", "--dataset", str(tmp_path / "none")])
        assert result.exit_code == 2 and "dataset folder not found" in result.output
        (tmp_path / "ds").mkdir()
        (tmp_path / "ds" / "broken.png").write_bytes(b"not a png")
        result = CliRunner().invoke(cli, ["run", "--quick", "-m", "tiny-a", "--dataset", str(tmp_path / "ds")])
    assert result.exit_code == 2 and "broken.png (cannot identify image file)" in result.output


def test_user_dataset_folder_is_used(tmp_path):
    from PIL import Image

    from edgebench.data import photos

    (tmp_path / "ds").mkdir()
    name, hr = photos("eval")[0]
    Image.fromarray(hr[:120, :150]).save(tmp_path / "ds" / f"{name}.png")
    with registered(TinyModels()):
        result = invoke("run", "--quick", "-m", "tiny-a", "-p", "fp32", "--dataset", str(tmp_path / "ds"))
        assert result.exit_code == 0, result.output
    db = sqlite3.connect(os.environ["EDGEBENCH_DB"])
    assert db.execute("SELECT dataset, n_images FROM results").fetchone() == (str((tmp_path / "ds").resolve()), 1)


def test_listing_commands():
    with registered(TinyModels()):
        assert "tiny-a" in invoke("models").output
    out = invoke("backends").output
    assert "onnxruntime" in out and "1.32.0" in out
    assert "host" in invoke("devices").output
    checked = invoke("devices", "--check", "host").output
    assert "yes" in checked and "built-in" in checked and "pixel" not in checked
    rows = json.loads(invoke("plugins", "--all").output)
    assert {"onnxruntime", "builtin_transports", "builtin_datasets"} <= {r["name"] for r in rows}
    assert "builtin_transports" not in {r["name"] for r in json.loads(invoke("plugins").output)}


def test_user_device_profile_dir(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "mybox.toml").write_text('transport = "local"\npython = "{python}"\ndescription = "my box"\n')
    assert "mybox" in invoke("devices", "--devices-dir", str(folder)).output
    (folder / "bad.toml").write_text("transport = [unclosed")
    result = CliRunner().invoke(cli, ["devices", "--devices-dir", str(folder)])
    assert result.exit_code == 1 and "is not valid TOML" in result.output


SLOW_PLUGIN = """
import time
from edgebench import hookimpl
from edgebench.plugins import backends
from edgebench.testing import tiny_model
from edgebench_onnxruntime import OnnxRuntimeBackend


class Sleepy(OnnxRuntimeBackend):
    name = "sleepy"

    def export(self, module, spec, precision, calibration, path):
        if spec.name == "slow-tiny":
            time.sleep(120)  # interrupted by the test long before this ends
        return super().export(module, spec, precision, calibration, path)


@hookimpl
def edgebench_register_backends(register):
    register(Sleepy())


@hookimpl
def edgebench_register_models(register):
    register(tiny_model("fast-tiny"))
    register(tiny_model("slow-tiny", channels=5))
"""


def test_ctrl_c_mid_run_keeps_finished_results(tmp_path):
    root = make_plugin_dist(tmp_path / "site", "eb_sleepy", SLOW_PLUGIN)
    db = tmp_path / "ctrlc.db"
    proc = subprocess.Popen(
        [*EDGEBENCH, "--db", str(db), "run", "--quick", "-m", "fast-tiny", "-m", "slow-tiny", "-b", "sleepy",
         "-p", "fp32"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=subprocess_env(root, EDGEBENCH_CACHE=str(tmp_path / "cache")),
        # a suite started in the background (`cmd &`) hands SIGINT down ignored: give the child Ctrl-C back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline:
        if db.exists():
            try:
                if sqlite3.connect(db).execute("SELECT count(*) FROM results").fetchone()[0] == 1:
                    break
            except sqlite3.OperationalError:
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(1.0)  # now inside the slow export
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Interrupted: 1 finished result(s) kept" in err
    con = sqlite3.connect(db)
    assert con.execute("SELECT model FROM results").fetchall() == [("fast-tiny",)]
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    assert not list((tmp_path / "cache" / "artifacts").glob("*slow-tiny*"))  # no half artifact left
