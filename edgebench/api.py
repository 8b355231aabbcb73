"""The objects plugins register and the harness consumes.

Conventions every model and backend shares (so any model runs on any backend):

* A model's torch module takes a float32 NCHW tensor with values in [0, 1] and returns the image
  ``scale`` times larger, also in [0, 1] (values outside are clipped after inference).
* On the device, images travel as uint8 NHWC arrays (``1×H×W×3``), the MAI challenge's format.
  A backend's *runner adapter* converts them to what its artifact expects.

Nothing here imports torch or a runtime at import time: the CLI must start fast.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import torch

    from .devices import DeviceProfile

PRECISIONS = ("fp32", "int8")


@dataclass
class ModelSpec:
    """A super-resolution network a plugin offers.

    ``build`` returns a fresh, untrained torch module; ``weights`` (a ``state_dict`` saved with
    ``torch.save``) is loaded into it by :meth:`load`. A model without weights (bicubic) leaves it
    ``None``.
    """

    name: str
    scale: int
    build: Callable[[], "torch.nn.Module"]
    description: str = ""
    weights: Path | None = None
    paper: str = ""
    default: bool = False  # part of `edgebench run` with no --model
    tags: tuple[str, ...] = ()
    plugin: str = ""  # filled in by edgebench when registered

    def load(self) -> "torch.nn.Module":
        """Build the module, load the trained weights, switch to eval mode."""
        from .errors import ArtifactError

        module = self.build()
        if self.weights is not None:
            import torch

            path = Path(self.weights)
            if not path.is_file():
                raise ArtifactError(f"weights for model {self.name!r} not found: {path}")
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                module.load_state_dict(state)
            except Exception as exc:  # corrupt or mismatched file
                raise ArtifactError(
                    f"weights for model {self.name!r} could not be loaded from {path}: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                ) from None
        return module.eval()

    @cached_property
    def params(self) -> int:
        """Number of trainable parameters (builds the module once)."""
        return sum(p.numel() for p in self.build().parameters() if p.requires_grad)

    @cached_property
    def fingerprint(self) -> str:
        """Changes when the model's code or weights change: the artifact cache key uses it.

        Hashes the weights file, the source file of the built module's class and, for a model
        without weights, the tensors it builds (fixed kernels such as bicubic taps).
        """
        import inspect

        module = self.build()
        digest = hashlib.sha256(self.weights_sha.encode())
        try:
            digest.update(Path(inspect.getsourcefile(type(module)) or "").read_bytes())
        except (OSError, TypeError):
            digest.update(type(module).__qualname__.encode())
        if self.weights is None:
            for key, tensor in sorted(module.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    @cached_property
    def weights_sha(self) -> str:
        """Short content hash of the weights file ('none' without weights)."""
        if self.weights is None:
            return "none"
        path = Path(self.weights)
        if not path.is_file():
            return "missing"
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@dataclass
class Artifact:
    """An exported model file and what a runner adapter needs to feed it."""

    path: Path
    backend: str
    precision: str
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-able: io layout, dtype, export notes

    @property
    def size(self) -> int:
        """The artifact file's size in bytes."""
        return self.path.stat().st_size


class Backend(ABC):
    """A runtime edgebench can export to and measure with.

    A backend exports a torch module to a file (fp32 or int8, int8 calibrated on real images) and
    names a *runner adapter*: a stand-alone Python file (stdlib + numpy + the runtime, never
    edgebench) defining::

        load(path: str, delegate: str, threads: int, meta: dict) -> session
        prepare(session, image: np.ndarray) -> feed    # uint8 1×H×W×3 -> model input (not timed)
        invoke(session, feed) -> raw                    # one inference (timed)
        finish(session, raw) -> np.ndarray              # raw -> uint8 1×sH×sW×3 (not timed)
        describe(session) -> dict                       # optional: versions, delegated nodes

    Backends measured by a native tool instead (TFLite's ``benchmark_model`` on Android) override
    :meth:`measure_native`.
    """

    name: ClassVar[str]
    suffix: ClassVar[str]  # artifact file suffix, e.g. ".onnx"
    delegates: ClassVar[tuple[str, ...]] = ("cpu",)
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS
    runtime_module: ClassVar[str] = ""  # the module the runner imports on the device
    description: ClassVar[str] = ""
    plugin: str = ""  # filled in by edgebench when registered

    @abstractmethod
    def version(self) -> str:
        """Version of the runtime on the host (raise BackendUnavailable if not installed)."""

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot export here, or None when it can."""
        try:
            self.version()
        except Exception as exc:  # missing extra, broken install
            return str(exc)
        return None

    def cache_key(self) -> str:
        """Changes whenever an export would produce a different file."""
        return f"{self.name}-{self.version()}"

    @abstractmethod
    def export(
        self,
        module: "torch.nn.Module",
        spec: ModelSpec,
        precision: str,
        calibration: Sequence["np.ndarray"],
        path: Path,
    ) -> dict[str, Any]:
        """Write the artifact for ``module`` at ``path`` and return its metadata.

        ``calibration`` holds uint8 HWC low-resolution photos for int8 calibration. The returned
        dict is passed to the runner adapter's ``load`` as ``meta``.
        """

    @abstractmethod
    def adapter_path(self) -> Path:
        """The runner adapter file for this backend (see the class docstring)."""

    def measure_native(self, job: "NativeJob") -> dict[str, Any] | None:
        """Measure with a native tool instead of the Python runner; None means 'use the runner'."""
        return None


@dataclass
class NativeJob:
    """What a backend's :meth:`Backend.measure_native` receives."""

    transport: "Transport"
    artifact: Artifact
    delegate: str
    threads: int
    settings: dict[str, Any]
    # the low-resolution quality images (uint8 NHWC), when the run scores quality: a backend whose
    # tool can run them on the device returns its outputs as result["outputs"] (quality_on: device)
    quality_inputs: "Sequence[Any] | None" = None
    # the hex core mask to pin the tool to (a --affinity sweep, or the profile's, resolved against the
    # device's cores); None: not pinned
    affinity: str | None = None
    # what the device's Python can run (an edgebench.device_python.PythonProbe), probed on the first
    # call and kept for the session; None where edgebench cannot tell (then assume the runner works)
    device_python: "Callable[[], Any] | None" = None
    # exports the job's model and precision with another Backend object (a variant of this backend,
    # e.g. a fixed input size a native tool needs) through the artifact cache
    export_variant: "Callable[[Backend], Artifact] | None" = None

    @property
    def profile(self) -> Any:
        """The device profile this job runs on (None for a transport without one)."""
        return getattr(self.transport, "profile", None)

    def runner_can_import(self, module: str) -> bool:
        """Whether edgebench's Python runner can run a backend needing ``module`` on this device."""
        if self.device_python is None:
            return True
        return bool(self.device_python().can_import(module))


@dataclass
class CommandResult:
    """What :meth:`Transport.run` returns: the remote command's exit status and its output."""

    returncode: int
    stdout: str
    stderr: str = ""


class Transport(ABC):
    """How edgebench reaches a device: run a command, copy files both ways, describe it.

    Implementations must quote remote arguments (see :func:`edgebench.transports.shell_join`),
    honour ``timeout`` (raise :class:`~edgebench.errors.DeviceTimeout`), and raise
    :class:`~edgebench.errors.DeviceUnreachable` with the profile's name when the device does not
    answer.
    """

    name: ClassVar[str]
    plugin: str = ""

    def __init__(self, profile: "DeviceProfile"):
        """Keep the device profile (``profile.options`` holds host, port, serial...); connect in :meth:`open`."""
        self.profile = profile

    def open(self) -> None:
        """Connect (no-op for connectionless transports)."""

    def close(self) -> None:
        """Release the connection and anything :meth:`open` started."""

    @abstractmethod
    def run(self, argv: Sequence[str], *, timeout: float, cwd: str | None = None) -> CommandResult:
        """Run ``argv`` on the device and return its exit status and output."""

    @abstractmethod
    def push(self, local: Path, remote: str) -> None:
        """Copy a local file to ``remote`` on the device."""

    @abstractmethod
    def pull(self, remote: str, local: Path) -> None:
        """Copy ``remote`` on the device to a local file."""

    @abstractmethod
    def make_workdir(self) -> str:
        """Create a fresh scratch directory on the device and return its path."""

    @abstractmethod
    def remove(self, remote: str) -> None:
        """Delete a file or directory tree on the device."""

    def info(self) -> dict[str, Any]:
        """Describe the device (model, SoC, OS, ABI, cores...); best effort."""
        return {}

    def __enter__(self) -> "Transport":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class DatasetSpec:
    """A named set of high-resolution evaluation photos.

    ``load`` returns uint8 HWC RGB arrays; edgebench makes the low-resolution inputs by bicubic
    downscaling unless ``load_pairs`` is given (returns (lr, hr) pairs for a scale).
    """

    name: str
    load: Callable[[], list["np.ndarray"]]
    description: str = ""
    load_pairs: Callable[[int], list[tuple["np.ndarray", "np.ndarray"]]] | None = None
    plugin: str = ""


@dataclass
class PowerTrace:
    """What a power meter measured: ``(time s, watts)`` samples on one clock, and how they were read.

    ``clock`` names that clock: ``"host"`` (this machine's ``time.time()``), or ``"device-uptime"``
    (the device's ``/proc/uptime``, the runner reads the same). ``units`` says what the meter found
    (e.g. ``{"current": "uA", "voltage": "uV", "discharge_sign": "negative"}``); ``error`` is set
    when the meter stopped answering before the end (the samples up to then are kept).
    """

    samples: list[tuple[float, float]]
    clock: str = "host"
    units: dict[str, str] = field(default_factory=dict)
    resolution_w: float | None = None  # the smallest power step the meter can show
    error: str | None = None
    clock_error_s: float = 0.0  # how far the meter's own time stamps may be off its clock (a CSV board's)


class PowerMeter(ABC):
    """Something that samples the power a device draws while edgebench measures it.

    Registered as a class with ``register("um25c", Um25cMeter)``; ``edgebench run --power
    NAME[:OPTIONS]`` makes one per run with the parsed options (``"PORT,rate=10"`` ->
    ``{"port": "PORT", "rate": "10"}``; a bare first item is ``port``). The harness calls
    :meth:`check` before measuring (refuse there, with :class:`~edgebench.errors.PowerMeterError`),
    then :meth:`start` before the idle window and :meth:`stop` after the runner has finished.
    Sampling must not block the caller: use a thread (host-side meters) or a loop on the device.
    """

    name: ClassVar[str]
    plugin: str = ""
    description: ClassVar[str] = ""

    def __init__(self, options: dict[str, str], transport: Transport):
        """Keep the parsed ``--power`` options and the run's transport (a meter on the device uses it)."""
        self.options, self.transport = options, transport

    def check(self) -> None:
        """Refuse early (a missing port, a phone on its charger) with one line."""

    @abstractmethod
    def start(self) -> None:
        """Begin sampling."""

    @abstractmethod
    def stop(self) -> PowerTrace:
        """Stop sampling and return every sample taken since :meth:`start`."""
