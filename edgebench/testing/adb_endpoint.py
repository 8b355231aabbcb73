"""A virtual Android phone for tests: the device side of the ADB protocol over TCP.

The real ``adb`` client talks to it exactly as to a phone in TCP mode (``adb connect
127.0.0.1:PORT``): CNXN and AUTH (every key is accepted), OPEN/OKAY/WRTE/CLSE streams with flow
control, ``shell:`` / ``shell,v2,...:`` / ``exec:`` (commands run by a POSIX shell, exit status
over shell protocol v2) and ``sync:`` (STAT, LIST, SEND, RECV, QUIT) for push and pull. ``getprop``
answers like a Pixel 7 unless other properties are given.

Filesystem: ``root`` holds the device's /data, /sdcard, /system, /sys/class/thermal and
/sys/devices/system/cpu (cpufreq files, see ``set_cpus``). Without a rootfs, commands run on
this host in a POSIX shell whose command text has those absolute paths rewritten to ``root``
(so ``python3`` is the host's). With ``rootfs`` (an arm64 userland, see
scripts/build-rootfs.sh; needs root), each command runs chrooted into it in a private mount
namespace with the root's dirs bound in place: the phone then runs aarch64 binaries through qemu.

    with AdbEndpoint(tmp_path) as phone:          # or: python -m edgebench.testing.adb_endpoint
        subprocess.run(["adb", "connect", phone.serial])

Faults, for tests of what survives them (see adb_faults): ``fail_next("push" | "pull" | "shell",
after_bytes=..., after_s=..., action="drop" | "stall", down_for=..., match=..., times=...)`` arms
one; ``drop_connections()`` pulls the cable; ``restart(down_for)`` reboots (refuses connections
meanwhile; ``math.inf``: dead for good; ``restart(0)`` later brings it back).

Avoid ports 5555-5585: the adb server scans them for emulators. The transport and its services
live in adb_streams (connection, shell) and adb_sync (push / pull).
"""

from __future__ import annotations

import argparse
import math
import os
import posixpath
import re
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .adb_faults import Fault, FaultPlan, Trip
from .adb_streams import Connection

PIXEL_7 = {
    "ro.product.model": "Pixel 7",
    "ro.product.manufacturer": "Google",
    "ro.product.brand": "google",
    "ro.product.name": "panther",
    "ro.product.device": "panther",
    "ro.hardware": "panther",
    "ro.board.platform": "gs201",
    "ro.soc.manufacturer": "Google",
    "ro.soc.model": "GS201",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.build.fingerprint": "google/panther/panther:14/UQ1A.240205.002/11224170:user/release-keys",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi",
    "ro.serialno": "EDGEBENCH0001",
}
FEATURES = ("shell_v2", "cmd", "fixed_push_mkdir")
# device dirs that live under root
MAPPED = ("/data", "/sdcard", "/system", "/sys/class/thermal", "/sys/devices/system/cpu", "/sys/class/power_supply")
_PATH_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_./-])(/data|/sdcard|/system|/sys/class/thermal|/sys/devices/system/cpu"
                           r"|/sys/class/power_supply)"
                           r"(?=/|[^A-Za-z0-9_.-]|$)")
_DEVICE_PATH = "/system/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PIXEL_7_KHZ = (1_803_000, 2_348_000, 2_850_000)  # Tensor G2: little A55, mid A78, big X1


def _host_cpu_layout(cores: int) -> list[tuple[int, int]]:
    """A Pixel-7-like (count, kHz) split of ``cores`` (see AdbEndpoint.set_cpus)."""
    little, mid, big = PIXEL_7_KHZ
    if cores <= 1:
        return [(1, little)]
    if cores == 2:
        return [(1, little), (1, big)]
    small, middle = cores // 2, max(1, cores // 4)
    return [(small, little), (middle, mid), (cores - small - middle, big)]


class AdbEndpoint:
    """A device-side ADB endpoint listening on ``host:port`` (0: a free port)."""

    def __init__(self, root: str | os.PathLike[str], port: int = 0, host: str = "127.0.0.1",
                 props: Mapping[str, str] | None = None, rootfs: str | os.PathLike[str] | None = None,
                 auth: bool = True, features: Sequence[str] = FEATURES, python: bool = True):
        self.python = python  # False: a stock phone, where python3 is "inaccessible or not found"
        self.root = Path(root).resolve()
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", str(self.root)):
            raise ValueError(f"endpoint root must be a plain path (it is spliced into commands): {self.root}")
        self.rootfs = Path(rootfs).resolve() if rootfs else None
        if self.rootfs and os.geteuid() != 0:
            raise PermissionError("running commands inside a rootfs needs root (chroot, mount namespace)")
        self.host, self.port = host, port
        self.props = dict(PIXEL_7 if props is None else props)
        self.auth, self.features = auth, tuple(features)
        self._sock: socket.socket | None = None
        self._conns: set[Connection] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.faults = FaultPlan()
        self._battery: tuple[threading.Event, threading.Thread] | None = None
        self._prepare_root()

    # -- life cycle ----------------------------------------------------------------------------
    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "AdbEndpoint":
        self._listen()
        return self

    def _listen(self) -> None:
        with self._lock:
            if self._sock is not None or self._stopped.is_set():
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(8)
            self.port = sock.getsockname()[1]
            self._sock = sock
        threading.Thread(target=self._accept, args=(sock,), name="adb-endpoint-accept", daemon=True).start()

    def _unlisten(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    @property
    def listening(self) -> bool:
        return self._sock is not None

    def stop(self) -> None:
        """Stop listening, drop every connection, kill every command still running."""
        self._stopped.set()
        self.stop_battery()
        self._unlisten()
        self.drop_connections()

    def drop_connections(self) -> None:
        """Cut every current connection (as a USB cable pulled out) but keep listening."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.abort()

    def restart(self, down_for: float = 1.0) -> None:
        """Reboot: drop every connection and refuse new ones for ``down_for`` seconds (math.inf:
        for good), then listen again on the same port. Returns at once."""
        self._unlisten()
        self.drop_connections()
        if down_for != math.inf:
            timer = threading.Timer(max(0.0, down_for), self._listen)
            timer.daemon = True
            timer.start()

    # -- fault injection (see adb_faults) ------------------------------------------------------
    def fail_next(self, op: str, *, after_bytes: int = 0, after_s: float | None = None, action: str = "drop",
                  down_for: float = 0.0, stall_for: float = math.inf, match: str = "", times: int = 1) -> Fault:
        """Arm a fault for the next ``times`` push / pull / shell operations (see adb_faults)."""
        return self.faults.add(Fault(op, after_bytes=after_bytes, after_s=after_s, action=action,
                                     down_for=down_for, stall_for=stall_for, match=match, times=times))

    def tripwire(self, op: str, subject: str, conn: "Connection") -> Trip:
        fault = self.faults.claim(op, subject)

        def drop(fault: Fault) -> None:
            if fault.down_for > 0:
                self.restart(fault.down_for)
            else:
                conn.abort()

        return Trip(fault, drop, conn.closed.is_set)

    def __enter__(self) -> "AdbEndpoint":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self, sock: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = sock.accept()
            except OSError:
                return
            conn = Connection(self, client)
            with self._lock:
                self._conns.add(conn)
            conn.start()

    def _forget(self, conn: "Connection") -> None:
        with self._lock:
            self._conns.discard(conn)

    # -- the device's filesystem ---------------------------------------------------------------
    def _prepare_root(self) -> None:
        for sub in ("data/local/tmp", "sdcard", "system/bin", "sys/class/thermal", "sys/class/power_supply/battery"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "data/local/tmp").chmod(0o1777)
        props = "".join(f"{k}={v}\n" for k, v in sorted(self.props.items()))
        (self.root / "system/build.prop").write_text(props)
        getprop = self.root / "system/bin/getprop"
        # a shell getprop reading build.prop next to it: the same file works on the host and chrooted
        getprop.write_text(
            "#!/bin/sh\n"
            'props="$(dirname "$0")/../build.prop"\n'
            'if [ $# -eq 0 ]; then\n'
            '  while IFS= read -r line; do printf "[%s]: [%s]\\n" "${line%%=*}" "${line#*=}"; done < "$props"\n'
            'else\n'
            '  while IFS= read -r line; do\n'
            '    if [ "${line%%=*}" = "$1" ]; then printf "%s\\n" "${line#*=}"; exit 0; fi\n'
            '  done < "$props"\n'
            '  printf "%s\\n" "${2:-}"\n'
            'fi\n')
        getprop.chmod(0o755)
        dumpsys = self.root / "system/bin/dumpsys"
        dumpsys.write_text(_DUMPSYS)  # battery / power / thermalservice from system/dumpsys.state
        dumpsys.chmod(0o755)
        self._write_battery("voltage_now", "3850000")  # a resting phone until simulate_battery() runs
        self._write_battery("current_now", "400000")
        self.set_android_state()
        self.set_cpus()
        if not self.python:  # shadow the host's (or the rootfs') interpreters, as mksh reports a missing one
            for name in ("python3", "python", "python3.11"):
                shim = self.root / "system/bin" / name
                shim.write_text('#!/bin/sh\necho "/system/bin/sh: ${0##*/}: inaccessible or not found" >&2\nexit 127\n')
                shim.chmod(0o755)

    def set_cpus(self, clusters: list[tuple[int, int]] | None = None, governor: str = "schedutil") -> None:
        """Write /sys/devices/system/cpu as the phone's kernel shows it: ``clusters`` is a list of
        (core count, max kHz), slowest first; cpuN/cpufreq holds cpuinfo_max_freq, cpuinfo_min_freq,
        scaling_max_freq, scaling_cur_freq, scaling_governor and related_cpus, and possible / present /
        online list every core (onnxruntime's cpuinfo reads those three on the arm64 rootfs).

        The default follows this host's core count on purpose, because commands run on this host's
        CPUs and ``taskset`` must accept every mask the layout implies: 1 core -> one cluster; 2 ->
        little cpu0 @1.803 GHz + big cpu1 @2.85 GHz; 3 or more -> split like a Pixel 7 (little half,
        mid a quarter, big the rest at 1.803 / 2.348 / 2.85 GHz).
        """
        layout = clusters if clusters is not None else _host_cpu_layout(os.cpu_count() or 1)
        if not layout or any(count < 1 or khz < 1 for count, khz in layout):
            raise ValueError(f"clusters must be (core count >= 1, kHz >= 1) pairs: {layout!r}")
        folder = self.root / "sys/devices/system/cpu"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("cpu[0-9]*"):  # a smaller layout must not leave cores behind
            shutil.rmtree(old)
        first = 0
        for count, khz in layout:
            related = " ".join(str(c) for c in range(first, first + count))
            for cpu in range(first, first + count):
                files = {"cpuinfo_max_freq": khz, "cpuinfo_min_freq": 300_000, "scaling_max_freq": khz,
                         "scaling_cur_freq": khz, "scaling_governor": governor, "related_cpus": related}
                cpufreq = folder / f"cpu{cpu}" / "cpufreq"
                cpufreq.mkdir(parents=True)
                for name, value in files.items():
                    (cpufreq / name).write_text(f"{value}\n")
            first += count
        for name in ("possible", "present", "online"):
            (folder / name).write_text(f"0-{first - 1}\n")

    def set_temperature(self, zone: int, celsius: float, kind: str = "cpu-thermal") -> None:
        """Create or update /sys/class/thermal/thermal_zone<zone> as the device shows it."""
        folder = self.root / "sys/class/thermal" / f"thermal_zone{zone}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "type").write_text(kind + "\n")
        tmp = folder / ".temp.new"
        tmp.write_text(f"{int(round(celsius * 1000))}\n")
        tmp.replace(folder / "temp")

    def set_android_state(self, *, battery_level: int = 80, plugged: str = "usb", screen: str = "on",
                          thermal_status: int = 0, battery_temp_c: float = 25.0) -> None:
        """What ``dumpsys battery / power / thermalservice`` report from now on (every call sets all
        of it; the defaults are the phone's state at start): plugged is ``ac``, ``usb``,
        ``wireless`` or ``none``, screen ``on``, ``off`` or ``doze``, thermal_status 0 (none) … 6
        (shutdown). Written atomically: a dumpsys running meanwhile reads the old or the new state."""
        if plugged not in ("ac", "usb", "wireless", "none") or screen not in ("on", "off", "doze"):
            raise ValueError(f"plugged must be ac|usb|wireless|none and screen on|off|doze: {plugged!r}, {screen!r}")
        if not 0 <= battery_level <= 100 or not 0 <= thermal_status <= 6:
            raise ValueError(f"battery_level 0-100 and thermal_status 0-6: {battery_level}, {thermal_status}")
        state = {"level": int(battery_level), "ac": plugged == "ac", "usb": plugged == "usb",
                 "wireless": plugged == "wireless", "screen": screen, "thermal": int(thermal_status),
                 "temp": int(round(battery_temp_c * 10))}
        tmp = self.root / "system/.dumpsys.state.new"
        tmp.write_text("".join(f"{k}={str(v).lower()}\n" for k, v in state.items()))
        tmp.replace(self.root / "system/dumpsys.state")
        # the fuel gauge says the same (POWER_SUPPLY_STATUS: the kernel's words)
        status = "Discharging" if plugged == "none" else "Full" if battery_level >= 100 else "Charging"
        self._write_battery("status", status)
        self._write_battery("capacity", str(int(battery_level)))

    def _write_battery(self, name: str, value: str) -> None:
        folder = self.root / "sys/class/power_supply/battery"
        tmp = folder / f".{name}.new"
        tmp.write_text(value + "\n")
        tmp.replace(folder / name)  # atomic: a reader sees the old or the new value, never half

    def simulate_battery(self, watts: Callable[[], float], *, current_unit: str = "uA",
                         discharge_negative: bool = False, volts: float = 3.85, period_s: float = 0.01) -> None:
        """Keep /sys/class/power_supply/battery/current_now and voltage_now following ``watts()`` (a
        :class:`~edgebench.testing.power_load.LoadPower`'s), rewritten every ``period_s``, as a fuel gauge
        reports them: current in ``uA`` or ``mA``, voltage in µV, the current negative while discharging
        when ``discharge_negative`` (vendors differ). The product of the two files is ``watts()``."""
        if current_unit not in ("uA", "mA"):
            raise ValueError(f"current_unit must be uA or mA: {current_unit!r}")
        self.stop_battery()
        step = 1e-6 if current_unit == "uA" else 1e-3
        sign = -1 if discharge_negative else 1
        stop = threading.Event()

        def gauge() -> None:
            while not stop.is_set():
                power = watts()
                sagged = volts - 0.03 * power  # the cell's internal resistance
                self._write_battery("voltage_now", str(round(sagged * 1e6)))
                self._write_battery("current_now", str(sign * round(power / sagged / step)))
                stop.wait(period_s)

        thread = threading.Thread(target=gauge, name="battery-gauge", daemon=True)
        thread.start()
        self._battery = (stop, thread)

    def stop_battery(self) -> None:
        """Freeze the fuel gauge files at their last values."""
        battery, self._battery = self._battery, None
        if battery is not None:
            battery[0].set()
            battery[1].join(5)

    def resolve(self, device_path: str, write: bool = False) -> Path:
        """The host file behind a device path; writes only below the mapped dirs."""
        path = posixpath.normpath("/" + device_path.lstrip("/"))
        for prefix in MAPPED:
            if path == prefix or path.startswith(prefix + "/"):
                return self.root / path.lstrip("/")
        if write:
            raise PermissionError(f"{path}: Read-only file system")
        base = self.rootfs or Path("/")
        return base / path.lstrip("/")

    def command_argv(self, command: str | None) -> tuple[list[str], dict[str, str] | None, str | None]:
        """How to start ``command`` (None: an interactive shell): argv, env, cwd."""
        if self.rootfs is None:
            env = dict(os.environ)
            env["PATH"] = f"{self.root}/system/bin:{env.get('PATH', '/usr/bin:/bin')}"
            env["TMPDIR"] = str(self.root / "data/local/tmp")
            text = _PATH_IN_TEXT.sub(lambda m: f"{self.root}{m.group(1)}", command) if command else None
            return (["/bin/sh", "-c", text] if text is not None else ["/bin/sh"]), env, str(self.root)
        r, fs = str(self.root), str(self.rootfs)
        binds = "".join(f"mount --bind {r}{d} {fs}{d}\n" for d in ("/data", "/sdcard", "/system"))
        setup = (
            # the cached rootfs stays pristine: read-only, with the phone's own dirs bound on top
            f"set -e\nmount --bind {fs} {fs}\nmount -o remount,bind,ro {fs}\n" + binds +
            f"mount -t tmpfs -o mode=1777 edgebench-tmp {fs}/tmp\n"
            f"mount -t tmpfs -o size=1m edgebench-sys {fs}/sys\n"  # never the host's /sys
            f"mkdir -p {fs}/sys/class/thermal {fs}/sys/devices/system/cpu {fs}/sys/class/power_supply\n"
            f"mount --bind {r}/sys/class/thermal {fs}/sys/class/thermal\n"
            f"mount --bind {r}/sys/class/power_supply {fs}/sys/class/power_supply\n"
            # cpufreq and the CPU lists onnxruntime's cpuinfo reads, as set_cpus wrote them
            f"mount --bind {r}/sys/devices/system/cpu {fs}/sys/devices/system/cpu\n"
            f"mount -t proc proc {fs}/proc\n"
            f"mount --rbind /dev {fs}/dev\n"
            f'exec chroot {fs} /usr/bin/env -i PATH={_DEVICE_PATH} HOME=/data/local/tmp '
            'TMPDIR=/data/local/tmp ANDROID_DATA=/data /bin/sh ${1:+-c "$1"}\n')
        argv = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", setup, "adbd-shell"]
        if command is not None:
            argv.append(command)
        return argv, None, "/"


# dumpsys as an Android 14 Pixel prints battery, power (the lines around the screen state) and
# thermalservice: same layout, labels and indentation as the real services (BatteryService,
# PowerManagerService, ThermalManagerService dump()); values from dumpsys.state next to bin/, which
# set_android_state writes. Plain POSIX sh: it runs on the host's shell and in the arm64 rootfs.
_DUMPSYS = r"""#!/bin/sh
state="$(dirname "$0")/../dumpsys.state"
level=80 ac=false usb=true wireless=false screen=on thermal=0 temp=250
if [ -r "$state" ]; then
  while IFS='=' read -r k v; do
    case $k in
      level) level=$v ;; ac) ac=$v ;; usb) usb=$v ;; wireless) wireless=$v ;;
      screen) screen=$v ;; thermal) thermal=$v ;; temp) temp=$v ;;
    esac
  done < "$state"
fi
plug=0 current=0 voltage_max=0
[ "$ac" = true ] && plug=1 current=3000000 voltage_max=9000000
[ "$usb" = true ] && plug=2 current=500000 voltage_max=5000000
[ "$wireless" = true ] && plug=4 current=1000000 voltage_max=9000000
if [ "$plug" = 0 ]; then status=3; elif [ "$level" -ge 100 ]; then status=5; else status=2; fi
powered=false; [ "$plug" = 0 ] || powered=true
tenths() { printf '%s.%s' $(($1 / 10)) $(($1 % 10)); }
skin=$((330 + 30 * thermal))

battery() {
  printf 'Current Battery Service state:\n'
  printf '  AC powered: %s\n  USB powered: %s\n  Wireless powered: %s\n  Dock powered: false\n' "$ac" "$usb" "$wireless"
  printf '  Max charging current: %s\n  Max charging voltage: %s\n' "$current" "$voltage_max"
  printf '  Charge counter: %s\n  status: %s\n  health: 2\n  present: true\n' $((level * 43560)) "$status"
  printf '  level: %s\n  scale: 100\n  voltage: %s\n  temperature: %s\n' "$level" $((3500 + level * 8)) "$temp"
  printf '  technology: Li-ion\n  Charging state: 1\n  Charging policy: 1\n'
}

power() {
  case $screen in
    on) wake=Awake display=ON hold=true ;;
    doze) wake=Dozing display=DOZE hold=true ;;
    *) wake=Asleep display=OFF hold=false ;;
  esac
  printf 'POWER MANAGER (dumpsys power)\n\nPower Manager State:\n'
  printf '  Settings power_manager_constants:\n    no_cached_wake_locks=true\n'
  printf '  mDirty=0x0\n  mWakefulness=%s\n  mWakefulnessChanging=false\n' "$wake"
  printf '  mIsPowered=%s\n  mPlugType=%s\n  mBatteryLevel=%s\n' "$powered" "$plug" "$level"
  printf '  mDockState=0\n  mStayOn=false\n  mProximityPositive=false\n  mBootCompleted=true\n  mSystemReady=true\n'
  printf '  mHalAutoSuspendModeEnabled=false\n  mHalInteractiveModeEnabled=%s\n' "$hold"
  printf '  mWakeLockSummary=0x0\n  mUserActivitySummary=0x1\n  mRequestWaitForNegativeProximity=false\n'
  printf '  mSandmanScheduled=false\n  mBatteryLevelLow=false\n  mLightDeviceIdleMode=false\n  mDeviceIdleMode=false\n'
  printf '  mHoldingWakeLockSuspendBlocker=false\n  mHoldingDisplaySuspendBlocker=%s\n' "$hold"
  printf '\nWake Locks: size=0\n\nSuspend Blockers: size=4\n'
  printf '  PowerManagerService.WakeLocks: ref count=0\n  PowerManagerService.Display: ref count=%s\n' \
    $([ "$hold" = true ] && echo 1 || echo 0)
  printf '  PowerManagerService.Broadcasts: ref count=0\n  PowerManagerService.WirelessChargerDetector: ref count=0\n'
  printf '\nDisplay Power: state=%s\n' "$display"
}

thermalservice() {
  listeners='\tcallbacks: %s\n\tkilled: false\n\tbroadcasts count: -1\n'
  printf 'IsStatusOverride: false\nThermalEventListeners:\n'; printf "$listeners" 2
  printf 'ThermalStatusListeners:\n'; printf "$listeners" 3
  printf 'Thermal Status: %s\nCached temperatures:\n' "$thermal"
  printf '\tTemperature{mValue=%s, mType=3, mName=VIRTUAL-SKIN, mStatus=%s}\n' "$(tenths $skin)" "$thermal"
  printf 'HAL Ready: true\nHAL connection:\n\tThermalHAL AIDL 1  connected: yes\n'
  printf 'Current temperatures from HAL:\n'
  printf '\tTemperature{mValue=%s, mType=0, mName=BIG, mStatus=0}\n' "$(tenths $((skin + 75)))"
  printf '\tTemperature{mValue=%s, mType=0, mName=LITTLE, mStatus=0}\n' "$(tenths $((skin + 41)))"
  printf '\tTemperature{mValue=%s, mType=2, mName=battery, mStatus=0}\n' "$(tenths "$temp")"
  printf '\tTemperature{mValue=%s, mType=3, mName=VIRTUAL-SKIN, mStatus=%s}\n' "$(tenths $skin)" "$thermal"
  printf 'Current cooling devices from HAL:\n'
  printf '\tCoolingDevice{mValue=0, mType=2, mName=thermal-cpufreq-0}\n'
  printf '\tCoolingDevice{mValue=0, mType=1, mName=battery}\n'
  printf 'Temperature static thresholds from HAL:\n'
  printf '\tTemperatureThreshold{mType=3, mName=VIRTUAL-SKIN, '
  printf 'mHotThrottlingThresholds=[NaN, 39.0, 43.0, 45.0, 46.5, 52.0, 55.0], '
  printf 'mColdThrottlingThresholds=[NaN, NaN, NaN, NaN, NaN, NaN, NaN]}\n'
}

if [ $# -eq 0 ]; then
  for s in battery power thermalservice; do
    printf -- '-------------------------------------------------------------------------------\n'
    printf 'DUMP OF SERVICE %s:\n' "$s"; "$s"
  done
  exit 0
fi
case $1 in
  battery|power|thermalservice) "$1" ;;
  *) printf "Can't find service: %s\n" "$1" >&2 ;;
esac
exit 0
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgebench.testing.adb_endpoint", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free one; avoid 5555-5585)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root", required=True, help="folder holding the device's /data, /sdcard, /system")
    parser.add_argument("--rootfs", help="run commands chrooted in this (arm64) userland (needs root)")
    parser.add_argument("--no-auth", action="store_true", help="skip the AUTH exchange")
    parser.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE", help="override a getprop value")
    args = parser.parse_args(argv)
    props = dict(PIXEL_7)
    props.update(dict(item.split("=", 1) for item in args.prop))
    endpoint = AdbEndpoint(args.root, args.port, args.host, props, args.rootfs, auth=not args.no_auth).start()
    print(f"adb endpoint listening on {endpoint.serial}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    endpoint.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["AdbEndpoint", "PIXEL_7", "FEATURES", "main"]
