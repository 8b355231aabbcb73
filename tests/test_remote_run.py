"""`edgebench run` on the virtual phone and the Raspberry Pi stand-in, through the same harness path
as the host, then one leaderboard with all three devices."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from edgebench import plugins
from edgebench.cli import cli
from edgebench.errors import DeviceError
from edgebench.harness import Harness, Settings, SilentReporter, plan
from edgebench.store import Store

from edgebench.testing.remote_devices import virtual_pixel

from conftest_remote import board, need, need_rootfs, phone, pi, workdir  # noqa: F401  (fixtures)

QUICK = ["--model", "bicubic", "--precision", "int8", "--quick", "--quality-images", "1"]


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def user_devices() -> os.PathLike[str]:
    return os.environ["EDGEBENCH_DEVICES_DIR"]  # per-test folder (tests/conftest.py)


def test_run_on_phone_pi_and_host_then_one_leaderboard(phone, pi):
    from pathlib import Path

    phone.write_profile(Path(user_devices()))
    pi.write_profile(Path(user_devices()))
    checked = invoke("devices", "--check", "pixel-test", "rpi-test").output
    assert checked.count("yes") == 2, checked

    for device, backend in (("pixel-test", "onnxruntime"), ("rpi-test", "onnxruntime"), ("host", "onnxruntime")):
        result = invoke("run", "--device", device, "--backend", backend, *QUICK)
        assert result.exit_code == 0, result.output
        assert "1 result(s) stored" in result.output
    # the trained int8 models inside the arm64 userland too
    result = invoke("run", "--device", "rpi-test", *QUICK, "--model", "abpn", "--model", "scsrn")
    assert result.exit_code == 0, result.output
    assert "3 result(s) stored" in result.output

    # each run removed its work dir from the device (onnxruntime may leave its own .ses file)
    assert not list((phone.endpoint.root / "data/local/tmp").glob("edgebench-*"))
    pi_shell = pi.profile(Path(user_devices())).transport_obj()
    assert "edgebench-" not in pi_shell.run(["ls", "-A", "/tmp"], timeout=30).stdout
    pi_shell.close()

    rows = json.loads(invoke("leaderboard", "--include-quick", "--format", "json").output)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert {r["device"] for r in rows} == {"pixel-test", "rpi-test", "host"}

    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        runs = {r["device"]: r for r in store.runs()}
        results = {r["device"]: r for r in store.results("model = ?", ["bicubic"])}
    finally:
        store.close()
    assert runs["pixel-test"]["device_info"]["model"] == "Pixel 7"
    assert runs["pixel-test"]["device_info"]["android"] == "14"
    assert results["pixel-test"]["environment"]["affinity"] == [0]  # taskset from the profile
    assert runs["rpi-test"]["device_info"]["machine"] == "aarch64"
    assert results["rpi-test"]["environment"]["machine"] == "aarch64"  # the runner ran as arm64 code
    assert results["rpi-test"]["runtime"]["version"] == "1.32.0"
    # the same int8 artifact gives the same pixels on every device
    assert results["rpi-test"]["psnr"] == pytest.approx(results["host"]["psnr"], abs=0.05)
    assert results["pixel-test"]["psnr"] == pytest.approx(results["host"]["psnr"], abs=0.05)
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        last_pi_run = max(r["id"] for r in store.runs() if r["device"] == "rpi-test")
        on_pi = {r["model"]: r for r in store.results("run_id = ?", [last_pi_run])}
    finally:
        store.close()
    assert set(on_pi) == {"bicubic", "abpn", "scsrn"}
    assert all(r["environment"]["machine"] == "aarch64" and r["precision"] == "int8" for r in on_pi.values())
    assert on_pi["abpn"]["psnr"] > on_pi["bicubic"]["psnr"] and on_pi["scsrn"]["psnr"] > on_pi["bicubic"]["psnr"]


class KillAfterFirst(SilentReporter):
    def __init__(self, endpoint) -> None:  # type: ignore[no-untyped-def]
        self.endpoint = endpoint

    def done(self, job, row) -> None:  # type: ignore[no-untyped-def]
        self.endpoint.stop()  # the phone disappears once the first model is measured


def test_phone_lost_mid_run_names_the_device_and_keeps_finished_results(phone, workdir, tmp_path):  # noqa: F811
    profile = phone.profile(workdir / "profiles")
    jobs = plan([plugins.models.get("bicubic")], [plugins.backends.get("onnxruntime")], ["int8", "fp32"],
                None, profile)
    store = Store.open(tmp_path / "lost.db")
    try:
        harness = Harness(store, profile, Settings.quick(quality_images=1), reporter=KillAfterFirst(phone.endpoint))
        with pytest.raises(DeviceError, match="device 'pixel-test'") as caught:
            harness.run(jobs)
        assert "\n" not in str(caught.value)
        assert [r["precision"] for r in store.results()] == ["int8"]
        assert store.runs()[0]["status"] == "failed"
    finally:
        store.close()


def test_run_on_a_phone_whose_shell_is_arm64(workdir):  # noqa: F811
    need("adb")
    with virtual_pixel(workdir, rootfs=need_rootfs()) as arm_phone:
        from pathlib import Path

        arm_phone.write_profile(Path(user_devices()))
        result = invoke("run", "--device", "pixel-test", *QUICK)
        assert result.exit_code == 0, result.output
        store = Store.open(os.environ["EDGEBENCH_DB"])
        try:
            (row,) = store.results()
            info = store.runs()[0]["device_info"]
        finally:
            store.close()
        assert row["environment"]["machine"] == "aarch64" and info["kernel"].endswith("aarch64")
        assert info["abi"] == "arm64-v8a" and row["psnr"] > 20
        assert arm_phone.endpoint.resolve("/data/local/tmp").is_dir()
        assert not list((arm_phone.endpoint.rootfs / "tmp").iterdir())  # the cached userland untouched


def test_run_on_a_board_behind_a_serial_console(board):
    from pathlib import Path

    board.write_profile(Path(user_devices()))
    result = invoke("run", "--device", "serial-test", *QUICK)
    assert result.exit_code == 0, result.output
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        (row,) = store.results()
    finally:
        store.close()
    assert row["device"] == "serial-test" and row["psnr"] > 20 and row["n_runs"] >= 1


def test_cool_to_waits_for_the_device_and_flags_a_hot_start(phone):
    from pathlib import Path

    phone.write_profile(Path(user_devices()))
    phone.endpoint.set_temperature(0, 82.0, "cpu-thermal")
    hot = invoke("run", "--device", "pixel-test", *QUICK, "--cool-to", "60", "--cool-timeout", "1")
    assert hot.exit_code == 0, hot.output
    phone.endpoint.set_temperature(0, 41.0, "cpu-thermal")
    cool = invoke("run", "--device", "pixel-test", *QUICK, "--cool-to", "60")
    assert cool.exit_code == 0, cool.output

    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        first, second = store.results()
    finally:
        store.close()
    assert first["thermal"]["cooldown"]["reached"] is False
    assert first["thermal"]["cooldown"]["end"] == {"thermal_zone0:cpu-thermal": 82.0}
    assert "hot-start" in [w["code"] for w in first["warnings"]]
    assert second["thermal"]["cooldown"]["reached"] is True
    assert "hot-start" not in [w["code"] for w in second["warnings"]]
    board = invoke("leaderboard", "--include-quick", "--format", "json", "--latest").output
    assert "hot-start" not in board  # the latest result started cool


def test_serial_and_device_options_override_the_profile(phone):
    from pathlib import Path

    real = phone.values["serial"]
    wrong = dict(phone.values, serial="127.0.0.1:9")  # nothing listens there
    from edgebench.testing.remote_devices import write_profile

    write_profile(phone.template, Path(user_devices()), **wrong)
    lost = invoke("run", "--device", "pixel-test", *QUICK)
    assert lost.exit_code != 0 and "pixel-test" in lost.output
    found = invoke("run", "--device", "pixel-test", *QUICK, "--serial", real)
    assert found.exit_code == 0, found.output
    by_option = invoke("run", "--device", "pixel-test", *QUICK, "--device-option", f"serial={real}")
    assert by_option.exit_code == 0, by_option.output
    both = invoke("run", "--device", "pixel-test", *QUICK, "--serial", real, "--device-option", "serial=127.0.0.1:9")
    assert both.exit_code == 0, both.output  # --serial wins over --device-option serial=
    bad = invoke("run", "--device", "pixel-test", *QUICK, "--device-option", "novalue")
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
