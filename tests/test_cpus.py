"""CPU clusters and affinity masks: real published layouts, mask resolution, threads, the sweep, and
discovery through the virtual phone and Pi (their sysfs is what set_cpus / the Pi's tmpfs wrote)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from edgebench.api import CommandResult
from edgebench.cpus import (CPU_SCRIPT, Cluster, CpuSpecError, cpus_mask, describe, discover, format_cpu_list,
                            mask_cpus, parse_cpu_list, parse_cpus, parse_threads, resolve_affinity, sweep)
from edgebench.devices import DeviceProfile
from edgebench.errors import DeviceError, EdgebenchError
from edgebench.testing.adb_endpoint import _host_cpu_layout
from edgebench.testing.remote_devices import virtual_pixel
from edgebench.transports.adb import AdbTransport
from edgebench.transports.ssh import SshTransport

from conftest_remote import need, need_rootfs, phone, pi, workdir  # noqa: F401  (fixtures)


def listing(freqs: dict[int, int | None], related: dict[int, str] | None = None, present: str | None = None,
            online: str | None = None, nproc: int | None = None) -> str:
    """What CPU_SCRIPT prints for a device whose cpuN/cpufreq/cpuinfo_max_freq read ``freqs``."""
    related = related or {}
    lines = [f"cpu {cpu} {khz if khz else '-'} {related.get(cpu, '')}" for cpu, khz in freqs.items()]
    cpus = format_cpu_list(freqs) if freqs else ""
    lines += [f"present {cpus if present is None else present}", f"online {cpus if online is None else online}",
              f"nproc {len(freqs) if nproc is None else nproc}"]
    return "\n".join(lines) + "\n"


def policies(*groups: tuple[str, int]) -> tuple[dict[int, int | None], dict[int, str]]:
    """('0-2', 2016000), ... -> per-cpu max kHz and related_cpus, as each policy's cores show them."""
    freqs: dict[int, int | None] = {}
    related: dict[int, str] = {}
    for cpus, khz in groups:
        members = parse_cpu_list(cpus)
        for cpu in members:
            freqs[cpu], related[cpu] = khz, " ".join(map(str, members))
    return freqs, related


# -- real layouts ---------------------------------------------------------------------------------
# Snapdragon 8 Gen 2 (SM8550 "kalama", AYANEO Pocket DS): policy0 related_cpus=0 1 2 cpuinfo_max=2016000,
# policy3 related_cpus=3 4 5 6 cpuinfo_max=2803200, policy7 related_cpus=7 max=2956800
# https://github.com/armada-os/armada/issues/173
KALAMA = policies(("0-2", 2016000), ("3-6", 2803200), ("7", 2956800))
# Exynos 5422 (ODROID-XU4): cpu0 1400000, cpu4 2000000; "CPUs which run at the same hardware frequency:
# 0 1 2 3" / "4 5 6 7"  https://github.com/MichaIng/DietPi/issues/963, https://github.com/smxi/inxi/issues/128
EXYNOS_5422 = policies(("0-3", 1400000), ("4-7", 2000000))
# a six-core big.LITTLE board (RK3399 shape): 1512000 x4, 2016000 x2, `for i in {0..5}; do cat
# /sys/devices/system/cpu/cpu"$i"/cpufreq/scaling_max_freq; done`  https://github.com/google/benchmark/issues/1385
SIX_CORE = policies(("0-3", 1512000), ("4-5", 2016000))
# Raspberry Pi 4 Model B Rev 1.4: cpu0 scaling_max_freq 1800000, four Cortex-A72 in cpufreq policy0
# https://github.com/geerlingguy/sbc-reviews/issues/110, https://github.com/ThomasKaiser/sbc-bench/issues/136
RPI4 = policies(("0-3", 1800000))
# Pixel 7 (Tensor G2): 4 little @1803 MHz, 2 mid @2348 MHz, 2 big (X1 @2.85 GHz)
# https://github.com/chenzyadb/CuprumTurbo-Scheduler/issues/38
PIXEL_7 = policies(("0-3", 1803000), ("4-5", 2348000), ("6-7", 2850000))
# SigmaStar SSD202D (SBC2D70): policy0 related_cpus 0 1, cpuinfo_max_freq 1700000
# https://github.com/ThomasKaiser/sbc-bench/issues/37
SSD202D = policies(("0-1", 1700000))
# qemu-system-aarch64, 8 cpus: "Could not open '/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq'" for
# every core  https://github.com/Dr-Noob/cpufetch/issues/381
QEMU_8 = ({cpu: None for cpu in range(8)}, {})


def clusters_of(layout: tuple[dict[int, int | None], dict[int, str]]) -> list[Cluster]:
    return parse_cpus(listing(*layout))


def test_three_clusters_of_a_snapdragon_8_gen_2_group_by_max_frequency():
    clusters = clusters_of(KALAMA)
    assert clusters == [Cluster("little", (0, 1, 2), 2016000), Cluster("mid", (3, 4, 5, 6), 2803200),
                        Cluster("big", (7,), 2956800)]
    assert [c.mask for c in clusters] == ["7", "78", "80"]
    assert describe(clusters) == "little 0-2 @2.02 GHz, mid 3-6 @2.80 GHz, big 7 @2.96 GHz"


def test_the_exynos_masks_of_the_published_complaint_are_little_and_big():
    clusters = clusters_of(EXYNOS_5422)
    assert [(c.name, c.mask, c.max_khz) for c in clusters] == [("little", "f", 1400000), ("big", "f0", 2000000)]
    # tensorflow/tensorflow#29910 timed taskset ff / f0 / 0f: all / big / little
    assert [resolve_affinity(s, clusters, "xu4") for s in ("all", "big", "little")] == ["ff", "f0", "f"]
    assert resolve_affinity("0f", clusters, "xu4") == "f"


def test_six_and_eight_core_phones_and_boards():
    assert [(c.name, c.cpus) for c in clusters_of(SIX_CORE)] == [("little", (0, 1, 2, 3)), ("big", (4, 5))]
    pixel = clusters_of(PIXEL_7)
    assert describe(pixel) == "little 0-3 @1.80 GHz, mid 4-5 @2.35 GHz, big 6-7 @2.85 GHz"
    assert [c.mask for c in pixel] == ["f", "30", "c0"]


def test_one_speed_boards_are_one_cluster_named_all():
    assert clusters_of(RPI4) == [Cluster("all", (0, 1, 2, 3), 1800000)]
    assert clusters_of(SSD202D) == [Cluster("all", (0, 1), 1700000)]
    assert describe(clusters_of(RPI4)) == "all 0-3 @1.80 GHz"


def test_without_cpufreq_every_cpu_is_one_cluster_without_a_speed():
    clusters = clusters_of(QEMU_8)
    assert clusters == [Cluster("all", tuple(range(8)), None)] and describe(clusters) == "all 0-7"
    # no cpuN folders at all (a container hiding them): the present list, then nproc
    assert parse_cpus("present 0-3\nonline 0-3\nnproc 2\n") == [Cluster("all", (0, 1, 2, 3), None)]
    assert parse_cpus("present \nonline \nnproc 2\n") == [Cluster("all", (0, 1), None)]
    assert parse_cpus("") == [] and parse_cpus("present \nonline \nnproc \n") == []


def test_offline_cores_join_their_policy_or_the_unknown_cluster():
    freqs, related = EXYNOS_5422
    # cpu6 and cpu7 hotplugged off lost their cpufreq folder; cpu4's policy still names them
    offline = {**freqs, 6: None, 7: None}
    assert parse_cpus(listing(offline, related, online="0-5"))[1] == Cluster("big", (4, 5, 6, 7), 2000000)
    # no readable policy names them: they stay in the 'all' mask through a trailing cluster
    clusters = parse_cpus(listing(offline, {}, online="0-5"))
    assert clusters[-1] == Cluster("unknown", (6, 7), None) and resolve_affinity("all", clusters, "xu4") == "ff"
    assert describe(clusters) == "little 0-3 @1.40 GHz, big 4-5 @2.00 GHz, unknown 6-7"
    # one known speed: the unreadable cores join it
    assert parse_cpus(listing({0: 1800000, 1: 1800000, 2: None, 3: None})) == [Cluster("all", (0, 1, 2, 3), 1800000)]


def test_four_or_more_speeds_number_the_middle_clusters():
    freqs, related = policies(("0-3", 1_800_000), ("4", 2_100_000), ("5", 2_400_000), ("6", 2_600_000),
                              ("7", 3_000_000))
    clusters = parse_cpus(listing(freqs, related))
    assert [c.name for c in clusters] == ["little", "mid1", "mid2", "mid3", "big"]
    assert resolve_affinity("mid2", clusters, "x") == "20"
    with pytest.raises(CpuSpecError, match=r"^device 'x' has 3 mid clusters: name one of mid1, mid2, mid3 "
                                           r"\(it has cpus 0-7: little 0-3, mid1 4, mid2 5, mid3 6, big 7\)$"):
        resolve_affinity("mid", clusters, "x")


def test_the_script_runs_in_the_shells_devices_have():
    for shell in ("sh", "dash", "busybox", "mksh"):
        path = shell if shell != "busybox" else "busybox"
        argv = [path, "sh", "-c", CPU_SCRIPT] if shell == "busybox" else [path, "-c", CPU_SCRIPT]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            continue
        assert out.returncode == 0 and out.stderr == "", shell
        clusters = parse_cpus(out.stdout)
        assert sorted(c for cluster in clusters for c in cluster.cpus) == list(range(os.cpu_count() or 1)), shell


def test_the_script_counts_cores_when_the_folder_cannot_be_listed():
    # Android lets apps read each cpuN but not list /sys/devices/system/cpu itself: a user who may
    # enter the folder (x) but not read it (r) sees the glob come back unexpanded
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("dropping to another user needs root and setpriv")
    base = Path(tempfile.mkdtemp(prefix="edgebench-cpus-"))
    try:
        cpu = base / "cpu"
        for n, khz in ((0, "1800000"), (1, "2400000"), (2, None)):
            (cpu / f"cpu{n}" / "cpufreq").mkdir(parents=True)
            if khz:
                (cpu / f"cpu{n}" / "cpufreq" / "cpuinfo_max_freq").write_text(khz + "\n")
        (cpu / "present").write_text("0-2\n")
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        cpu.chmod(0o111)
        script = CPU_SCRIPT.replace("/sys/devices/system/cpu", str(cpu))
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "cpu 2 -" in out.stdout
        assert [(c.name, c.cpus) for c in parse_cpus(out.stdout)] == [("little", (0,)), ("big", (1,)),
                                                                      ("unknown", (2,))]
    finally:
        (base / "cpu").chmod(0o755)
        shutil.rmtree(base)


# -- masks and cpu lists --------------------------------------------------------------------------
def test_masks_and_cpu_lists_round_trip():
    assert mask_cpus("f0") == mask_cpus("0xF0") == mask_cpus("F0") == [4, 5, 6, 7]
    assert mask_cpus("0") == [] and cpus_mask([]) == "0"
    assert cpus_mask([4, 5, 6, 7]) == "f0" and cpus_mask((0, 2)) == "5" and cpus_mask(range(12)) == "fff"
    assert parse_cpu_list("0-3,6,8-9") == [0, 1, 2, 3, 6, 8, 9] and parse_cpu_list("0 1 2\n") == [0, 1, 2]
    assert format_cpu_list([9, 8, 6, 0, 1, 2, 3]) == "0-3,6,8-9" and format_cpu_list([]) == ""
    with pytest.raises(CpuSpecError):
        mask_cpus("0xg")
    with pytest.raises(ValueError):
        parse_cpu_list("3-1")


@pytest.mark.parametrize("spec, mask", [
    ("f0", "f0"), ("0xF0", "f0"), ("F0", "f0"), ("00f0", "f0"), ("4-7", "f0"), ("0,2", "5"), ("6-7", "c0"),
    ("big", "c0"), ("BIG", "c0"), ("mid", "30"), ("little", "f"), ("all", "ff"), (" ff ", "ff"), ("1", "1"),
])
def test_resolve_affinity_normalises(spec, mask):
    # a mask is taken as given, never snapped to a cluster (f0 on a Pixel 7 is mid + big)
    assert resolve_affinity(spec, clusters_of(PIXEL_7), "pixel") == mask


@pytest.mark.parametrize("spec, clusters, message", [
    ("f00", PIXEL_7, "affinity f00 names cpus 8-11, which device 'pixel' does not have "
                     "(it has cpus 0-7: little 0-3, mid 4-5, big 6-7)"),
    ("1f0", PIXEL_7, "affinity 1f0 names cpu 8, which device 'pixel' does not have "
                     "(it has cpus 0-7: little 0-3, mid 4-5, big 6-7)"),
    ("6-9", PIXEL_7, "affinity 6-9 names cpus 8-9, which device 'pixel' does not have "
                     "(it has cpus 0-7: little 0-3, mid 4-5, big 6-7)"),
    ("10", RPI4, "affinity 10 names cpu 4, which device 'pixel' does not have (it has cpus 0-3)"),
    ("big", RPI4, "device 'pixel' has no 'big' cluster: its cpus 0-3 run at one speed (all)"),
    ("little", QEMU_8, "device 'pixel' has no 'little' cluster: its cpus 0-7 show no cpufreq, "
                       "so they form one cluster (all)"),
    ("mid", EXYNOS_5422, "device 'pixel' has no 'mid' cluster (it has cpus 0-7: little 0-3, big 4-7)"),
    ("mid2", PIXEL_7, "device 'pixel' has no 'mid2' cluster (it has cpus 0-7: little 0-3, mid 4-5, big 6-7)"),
    ("0", PIXEL_7, "affinity '0' names no cpus"),
    ("0x00", PIXEL_7, "affinity '0x00' names no cpus"),
    ("", PIXEL_7, "affinity is empty: give big, mid, little, all, a hex mask (f0) or a cpu list (4-7)"),
    ("  ", PIXEL_7, "affinity is empty: give big, mid, little, all, a hex mask (f0) or a cpu list (4-7)"),
    ("fast", PIXEL_7, "affinity 'fast' is not big, mid, little, all, a cluster name, a hex mask (f0) "
                      "or a cpu list (4-7)"),
    ("4-x", PIXEL_7, "affinity '4-x' is not big, mid, little, all, a cluster name, a hex mask (f0) "
                     "or a cpu list (4-7)"),
    ("7-4", PIXEL_7, "affinity '7-4' is not big, mid, little, all, a cluster name, a hex mask (f0) "
                     "or a cpu list (4-7)"),
    ("0xf0;reboot", PIXEL_7, "affinity '0xf0;reboot' is not big, mid, little, all, a cluster name, "
                             "a hex mask (f0) or a cpu list (4-7)"),
])
def test_resolve_affinity_errors_are_one_line(spec, clusters, message):
    with pytest.raises(CpuSpecError) as caught:
        resolve_affinity(spec, clusters_of(clusters), "pixel")
    assert str(caught.value) == message and "\n" not in message
    assert isinstance(caught.value, EdgebenchError) and caught.value.exit_code == 2


# -- threads and the sweep ------------------------------------------------------------------------
def test_parse_threads():
    assert parse_threads("1,2,4") == [1, 2, 4] and parse_threads("4") == [4] and parse_threads("0") == [0]
    assert parse_threads("4,1,4,2,1") == [4, 1, 2] and parse_threads(" 2 , 8 ") == [2, 8]


@pytest.mark.parametrize("text, bad", [("-1", "'-1'"), ("1,two", "'two'"), ("1,,2", "''"), ("2.5", "'2.5'"),
                                       ("1;2", "'1;2'")])
def test_parse_threads_names_the_bad_item(text, bad):
    with pytest.raises(CpuSpecError, match=rf"^--threads item {bad} is not a thread count \(0 = the runtime's "
                                           r"default, or 1, 2, 4, \.\.\.\)$"):
        parse_threads(text)


def test_parse_threads_empty():
    with pytest.raises(CpuSpecError, match=r"^--threads is empty"):
        parse_threads(" ")


def test_sweep_is_every_combination_in_a_stable_order():
    assert sweep(["big", "little", "f0"], [1, 2, 4]) == [
        ("big", 1), ("big", 2), ("big", 4), ("little", 1), ("little", 2), ("little", 4),
        ("f0", 1), ("f0", 2), ("f0", 4)]
    assert sweep(["all"], [0]) == [("all", 0)] and sweep([], [1]) == [] and sweep(["big", "big"], [1]) == [("big", 1)]


# -- discovery through transports -----------------------------------------------------------------
class Scripted:
    """A transport double answering every command with one result."""

    def __init__(self, result: CommandResult):
        self.result, self.profile, self.calls = result, DeviceProfile(name="fake", transport="local"), []

    def run(self, argv, *, timeout, cwd=None):  # type: ignore[no-untyped-def]
        self.calls.append((list(argv), timeout))
        return self.result


def test_discover_runs_one_shell_line_and_fails_naming_the_device():
    t = Scripted(CommandResult(0, listing(*KALAMA)))
    assert [c.name for c in discover(t, timeout=5)] == ["little", "mid", "big"]
    assert t.calls == [(["sh", "-c", CPU_SCRIPT], 5)]
    with pytest.raises(DeviceError, match=r"^could not read the cpus of device 'fake': sh: not found$"):
        discover(Scripted(CommandResult(127, "", "sh: not found\n")))
    with pytest.raises(DeviceError, match=r"^could not read the cpus of device 'fake': exit status 0$"):
        discover(Scripted(CommandResult(0, "")))


def adb_transport(phone_device) -> AdbTransport:  # type: ignore[no-untyped-def]
    return AdbTransport(DeviceProfile(name="pixel-test", transport="adb",
                                      options={"serial": phone_device.values["serial"],
                                               "server_port": phone_device.values["server_port"]}))


def expected_default_layout() -> list[tuple[str, tuple[int, ...], int]]:
    cores = os.cpu_count() or 1
    layout = _host_cpu_layout(cores)
    names = {1: ["all"], 2: ["little", "big"], 3: ["little", "mid", "big"]}[len(layout)]
    first, out = 0, []
    for name, (count, khz) in zip(names, layout):
        out.append((name, tuple(range(first, first + count)), khz))
        first += count
    return out


def test_the_default_layout_follows_the_host_core_count():
    assert _host_cpu_layout(1) == [(1, 1_803_000)]
    assert _host_cpu_layout(2) == [(1, 1_803_000), (1, 2_850_000)]
    assert _host_cpu_layout(3) == [(1, 1_803_000), (1, 2_348_000), (1, 2_850_000)]
    assert _host_cpu_layout(8) == [(4, 1_803_000), (2, 2_348_000), (2, 2_850_000)]
    assert _host_cpu_layout(6) == [(3, 1_803_000), (1, 2_348_000), (2, 2_850_000)]


def test_the_virtual_phone_shows_the_layout_it_wrote(phone):
    t = adb_transport(phone)
    clusters = discover(t)
    assert [(c.name, c.cpus, c.max_khz) for c in clusters] == expected_default_layout()
    if os.cpu_count() == 2:
        assert describe(clusters) == "little 0 @1.80 GHz, big 1 @2.85 GHz"
    # taskset on the phone's shell accepts the big cluster's mask: the layout is the host's real cores
    big = resolve_affinity("big" if len(clusters) > 1 else "all", clusters, "pixel-test")
    assert t.run(["taskset", big, "true"], timeout=30).returncode == 0
    assert t.run(["sh", "-c", "cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"],
                 timeout=30).stdout == "schedutil\n"

    phone.endpoint.set_cpus([(4, 1_800_000), (2, 2_350_000), (2, 2_850_000)], governor="performance")
    clusters = discover(t)
    assert [(c.name, format_cpu_list(c.cpus)) for c in clusters] == [("little", "0-3"), ("mid", "4-5"),
                                                                    ("big", "6-7")]
    assert t.run(["cat", "/sys/devices/system/cpu/present"], timeout=30).stdout == "0-7\n"
    with pytest.raises(CpuSpecError, match=r"^affinity f00 names cpus 8-11, which device 'pixel-test' does not "
                                           r"have \(it has cpus 0-7: little 0-3, mid 4-5, big 6-7\)$"):
        resolve_affinity("f00", clusters, "pixel-test")
    phone.endpoint.set_cpus([(2, 1_800_000)])  # a smaller layout leaves no stale cores behind
    assert discover(t) == [Cluster("all", (0, 1), 1_800_000)]
    t.close()


def test_the_arm64_phone_binds_the_same_cpu_folder(workdir):  # noqa: F811
    need("adb")
    with virtual_pixel(workdir, rootfs=need_rootfs()) as arm_phone:
        t = adb_transport(arm_phone)
        assert t.run(["uname", "-m"], timeout=60).stdout.strip() == "aarch64"
        clusters = discover(t, timeout=60)
        assert [(c.name, c.cpus, c.max_khz) for c in clusters] == expected_default_layout()
        big = resolve_affinity("big" if len(clusters) > 1 else "all", clusters, "pixel-test")
        assert t.run(["taskset", big, "true"], timeout=60).returncode == 0
        lists = t.run(["cat", "/sys/devices/system/cpu/possible", "/sys/devices/system/cpu/online"], timeout=60)
        assert lists.stdout == f"0-{(os.cpu_count() or 1) - 1}\n" * 2  # what onnxruntime's cpuinfo reads
        t.close()


def test_the_virtual_pi_is_one_cluster_at_a_pi_4s_speed(pi):
    t = SshTransport(DeviceProfile(name="rpi-test", transport="ssh", options=dict(pi.values)))
    clusters = discover(t, timeout=60)
    cores = os.cpu_count() or 1
    assert clusters == [Cluster("all", tuple(range(cores)), 1_800_000)]
    assert t.run(["cat", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"], timeout=30).stdout == "ondemand\n"
    with pytest.raises(CpuSpecError, match=rf"^device 'rpi-test' has no 'big' cluster: its cpus "
                                           rf"{format_cpu_list(range(cores))} run at one speed \(all\)$"):
        resolve_affinity("big", clusters, "rpi-test")
    assert t.run(["taskset", resolve_affinity("all", clusters, "rpi-test"), "true"], timeout=30).returncode == 0
    t.close()
