"""The device farm on real Ray (issue 18, parts 2-4 and 6): a head and two worker nodes as separate
processes on this machine, started with `edgebench farm head` / `edgebench farm join`; each worker
owns stand-in devices (host-type profiles with their own names). A 2-model x 2-device run lands every
result in the submitter's store; a device failing its probe is quarantined until released; killing
a worker mid-run re-queues its job on the other device and loses nothing.

One cluster serves the module (starting nodes is the slow part); the tests run in file order and
the last one kills a worker.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest
from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.testing.remote_devices import free_port

ray = pytest.importorskip("ray", reason="the farm tests need ray: pip install 'edgebench[farm]'")

from edgebench.farm.nodes import kill_session  # noqa: E402

QUICK = ["--quick", "--quality-images", "1"]


def profile(folder: Path, name: str, *lines: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = [f'name = "{name}"', 'transport = "local"', 'python = "{python}"', "threads = 1", 'delegates = ["cpu"]',
            *lines]
    (folder / f"{name}.toml").write_text("\n".join(body) + "\n")


class Farm:
    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env
        self.address = ""
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, *args: str, devices: Path | None = None, ready: str, timeout: float = 120) -> None:
        env = dict(self.env)
        if devices is not None:
            env["EDGEBENCH_DEVICES_DIR"] = str(devices)
        log = open(self.root / f"{name}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "edgebench", "farm", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.procs[name] = proc
        deadline = time.monotonic() + timeout
        while ready not in self.log(name):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"farm {name} did not start:\n{self.log(name)[-3000:]}")
            time.sleep(0.5)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text()

    def node_sessions(self, name: str) -> list[int]:
        """The `ray start` children of one farm process: each leads its own session (see farm.nodes)."""
        try:
            return [c.pid for c in psutil.Process(self.procs[name].pid).children()]
        except psutil.NoSuchProcess:
            return []

    def kill(self, name: str) -> None:
        """A node dying hard: every process of its `ray start` session, SIGKILL."""
        for sid in self.node_sessions(name):
            kill_session(sid)
        self.procs[name].kill()

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            sessions = self.node_sessions(name)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # the command stops its own node
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for sid in sessions:  # anything left of it
                kill_session(sid)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("farm")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "EDGEBENCH_DB": str(root / "unused.db"),
           # a dead node is noticed in ~3 s instead of ~30 s (Ray's defaults suit a real network)
           "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
           "RAY_health_check_timeout_ms": "1000"}
    env["EDGEBENCH_CACHE"] = os.environ.get("EDGEBENCH_CACHE") or str(Path(__file__).parent.parent / ".cache" / "test-artifacts")
    farm = Farm(root, env)
    # two stand-ins that answer to one key ("standin"), and one whose probe always fails (no storage is enough)
    profile(root / "node-a", "bench-a", 'keys = ["standin"]')
    profile(root / "node-b", "bench-b", 'keys = ["standin"]')
    profile(root / "node-b", "sick", "[health]", "min_free_mb = 1000000000")
    port = free_port()
    try:
        farm.start("head", "head", "--ip", "127.0.0.1", "--port", str(port), ready="Farm head at")
        farm.address = f"127.0.0.1:{port}"
        # one after the other: two nodes of one host starting at the same instant can time out in ray
        farm.start("node-a", "join", farm.address, "--host", "wa", devices=root / "node-a", ready="Joined the farm")
        farm.start("node-b", "join", farm.address, "--host", "wb", devices=root / "node-b", ready="Joined the farm")
        yield farm
    finally:
        farm.stop()


def submit(farm: Farm, db: Path, *args: str, wait: bool = True) -> subprocess.Popen[str] | subprocess.CompletedProcess[str]:
    env = {**farm.env, "EDGEBENCH_DB": str(db), "EDGEBENCH_DEVICES_DIR": str(db.parent / "submitter-devices")}
    argv = [sys.executable, "-m", "edgebench", "run", "--farm", farm.address, *args]
    if wait:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def status(farm: Farm) -> dict:
    proc = subprocess.run([sys.executable, "-m", "edgebench", "farm", "status", farm.address, "--json"],
                          env=farm.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_unreachable_head_is_one_error_line():
    port = free_port()
    result = CliRunner().invoke(cli, ["run", "--farm", f"127.0.0.1:{port}", "--device", "pixel", *QUICK])
    assert result.exit_code == 1
    assert f"Error: the farm head at 127.0.0.1:{port} is unreachable" in result.output


def test_ray_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(cli, ["farm", "status", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert "pip install 'edgebench[farm]'" in result.output


def test_two_models_on_two_devices_land_in_the_submitters_store(farm: Farm, tmp_path: Path):
    before = status(farm)
    assert {d["id"] for d in before["devices"]} == {"bench-a@wa", "bench-b@wb", "sick@wb"}
    assert sum(1 for n in before["nodes"] if n["alive"]) == 3
    db = tmp_path / "results.db"
    proc = submit(farm, db, "--device", "bench-a", "--device", "bench-b", "--model", "bicubic", "--model", "abpn",
                  "--precision", "int8", *QUICK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 result(s) stored" in proc.stderr
    stored = rows(db, "SELECT device, model FROM results ORDER BY device, model")
    assert stored == [("bench-a", "abpn"), ("bench-a", "bicubic"), ("bench-b", "abpn"), ("bench-b", "bicubic")]
    runs = rows(db, "SELECT device, status, host_info, device_info FROM runs ORDER BY device")
    assert [(r[0], r[1]) for r in runs] == [("bench-a", "finished"), ("bench-b", "finished")]
    for device, _, host_info, device_info in runs:
        assert json.loads(host_info)["farm_node"]  # the node's host info, not the submitter's
        assert json.loads(device_info)["farm"]["device"] == f"{device}@{'wa' if device == 'bench-a' else 'wb'}"
    after = {d["id"]: d for d in status(farm)["devices"]}
    assert after["bench-a@wa"]["state"] == "idle" and after["bench-a@wa"]["last_probe"]["ok"] is True


def test_farm_head_with_address_uses_the_running_cluster(farm: Farm):
    proc = subprocess.run([sys.executable, "-m", "edgebench", "farm", "head", "--address", farm.address],
                          env=farm.env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"edgebench farm join {farm.address}" in proc.stdout
    assert sum(1 for n in status(farm)["nodes"] if n["alive"]) == 3  # no new node was started


def test_a_device_failing_its_probe_is_quarantined_until_released(farm: Farm, tmp_path: Path):
    db = tmp_path / "results.db"
    proc = submit(farm, db, "--device", "sick", "--model", "bicubic", "--quarantine-after", "2", *QUICK)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "low storage" in proc.stderr
    assert "found no healthy device" in proc.stderr
    assert rows(db, "SELECT count(*) FROM results") == [(0,)]
    sick = {d["id"]: d for d in status(farm)["devices"]}["sick@wb"]
    assert sick["state"] == "quarantined"
    assert "2 failed lease(s) in a row" in sick["reason"] and "low storage" in sick["reason"]
    assert sick["last_probe"]["ok"] is False
    table = subprocess.run([sys.executable, "-m", "edgebench", "farm", "status", farm.address],
                           env={**farm.env, "COLUMNS": "300"}, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    sick_line = next(line for line in table.stdout.splitlines() if "sick@wb" in line and "quarantined" in line)
    assert "low storage" in sick_line and "failed" in sick_line  # state, reason, the last probe
    # skipped until released: the next run refuses at once
    again = submit(farm, db, "--device", "sick", "--model", "bicubic", *QUICK)
    assert again.returncode == 1 and "every device matching 'sick' is quarantined" in again.stderr
    released = CliRunner().invoke(cli, ["farm", "release", farm.address, "sick@wb"])
    assert released.exit_code == 0 and "Released sick@wb (was quarantined)" in released.output
    assert {d["id"]: d for d in status(farm)["devices"]}["sick@wb"]["state"] == "idle"


def test_unknown_device_in_the_farm_is_one_error_line(farm: Farm, tmp_path: Path):
    proc = submit(farm, tmp_path / "results.db", "--device", "tensor-g9", "--model", "bicubic", *QUICK)
    assert proc.returncode == 1
    assert "Error: no device in the farm" in proc.stderr and "matches 'tensor-g9'" in proc.stderr


def test_killing_a_worker_mid_run_requeues_its_job_and_loses_nothing(farm: Farm, tmp_path: Path):
    db = tmp_path / "results.db"
    # four jobs of ~3 s for the two devices answering to "standin"
    run = submit(farm, db, "--device", "standin", "--model", "bicubic", "--model", "abpn", "--min-time", "3",
                 *QUICK, wait=False)
    deadline = time.monotonic() + 90
    while True:  # until bench-a holds a lease
        current = {d["id"]: d for d in status(farm)["devices"]}.get("bench-a@wa", {}).get("current")
        if current:
            break
        assert run.poll() is None and time.monotonic() < deadline, "bench-a never got a job"
        time.sleep(0.5)
    farm.kill("node-a")
    output, _ = run.communicate(timeout=150)
    assert run.returncode == 0, output[-3000:]
    assert "bench-a@wa died during" in output and "re-queued on 'standin'" in output
    stored = rows(db, "SELECT model, precision FROM results ORDER BY model, precision")
    assert stored == [("abpn", "fp32"), ("abpn", "int8"), ("bicubic", "fp32"), ("bicubic", "int8")], output
    # the re-queued job ran on the device still alive
    by_device = dict(rows(db, "SELECT device, count(*) FROM results GROUP BY device"))
    assert by_device["bench-b"] >= 2


def test_no_command_leaves_this_process_attached_to_a_farm():
    """Runs after the tests above (file order): `farm status`/`release` ran in-process; a driver left attached
    is ended by Ray (exit status 1) once their head is gone, which took a whole pytest run down once."""
    assert not ray.is_initialized()
