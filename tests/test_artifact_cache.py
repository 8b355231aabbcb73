"""The artifact cache is write-once, atomic and verified: damaged entries are re-exported, never measured."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edgebench import artifacts
from edgebench.api import Backend, ModelSpec
from edgebench.artifacts import ArtifactCache
from edgebench.errors import ExportError


class FakeModule:
    """Enough of a torch module for the cache: no torch needed."""

    def eval(self) -> "FakeModule":
        return self

    def state_dict(self) -> dict:
        return {}


SPEC = ModelSpec(name="fake-sr", scale=2, build=FakeModule)


class FakeBackend(Backend):
    """A backend whose 'export' writes ``payload``; two instances with different payloads are two
    environments producing different bytes for the same cache key."""

    name = "fake"
    suffix = ".bin"

    def __init__(self, payload: bytes = b"A" * 4096, delay: float = 0.0, before=None):
        self.payload, self.delay, self.before, self.calls = payload, delay, before, 0

    def version(self) -> str:
        return "1.0"

    def export(self, module: Any, spec: ModelSpec, precision: str, calibration: Any, path: Path) -> dict:
        self.calls += 1
        if self.before:
            self.before()
        with open(path, "wb") as fh:  # in pieces, slowly: a reader must never see a half file
            for start in range(0, len(self.payload), 1024):
                fh.write(self.payload[start:start + 1024])
                if self.delay:
                    time.sleep(random.uniform(0, self.delay))
        return {"layout": "test"}

    def adapter_path(self) -> Path:
        return Path(__file__)


class Raises(FakeBackend):
    def export(self, module, spec, precision, calibration, path):
        path.write_bytes(b"half a file")
        raise RuntimeError("exporter crashed\nwith a traceback below")


class WritesNothing(FakeBackend):
    def export(self, module, spec, precision, calibration, path):
        return {}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def meta_of(cache: ArtifactCache, backend: Backend) -> dict:
    return json.loads(Path(str(cache.path_for(SPEC, backend, "fp32")) + ".json").read_text())


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".partial"))


def next_process() -> None:
    """Forget this process's hashes, as a later `edgebench run` starts without them."""
    artifacts._HASHED.clear()


def corrupt_one_byte(path: Path, keep_mtime: bool) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with open(path, "r+b") as fh:  # in place, same size: what a bad disk or a careless copy does
        fh.write(data)
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("keep_mtime", [True, False], ids=["bit-rot-next-process", "rewritten-same-process"])
def test_a_corrupted_entry_is_reexported_and_reported(tmp_path, keep_mtime):
    cache, backend = ArtifactCache(tmp_path), FakeBackend()
    first = cache.get(SPEC, backend, "fp32")
    assert backend.calls == 1 and sha(first.path) == first.meta["sha256"]
    corrupt_one_byte(first.path, keep_mtime)
    if keep_mtime:
        next_process()  # same mtime: only a process that has not hashed it yet can tell
    messages: list[str] = []
    again = ArtifactCache(tmp_path).get(SPEC, backend, "fp32", on_corrupt=messages.append)
    assert backend.calls == 2  # exported again, never handed out as it was
    assert sha(again.path) == again.meta["sha256"] == first.meta["sha256"]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "did not match their SHA-256" in messages[0] and "'fake-sr'" in messages[0]
    assert again.meta["reexported"] == messages[0]
    third = ArtifactCache(tmp_path).get(SPEC, backend, "fp32", on_corrupt=messages.append)
    assert backend.calls == 2 and len(messages) == 1 and third.path == again.path


def test_a_missing_meta_is_reexported(tmp_path):
    cache, backend = ArtifactCache(tmp_path), FakeBackend()
    first = cache.get(SPEC, backend, "fp32")
    meta_path = Path(str(cache.path_for(SPEC, backend, "fp32")) + ".json")
    meta_path.unlink()
    again = cache.get(SPEC, backend, "fp32")
    assert backend.calls == 2 and meta_path.is_file()
    assert sha(again.path) == again.meta["sha256"] == meta_of(cache, backend)["sha256"]
    assert again.path == first.path


@pytest.mark.parametrize("damage, said", [
    (lambda entry, blob: Path(str(entry) + ".json").write_text("{not json"), "metadata is damaged"),
    (lambda entry, blob: blob.write_bytes(blob.read_bytes()[:-10]), "metadata says"),
    (lambda entry, blob: blob.unlink(), "is missing"),
    (lambda entry, blob: Path(str(entry) + ".json").write_text(json.dumps(
        {**json.loads(Path(str(entry) + ".json").read_text()), "file": "../elsewhere.bin"})), "its metadata names"),
])
def test_damaged_entries_are_reexported_with_their_cause(tmp_path, damage, said):
    cache, backend = ArtifactCache(tmp_path), FakeBackend()
    first = cache.get(SPEC, backend, "fp32")
    damage(cache.path_for(SPEC, backend, "fp32"), first.path)
    messages: list[str] = []
    again = cache.get(SPEC, backend, "fp32", on_corrupt=messages.append)
    assert backend.calls == 2 and len(messages) == 1 and said in messages[0]
    assert sha(again.path) == again.meta["sha256"] == meta_of(cache, backend)["sha256"]


def test_entries_of_the_previous_layout_are_verified_too(tmp_path):
    """Before the content-addressed layout the bytes lived at path_for itself: still read, still checked."""
    backend = FakeBackend()
    cache = ArtifactCache(tmp_path)
    entry = cache.path_for(SPEC, backend, "fp32")
    tmp_path.mkdir(exist_ok=True)
    entry.write_bytes(b"old layout bytes")
    meta_path = Path(str(entry) + ".json")
    meta_path.write_text(json.dumps({"size": 16, "sha256": sha(entry)}))
    assert cache.get(SPEC, backend, "fp32").path == entry and backend.calls == 0
    meta_path.unlink()  # the old layout's bytes without a meta: damaged, and said so
    messages: list[str] = []
    again = cache.get(SPEC, backend, "fp32", on_corrupt=messages.append)
    assert backend.calls == 1 and "metadata is missing" in messages[0] and sha(again.path) == again.meta["sha256"]


def test_a_failing_exporter_leaves_no_temp_file(tmp_path):
    cache = ArtifactCache(tmp_path)
    with pytest.raises(ExportError) as err:
        cache.get(SPEC, Raises(), "fp32")
    assert str(err.value) == "cannot export 'fake-sr' for fake fp32: RuntimeError: exporter crashed"
    with pytest.raises(ExportError, match="fake export of 'fake-sr' wrote no artifact"):
        cache.get(SPEC, WritesNothing(), "fp32")
    assert list(tmp_path.iterdir()) == []


def test_a_present_valid_entry_is_never_rewritten(tmp_path):
    cache, backend = ArtifactCache(tmp_path), FakeBackend()
    first = cache.get(SPEC, backend, "fp32")
    stamp, meta_stamp = first.path.stat().st_mtime_ns, Path(str(cache.path_for(SPEC, backend, "fp32")) + ".json")
    meta_before = meta_stamp.stat().st_mtime_ns
    time.sleep(0.01)
    next_process()
    other = FakeBackend(b"B" * 4096)
    again = ArtifactCache(tmp_path).get(SPEC, other, "fp32")  # same key, other bytes: not exported
    assert other.calls == 0
    assert again.path == first.path and again.path.read_bytes() == b"A" * 4096
    assert first.path.stat().st_mtime_ns == stamp and meta_stamp.stat().st_mtime_ns == meta_before


@pytest.mark.parametrize("payload", [b"A" * 4096, b"B" * 4096], ids=["same-bytes", "other-bytes"])
def test_an_export_that_finishes_second_keeps_the_first(tmp_path, payload):
    """Another environment publishes while this one exports: theirs stays, ours is discarded (write-once)."""
    theirs = FakeBackend(b"A" * 4096)
    published: dict[str, Any] = {}

    def other_environment_finishes_first() -> None:
        art = ArtifactCache(tmp_path).get(SPEC, theirs, "fp32")
        published.update(path=art.path, mtime=art.path.stat().st_mtime_ns)
        time.sleep(0.01)

    late = FakeBackend(payload, before=other_environment_finishes_first)
    art = ArtifactCache(tmp_path).get(SPEC, late, "fp32")
    assert late.calls == 1 and theirs.calls == 1
    assert art.path == published["path"] and art.path.read_bytes() == b"A" * 4096
    assert art.path.stat().st_mtime_ns == published["mtime"]
    assert art.meta["sha256"] == sha(art.path) == meta_of(ArtifactCache(tmp_path), theirs)["sha256"]
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".bin"] == [art.path.name]  # ours is gone
    assert leftovers(tmp_path) == []


# -- races: several environments on one cache ------------------------------------------------------

def _meta_path(root: Path) -> Path:
    return Path(str(ArtifactCache(root).path_for(SPEC, FakeBackend(), "fp32")) + ".json")


def _check_disk(meta_path: Path) -> str | None:
    """The on-disk invariant: a meta, when there is one, names a file holding exactly its bytes."""
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        return None
    blob = meta_path.parent / meta["file"]
    if sha(blob) != meta["sha256"] or blob.stat().st_size != meta["size"]:
        return f"meta {meta['sha256'][:12]} names {blob.name} holding other bytes"
    return None


def _worker(root: str, payload: bytes, barrier: Any, out: Any) -> None:
    backend = FakeBackend(payload, delay=0.002)
    messages: list[str] = []
    barrier.wait()
    try:
        art = ArtifactCache(Path(root)).get(SPEC, backend, "fp32", on_corrupt=messages.append)
        out.put((str(art.path), art.meta["sha256"], sha(art.path), messages))
    except Exception as exc:  # shown by the assertions instead of lost in a thread
        out.put((f"failed: {exc!r}", "", "", messages))


def _watch(meta_path: Path, stop: threading.Event, problems: list[str]) -> None:
    while not stop.is_set():
        try:
            problem = _check_disk(meta_path)
        except FileNotFoundError as exc:  # a meta naming a file that is not there
            problem = f"meta names a missing file: {exc}"
        if problem:
            problems.append(problem)


def _race(root: Path, start_all: Any) -> tuple[list[tuple], list[str]]:
    # the key (and the model's fingerprint) is computed here, before any fork: a child forked while
    # the watcher holds cached_property's lock would wait for it forever
    stop, problems = threading.Event(), []
    watcher = threading.Thread(target=_watch, args=(_meta_path(root), stop, problems))
    watcher.start()
    try:
        got = start_all()
    finally:
        stop.set()
        watcher.join()
    return got, problems


def _assert_one_consistent_entry(root: Path, got: list[tuple], problems: list[str]) -> None:
    assert problems == []
    assert _check_disk(_meta_path(root)) is None
    assert {g[0] for g in got} == {str(root / meta_of(ArtifactCache(root), FakeBackend())["file"])}
    for path, meta_sha, file_sha, messages in got:
        assert meta_sha == file_sha and messages == []  # no false alarm from a publish in flight
    assert leftovers(root) == [] and len([p for p in root.iterdir() if p.suffix == ".bin"]) == 1


@pytest.mark.parametrize("round_", range(6))
def test_processes_racing_on_one_cache_never_leave_a_mismatched_entry(tmp_path, round_):
    ctx = multiprocessing.get_context("fork")
    payloads = [b"A" * 8192, b"B" * 8192, b"A" * 8192, b"C" * 8192]
    barrier, out = ctx.Barrier(len(payloads)), ctx.Queue()
    root = tmp_path / "cache"

    def start_all() -> list[tuple]:
        procs = [ctx.Process(target=_worker, args=(str(root), p, barrier, out)) for p in payloads]
        for proc in procs:
            proc.start()
        try:
            got = [out.get(timeout=60) for _ in procs]
        finally:
            for proc in procs:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
        assert [proc.exitcode for proc in procs] == [0] * len(procs)
        return got

    got, problems = _race(root, start_all)
    _assert_one_consistent_entry(root, got, problems)


def test_threads_racing_on_one_cache_never_leave_a_mismatched_entry(tmp_path):
    root = tmp_path / "cache"
    payloads = [bytes([65 + i % 3]) * 8192 for i in range(8)]
    barrier, results = threading.Barrier(len(payloads)), []

    class Out:
        put = results.append

    def start_all() -> list[tuple]:
        threads = [threading.Thread(target=_worker, args=(str(root), p, barrier, Out)) for p in payloads]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return results

    got, problems = _race(root, start_all)
    assert len(got) == len(payloads)
    _assert_one_consistent_entry(root, got, problems)
