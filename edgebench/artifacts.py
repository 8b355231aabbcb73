"""Exported model artifacts, cached on disk: write-once, atomic, verified on every use.

An artifact is keyed by everything that changes its bytes: the model (name, scale, weights hash),
the backend's cache key (runtime and exporter versions, export recipe), the precision and the
calibration set. Several processes (two environments, two shells, a farm's workers) may share
one cache directory, and two environments can export different bytes for the same key.

Layout of one entry (``E`` = :meth:`ArtifactCache.path_for`, e.g. ``tiny-onnxruntime-fp32-<key>.onnx``):

* ``E.json`` — the entry's metadata: the backend's export notes plus ``sha256``, ``size`` and
  ``file``. It is the entry's only mutable part, and the commit point: it is written to a unique
  temp file and then hard-linked into place (fails if one exists: write-once) or, when the one in
  place is corrupt, renamed over it (``os.replace``). A reader sees either no meta or a whole one.
* ``<E without suffix>.<sha256[:16]><suffix>`` (``tiny-onnxruntime-fp32-<key>.<sha>.onnx``) — the
  bytes, under a name derived from their hash: :attr:`Artifact.path`. They are exported into a
  unique temp file (pid + random suffix) in the same folder, hashed, and renamed into place
  *before* the meta that names them; the file of a given name only ever holds those bytes, so a
  meta never describes other bytes than the file it names (unless the disk itself changed them,
  which the check below catches). A device that caches pushed files by name never keeps stale
  bytes either. Bytes without a meta are an export still being published (or a loser's
  leftovers): a plain miss, not damage.

Every :meth:`ArtifactCache.get` checks the bytes' SHA-256 against the meta (hashed once per
process per (path, inode, size, mtime): bytes changed in place without touching size or mtime
are seen by the next process); a mismatch, a missing file or an unreadable meta is re-exported,
reported through ``on_corrupt`` and recorded in the returned artifact's ``meta["reexported"]`` —
never measured silently. A process that finds a valid entry published while it was exporting
keeps that one and discards its own bytes. Entries written before this layout (bytes at ``E``
itself, meta without ``file``) are still read and verified the same way; such bytes without
their meta count as damage.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from .api import Artifact, Backend, ModelSpec
from .errors import ArtifactError, ExportError, debug_enabled

CALIBRATION_REVISION = 1  # bump when calibration_inputs() changes
CHUNK = 1 << 20

# (path, inode, size, mtime_ns) -> sha256 hex: an artifact is hashed once per process while unchanged
_HASHED: dict[tuple[str, int, int, int], str] = {}
_HASHED_LOCK = threading.Lock()


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


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, remembered for this process while the file is unchanged."""
    st = path.stat()
    with _HASHED_LOCK:
        known = _HASHED.get(_memo_key(path, st))
    if known is not None:
        return known
    sha = _hash(path)
    _remember(path, st, sha)
    return sha


def _memo_key(path: Path, st: os.stat_result) -> tuple[str, int, int, int]:
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _remember(path: Path, st: os.stat_result, sha: str) -> None:
    with _HASHED_LOCK:
        _HASHED[_memo_key(path, st)] = sha


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _temp_name(final: Path) -> Path:
    """A temp file next to ``final`` that no other process or thread uses (same folder: rename is atomic)."""
    return final.with_name(f"{final.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")


def _link_exclusive(src: Path, dest: Path) -> bool:
    """Put ``src``'s file at ``dest`` only if nothing is there (False otherwise). A hard link is
    atomic and fails when ``dest`` exists; the caller removes ``src`` afterwards."""
    try:
        os.link(src, dest)
        return True
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links (FAT, some shares): check, then rename (a tiny window)
        if dest.exists():
            return False
        os.replace(src, dest)
        return True


class ArtifactCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else default_cache_dir() / "artifacts"
        self._modules: dict[str, Any] = {}

    def path_for(self, spec: ModelSpec, backend: Backend, precision: str) -> Path:
        """The entry's name: its meta is this path + ``.json``, its bytes a content-addressed sibling
        (:attr:`Artifact.path`)."""
        key = artifact_key(spec, backend, precision)
        return self.root / f"{spec.name}-{backend.name}-{precision}-{key}{backend.suffix}"

    def get(
        self,
        spec: ModelSpec,
        backend: Backend,
        precision: str,
        on_export: Callable[[], None] | None = None,
        *,
        on_corrupt: Callable[[str], None] | None = None,
    ) -> Artifact:
        """The artifact for (model, backend, precision): from the cache when its bytes still match
        their SHA-256, or exported now. ``on_export()`` is called before exporting; ``on_corrupt(message)``
        (one line) when a cached entry was found damaged and is being re-exported."""
        entry = self.path_for(spec, backend, precision)
        found, problem = self._lookup(entry, backend, precision)
        if found is not None:
            return found
        note = None
        if problem:
            note = f"cached {backend.name} {precision} artifact of {spec.name!r}: {problem}; re-exported"
            if on_corrupt:
                on_corrupt(note)
        if on_export:
            on_export()
        artifact = self._export(entry, spec, backend, precision)
        if note:
            artifact.meta["reexported"] = note
        return artifact

    # -- reading -------------------------------------------------------------------------------
    def _lookup(self, entry: Path, backend: Backend, precision: str) -> tuple[Artifact | None, str | None]:
        """(the verified artifact, None), or (None, why the entry is unusable; None for a plain miss)."""
        meta_path = _meta_path(entry)
        try:
            text = meta_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            # bytes of the old layout without their meta: say so (new-layout bytes without a meta
            # are an export still being published, or a loser's leftovers: a plain miss)
            return None, ("its metadata is missing" if entry.is_file() else None)
        except OSError as exc:
            return None, f"its metadata cannot be read ({type(exc).__name__})"
        try:
            meta = json.loads(text)
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or not _is_sha(meta.get("sha256")):
            return None, "its metadata is damaged (no SHA-256)"
        sha = meta["sha256"]
        path = entry if "file" not in meta else _blob_path(entry, sha)
        if "file" in meta and meta["file"] != path.name:
            return None, f"its metadata names {str(meta['file'])[:60]!r}, not the file of its SHA-256"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None, f"its file {path.name} is missing"
        if meta.get("size") != size:
            return None, f"its file has {size} bytes, its metadata says {meta.get('size')!r}"
        actual = file_sha256(path)
        if actual != sha:
            return None, f"its bytes did not match their SHA-256 (expected {sha[:12]}…, found {actual[:12]}…)"
        return Artifact(path, backend.name, precision, meta), None

    # -- writing -------------------------------------------------------------------------------
    def _export(self, entry: Path, spec: ModelSpec, backend: Backend, precision: str) -> Artifact:
        module = self._module(spec)
        calibration: list = []
        if precision != "fp32":
            from .data import calibration_inputs

            calibration = calibration_inputs(spec.scale)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = _temp_name(entry)
        try:
            meta = _run_exporter(backend, module, spec, precision, calibration, tmp)
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise ExportError(f"{backend.name} export of {spec.name!r} wrote no artifact")
            sha = _hash(tmp)
            meta.update(size=tmp.stat().st_size, sha256=sha, file=_blob_path(entry, sha).name)
            return self._publish(entry, backend, precision, tmp, meta)
        finally:
            tmp.unlink(missing_ok=True)  # an exporter that failed (or lost the race) leaves nothing

    def _publish(self, entry: Path, backend: Backend, precision: str, tmp: Path, meta: dict[str, Any]) -> Artifact:
        """Bytes first (content-addressed), then the meta naming them; an entry another process
        published meanwhile wins (write-once)."""
        blob = _blob_path(entry, meta["sha256"])
        if _verified(blob, meta["sha256"]):
            tmp.unlink()  # the same bytes are already there: leave that file untouched
        else:
            st = tmp.stat()  # a rename keeps inode and mtime: remember the hash under the final name
            os.replace(tmp, blob)
            _remember(blob, st, meta["sha256"])
        meta_tmp = _temp_name(_meta_path(entry))
        try:
            meta_tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
            if _link_exclusive(meta_tmp, _meta_path(entry)):
                return Artifact(blob, backend.name, precision, meta)
            theirs, _ = self._lookup(entry, backend, precision)
            if theirs is not None:  # someone else's valid entry: keep it, drop our bytes
                if theirs.path != blob:
                    blob.unlink(missing_ok=True)
                return theirs
            os.replace(meta_tmp, _meta_path(entry))  # the meta there is damaged: ours replaces it
        finally:
            meta_tmp.unlink(missing_ok=True)
        return Artifact(blob, backend.name, precision, meta)

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
        with _HASHED_LOCK:
            _HASHED.clear()
        return count


def _run_exporter(backend: Backend, module: Any, spec: ModelSpec, precision: str, calibration: list,
                  tmp: Path) -> dict[str, Any]:
    """The backend's export into ``tmp``; any failure is one line naming the model."""
    try:
        return dict(backend.export(module, spec, precision, calibration, tmp) or {})
    except (ExportError, ArtifactError):
        raise
    except Exception as exc:  # an exporter bug still becomes one line naming the model
        if debug_enabled():  # `edgebench --debug` / EDGEBENCH_DEBUG=1: the bug's traceback, where it happened
            traceback.print_exception(exc, file=sys.stderr)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        # `from exc`: the chain keeps the traceback for in-process callers (tests, plugin commands)
        raise ExportError(f"cannot export {spec.name!r} for {backend.name} {precision}: "
                          f"{type(exc).__name__}: {first}") from exc


def _meta_path(entry: Path) -> Path:
    return entry.with_name(entry.name + ".json")


def _blob_path(entry: Path, sha: str) -> Path:
    """Where bytes of hash ``sha`` live for this entry: ``<stem>.<sha[:16]><suffix>``."""
    return entry.with_name(f"{entry.stem}.{sha[:16]}{entry.suffix}")


def _is_sha(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _verified(path: Path, sha: str) -> bool:
    try:
        return file_sha256(path) == sha
    except FileNotFoundError:
        return False

