"""`edgebench run --device A --device B` (issue 18, part 1): one worker per device at once, each
artifact exported once, results stored as they come, a failing device leaves the others alone,
Ctrl-C keeps what finished, device groups from groups.toml."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.devices import DeviceProfile, expand_devices
from edgebench.harness import Settings, plan
from edgebench.multi_device import DeviceRun, run_on_devices
from edgebench.plugins import backends, models
from edgebench.shared_exports import SharedExportCache
from edgebench.store import Store
from edgebench.testing.remote_devices import free_port

QUICK = ["--model", "bicubic", "--precision", "int8", "--quick", "--quality-images", "1"]


def user_dir() -> Path:
    folder = Path(os.environ["EDGEBENCH_DEVICES_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def local_profile(name: str, **extra: str) -> Path:
    lines = [f'name = "{name}"', 'transport = "local"', 'python = "{python}"', "threads = 1", 'delegates = ["cpu"]',
             *(f"{k} = {v}" for k, v in extra.items())]
    path = user_dir() / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def dead_ssh_profile(name: str) -> Path:
    """An ssh board nobody answers for: a closed port on loopback."""
    path = user_dir() / f"{name}.toml"
    path.write_text(f'name = "{name}"\ntransport = "ssh"\ndelegates = ["cpu"]\n[options]\nhost = "127.0.0.1"\n'
                    f'port = {free_port()}\nuser = "nobody"\nconnect_timeout = 3\n')
    return path


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_two_devices_from_a_group_run_at_once_and_store_each_own_run():
    local_profile("alpha")
    local_profile("beta")
    (user_dir() / "groups.toml").write_text('pair = ["alpha", "beta"]\n')
    result = invoke("run", "--device", "pair", *QUICK, "--min-time", "1.5")
    assert result.exit_code == 0, result.output
    assert "alpha: run" in result.output and "beta: run" in result.output
    assert "2 result(s) stored" in result.output
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        runs = {r["device"]: r for r in store.runs()}
        results = store.results()
    finally:
        store.close()
    assert set(runs) == {"alpha", "beta"} and all(r["status"] == "finished" for r in runs.values())
    assert sorted(r["device"] for r in results) == ["alpha", "beta"]
    # both measured during the same seconds: each timed for >= 1.5 s, the whole run took less than both
    start = {r["device"]: r["started_at"] for r in runs.values()}
    end = {r["device"]: r["finished_at"] for r in runs.values()}
    assert max(start.values()) < min(end.values()), (start, end)


def test_groups_expand_in_order_without_repeats_and_bad_groups_are_one_line():
    (user_dir() / "groups.toml").write_text('lab = ["pixel", "rpi4"]\nboards = ["rpi4", "rpi5"]\n')
    assert expand_devices(["lab", "boards", "host"]) == ["pixel", "rpi4", "rpi5", "host"]
    (user_dir() / "groups.toml").write_text('lab = "pixel"\n')
    result = invoke("run", "--device", "lab", *QUICK)
    assert result.exit_code == 1
    assert "must be a non-empty list of device names" in result.output
    # groups.toml is no profile: listing devices still works
    assert invoke("devices").exit_code == 0


def test_unknown_device_among_several_is_one_error_before_anything_runs():
    local_profile("alpha")
    result = invoke("run", "--device", "alpha", "--device", "nosuch", *QUICK)
    assert result.exit_code == 2
    assert "Error: unknown device 'nosuch'" in result.output
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        assert store.runs() == []
    finally:
        store.close()


def test_serial_names_one_phone():
    result = invoke("run", "--device", "host", "--device", "pixel", "--serial", "x", *QUICK)
    assert result.exit_code == 2 and "--serial names one phone" in result.output


def test_a_failing_device_never_stops_the_others():
    local_profile("alpha")
    dead_ssh_profile("gone")
    result = invoke("run", "--device", "gone", "--device", "alpha", *QUICK)
    assert result.exit_code == 1, result.output  # a device that stored nothing failed its run
    assert "Failed: device 'gone':" in result.output
    assert "alpha: run" in result.output and "1 result(s) stored" in result.output
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        runs = {r["device"]: r["status"] for r in store.runs()}
        assert [r["device"] for r in store.results()] == ["alpha"]
    finally:
        store.close()
    assert runs == {"gone": "failed", "alpha": "finished"}


def _profile(name: str) -> DeviceProfile:
    return DeviceProfile(name=name, transport="local", python="{python}", threads=1, delegates=("cpu",))


def test_stop_ends_every_worker_before_its_next_job_and_keeps_what_finished():
    """What Ctrl-C does in the CLI: the stop event is set; each device finishes the job it is on."""
    settings = Settings.quick(quality_images=1)
    specs = [models.get("bicubic")]
    runs = [DeviceRun(p, plan(specs, [backends.get("onnxruntime")], ["fp32", "int8"], None, p, cpu_baseline=False))
            for p in (_profile("alpha"), _profile("beta"))]
    assert all(len(run.jobs) == 2 for run in runs)
    stop = threading.Event()

    class StopAtFirstResult:
        def phase(self, job, text):  # type: ignore[no-untyped-def]
            pass

        def done(self, job, row):  # type: ignore[no-untyped-def]
            stop.set()

        def failed(self, job, message):  # type: ignore[no-untyped-def]
            pass

    run_on_devices(os.environ["EDGEBENCH_DB"], runs, settings, reporter=lambda run: StopAtFirstResult(), stop=stop)
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        kept = store.count()
        statuses = {r["device"]: r["status"] for r in store.runs()}
    finally:
        store.close()
    assert 1 <= kept <= 2  # one result per device at most: none started a second job
    assert all(run.interrupted for run in runs)
    assert statuses == {"alpha": "interrupted", "beta": "interrupted"}


def test_concurrent_exports_of_one_key_happen_once(tmp_path: Path):
    cache = SharedExportCache(tmp_path / "artifacts")
    spec, backend = models.get("bicubic"), backends.get("onnxruntime")
    got: list[Path] = []
    barrier = threading.Barrier(3)

    def get() -> None:
        barrier.wait()
        got.append(cache.get(spec, backend, "fp32").path)

    threads = [threading.Thread(target=get) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(got) == 3 and len(set(got)) == 1
    assert sum(cache.exports.values()) == 1, cache.exports
    started = time.monotonic()
    cache.get(spec, backend, "fp32")  # a hit: no export, no lock
    assert sum(cache.exports.values()) == 1 and time.monotonic() - started < 5


def test_ctrl_c_stops_every_device_and_keeps_every_finished_result(tmp_path: Path):
    import signal
    import subprocess
    import sys

    local_profile("alpha")
    local_profile("beta")
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "edgebench", "run", "--device", "alpha", "--device", "beta",
                             "--model", "bicubic", "--model", "abpn", "--precision", "fp32", "--precision", "int8",
                             "--quick", "--quality-images", "1", "--min-time", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:  # the first finished result, then Ctrl-C
        seen.append(line)
        if "✓" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    proc.wait(120)
    output = "".join(seen) + rest
    assert proc.returncode == 130, output
    assert "Stopping: each device finishes the job it is on" in output
    store = Store.open(os.environ["EDGEBENCH_DB"])
    try:
        kept = store.count()
        per_device = dict(store.db.execute("SELECT device, count(*) FROM results GROUP BY device").fetchall())
        statuses = sorted(r["status"] for r in store.runs())
    finally:
        store.close()
    assert f"Interrupted: {kept} finished result(s) kept" in output
    # 4 jobs each; at the signal no device was past its second job, and none started another
    assert kept >= 1 and all(n <= 2 for n in per_device.values()), per_device
    assert statuses == ["interrupted", "interrupted"], output


def test_a_worker_failing_before_its_first_job_ends_the_wait_with_its_cause():
    """Workers report their end through an event: one that fails while starting must still set it."""
    settings = Settings.quick(quality_images=1)
    runs = [DeviceRun(p, plan([models.get("bicubic")], [backends.get("onnxruntime")], ["fp32"], None, p,
                              cpu_baseline=False)) for p in (_profile("alpha"), _profile("beta"))]

    def reporter(run: DeviceRun):  # type: ignore[no-untyped-def]
        if run.profile.name == "beta":
            raise RuntimeError("reporter for beta broke")
        return None

    done = threading.Event()
    waiter = threading.Thread(target=lambda: (run_on_devices(os.environ["EDGEBENCH_DB"], runs, settings,
                                                             reporter=reporter), done.set()), daemon=True)
    waiter.start()
    assert done.wait(300), "run_on_devices never returned"
    alpha, beta = runs
    assert beta.error == "RuntimeError: reporter for beta broke" and beta.run_id is None
    assert alpha.error is None and alpha.run_id is not None
