"""Exported model artifacts, cached on disk.

An artifact is keyed by everything that changes its bytes: the model (name, scale, weights hash),
the backend's cache key (runtime and exporter versions, export recipe), the precision and the
calibration set. A cached file is reused; a file being written is renamed into place only when
complete, so an interrupted export never leaves a half file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from .api import Artifact, Backend, ModelSpec
from .errors import ArtifactError, ExportError

CALIBRATION_REVISION = 1  # bump when calibration_inputs() changes


def default_cache_dir() -> Path:
    env = os.environ.get("EDGEBENCH_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("edgebench"))


def artifact_key(spec: ModelSpec, backend: Backend, precision: str) -> str:
    parts = {
        "model": spec.name,
        "scale": spec.scale,
        "model_fingerprint": spec.fingerprint,
        "backend": backend.name,
        "backend_key": backend.cache_key(),
        "precision": precision,
        "calibration": CALIBRATION_REVISION if precision != "fp32" else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class ArtifactCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else default_cache_dir() / "artifacts"
        self._modules: dict[str, Any] = {}

    def path_for(self, spec: ModelSpec, backend: Backend, precision: str) -> Path:
        key = artifact_key(spec, backend, precision)
        return self.root / f"{spec.name}-{backend.name}-{precision}-{key}{backend.suffix}"

    def get(
        self,
        spec: ModelSpec,
        backend: Backend,
        precision: str,
        on_export: Callable[[], None] | None = None,
    ) -> Artifact:
        """The artifact for (model, backend, precision): from the cache, or exported now."""
        path = self.path_for(spec, backend, precision)
        meta_path = path.with_name(path.name + ".json")
        if path.is_file() and meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except ValueError:
                meta = None
            if isinstance(meta, dict) and meta.get("size") == path.stat().st_size:
                return Artifact(path, backend.name, precision, meta)
        if on_export:
            on_export()
        module = self._module(spec)
        calibration: list = []
        if precision != "fp32":
            from .data import calibration_inputs

            calibration = calibration_inputs(spec.scale)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        try:
            meta = dict(backend.export(module, spec, precision, calibration, tmp) or {})
        except (ExportError, ArtifactError):
            tmp.unlink(missing_ok=True)
            raise
        except Exception as exc:  # an exporter bug still becomes one line naming the model
            tmp.unlink(missing_ok=True)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ExportError(f"cannot export {spec.name!r} for {backend.name} {precision}: "
                              f"{type(exc).__name__}: {first}") from None
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise ExportError(f"{backend.name} export of {spec.name!r} wrote no artifact")
        meta["size"] = tmp.stat().st_size
        meta["sha256"] = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, path)
        meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True))
        return Artifact(path, backend.name, precision, meta)

    def _module(self, spec: ModelSpec) -> Any:
        if spec.name not in self._modules:
            self._modules[spec.name] = spec.load()
        return self._modules[spec.name]

    def clear(self) -> int:
        """Delete every cached artifact; returns how many files were removed."""
        if not self.root.is_dir():
            return 0
        count = sum(1 for p in self.root.iterdir() if p.is_file())
        shutil.rmtree(self.root)
        return count
