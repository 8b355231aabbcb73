"""Thermal-zone parsing (reading zones and cooling down on real endpoints: test_transport_contract)."""

from edgebench.thermal import hottest, is_hot, parse_zones

# `for z in /sys/class/thermal/thermal_zone*` output shaped like a Pixel's: a disabled zone reads
# -273000 and a sensor with no type file
PHONE = """thermal_zone0 41200 BIG
thermal_zone1 39850 MID
thermal_zone2 -273000 disabled_sensor
thermal_zone3 36000 battery
thermal_zone4 junk unknown
thermal_zone5 35500
"""


def test_parse_zones_keeps_plausible_readings_named_like_the_runner():
    assert parse_zones(PHONE) == {"thermal_zone0:BIG": 41.2, "thermal_zone1:MID": 39.85,
                                  "thermal_zone3:battery": 36.0, "thermal_zone5:unknown": 35.5}


def test_hottest_and_is_hot_by_zone_name():
    temps = parse_zones(PHONE)
    assert hottest(temps) == 41.2 and hottest(temps, ["battery"]) == 36.0 and hottest({}) is None
    assert is_hot(temps, 40) and not is_hot(temps, 40, zones=["battery"]) and not is_hot({}, 0)


class _FailingShell:
    """A device whose thermal read fails (SELinux denies /sys/class/thermal on some phones)."""

    def run(self, argv, *, timeout, cwd=None):  # type: ignore[no-untyped-def]
        from edgebench.api import CommandResult

        return CommandResult(1, "", "sh: /sys/class/thermal/thermal_zone0/temp: Permission denied")


def test_a_failed_temperature_read_is_unknown_never_cool():
    from edgebench import stats
    from edgebench.thermal import cool_down

    waited = cool_down(_FailingShell(), threshold_c=60, timeout_s=5, sleep=lambda s: None)
    assert waited.reached is None and not waited.hot and waited.to_dict()["reached"] is None
    summary = stats.summarize([10.0] * 12)
    codes = [w.code for w in stats.check(summary, {"cooldown": waited.to_dict()})]
    assert codes == ["thermal-unknown"]  # neither passed as cool nor called hot
