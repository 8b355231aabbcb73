"""`edgebench run --power` on the virtual phone and board, against stand-ins that know the truth.

The stand-ins' power (edgebench.testing.power_load.LoadPower) follows the CPU time of the virtual
device's own processes, read from /proc; a meter sees it only through its protocol (the RDTech record,
CSV lines, the phone's fuel-gauge files). The truth is the stand-in's exact trace: its mean power above
the idle floor between the runner's own start and end stamps, times the stored median latency (the
issue's definition of energy per inference). Within 5 % is the acceptance bar.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from edgebench.store import Store
from edgebench.testing import invoke_cli
from edgebench.testing.power_load import LoadPower, cwd_under, descendants_of
from edgebench.testing.power_meters import CsvStandIn, RdtechStandIn

from conftest_remote import board, phone, workdir  # noqa: F401  (fixtures)

# a real workload: 180x320 keeps each inference well above the loop's own overhead; 3 s of timed runs
# give a 10 Hz meter 30 samples
RUN = ["run", "--model", "bicubic", "--precision", "int8", "--backend", "onnxruntime", "--size", "180x320",
       "--runs", "10", "--warmup", "2", "--min-time", "3", "--no-quality"]


def devices_dir() -> Path:
    return Path(os.environ["EDGEBENCH_DEVICES_DIR"])


def stored() -> list[dict]:
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        return store.results()
    finally:
        store.close()


def truth_mj(load: LoadPower, row: dict) -> float:
    """The stand-in's own mean excess power over the runner's timed region x the median latency (W x ms = mJ)."""
    start, end = row["energy"]["runner_window"]["wall"]  # the virtual devices share this machine's clock
    return load.excess_energy(start, end) / (end - start) * row["median_ms"]


def check_within_5_percent(load: LoadPower, row: dict) -> float:
    truth = truth_mj(load, row)
    error = row["energy_mj"] / truth - 1
    print(f"{row['energy']['meter']}: {row['energy_mj']:.3f} mJ/frame, truth {truth:.3f} ({error:+.1%}), "
          f"interval {row['energy_low_mj']:.3f}-{row['energy_high_mj']:.3f}, "
          f"alignment error {row['energy']['alignment_error_s'] * 1000:.1f} ms, {row['energy']['rate_hz']:.1f} Hz")
    assert abs(error) < 0.05, (row["energy_mj"], truth)
    assert truth > 1.0  # the device really worked: a zero-vs-zero comparison proves nothing
    return error


def test_um25c_on_the_virtual_board_stores_mj_per_frame_within_5_percent(board, workdir):  # noqa: F811
    board.write_profile(devices_dir())
    load = LoadPower(descendants_of(board.endpoint.proc.pid))
    with load, RdtechStandIn(workdir / "meter", load, model="UM25C") as meter:
        result = invoke_cli(*RUN, "--device", "serial-test", "--power", f"um25c:{meter.port}")
    assert result.exit_code == 0, result.output
    (row,) = stored()
    check_within_5_percent(load, row)
    energy = row["energy"]
    assert energy["units"] == {"model": "UM25C", "voltage": "1 mV", "current": "0.1 mA"}
    assert energy["clock"] == "host" and 0 < energy["alignment_error_s"] < 0.5
    assert energy["n_run"] >= 20 and meter.requests >= len(energy["samples"])
    times = [t for t, _ in energy["samples"]]
    assert times == sorted(times) and all(w > 0 for _, w in energy["samples"])  # raw (time, watts) kept
    assert row["energy_low_mj"] < row["energy_mj"] < row["energy_high_mj"]


def test_a_um34c_named_um25c_is_read_with_its_own_units_and_said_so(board, workdir):  # noqa: F811
    board.write_profile(devices_dir())
    load = LoadPower(descendants_of(board.endpoint.proc.pid))
    with load, RdtechStandIn(workdir / "meter", load, model="UM34C") as meter:
        result = invoke_cli(*RUN, "--device", "serial-test", "--power", f"um25c:{meter.port}")
    assert result.exit_code == 0, result.output
    (row,) = stored()
    assert row["energy"]["units"]["model"] == "UM34C" and "UM34C" in row["energy"]["units"]["note"]
    assert "a UM34C answered as --power um25c" in " ".join(result.output.split())
    check_within_5_percent(load, row)  # 10 mV / 1 mA steps: still within 5 %


def test_serial_csv_on_the_microcontrollers_clock_is_aligned_and_within_5_percent(board, workdir):  # noqa: F811
    board.write_profile(devices_dir())
    load = LoadPower(descendants_of(board.endpoint.proc.pid))
    with load, CsvStandIn(workdir / "ina", load, clock_offset_s=-1234.5) as meter:
        result = invoke_cli(*RUN, "--device", "serial-test", "--power", f"serial-csv:{meter.port},columns=ms:mV:mA")
    assert result.exit_code == 0, result.output
    (row,) = stored()
    check_within_5_percent(load, row)
    energy = row["energy"]
    assert energy["units"]["clock"].startswith("microcontroller")
    # the samples were moved from the microcontroller's clock onto the host's (t0 is on the host's clock)
    start, _ = energy["runner_window"]["wall"]
    assert abs(energy["t0"] + energy["timed_window"][0] - start) < 0.2
    assert energy["alignment_error_s"] < 0.2


@pytest.mark.parametrize("unit, negative", [("uA", True), ("mA", False)])
def test_battery_on_the_virtual_phone_stores_mj_per_frame_within_5_percent(phone, unit, negative):  # noqa: F811
    phone.write_profile(devices_dir())
    os.environ.update(phone.env)
    load = LoadPower(cwd_under(phone.endpoint.root))
    phone.endpoint.set_android_state(plugged="none")
    with load:
        phone.endpoint.simulate_battery(load.watts, current_unit=unit, discharge_negative=negative)
        result = invoke_cli(*RUN, "--device", "pixel-test", "--power", "battery")
        phone.endpoint.stop_battery()
    assert result.exit_code == 0, result.output
    (row,) = stored()
    check_within_5_percent(load, row)
    energy = row["energy"]
    assert energy["units"] == {"current": unit, "voltage": "uV", "discharge_sign": "negative" if negative else "positive"}
    assert energy["clock"] == "device-uptime" and energy["rate_hz"] >= 10
    text = " ".join(result.output.split())  # the run says what it found (the console wraps lines)
    assert f"from battery (current {unit}, voltage uV, discharge_sign {'negative' if negative else 'positive'};" in text
    # the sampling loop's folder is gone from the phone
    assert not [p for p in (phone.endpoint.root / "data/local/tmp").rglob("samples.txt")]


def test_a_charging_phone_refuses_the_battery_meter_with_one_line(phone):  # noqa: F811
    phone.write_profile(devices_dir())
    os.environ.update(phone.env)
    phone.endpoint.set_android_state(plugged="usb")
    result = invoke_cli(*RUN, "--device", "pixel-test", "--power", "battery")
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "'Charging'" in errors[0] and "unplug" in errors[0], result.output
    assert stored() == []


def test_a_meter_unplugged_mid_run_keeps_the_latency_without_energy(board, workdir):  # noqa: F811
    board.write_profile(devices_dir())
    load = LoadPower(descendants_of(board.endpoint.proc.pid))
    with load, RdtechStandIn(workdir / "meter", load) as meter:
        # the idle window is 2 s and the runner then needs ~1 s to start: 4.5 s lands in the timed runs
        pull = threading.Timer(4.5, meter.kill)
        pull.start()
        try:
            result = invoke_cli(*RUN, "--min-time", "5", "--device", "serial-test", "--power", f"um25c:{meter.port}")
        finally:
            pull.cancel()
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert text.count("stopped answering mid-run") == 1, result.output
    assert "power meter um25c stopped answering mid-run" in text and "latency kept, no energy stored" in text
    (row,) = stored()
    assert row["energy_mj"] is None and row["energy"] is None and row["median_ms"] > 0 and row["n_runs"] >= 10
    assert "stopped answering" in row["extra"]["energy_error"]


def test_an_unknown_meter_or_option_is_one_line_before_anything_runs():
    result = invoke_cli(*RUN, "--device", "host", "--power", "wattmeter")
    assert result.exit_code == 2 and "unknown power meter 'wattmeter'" in result.output
    assert "battery" in result.output and "um25c" in result.output
    result = invoke_cli(*RUN, "--device", "host", "--power", "um25c:/dev/x,fast")
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.output
    assert stored() == []


def test_a_meter_port_that_does_not_exist_refuses_the_run(tmp_path):
    result = invoke_cli(*RUN, "--device", "host", "--power", f"um25c:{tmp_path / 'rfcomm9'}")
    assert result.exit_code != 0
    assert "cannot open" in result.output and "rfcomm9" in result.output
    assert json.dumps(stored()) == "[]"
