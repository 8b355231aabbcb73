"""pytest helpers for edgebench plugin authors (installed as a pytest plugin).

Fixtures: ``edgebench_store`` (a temporary results store), ``edgebench_env`` (temporary store,
cache and user dirs through environment variables), ``host_profile``. Helpers:
:func:`registered` (register a throwaway plugin for the duration of a ``with`` block),
:func:`tiny_model` (a small real SR network), :func:`measure_one` (run one model through the
harness at a tiny size and return the stored result).

Nothing heavy is imported here: torch is imported only when a tiny model is built.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import pytest

from ..api import ModelSpec
from ..devices import DeviceProfile
from ..store import Store


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


def host_device(name: str = "host") -> DeviceProfile:
    return DeviceProfile(name=name, transport="local", python="{python}", delegates=("cpu", "xnnpack"))


def measure_one(
    model: ModelSpec | str,
    backend: str = "onnxruntime",
    precision: str = "fp32",
    *,
    store: Store,
    device: DeviceProfile | None = None,
    delegate: str | None = None,
    cache_dir: Path | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Measure one model at a tiny size through the real harness; return the stored result row."""
    from ..artifacts import ArtifactCache
    from ..harness import Harness, Settings, plan
    from ..plugins import backends, models

    spec = models.get(model) if isinstance(model, str) else model
    device = device or host_device()
    jobs = plan([spec], [backends.get(backend)], [precision], [delegate] if delegate else None, device)
    harness = Harness(store, device, Settings.quick(**settings),
                      cache=ArtifactCache(cache_dir) if cache_dir else None)
    run_id = harness.run(jobs)
    if harness.failures:
        raise AssertionError("; ".join(harness.failures))
    (row,) = store.results("run_id = ?", [run_id])
    return row


@pytest.fixture
def edgebench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the store, artifact cache and user device dir at a temporary folder."""
    monkeypatch.setenv("EDGEBENCH_DB", str(tmp_path / "results.db"))
    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGEBENCH_DEVICES_DIR", str(tmp_path / "devices"))
    return tmp_path


@pytest.fixture
def edgebench_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "results.db")
    yield store
    store.close()


@pytest.fixture
def host_profile() -> DeviceProfile:
    return host_device()
