"""What new users hit first (issue 16, items 5, 6, 7, 9): a run that cannot do everything does what it
can and says what it left out in one line per cause; a bad --dataset is one error before anything is
stored; a run with no result ends 'failed'; no temp folder and no adb server is left behind."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench import hookimpl
from edgebench.cli import _failure_lines, cli
from edgebench.errors import BackendUnavailable, DeviceError, ExportError
from edgebench.harness import Harness, Plan, Settings, plan
from edgebench.plugins import backends
from edgebench.store import Store
from edgebench.testing import host_device, registered, tiny_model
from edgebench.testing.remote_devices import free_port
from edgebench.transports.local import LocalTransport
from edgebench_onnxruntime import OnnxRuntimeBackend


class Fp32Only(OnnxRuntimeBackend):
    name = "rf-fp32only"
    precisions = ("fp32",)


class Refuses(OnnxRuntimeBackend):
    """Every export fails the same way: one cause over every job."""

    name = "rf-refuses"

    def export(self, module, spec, precision, calibration, out):  # type: ignore[no-untyped-def]
        raise ExportError("the converter is not installed on this machine")


class NotInstalled(OnnxRuntimeBackend):
    """A backend whose runtime is missing on this machine."""

    name = "rf-missing"

    def unavailable_reason(self):  # type: ignore[no-untyped-def]
        return "pip install 'edgebench[rf]'"


class Plugin:
    __name__ = "run-failures"

    @hookimpl
    def edgebench_register_backends(self, register):
        register(Fp32Only())
        register(Refuses())
        register(NotInstalled())

    @hookimpl
    def edgebench_register_models(self, register):
        register(tiny_model("rf-tiny"))
        register(tiny_model("rf-tiny3", scale=3, channels=4))


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """This test's own temp folder: what the harness and the studies leave there is theirs alone."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def invoke(db: Path, *args: str):  # type: ignore[no-untyped-def]
    with registered(Plugin()):
        return CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)


def stored(db: Path) -> tuple[list[dict], list[dict]]:
    store = Store.open(db)
    try:
        return store.runs(), store.results()
    finally:
        store.close()


def lines(output: str, start: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(start)]


# -- 5: a backend without a precision or delegate skips those jobs ---------------------------------
def test_plan_skips_what_one_backend_lacks_and_fails_only_when_nothing_can_run():
    ort, fp32 = backends.get("onnxruntime"), Fp32Only()
    models = [tiny_model("a"), tiny_model("b"), tiny_model("c")]
    jobs = plan(models, [ort, fp32], ["fp32", "int8"], None, host_device())
    assert isinstance(jobs, Plan) and isinstance(jobs, list)
    assert sorted((j.backend.name, j.precision) for j in jobs) == sorted(
        [("onnxruntime", "fp32")] * 3 + [("onnxruntime", "int8")] * 3 + [("rf-fp32only", "fp32")] * 3)
    assert [(s.reason, s.jobs) for s in jobs.skipped] == [("backend 'rf-fp32only' has no int8", 3)]

    class XnnpackToo(OnnxRuntimeBackend):
        name = "rf-xnnpack"
        delegates = ("cpu", "xnnpack")

    class CpuOnly(OnnxRuntimeBackend):
        name = "rf-cpuonly"
        delegates = ("cpu",)

    mixed = plan(models[:1], [CpuOnly(), XnnpackToo()], ["fp32"], ["xnnpack"], host_device())
    assert [(j.backend.name, j.delegate) for j in mixed] == [("rf-xnnpack", "xnnpack")]
    assert [(s.reason, s.jobs) for s in mixed.skipped] == [
        ("backend 'rf-cpuonly' has no delegate 'xnnpack'; it offers: cpu", 1)]
    # an explicit request that cannot run at all is still one error
    with pytest.raises(BackendUnavailable, match=r"^backend 'rf-fp32only' has no int8$"):
        plan(models, [fp32], ["int8"], None, host_device())
    assert plan(models, [ort], ["fp32"], None, host_device()).skipped == []


def test_an_fp32_only_backend_skips_its_int8_jobs_with_one_line(tmp_path):
    db = tmp_path / "r.db"
    result = invoke(db, "run", "--quick", "-m", "rf-tiny", "-b", "onnxruntime", "-b", "rf-fp32only", "--no-quality")
    assert result.exit_code == 0, result.output
    assert lines(result.output, "Skipped") == ["Skipped: backend 'rf-fp32only' has no int8: 1 job(s)"]
    runs, rows = stored(db)
    assert sorted((r["backend"], r["precision"]) for r in rows) == [
        ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("rf-fp32only", "fp32")]
    assert [r["status"] for r in runs] == ["finished"]

    alone = invoke(db, "run", "--quick", "-m", "rf-tiny", "-b", "rf-fp32only", "-p", "int8")
    assert alone.exit_code == 1 and lines(alone.output, "Error") == ["Error: backend 'rf-fp32only' has no int8"]
    assert len(stored(db)[0]) == 1  # no run stored for it


# -- 6: --dataset is checked before anything runs -------------------------------------------------
def _photo(path: Path) -> None:
    from PIL import Image

    from edgebench.data import photos

    Image.fromarray(photos("eval")[0][1][:96, :120]).save(path)


@pytest.mark.parametrize("case", ["missing", "empty", "only-broken"])
def test_a_bad_dataset_is_one_error_before_a_run_is_stored(tmp_path, scratch, case):
    folder = tmp_path / "ds"
    if case != "missing":
        folder.mkdir()
    if case == "only-broken":
        (folder / "broken.png").write_bytes(b"not a png")
    db = tmp_path / "r.db"
    result = invoke(db, "run", "--quick", "-m", "rf-tiny", "--dataset", str(folder))
    assert result.exit_code == 2, result.output
    error = result.output.strip()  # one line, and nothing else: no progress bar, no 'done 0/2'
    expected = {"missing": f"Error: dataset folder not found: {folder}",
                "empty": f"Error: no images (.bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp) in dataset folder {folder}",
                "only-broken": f"Error: no readable image in dataset folder {folder}: "
                               "broken.png (cannot identify image file)"}[case]
    assert error == expected
    assert not db.exists() or stored(db) == ([], [])
    assert list(scratch.iterdir()) == []  # the harness's scratch folder went too


def test_an_unreadable_image_is_skipped_with_a_warning_and_the_run_goes_on(tmp_path, scratch):
    folder = tmp_path / "ds"
    folder.mkdir()
    _photo(folder / "a-good.png")
    (folder / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n but the rest is gone")
    db = tmp_path / "r.db"
    result = invoke(db, "run", "--quick", "-m", "rf-tiny", "-m", "rf-tiny3", "-p", "fp32", "--dataset", str(folder))
    assert result.exit_code == 0, result.output
    (warning,) = lines(result.output, "Warning:")  # once, though two scales read the folder
    assert warning.startswith("Warning: skipped unreadable image x.png (") and str(folder) not in warning
    _, rows = stored(db)
    assert [r["n_images"] for r in rows] == [1, 1]
    assert list(scratch.iterdir()) == []


# -- 7: a run with no result is 'failed'; one cause over N jobs is one line ------------------------
def test_a_run_that_stores_nothing_is_failed_and_says_each_cause_once(tmp_path, scratch):
    db = tmp_path / "r.db"
    result = invoke(db, "run", "--quick", "-m", "rf-tiny", "-m", "rf-tiny3", "-b", "rf-refuses", "--no-quality")
    assert result.exit_code == 1, result.output
    (line,) = lines(result.output, "Skipped")
    assert line.startswith("Skipped (4 jobs): the converter is not installed on this machine [rf-tiny rf-refuses fp32 cpu; ")
    assert "rf-tiny3 rf-refuses int8 cpu]" in line
    runs, rows = stored(db)
    assert rows == [] and [r["status"] for r in runs] == ["failed"]
    assert list(scratch.iterdir()) == []


def test_failure_lines_group_by_cause_without_the_job_label():
    labels = [f"m{i} ort fp32 cpu" for i in range(6)]
    failures = [(label, f"{label} failed on device 'host': no runtime") for label in labels]
    failures.append(("m9 ort int8 cpu", "cannot export 'm9': boom"))
    assert _failure_lines(failures) == [
        "Skipped (6 jobs): failed on device 'host': no runtime",  # many: the count, not the list
        "Skipped: m9 ort int8 cpu: cannot export 'm9': boom",  # one job: as it always read
    ]
    assert _failure_lines(failures[:2]) == [
        "Skipped (2 jobs): failed on device 'host': no runtime [m0 ort fp32 cpu; m1 ort fp32 cpu]"]


# -- 9: nothing left behind ------------------------------------------------------------------------
class LostAfterFirst(LocalTransport):
    runs = 0

    def run(self, argv, *, timeout, cwd=None):  # type: ignore[no-untyped-def]
        LostAfterFirst.runs += "runner.py" in argv
        if LostAfterFirst.runs > 1:
            raise DeviceError("device 'host': connection lost")
        return super().run(argv, timeout=timeout, cwd=cwd)


def test_the_harness_scratch_folder_goes_when_the_run_raises(edgebench_store, scratch):
    device = host_device()
    jobs = plan([tiny_model("rf-tiny")], [backends.get("onnxruntime")], ["fp32", "int8"], None, device)
    harness = Harness(edgebench_store, device, Settings.quick(quality_images=1), transport=LostAfterFirst(device))
    with pytest.raises(DeviceError, match="connection lost"):
        harness.run(jobs)
    assert list(scratch.iterdir()) == []
    assert [r["status"] for r in edgebench_store.runs()] == ["failed"]


def test_zoo_study_specs_leave_no_temp_folder_and_keep_their_weights(scratch):
    torch = pytest.importorskip("torch")
    from edgebench_zoo.runtime import artifact_outputs, spec_for

    from edgebench.data import calibration_inputs
    from edgebench.errors import UnknownName
    from edgebench.testing import reference_output

    module = tiny_model("rf-zoo").load()
    with torch.no_grad():
        for p in module.parameters():  # weights no fresh build has: the artifact must carry these
            p.add_(0.01)
    spec, _ = spec_for(module, "rf-zoo", 2)
    image = calibration_inputs(2, (12, 16), count=1)[0]
    (out,) = artifact_outputs(spec, "fp32", [image])
    expected = reference_output(spec, image)[0]
    assert abs(out.astype(int) - expected.astype(int)).max() <= 1
    assert abs(out.astype(int) - reference_output(tiny_model("rf-zoo"), image)[0].astype(int)).max() > 1

    with torch.no_grad():
        for p in module.parameters():
            p.mul_(0.5)
    assert spec_for(module, "rf-zoo", 2)[0].fingerprint != spec.fingerprint  # other weights, other artifact
    with pytest.raises(UnknownName):
        artifact_outputs(spec_for(module, "rf-zoo", 2)[0], "fp32", [image], backend="no-such-backend")
    assert list(scratch.iterdir()) == []
    assert not list(Path(tempfile.gettempdir()).glob("edgebench-zoo-*"))


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _adb_servers(port: int) -> list[str]:
    found = subprocess.run(["pgrep", "-af", f"adb.*tcp:{port}.*fork-server"], capture_output=True, text=True)
    return found.stdout.splitlines()


@pytest.fixture
def black_hole():
    """A loopback port whose accept queue is full: connecting there hangs, like a phone gone off Wi-Fi."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        pytest.skip("this kernel accepts past a full backlog: no black hole to test with")
    except OSError:
        pass
    yield port
    for s in [*fillers, listener]:
        s.close()


@pytest.mark.parametrize("target", ["closed", "black-hole"])
def test_devices_check_of_an_absent_phone_is_quick_and_leaves_no_adb_server(tmp_path, monkeypatch, request, target):
    if shutil.which("adb") is None:
        pytest.skip("no adb client")
    monkeypatch.setenv("HOME", str(tmp_path))  # adb keeps its keys under ~/.android
    port = request.getfixturevalue("black_hole") if target == "black-hole" else free_port()
    server = free_port()  # no server there: the check may start one, and must stop it
    started = time.monotonic()
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        cli, ["devices", "--check", "pixel", "--serial", f"127.0.0.1:{port}", "--device-option",
              f"server_port={server}"], catch_exceptions=False)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"no: device 'pixel' (adb 127.0.0.1:{port}) is unreachable:" in text, text
    assert elapsed < 3, elapsed
    time.sleep(0.3)
    assert not _port_open(server) and _adb_servers(server) == []


def test_a_backend_missing_its_runtime_is_skipped_while_others_measure(tmp_path):
    db = str(tmp_path / "missing.db")
    with registered(Plugin()):
        both = CliRunner().invoke(cli, ["--db", db, "run", "--quick", "-m", "rf-tiny", "-p", "fp32", "-b", "rf-missing",
                                        "-b", "onnxruntime", "--no-quality"])
        alone = CliRunner().invoke(cli, ["--db", db, "run", "--quick", "-m", "rf-tiny", "-b", "rf-missing"])
    assert both.exit_code == 0, both.output
    assert "Skipped: backend 'rf-missing' cannot run here: pip install 'edgebench[rf]'" in both.output
    assert "1 result(s) stored" in both.output
    assert alone.exit_code == 1 and alone.output.strip().splitlines()[-1] == (
        "Error: backend 'rf-missing' cannot run here: pip install 'edgebench[rf]'")
