"""The wheel carries everything a non-editable install needs."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_profiles_photos_weights_adapters_and_entry_points(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("edgebench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "edgebench/profiles/host.toml" in names
    assert "edgebench/runner.py" in names
    assert {f"edgebench/photos/{n}.png" for n in ("chelsea", "china", "flower", "grace_hopper", "rocket")} <= names
    assert "edgebench_onnxruntime/adapter_onnxruntime.py" in names
    assert "edgebench/scaffold/template/pyproject.toml" in names
    weights = {n for n in names if n.startswith("edgebench_sr_models/weights/") and n.endswith(".pt")}
    assert {"edgebench_sr_models/weights/abpn_x3.pt", "edgebench_sr_models/weights/scsrn_x3.pt"} <= weights
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for plugin in ("onnxruntime", "sr_models", "builtin_transports", "builtin_datasets"):
        assert f"{plugin} = " in entry_points
    assert wheel.stat().st_size < 20 * 2**20  # photos + the ≤ 2 M-parameter models' float16 weights only
