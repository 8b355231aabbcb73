"""PyTorch Mobile backends for edgebench.

* ``executorch``: torch.export -> ExecuTorch ``.pte`` with the XNNPACK delegate; int8 by PT2E static
  quantization (XNNPACK quantizer, calibrated on real photos). The live PyTorch Mobile path. On a
  device whose Python cannot run the runner (a stock phone) it measures with ExecuTorch's native
  ``executor_runner`` (:mod:`.native`): ``--executor-runner``, ``$EDGEBENCH_EXECUTOR_RUNNER`` or the
  profile's ``options.executor_runner``.
* ``pytorch-mobile``: the TorchScript lite-interpreter ``.ptl`` that PyTorch Mobile apps load; int8
  by FX graph mode quantization for qnnpack. Deprecated upstream, kept for comparison.

Nothing heavy is imported here: torch, executorch and torchao load only when a backend exports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from edgebench import Backend, ModelSpec, NativeJob, hookimpl
from edgebench.errors import BackendUnavailable
from edgebench.native_tools import NativeTool

# the native tool for devices without a usable Python
TOOL = NativeTool(
    "executor_runner", "--executor-runner", "EDGEBENCH_EXECUTOR_RUNNER", "executor_runner",
    "ExecuTorch's executor_runner built for arm64-v8a with XNNPACK and -DEXECUTORCH_ENABLE_LOGGING=ON, "
    "see docs/backends.md")

HERE = Path(__file__).parent
INSTALL = "pip install 'edgebench[executorch]'"


def _versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            raise BackendUnavailable(f"{name} is not installed: {INSTALL}") from None
    return found


class ExecuTorchBackend(Backend):
    name = "executorch"
    suffix = ".pte"
    delegates = ("xnnpack",)
    runtime_module = "executorch"
    description = ("ExecuTorch (torch.export), XNNPACK delegate; int8 = PT2E static, symmetric per-channel "
                   "weights (XNNPACK quantizer)")

    def version(self) -> str:
        return _versions("torch", "torchao", "executorch")["executorch"]

    def cache_key(self) -> str:
        from .export import EXPORT_REVISION, max_side

        v = _versions("torch", "torchao", "executorch")
        return (f"et-{v['executorch']}-torch-{v['torch']}-torchao-{v['torchao']}-max{max_side()}"
                f"-r{EXPORT_REVISION}")

    def export(self, module: Any, spec: ModelSpec, precision: str, calibration: Sequence[Any],
               path: Path) -> dict[str, Any]:
        from .export import export_pte

        return export_pte(module, spec, precision, calibration, path)

    def adapter_path(self) -> Path:
        return HERE / "adapter_executorch.py"

    def measure_native(self, job: NativeJob) -> dict[str, Any] | None:
        binary = TOOL.for_job(job, self.runtime_module, "executorch")
        if binary is None:
            return None  # edgebench's Python runner measures
        from .native import run_executor_runner

        return run_executor_runner(job, binary, job.settings.get("settings", {}), job.profile,
                                   FixedSizeExecuTorch)


class FixedSizeExecuTorch(ExecuTorchBackend):
    """The same export for one input size (released executor_runners cannot resize a dynamic input)."""

    def __init__(self, height: int, width: int):
        self.size = (int(height), int(width))
        self.plugin = "executorch"

    def cache_key(self) -> str:
        return f"{super().cache_key()}-fixed{self.size[0]}x{self.size[1]}"

    def export(self, module: Any, spec: ModelSpec, precision: str, calibration: Sequence[Any],
               path: Path) -> dict[str, Any]:
        from .export import export_pte

        return export_pte(module, spec, precision, calibration, path, fixed=self.size)


class PyTorchMobileBackend(Backend):
    name = "pytorch-mobile"
    suffix = ".ptl"
    delegates = ("cpu",)
    runtime_module = "torch"
    description = ("PyTorch Mobile: TorchScript lite interpreter (.ptl, deprecated upstream); int8 = FX graph "
                   "mode static, qnnpack, per-channel weights")

    def version(self) -> str:
        return _versions("torch")["torch"]

    def cache_key(self) -> str:
        from .export import EXPORT_REVISION, QENGINE

        return f"ptl-torch-{self.version()}-{QENGINE}-r{EXPORT_REVISION}"

    def export(self, module: Any, spec: ModelSpec, precision: str, calibration: Sequence[Any],
               path: Path) -> dict[str, Any]:
        from .export import export_ptl

        return export_ptl(module, spec, precision, calibration, path)

    def adapter_path(self) -> Path:
        return HERE / "adapter_pytorch_mobile.py"


@hookimpl
def edgebench_register_backends(register):  # type: ignore[no-untyped-def]
    register(ExecuTorchBackend())
    register(PyTorchMobileBackend())


@hookimpl
def edgebench_register_commands(cli):  # type: ignore[no-untyped-def]
    """Add ``--executor-runner PATH`` to ``edgebench run`` (the binary pushed to devices without Python)."""
    from edgebench.native_tools import add_run_option

    add_run_option(cli, TOOL, "executor_runner")
