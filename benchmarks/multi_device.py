"""Several devices at once: `edgebench run --device A --device B` vs the two single-device runs.

    python benchmarks/multi_device.py [--models bicubic,abpn] [--rounds 2] [--runs 30] [--size 360x640] [--cooldown 0]

A and B are two virtual Pixel phones (edgebench.testing's ADB endpoint, each behind its own adb
server, reached through the real adb client), pinned to different cores (taskset 1 and 2) so they
behave like two devices and not like two processes fighting over one CPU. Each round times, as
separate `edgebench run` processes: A alone, B alone, then A and B together; the artifacts are
exported before the first round so that no round pays for an export. Prints every wall time and the
ratio together / (A + B) (goal <= 0.6). Needs `adb` (scripts/setup-test-endpoints.sh).

The virtual phones compute on this host's cores: on a 2-core machine that other jobs load, the two
phones compete with them and the ratio rises (see the load average printed); real phones compute on
their own SoCs and the host only waits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def edgebench(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edgebench", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"edgebench {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="bicubic,abpn")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per job")
    parser.add_argument("--size", default="360x640", help="timing input (MAI: 360x640)")
    parser.add_argument("--cooldown", type=float, default=0.0,
                        help="edgebench run --cooldown: the device rests before each timed run (a thermally "
                             "limited phone's setting; time the host only waits)")
    args = parser.parse_args()

    from edgebench.testing.remote_devices import virtual_pixel

    work = Path(tempfile.mkdtemp(prefix="edgebench-multi-"))
    devices = work / "devices"
    devices.mkdir()
    with contextlib.ExitStack() as stack:
        env = {**os.environ, "EDGEBENCH_DB": str(work / "results.db"), "EDGEBENCH_DEVICES_DIR": str(devices)}
        names = []
        for letter, cpu in (("a", "1"), ("b", "2")):
            phone = stack.enter_context(virtual_pixel(work / f"phone-{letter}", affinity=cpu))
            path = phone.write_profile(work / f"profile-{letter}")
            text = path.read_text().replace('name = "pixel-test"', f'name = "phone-{letter}"')
            (devices / f"phone-{letter}.toml").write_text(text)
            names.append(f"phone-{letter}")
        common = ["--precision", "int8", "--size", args.size, "--runs", str(args.runs), "--warmup", "2",
                  "--quality-images", "2", "--no-conditions", "--cooldown", str(args.cooldown)]
        for model in args.models.split(","):
            common += ["--model", model]
        print(f"devices: {', '.join(names)} (virtual Pixel phones over adb, taskset 1 / 2); models: {args.models}; "
              f"--runs {args.runs} --size {args.size} --cooldown {args.cooldown:g}; {os.cpu_count()} host cores, "
              f"load average {os.getloadavg()[0]:.2f} (the phones compute on this host's cores: other load "
              f"slows the run with both)", flush=True)
        edgebench(env, "run", "--device", "host", *common)  # exports every artifact once: no round pays for one
        alone_a, alone_b, together = [], [], []
        for round_no in range(1, args.rounds + 1):
            alone_a.append(edgebench(env, "run", "--device", names[0], *common))
            alone_b.append(edgebench(env, "run", "--device", names[1], *common))
            together.append(edgebench(env, "run", "--device", names[0], "--device", names[1], *common))
            print(f"round {round_no}: {names[0]} alone {alone_a[-1]:.1f} s, {names[1]} alone {alone_b[-1]:.1f} s, "
                  f"both at once {together[-1]:.1f} s -> ratio {together[-1] / (alone_a[-1] + alone_b[-1]):.2f}",
                  flush=True)
    a, b, both = statistics.median(alone_a), statistics.median(alone_b), statistics.median(together)
    ratio = both / (a + b)
    print(f"median: A {a:.1f} s + B {b:.1f} s = {a + b:.1f} s sequential; together {both:.1f} s; "
          f"ratio {ratio:.2f} (goal <= 0.6: {'met' if ratio <= 0.6 else 'NOT met'}); load average now "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
