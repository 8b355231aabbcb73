"""PyTorch Mobile backends for edgebench.

* ``executorch``: torch.export -> ExecuTorch ``.pte`` with the XNNPACK delegate; int8 by PT2E static
  quantization (XNNPACK quantizer, calibrated on real photos). The live PyTorch Mobile path.
* ``pytorch-mobile``: the TorchScript lite-interpreter ``.ptl`` that PyTorch Mobile apps load; int8
  by FX graph mode quantization for qnnpack. Deprecated upstream, kept for comparison.

Nothing heavy is imported here: torch, executorch and torchao load only when a backend exports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from edgebench import Backend, ModelSpec, hookimpl
from edgebench.errors import BackendUnavailable

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
