"""pytest helpers for edgebench plugin authors (installed as a pytest plugin).

Fixtures: ``edgebench_env`` (temporary store, cache and user dirs through environment
variables), ``edgebench_store`` (a temporary results store), ``edgebench_register`` (register
throwaway plugins for one test), ``host_profile``, and the virtual devices ``edgebench_phone``
(an Android phone over real adb) and ``edgebench_board`` (a board over real ssh). Helpers: :func:`registered` (register a
plugin for a ``with`` block), :func:`tiny_model` (a small real SR network), :func:`measure_one`
(run one model through the harness at a tiny size and return the stored result),
:func:`run_artifact` and :func:`reference_output` (an exported artifact's output next to the
torch module's, to check a backend's numerics), :func:`invoke_cli`.

Nothing heavy is imported here: torch is imported only when a model is built.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from ..api import ModelSpec
from ..devices import DeviceProfile
from ..store import Store

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    from click.testing import Result

__all__ = [
    "edgebench_board",
    "edgebench_env",
    "edgebench_phone",
    "edgebench_stock_phone",
    "edgebench_register",
    "edgebench_store",
    "host_device",
    "host_profile",
    "invoke_cli",
    "measure_one",
    "reference_output",
    "registered",
    "run_artifact",
    "tiny_model",
    "untraceable_model",
]


@contextlib.contextmanager
def registered(plugin: object, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module or an object with ``@hookimpl`` methods) for a block."""
    from ..plugins import register_plugin, unregister_plugin

    name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    register_plugin(plugin, name)
    try:
        yield name
    finally:
        unregister_plugin(name)


def _build_tiny(scale: int, channels: int) -> Any:
    import torch
    from torch import nn

    class Tiny(nn.Module):
        """conv-relu-conv to scale² x 3 channels, plus the nearest-neighbour anchor, then pixel shuffle."""

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(channels, 3 * scale * scale, 3, padding=1))
            self.shuffle = nn.PixelShuffle(scale)
            self.scale = scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            anchor = torch.repeat_interleave(x, self.scale * self.scale, dim=1)
            return self.shuffle(self.body(x) * 0.1 + anchor)

    torch.manual_seed(0)
    return Tiny()


def tiny_model(name: str = "tiny", scale: int = 2, channels: int = 8, weights: Path | None = None) -> ModelSpec:
    """A small, deterministic SR network (no training needed) for plugin tests."""
    return ModelSpec(name=name, scale=scale, build=lambda: _build_tiny(scale, channels), weights=weights,
                     description="edgebench.testing tiny model")


def _build_branchy(scale: int) -> Any:
    from torch import nn

    class Branchy(nn.Module):
        """Branches on the input's values: torch.export and FX cannot capture it, a trace keeps one branch."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
            self.shuffle = nn.PixelShuffle(scale)

        def forward(self, x: Any) -> Any:
            if x.mean() > 0.5:
                return self.shuffle(self.conv(x))
            return self.shuffle(self.conv(1 - x))

    return Branchy()


def untraceable_model(name: str = "branchy", scale: int = 3) -> ModelSpec:
    """A model with a data-dependent branch, to test how a backend reports an export it cannot do."""
    return ModelSpec(name=name, scale=scale, build=lambda: _build_branchy(scale), description="data-dependent branch")


def host_device(name: str = "host") -> DeviceProfile:
    """A profile for this machine through the ``local`` transport (like the built-in ``host``)."""
    return DeviceProfile(name=name, transport="local", python="{python}", delegates=("cpu", "xnnpack"))


def measure_one(
    model: ModelSpec | str,
    backend: str = "onnxruntime",
    precision: str = "fp32",
    *,
    store: Store | None = None,
    device: DeviceProfile | None = None,
    delegate: str | None = None,
    cache_dir: Path | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Measure one model at a tiny size through the real harness; return the stored result row.

    ``store`` defaults to the ``EDGEBENCH_DB`` database (a temporary one under ``edgebench_env``);
    ``settings`` override :meth:`edgebench.harness.Settings.quick` (``height``, ``runs``, ``dataset``...).
    A job that fails raises ``AssertionError`` with the harness's message.
    """
    from ..artifacts import ArtifactCache
    from ..harness import Harness, Settings, plan
    from ..plugins import backends, models

    if store is None:
        with contextlib.closing(Store.open()) as default_store:
            return measure_one(model, backend, precision, store=default_store, device=device, delegate=delegate,
                               cache_dir=cache_dir, **settings)
    spec = models.get(model) if isinstance(model, str) else model
    device = device or host_device()
    jobs = plan([spec], [backends.get(backend)], [precision], [delegate] if delegate else None, device,
                cpu_baseline=False)  # one job: the row asked for
    harness = Harness(store, device, Settings.quick(**settings),
                      cache=ArtifactCache(cache_dir) if cache_dir else None)
    run_id = harness.run(jobs)
    if harness.failures:
        raise AssertionError("; ".join(harness.failures))
    (row,) = store.results("run_id = ?", [run_id])
    return row


def run_artifact(
    model: ModelSpec | str,
    backend: str,
    precision: str = "fp32",
    image: "np.ndarray | None" = None,
    *,
    delegate: str | None = None,
    threads: int = 0,
    cache_dir: Path | None = None,
) -> "np.ndarray":
    """Export ``model`` for ``backend`` (cached as in a run) and run the artifact in this process.

    Calls the backend's runner adapter as the runner does (``load``, ``prepare``, ``invoke``,
    ``finish``) on ``image`` (uint8 HxWx3 or 1xHxWx3; default: a 24x32 crop of a bundled
    photo) and returns its uint8 1xsHxsWx3 output. Compare it with :func:`reference_output`.
    """
    import importlib.util

    from ..artifacts import ArtifactCache
    from ..plugins import backends, models

    spec = models.get(model) if isinstance(model, str) else model
    runtime = backends.get(backend)
    artifact = ArtifactCache(cache_dir).get(spec, runtime, precision)
    loader = importlib.util.spec_from_file_location(f"edgebench_adapter_{runtime.name}", runtime.adapter_path())
    if loader is None or loader.loader is None:
        raise AssertionError(f"backend {backend!r}: adapter {runtime.adapter_path()} cannot be imported")
    adapter = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(adapter)
    batch = _batch(image)
    session = adapter.load(str(artifact.path), delegate or runtime.delegates[0], threads, artifact.meta)
    return adapter.finish(session, adapter.invoke(session, adapter.prepare(session, batch)))


def reference_output(model: ModelSpec | str, image: "np.ndarray | None" = None) -> "np.ndarray":
    """The torch module's own output on ``image``, as uint8 1xsHxsWx3 (what every artifact approximates)."""
    import numpy as np
    import torch

    from ..plugins import models

    spec = models.get(model) if isinstance(model, str) else model
    batch = _batch(image)
    with torch.no_grad():
        out = spec.load()(torch.tensor(batch).permute(0, 3, 1, 2).float() / 255)
    return np.clip(np.rint(out.permute(0, 2, 3, 1).numpy() * 255), 0, 255).astype(np.uint8)


def _batch(image: "np.ndarray | None") -> "np.ndarray":
    import numpy as np

    if image is None:
        from ..data import photos

        image = photos("eval")[0][1][100:124, 150:182]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    return image[None] if image.ndim == 3 else image


def invoke_cli(*args: str, **kwargs: Any) -> "Result":
    """Run ``edgebench ARGS`` in this process with click's test runner (plugins' commands included)."""
    from click.testing import CliRunner

    from ..cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


@pytest.fixture
def edgebench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the results store, artifact cache and user device dir at a temporary folder (returned)."""
    monkeypatch.setenv("EDGEBENCH_DB", str(tmp_path / "results.db"))
    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGEBENCH_DEVICES_DIR", str(tmp_path / "devices"))
    return tmp_path


@pytest.fixture
def edgebench_store(tmp_path: Path) -> Iterator[Store]:
    """A results store in a temporary file, closed after the test."""
    store = Store.open(tmp_path / "results.db")
    yield store
    store.close()


@pytest.fixture
def edgebench_register() -> Iterator[Callable[..., str]]:
    """``edgebench_register(plugin, name=None)`` registers a plugin until the test ends; returns its name."""
    from ..plugins import register_plugin, unregister_plugin

    names: list[str] = []

    def register(plugin: object, name: str | None = None) -> str:
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        register_plugin(plugin, name)
        names.append(name)
        return name

    yield register
    for name in reversed(names):
        unregister_plugin(name)


@pytest.fixture
def host_profile() -> DeviceProfile:
    """:func:`host_device` as a fixture."""
    return host_device()


@pytest.fixture
def edgebench_phone(tmp_path: Path) -> Iterator[DeviceProfile]:
    """A virtual Android phone reached with the real ``adb`` client; gives its device profile.

    The phone is :class:`edgebench.testing.adb_endpoint.AdbEndpoint` (the device side of the ADB
    protocol over TCP); its commands run on this host with this Python, under the phone's paths
    (``/data/local/tmp``). A private adb server is used and stopped afterwards. Skips without ``adb``.
    """
    yield from _virtual_phone(tmp_path, python=True)


@pytest.fixture
def edgebench_stock_phone(tmp_path: Path) -> Iterator[DeviceProfile]:
    """:func:`edgebench_phone` as a stock phone: no Python anywhere on its PATH.

    ``python3`` there answers like Android's shell for a missing command (exit status 127), so
    backends must measure through their native tools (benchmark_model, onnxruntime_perf_test,
    executor_runner: the test doubles in this package, pushed like the real binaries, keep this
    machine's interpreter in their first line). Its profile names ``python3``, as a real one would.
    """
    yield from _virtual_phone(tmp_path, python=False)


def _virtual_phone(tmp_path: Path, python: bool) -> Iterator[DeviceProfile]:
    import shutil
    import socket
    import subprocess
    import sys

    if shutil.which("adb") is None:
        pytest.skip("the adb client is not installed (apt install adb)")
    from .adb_endpoint import AdbEndpoint

    with socket.socket() as sock:  # a free port for a private adb server, away from 5037
        sock.bind(("127.0.0.1", 0))
        server_port = sock.getsockname()[1]
    with AdbEndpoint(tmp_path / "phone", python=python) as phone:
        try:
            yield DeviceProfile(name="virtual-phone", transport="adb", python=sys.executable if python else "python3",
                                delegates=("cpu",), description="edgebench.testing virtual phone",
                                options={"serial": phone.serial, "server_port": server_port,
                                         "workdir": "/data/local/tmp"})
        finally:
            subprocess.run(["adb", "-P", str(server_port), "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def edgebench_board(tmp_path: Path) -> Iterator[DeviceProfile]:
    """A virtual board reached with the real ``ssh`` client; gives its device profile.

    An OpenSSH server of its own on loopback (:class:`edgebench.testing.ssh_endpoint.SshEndpoint`,
    key auth, this host's Python). Skips without ``sshd``.
    """
    import shutil
    import sys

    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("the OpenSSH server is not installed (apt install openssh-server)")
    from .ssh_endpoint import SshEndpoint

    with SshEndpoint(tmp_path / "board", netns=False) as board:
        yield DeviceProfile(name="virtual-board", transport="ssh", python=sys.executable, delegates=("cpu",),
                            description="edgebench.testing virtual board",
                            options={**board.profile_options(), "workdir": "/tmp"})
