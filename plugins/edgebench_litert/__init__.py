"""TFLite / LiteRT backend for edgebench (backend name ``tflite``).

Exports with litert-torch (fp32, and full int8 through PT2E with an 8-bit image in and out),
runs with ai-edge-litert's interpreter in the stand-alone runner (``tflite_runtime`` also
accepted on a device), and on Android measures with TensorFlow's native ``benchmark_model``
(latency, memory, the delegate that took the nodes, per-op profile) and scores quality through
the same tool on the phone (the host's CPU only where an old binary cannot feed inputs or dump
outputs). Nothing heavy is imported here: the CLI must start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from edgebench import Backend, ModelSpec, NativeJob, hookimpl
from edgebench.errors import BackendUnavailable
from edgebench.native_tools import NativeTool

__version__ = "0.1.0"

ADAPTER = Path(__file__).with_name("adapter_litert.py")
BINARY_ENV = "EDGEBENCH_BENCHMARK_BINARY"
NATIVE_TRANSPORTS = ("adb",)  # Android: measured with benchmark_model
TOOL = NativeTool("benchmark_model", "--benchmark-binary", BINARY_ENV, "benchmark_model",
                  "android_aarch64 build: TensorFlow's nightly benchmark_model or a bazel build, see docs/backends.md")


class LiteRTBackend(Backend):
    name = "tflite"
    suffix = ".tflite"
    delegates = ("xnnpack", "cpu", "nnapi", "gpu")
    runtime_module = "ai_edge_litert"
    description = ("TFLite / LiteRT (ai-edge-litert; benchmark_model on Android); int8 = litert-torch PT2E, "
                   "per-channel weights, 8-bit image in and out")

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            for needed in ("torch", "litert-torch"):  # the exporter's side
                version(needed)
            return version("ai-edge-litert")
        except PackageNotFoundError as exc:
            raise BackendUnavailable(f"{exc.name} is not installed: pip install 'edgebench[litert]'") from None

    def cache_key(self) -> str:
        from importlib.metadata import version

        from .export import EXPORT_REVISION, SHAPES

        shapes = ",".join(f"{h}x{w}" for h, w in SHAPES)
        return (f"litert-{self.version()}-litert-torch-{version('litert-torch')}-torch-{version('torch')}"
                f"-r{EXPORT_REVISION}-{shapes}")

    def export(
        self, module: Any, spec: ModelSpec, precision: str, calibration: Sequence[Any], path: Path
    ) -> dict[str, Any]:
        from .export import export_tflite

        return export_tflite(module, spec, precision, calibration, path, io_type="int8")

    def adapter_path(self) -> Path:
        return ADAPTER

    # -- native measurement ---------------------------------------------------------------------
    def measure_native(self, job: NativeJob) -> dict[str, Any] | None:
        settings = job.settings.get("settings", {})
        size = (settings.get("height"), settings.get("width"))
        signatures = job.artifact.meta.get("signatures", {})
        if signatures and list(size) not in [list(v) for v in signatures.values()]:
            listed = ", ".join(f"{h}x{w}" for h, w in signatures.values())
            raise BackendUnavailable(
                f"tflite artifacts have fixed input sizes ({listed}); --size {size[0]}x{size[1]} is not one of them")
        profile = getattr(job.transport, "profile", None)
        if profile is None or profile.transport not in NATIVE_TRANSPORTS:
            return None  # the Python runner measures (host, boards over ssh/serial)
        from .native import run_benchmark_model

        binary = job.settings.get("benchmark_binary") or TOOL.locate(profile)
        if not binary:
            raise TOOL.missing(profile.name, "is measured with TFLite's benchmark_model")
        return run_benchmark_model(job, str(binary), settings, profile)


@hookimpl
def edgebench_register_backends(register):  # type: ignore[no-untyped-def]
    register(LiteRTBackend())


@hookimpl
def edgebench_register_commands(cli):  # type: ignore[no-untyped-def]
    """Add ``edgebench benchmark-model parse|import`` and ``--benchmark-binary`` to ``edgebench run``
    (the binary this plugin's native path pushes)."""
    from edgebench.native_tools import add_run_option

    from .commands import register

    register(cli)
    add_run_option(cli, TOOL, "benchmark_binary")
