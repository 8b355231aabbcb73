"""The power meters' parsing and the energy arithmetic, on records and numbers worked out by hand."""

from __future__ import annotations

import struct

import pytest

from edgebench.api import PowerTrace
from edgebench.energy import energy_per_inference, parse_spec
from edgebench.errors import PowerMeterError
from edgebench.testing.power_meters import rdtech_record
from edgebench_power.battery import detect_units, parse_samples
from edgebench_power.rdtech import decode
from edgebench_power.serial_csv import parse_columns, parse_line

# A UM25C's answer as pyummeter's tests hold it (tests/test_ummeter.py, "test_get_data_um25c_model"):
# 0.51 V, 0.0328 A, 1.672 W; the same bytes with the UM34C's id read as 5.10 V, 0.328 A.
PYUMMETER_UM25C = bytes.fromhex(
    "09c901fe01480000" "0688001400440008" "0000000b00000038" + "00" * 72
    + "0001000200070000" "001000000100000a" "000000f000000002" "00040001869f0002" "688c")


def test_um25c_record_from_a_published_capture_decodes_to_its_published_figures():
    record = PYUMMETER_UM25C
    assert len(record) == 130
    reading = decode(record)
    assert reading.model == "UM25C"
    assert reading.volts == pytest.approx(0.51) and reading.amps == pytest.approx(0.0328)
    assert reading.watts_field == pytest.approx(1.672)
    um34c = decode(b"\x0d\x4c" + record[2:])
    assert um34c.model == "UM34C" and um34c.volts == pytest.approx(5.10) and um34c.amps == pytest.approx(0.328)


def test_rdtech_records_are_refused_when_short_or_of_an_unknown_model():
    with pytest.raises(PowerMeterError, match="answered 129 bytes"):
        decode(PYUMMETER_UM25C[:129])
    with pytest.raises(PowerMeterError, match="unknown RDTech model id 0xffff"):
        decode(b"\xff\xff" + PYUMMETER_UM25C[2:])


def test_the_stand_in_record_round_trips_at_the_meter_resolution():
    record = rdtech_record("UM25C", 5.071, 0.6123)
    assert struct.unpack_from(">H", record, 128)[0] == 0x8068
    reading = decode(record)
    assert abs(reading.volts - 5.071) <= 0.0005 and abs(reading.amps - 0.6123) <= 0.00005


@pytest.mark.parametrize("spec, expected", [
    ("battery", ("battery", {})),
    ("um25c:/dev/rfcomm0", ("um25c", {"port": "/dev/rfcomm0"})),
    ("serial-csv:/dev/ttyACM0,baud=9600,columns=ms:mV:mA", ("serial-csv", {"port": "/dev/ttyACM0", "baud": "9600",
                                                                            "columns": "ms:mV:mA"})),
    ("battery:rate=25", ("battery", {"rate": "25"})),
])
def test_power_specs_parse(spec, expected):
    assert parse_spec(spec) == expected


def test_a_bare_option_after_the_first_is_one_line():
    with pytest.raises(PowerMeterError, match="is not KEY=VALUE"):
        parse_spec("um25c:/dev/rfcomm0,fast")


@pytest.mark.parametrize("currents, voltages, units, watts", [
    ([-400_000, -410_000, -1_200_000], [3_850_000] * 3, {"current": "uA", "voltage": "uV", "discharge_sign": "negative"},
     [1.54, 1.5785, 4.62]),
    ([400, 410, 1200], [3_850_000] * 3, {"current": "mA", "voltage": "uV", "discharge_sign": "positive"},
     [1.54, 1.5785, 4.62]),
    ([-400, -410, -1200], [3850] * 3, {"current": "mA", "voltage": "mV", "discharge_sign": "negative"},
     [1.54, 1.5785, 4.62]),
])
def test_fuel_gauge_units_and_sign_are_detected(currents, voltages, units, watts):
    amp, volt, sign, found = detect_units(currents, voltages)
    assert found == units
    assert [sign * c * amp * v * volt for c, v in zip(currents, voltages)] == pytest.approx(watts)


def test_battery_samples_drop_a_half_written_line():
    assert parse_samples("12.50 -400000 3850000\n12.55 -401000 3850000\n12.6") == [
        (12.5, -400000.0, 3850000.0), (12.55, -401000.0, 3850000.0)]


def test_csv_columns_and_lines():
    columns = parse_columns("ms:mV:mA")
    assert parse_line("1500,5000,200.5\r\n", columns) == (1.5, pytest.approx(1.0025))
    assert parse_line("t_ms,bus_mV,current_mA", columns) is None
    assert parse_line("INA219 ready", columns) is None
    assert parse_line("2.0,4.5", parse_columns("s:W")) == (2.0, 4.5)
    assert parse_line("7,-,300", parse_columns("-:-:mW")) == (None, pytest.approx(0.3))
    with pytest.raises(PowerMeterError, match="column unit 'kV'"):
        parse_columns("ms:kV:mA")
    with pytest.raises(PowerMeterError, match="need a power column"):
        parse_columns("ms:mV")


def test_energy_is_excess_power_times_median_latency_with_an_interval():
    # idle 1.0 W +- 0.1 for 2 s, then 3.0 W +- 0.1 for 2 s at 10 Hz; median latency 20 ms:
    # (3.0 - 1.0) W x 0.020 s = 40 mJ
    samples = [(i / 10, 1.0 + (0.1 if i % 2 else -0.1)) for i in range(20)]
    samples += [(2.0 + i / 10, 3.0 + (0.1 if i % 2 else -0.1)) for i in range(20)]
    trace = PowerTrace(samples, clock="host", resolution_w=0.001)
    energy = energy_per_inference(trace, (0.0, 1.95), (2.0, 3.95), [19.0, 20.0, 25.0], alignment_error_s=0.0)
    assert energy["mj_per_frame"] == pytest.approx(40.0)
    assert energy["ci_low_mj"] < 40.0 < energy["ci_high_mj"]
    # Welch: sd 0.1026 in both windows of 20 -> se 0.0324 W -> +-1.96 x 0.0324 x 20 ms = +-1.27 mJ
    assert energy["ci_high_mj"] - 40.0 == pytest.approx(1.27, abs=0.02)
    assert energy["n_idle"] == 20 and energy["n_run"] == 20 and energy["rate_hz"] == pytest.approx(10.0)
    assert energy["samples"][0] == [0.0, 0.9] and len(energy["samples"]) == 40


def test_samples_within_the_alignment_error_of_an_edge_are_left_out():
    samples = [(i / 10, 1.0) for i in range(20)] + [(2.0 + i / 10, 3.0) for i in range(20)]
    energy = energy_per_inference(PowerTrace(samples), (0.0, 1.95), (2.0, 3.95), [20.0], alignment_error_s=0.25)
    assert energy["n_run"] == 15  # 2.3 ... 3.7


def test_too_few_samples_say_what_to_change():
    samples = [(i / 10, 1.0) for i in range(20)] + [(2.0, 3.0)]
    with pytest.raises(PowerMeterError, match="only 1 power samples during the timed runs"):
        energy_per_inference(PowerTrace(samples), (0.0, 1.95), (2.0, 2.05), [20.0], alignment_error_s=0.0)
    with pytest.raises(PowerMeterError, match="only 0 power samples in the idle window"):
        energy_per_inference(PowerTrace(samples), (5.0, 6.0), (0.0, 2.0), [20.0], alignment_error_s=0.0)


def test_battery_check_reads_the_gauge_status_through_the_device_shell(tmp_path):
    from edgebench.devices import DeviceProfile
    from edgebench.energy import make_meter

    transport = DeviceProfile(name="host", transport="local", python="{python}").transport_obj()
    gauge = tmp_path / "bms"
    with pytest.raises(PowerMeterError, match=r"no readable fuel gauge at .*bms on this device \(cat: "):
        make_meter(f"battery:supply={gauge}", transport).check()
    gauge.mkdir()
    (gauge / "current_now").write_text("-412000\n")
    (gauge / "voltage_now").write_text("3871000\n")
    for status in ("Charging", "Full", "Not charging"):
        (gauge / "status").write_text(status + "\n")
        with pytest.raises(PowerMeterError, match=f"refused: the phone reports '{status}', not 'Discharging'"):
            make_meter(f"battery:{gauge}", transport).check()
    (gauge / "status").write_text("Discharging\n")
    make_meter(f"battery:{gauge}", transport).check()  # no error
    with pytest.raises(PowerMeterError, match="rate='fast' is not a number"):
        make_meter("battery:rate=fast", transport)


def test_correlated_samples_widen_the_interval_to_their_batch_means():
    # the same 40 run samples, alternating (independent-looking) or as one slow step (a meter that averages)
    idle = [(i / 10, 1.0 + (0.1 if i % 2 else -0.1)) for i in range(20)]
    alternating = [(2.0 + i / 20, 3.0 + (0.1 if i % 2 else -0.1)) for i in range(40)]
    step = [(2.0 + i / 20, 3.0 + (0.1 if i >= 20 else -0.1)) for i in range(40)]
    widths = []
    for run in (alternating, step):
        energy = energy_per_inference(PowerTrace(idle + run), (0.0, 1.95), (2.0, 3.95), [20.0], alignment_error_s=0.0)
        assert energy["mj_per_frame"] == pytest.approx(40.0)
        widths.append(energy["ci_high_mj"] - energy["ci_low_mj"])
    # batch means of the step: five at 2.9 W, five at 3.1 W -> se 0.0333 W (plain: 0.0160 W); idle se 0.0229 W
    assert widths[0] == pytest.approx(2 * 1.96 * (0.0229 ** 2 + 0.0160 ** 2) ** 0.5 * 20, rel=0.02)
    assert widths[1] == pytest.approx(2 * 1.96 * (0.0229 ** 2 + 0.0333 ** 2) ** 0.5 * 20, rel=0.02)
