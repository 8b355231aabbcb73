"""ONNX Runtime backend for edgebench: fp32 and static int8 (QDQ, per-channel); CPU, XNNPACK and NNAPI
execution providers.

On a device whose Python cannot run the runner (a stock phone: probed, not assumed) it measures with
ONNX Runtime's native ``onnxruntime_perf_test`` (:mod:`.native`), found through ``--ort-perf-test``,
``$EDGEBENCH_ORT_PERF_TEST`` or the profile's ``options.onnxruntime_perf_test``.

The int8 recipe depends on the CPU that runs the artifact (u8s8 saturates on x86 without VNNI):
see :mod:`.int8_target`; ``EDGEBENCH_ORT_INT8_RECIPE`` / ``EDGEBENCH_ORT_TARGET_CPUINFO`` override
the host's CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from edgebench import Backend, ModelSpec, NativeJob, hookimpl
from edgebench.errors import BackendUnavailable
from edgebench.native_tools import NativeTool

# the native tool for devices without a usable Python
TOOL = NativeTool(
    "onnxruntime_perf_test", "--ort-perf-test", "EDGEBENCH_ORT_PERF_TEST", "onnxruntime_perf_test",
    "an arm64-v8a build from ONNX Runtime's build.sh --android, see docs/backends.md")

ADAPTER = Path(__file__).with_name("adapter_onnxruntime.py")


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    suffix = ".onnx"
    delegates = ("cpu", "xnnpack", "nnapi")  # execution providers; the build on the device decides
    runtime_module = "onnxruntime"
    description = ("ONNX Runtime (CPU, XNNPACK, NNAPI providers; onnxruntime_perf_test without Python); int8 = "
                   "static QDQ, per-channel weights, recipe per target CPU (VNNI or not)")

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            for needed in ("torch", "onnx", "onnxscript"):  # the exporter's side
                version(needed)
            return version("onnxruntime")
        except PackageNotFoundError as exc:
            raise BackendUnavailable(f"{exc.name} is not installed: pip install 'edgebench[onnx]'") from None

    def cache_key(self) -> str:
        from importlib.metadata import version

        from .export import EXPORT_REVISION, target_choice

        # the int8 recipe follows the target CPU: a VNNI and a non-VNNI machine never share an artifact
        # (fp32 artifacts are split too: cache_key() does not know the precision)
        recipe = target_choice().recipe.name
        return (f"ort-{self.version()}-onnx-{version('onnx')}-torch-{version('torch')}-r{EXPORT_REVISION}"
                f"-int8.{recipe}")

    def export(
        self, module: Any, spec: ModelSpec, precision: str, calibration: Sequence[Any], path: Path
    ) -> dict[str, Any]:
        from .export import export_onnx

        return export_onnx(module, spec, precision, calibration, path)

    def adapter_path(self) -> Path:
        return ADAPTER

    def measure_native(self, job: NativeJob) -> dict[str, Any] | None:
        binary = TOOL.for_job(job, self.runtime_module, "onnxruntime")
        if binary is None:
            return None  # edgebench's Python runner measures
        from .native import run_perf_test

        return run_perf_test(job, binary, job.settings.get("settings", {}), job.profile)


@hookimpl
def edgebench_register_backends(register):  # type: ignore[no-untyped-def]
    register(OnnxRuntimeBackend())


@hookimpl
def edgebench_register_commands(cli):  # type: ignore[no-untyped-def]
    """Add ``--ort-perf-test PATH`` to ``edgebench run`` (the binary pushed to devices without Python)."""
    from edgebench.native_tools import add_run_option

    add_run_option(cli, TOOL, "ort_perf_test")
