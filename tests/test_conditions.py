"""Conditions of a result: parsers on published dumpsys and /proc outputs, judging, warnings, the
runner's own load window on this machine, the snapshot script in every shell here, and a snapshot
of the virtual phone over the real adb client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgebench import runner
from edgebench.api import CommandResult
from edgebench.conditions import (SNAPSHOT_SCRIPT, busy_warning, clusters_of, conditions_warnings, judge,
                                  parse_battery, parse_power, parse_proc_stat, parse_snapshot, parse_stat_cpu,
                                  parse_thermalservice, snapshot, summary)
from edgebench.errors import DeviceTimeout
from edgebench.testing.adb_endpoint import _DUMPSYS
from edgebench.testing.remote_devices import virtual_pixel

from conftest_remote import need, need_rootfs, phone, workdir  # noqa: F401  (fixtures)

DATA = Path(__file__).parent / "data" / "dumpsys"


def data(name: str) -> str:
    return (DATA / name).read_text()


# -- published outputs ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("battery_samsung_mcloud150.txt",  # full: USB powered but status 5, so not charging
     {"battery_level": 100, "plugged": "usb", "charging": False, "battery_temp_c": 30.9}),
    ("battery_pixel_c_syzkaller79.txt",
     {"battery_level": 19, "plugged": "ac", "charging": True, "battery_temp_c": 27.5}),
    ("battery_emulator_appium133.txt",
     {"battery_level": 89, "plugged": "ac", "charging": True, "battery_temp_c": 0.0}),
    ("battery_samsung_gh0st.txt",
     {"battery_level": 84, "plugged": "usb", "charging": True, "battery_temp_c": 32.6}),
])
def test_dumpsys_battery_published(name, expected):
    assert parse_battery(data(name)) == expected


@pytest.mark.parametrize("name", ["power_samsung_uiautomator2_444.txt", "power_kitkat_python_androidtv_112.txt"])
def test_dumpsys_power_published_screens_are_on(name):
    assert parse_power(data(name)) == {"screen": "on"}


def test_dumpsys_power_display_state_wins_over_wakefulness():
    # an always-on display: the device dozes, the panel says DOZE; an old Android says only mScreenOn
    assert parse_power("  mWakefulness=Dozing\n\nDisplay Power: state=DOZE\n") == {"screen": "doze"}
    assert parse_power("  mWakefulness=Awake\nDisplay Power: state=OFF\n") == {"screen": "off"}
    assert parse_power("  mWakefulness=Asleep\n") == {"screen": "off"}
    assert parse_power("  mScreenOn=false\n") == {"screen": "off"}
    assert parse_power("nothing useful\n") == {}


def test_dumpsys_thermalservice_samsung_a52_reads_the_hal_block():
    out = parse_thermalservice(data("thermalservice_samsung_a52_android12.txt"))
    assert out == {"thermal_status": 0, "hal_temps": {
        "AP": 25.6, "BAT": 23.8, "LRB": 24.7, "LRF": 24.7, "LRP": 24.7, "PA": 25.7,
        "SUBBAT": 0.0, "SUBBATRAW": 0.0, "USB": 0.0}}


def test_dumpsys_thermalservice_moderate_status_and_current_not_cached_values():
    out = parse_thermalservice(data("thermalservice_status2_memfault_bort.txt"))
    assert out["thermal_status"] == 2
    # the cached block said battery 25.0 and skin 45.05: the HAL's current answer is what counts
    assert out["hal_temps"]["battery"] == 43.8 and out["hal_temps"]["skin"] == 44.637
    assert len(out["hal_temps"]) == 11 and out["hal_temps"]["CPU6"] == 48.2


def test_dumpsys_thermalservice_aidl_hal():
    out = parse_thermalservice(data("thermalservice_samsung_aidl_memfault_bort.txt"))
    assert out == {"thermal_status": 0, "hal_temps": {
        "AP": 34.6, "BAT": 25.2, "PA": 30.0, "SKIN": 28.2, "SUBBAT": 0.0, "USB": 25.8}}


def test_dumpsys_thermalservice_override_and_battery_current_limit_records():
    text = ("IsStatusOverride: true\nThermal Status: 4\nCurrent temperatures from HAL:\n"
            "\tTemperature{mValue=4.1, mType=6, mName=vbat, mStatus=0}\n"
            "\tTemperature{mValue=30.8, mType=3, mName=test temperature sensor, mStatus=0}\n"
            "Current cooling devices from HAL:\n\tTemperature{mValue=99.0, mType=0, mName=late, mStatus=0}\n")
    assert parse_thermalservice(text) == {"thermal_status": 4, "thermal_status_overridden": True,
                                          "hal_temps": {"test temperature sensor": 30.8}}


def test_proc_stat_cpu_lines_published():
    rhel4 = data("proc_stat_rhel4_8cpu.txt").splitlines()[0]  # 7 counters: no steal yet
    assert parse_stat_cpu(rhel4) == {"busy": 260437, "total": 118852722}
    modern = data("proc_stat_novaordis_2cpu.txt").splitlines()[0]  # 10 counters; guest is inside user
    assert parse_stat_cpu(modern) == {"busy": 69936920, "total": 1120875251}
    assert parse_stat_cpu(data("proc_stat_novaordis_2cpu.txt").splitlines()[1]) is None  # cpu0, not cpu


def test_proc_pid_stat_published_and_hostile_comm():
    assert parse_proc_stat(data("proc_pid_stat_novaordis.txt").strip()) == (
        972, {"comm": "docker-containe", "jiffies": 766, "start": 1820})
    hostile = "4242 (Web (Content) 2) R 1 1 1 0 -1 0 0 0 0 0 70 30 0 0 20 0 1 0 555 0 0"
    assert parse_proc_stat(hostile) == (4242, {"comm": "Web (Content) 2", "jiffies": 100, "start": 555})
    assert parse_proc_stat("4242 (short) R 1 2 3") is None and parse_proc_stat("garbage") is None


def published_snapshot() -> str:
    """The script's output shape, its sections filled with the published outputs above."""
    return "\n".join([
        "@@uptime", "35.12 60.40",
        "@@stat", data("proc_stat_novaordis_2cpu.txt").splitlines()[0],
        "@@procs", data("proc_pid_stat_novaordis.txt").strip(),
        "@@loadavg", data("proc_loadavg_stackoverflow.txt").strip(),
        "@@cpufreq", "cpu0 1803000 1197000 schedutil", "cpu1 1803000 - schedutil",
        "cpu2 2850000 2850000 performance",
        "@@thermal", "thermal_zone0 48500 cpu-thermal", "thermal_zone1 -273000 disabled",
        "@@battery", data("battery_pixel_c_syzkaller79.txt"),
        "@@power", "  mWakefulness=Awake", "Display Power: state=ON",
        "@@thermalservice", data("thermalservice_status2_memfault_bort.txt"),
        "@@end", ""])


def test_parse_snapshot_of_published_sections():
    snap = parse_snapshot(published_snapshot())
    assert snap["uptime_s"] == 35.12 and snap["loadavg"] == [0.75, 0.35, 0.25]
    assert snap["cpu_jiffies"] == {"busy": 69936920, "total": 1120875251}
    assert snap["procs"] == {972: {"comm": "docker-containe", "jiffies": 766, "start": 1820}}
    assert snap["cpus"] == {0: {"max_khz": 1803000, "cur_khz": 1197000, "governor": "schedutil"},
                            1: {"max_khz": 1803000, "cur_khz": None, "governor": "schedutil"},
                            2: {"max_khz": 2850000, "cur_khz": 2850000, "governor": "performance"}}
    assert snap["temps"] == {"thermal_zone0:cpu-thermal": 48.5}
    android = dict(snap["android"])
    assert len(android.pop("hal_temps")) == 11
    assert android == {"battery_level": 19, "plugged": "ac", "charging": True, "battery_temp_c": 27.5,
                       "screen": "on", "thermal_status": 2}


@pytest.mark.parametrize("text", ["", "@@", "@@stat\ncpu a b c d\n@@procs\n1 (x\n@@uptime\nnan? 3",
                                  "\x00\x01@@loadavg\n1 2\n@@cpufreq\ncpuX 1 2 3\ncpu1 1\n",
                                  "@@battery\nlevel: many\nscale: 0\n@@thermalservice\nThermal Status: hot\n"])
def test_parse_snapshot_never_raises_on_odd_input(text):
    snap = parse_snapshot(text)
    assert "cpu_jiffies" not in snap and "procs" not in snap and "loadavg" not in snap


# -- judging --------------------------------------------------------------------------------------
def snap(uptime: float, busy: int, procs: dict[int, tuple[str, int, int]], **extra) -> dict:
    return {"uptime_s": uptime, "loadavg": [0.5, 0.4, 0.3], "cpu_jiffies": {"busy": busy, "total": busy * 4},
            "procs": {pid: {"comm": c, "jiffies": j, "start": s} for pid, (c, j, s) in procs.items()}, **extra}


RUNNER_PID = 777


def window_pair(other_ticks: int) -> tuple[dict, dict]:
    """1 s (100 ticks) apart: the runner burns 95 ticks, kswapd0 2, chrome ``other_ticks``."""
    before = snap(100.0, 50_000, {RUNNER_PID: ("python3", 400, 9_000), 4242: ("chrome", 1_000, 500),
                                  38: ("kswapd0", 70, 1), 5: ("idle thing", 3, 1)})
    after = snap(101.0, 50_000 + 95 + 2 + other_ticks,
                 {RUNNER_PID: ("python3", 495, 9_000), 4242: ("chrome", 1_000 + other_ticks, 500),
                  38: ("kswapd0", 72, 1), 5: ("idle thing", 3, 1)})
    return before, after


def test_judge_busy_when_another_process_burned_a_third_of_a_core():
    before, after = window_pair(30)
    record = judge(before, after, own_cpu_s=0.95, own_pid=RUNNER_PID)
    assert record["source"] == "snapshots" and record["window_s"] == 1.0
    assert record["others_cores"] == 0.32 and record["busy"] is True
    assert record["busiest"] == [{"pid": 4242, "comm": "chrome", "cpu_s": 0.3, "cores": 0.3},
                                 {"pid": 38, "comm": "kswapd0", "cpu_s": 0.02, "cores": 0.02}]
    assert "procs" not in record["before"] and record["before"]["loadavg"] == [0.5, 0.4, 0.3]
    warning = busy_warning(record)
    assert warning.code == "busy" and warning.message == (
        "other processes used 0.32 cores during the measurement (busiest: chrome 0.30, kswapd0 0.02)")
    assert "rerun" in warning.hint


def test_judge_not_busy_at_five_hundredths_of_a_core():
    before, after = window_pair(3)  # chrome 0.03 + kswapd0 0.02
    record = judge(before, after, own_cpu_s=0.95, own_pid=RUNNER_PID)
    assert record["others_cores"] == 0.05 and record["busy"] is False
    assert busy_warning(record) is None and conditions_warnings(record) == []


def test_judge_takes_own_cpu_from_the_process_table_when_not_told():
    before, after = window_pair(30)
    by_pid = judge(before, after, own_pid=RUNNER_PID)  # the runner's 0.95 s comes from its own row
    assert by_pid["others_cores"] == 0.32 and [b["comm"] for b in by_pid["busiest"]] == ["chrome", "kswapd0"]
    unknown = judge(before, after)  # a python runner is ours only by its pid: else it is a load
    assert unknown["others_cores"] == 1.27 and unknown["busiest"][0]["comm"] == "python3"


def test_judge_names_a_process_born_in_the_window_and_survives_pid_reuse():
    before, after = window_pair(0)
    after["procs"][4242] = {"comm": "dex2oat64", "jiffies": 40, "start": 10_050}  # pid reused mid-window
    after["procs"][9001] = {"comm": "benchmark_model", "jiffies": 90, "start": 10_010}  # ours, by name
    after["cpu_jiffies"]["busy"] += 40 + 90
    record = judge(before, after, own_cpu_s=0.95, own_pid=RUNNER_PID)
    assert record["busiest"][0] == {"pid": 4242, "comm": "dex2oat64", "cpu_s": 0.4, "cores": 0.4}
    assert all(b["comm"] != "benchmark_model" for b in record["busiest"])


def test_judge_window_starts_where_the_first_script_stopped_reading():
    before, after = window_pair(30)
    # the first snapshot's dumpsys kept system_server busy 0.2 s before its closing counters
    before["end"] = snap(100.5, 50_020, {4242: ("chrome", 1_000, 500), 38: ("kswapd0", 70, 1),
                                         RUNNER_PID: ("python3", 400, 9_000), 600: ("system_server", 920, 2)})
    before["procs"][600] = {"comm": "system_server", "jiffies": 900, "start": 2}
    after["procs"][600] = {"comm": "system_server", "jiffies": 920, "start": 2}
    record = judge(before, after, own_cpu_s=0.95, own_pid=RUNNER_PID)
    assert record["window_s"] == 0.5 and record["others_cores"] == round((1.27 - 0.2 - 0.95) / 0.5, 3)
    assert [b["comm"] for b in record["busiest"]] == ["chrome", "kswapd0"]  # not system_server


def test_judge_prefers_the_runners_window():
    before, after = window_pair(30)
    window = {"window_s": 2.5, "hz": 100, "busy_s": 3.0, "own_cpu_s": 2.4, "others_cores": 0.24,
              "busiest": [{"pid": 88, "comm": "surfaceflinger", "cpu_s": 0.5, "cores": 0.2}]}
    record = judge(before, after, own_cpu_s=0.95, own_pid=RUNNER_PID, window=window)
    assert record["source"] == "runner" and record["window_s"] == 2.5 and record["others_cores"] == 0.24
    assert record["busiest"] == window["busiest"] and record["busy"] is True
    assert busy_warning(record).message == (
        "other processes used 0.24 cores during the timed runs (busiest: surfaceflinger 0.20)")


def test_judge_without_counters_is_not_busy_and_says_so():
    record = judge({"loadavg": [1.0, 1.0, 1.0]}, {"error": "snapshot script exited 127: sh: not found"})
    assert record["others_cores"] is None and record["busy"] is None and record["window_s"] is None
    assert record["after"] == {"error": "snapshot script exited 127: sh: not found"}


PIXEL_CPUS = {0: {"max_khz": 1803000, "cur_khz": 300000, "governor": "sched_pixel"},
              1: {"max_khz": 1803000, "cur_khz": 1803000, "governor": "sched_pixel"},
              4: {"max_khz": 2348000, "cur_khz": 2348000, "governor": "sched_pixel"},
              6: {"max_khz": 2850000, "cur_khz": 1426000, "governor": "powersave"},
              7: {"max_khz": 2850000, "cur_khz": None, "governor": None}}


def test_clusters_group_by_max_frequency_slowest_first():
    assert clusters_of(PIXEL_CPUS) == [
        {"cpus": [0, 1], "max_khz": 1803000, "governors": ["sched_pixel"], "cur_khz": [300000, 1803000]},
        {"cpus": [4], "max_khz": 2348000, "governors": ["sched_pixel"], "cur_khz": [2348000]},
        {"cpus": [6, 7], "max_khz": 2850000, "governors": ["powersave"], "cur_khz": [1426000, None]}]
    assert summary({"cpus": PIXEL_CPUS})["clusters"][2]["governors"] == ["powersave"]
    assert clusters_of({}) == []


def test_conditions_warnings_battery_thermal_powersave():
    before, after = window_pair(0)
    before["android"] = {"battery_level": 15, "charging": False, "plugged": "none", "thermal_status": 1}
    after["android"] = {"battery_level": 14, "charging": False, "plugged": "none", "thermal_status": 3}
    after["cpus"] = PIXEL_CPUS
    warnings = {w.code: w for w in conditions_warnings(judge(before, after, own_cpu_s=0.95))}
    assert sorted(warnings) == ["battery-low", "powersave", "thermal-status"]
    assert warnings["battery-low"].message == "battery at 14 % and not charging"
    assert warnings["thermal-status"].message == "Android thermal status was severe (3): the OS throttles"
    assert warnings["powersave"].message.startswith("CPUs 6,7 ran the powersave governor")
    assert all(w.hint for w in warnings.values())
    after["android"] = {"battery_level": 14, "charging": True, "plugged": "usb", "thermal_status": 1}
    del after["cpus"]
    before["android"] = {}
    assert conditions_warnings(judge(before, after, own_cpu_s=0.95)) == []


# -- the runner's own window, on this machine -------------------------------------------------------
def spin_window(seconds: float = 1.0, spinner: bool = True, burn_here: bool = False) -> tuple[dict, int | None]:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if spinner else None
    try:
        time.sleep(0.3 if spinner else 0)  # past its start-up: the window sees it spin, nothing else
        start = runner.load_sample()
        if burn_here:  # CPU seconds, not wall seconds: other tests may share this machine's cores
            cpu0, until = sum(os.times()[:2]), time.monotonic() + 10 * seconds
            while sum(os.times()[:2]) - cpu0 < seconds and time.monotonic() < until:
                pass
        else:
            time.sleep(seconds)
        load = runner.load_window(start, runner.load_sample(end=True))
    finally:
        if child:
            child.kill()
            child.wait()
    return load, child.pid if child else None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="no /proc here")
def test_runner_load_names_a_spinning_process():
    load, pid = spin_window()
    assert set(load) == {"window_s", "hz", "busy_s", "own_cpu_s", "others_cores", "busiest"}
    assert 0.9 <= load["window_s"] < 2.0 and load["hz"] == os.sysconf("SC_CLK_TCK")
    assert load["others_cores"] >= 0.5 and len(load["busiest"]) <= 3
    # the busiest on a quiet machine; on a shared one another test may spin too, so: named, and busy
    spinner = [b for b in load["busiest"] if b["pid"] == pid]
    assert spinner and spinner[0]["comm"].startswith("python") and spinner[0]["cores"] >= 0.3
    assert load["busiest"][0]["pid"] == pid or load["busiest"][0]["cores"] >= 0.3


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="no /proc here")
def test_runner_load_does_not_count_its_own_cpu():
    load, _ = spin_window(spinner=False, burn_here=True)
    assert load["own_cpu_s"] >= 0.9 and all(b["pid"] != os.getpid() for b in load["busiest"])
    # others are all CPUs' busy time less this process's own, whatever else runs on this machine
    expected = max(0.0, load["busy_s"] - load["own_cpu_s"]) / load["window_s"]
    assert abs(load["others_cores"] - expected) < 0.02
    # small, unless another test run on this shared machine was busy (then it is named)
    assert load["others_cores"] < 0.5 or load["busiest"][0]["cores"] >= 0.3


def test_runner_load_is_left_out_without_proc(monkeypatch):
    monkeypatch.setattr(runner, "cpu_ticks", lambda: None)
    assert runner.load_sample() is None and runner.load_window(None, None) is None


# -- the script itself ----------------------------------------------------------------------------
SHELLS = [s for s in (["dash"], ["bash", "--posix"], ["mksh"], ["busybox", "sh"]) if shutil.which(s[0])]


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="no /proc here")
@pytest.mark.parametrize("shell", SHELLS, ids=[s[0] for s in SHELLS])
def test_snapshot_script_in_every_shell(shell, tmp_path):
    fake = tmp_path / "bin" / "dumpsys"  # the virtual phone's dumpsys, state file beside bin/
    fake.parent.mkdir()
    fake.write_text(_DUMPSYS)
    fake.chmod(0o755)
    (tmp_path / "dumpsys.state").write_text("level=55\nusb=false\nac=true\nscreen=doze\nthermal=2\ntemp=331\n")
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    out = subprocess.run([*shell, "-c", "EB_ANDROID=1; " + SNAPSHOT_SCRIPT], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0 and out.stderr == "" and out.stdout.endswith("@@end\n")
    got = parse_snapshot(out.stdout)
    assert got["uptime_s"] > 0 and len(got["loadavg"]) == 3 and got["cpu_jiffies"]["total"] > 0
    assert got["end"]["uptime_s"] >= got["uptime_s"] and got["end"]["cpu_jiffies"]["busy"] >= got["cpu_jiffies"]["busy"]
    assert set(got["end"]) == {"uptime_s", "cpu_jiffies", "procs"}
    assert len(got["procs"]) >= 2 and all(p["comm"] for p in got["procs"].values())
    assert got["android"] == {"battery_level": 55, "plugged": "ac", "charging": True, "battery_temp_c": 33.1,
                              "screen": "doze", "thermal_status": 2,
                              "hal_temps": {"BIG": 46.5, "LITTLE": 43.1, "battery": 33.1, "VIRTUAL-SKIN": 39.0}}
    plain = subprocess.run([*shell, "-c", SNAPSHOT_SCRIPT], capture_output=True, text=True, env=env)
    assert "android" not in parse_snapshot(plain.stdout)  # dumpsys only when asked


class FakeTransport:
    def __init__(self, result=None, exc=None):
        self.result, self.exc, self.argv = result, exc, None

    def run(self, argv, *, timeout, cwd=None):
        self.argv = argv
        if self.exc:
            raise self.exc
        return self.result


def test_snapshot_failures_are_an_error_key_not_an_exception():
    timed_out = FakeTransport(exc=DeviceTimeout("device 'pixel': sh ran past its 30 s timeout"))
    assert snapshot(timed_out) == {"error": "device 'pixel': sh ran past its 30 s timeout"}
    broken = FakeTransport(CommandResult(127, "", "sh: not found\n"))
    assert snapshot(broken, android=True) == {"error": "snapshot script exited 127: sh: not found"}
    assert broken.argv[:2] == ["sh", "-c"] and broken.argv[2].startswith("EB_ANDROID=1; ")


def test_snapshot_of_the_virtual_phone(phone, workdir):  # noqa: F811
    t = phone.profile(workdir / "profiles").transport_obj()
    try:
        phone.endpoint.set_temperature(0, 41.5, "BIG")
        calm = snapshot(t, android=True)
        assert calm["android"]["battery_level"] == 80 and calm["android"]["plugged"] == "usb"
        assert calm["android"]["screen"] == "on" and calm["android"]["thermal_status"] == 0
        phone.endpoint.set_android_state(battery_level=15, plugged="none", screen="off", thermal_status=3)
        hot = snapshot(t, android=True)
    finally:
        t.close()
    android = dict(hot["android"])
    assert android.pop("hal_temps")["VIRTUAL-SKIN"] == 42.0
    assert android == {"battery_level": 15, "plugged": "none", "charging": False, "battery_temp_c": 25.0,
                       "screen": "off", "thermal_status": 3}
    assert hot["temps"] == {"thermal_zone0:BIG": 41.5}
    assert hot["cpus"] and all(c["governor"] == "schedutil" for c in hot["cpus"].values())
    assert hot["uptime_s"] >= calm["uptime_s"] and "error" not in hot
    record = judge(calm, hot)
    assert record["source"] == "snapshots" and record["window_s"] is not None
    speeds = [c["max_khz"] for c in record["after"]["clusters"]]
    assert speeds == sorted(speeds)
    codes = [w.code for w in conditions_warnings(record)]
    assert "battery-low" in codes and "thermal-status" in codes


def test_snapshot_inside_the_arm64_phone(workdir):  # noqa: F811
    """The same script chrooted into the arm64 userland (its own dash under qemu, /proc and the
    phone's /sys bound in): what a real phone's shell would run."""
    need("adb")
    rootfs = need_rootfs()
    with virtual_pixel(workdir, rootfs=rootfs) as device:
        device.endpoint.set_android_state(battery_level=64, plugged="ac", screen="on", thermal_status=1)
        t = device.profile(workdir / "profiles").transport_obj()
        try:
            got = snapshot(t, android=True, timeout=120)
        finally:
            t.close()
    assert "error" not in got and got["procs"] and got["end"]["procs"] and got["cpus"]
    assert {k: got["android"][k] for k in ("battery_level", "plugged", "charging", "screen", "thermal_status")} == {
        "battery_level": 64, "plugged": "ac", "charging": True, "screen": "on", "thermal_status": 1}
