"""The fp32 ONNX graph is exported once per process for a model's fp32 and int8 artifacts."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edgebench_onnxruntime import graph_memo  # noqa: E402


class Scaled(torch.nn.Module):
    def __init__(self, res_scale: float = 1.0) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.res_scale = res_scale
        self.act = torch.relu

    def forward(self, x):  # type: ignore[no-untyped-def]
        return x + self.act(self.conv(x)) * self.res_scale


class Other(Scaled):
    def forward(self, x):  # type: ignore[no-untyped-def]
        return x - self.act(self.conv(x)) * self.res_scale


@pytest.fixture
def exports(tmp_path: Path):  # type: ignore[no-untyped-def]
    graph_memo.forget()
    calls: list[Path] = []

    def export(module, name: str) -> bool:  # type: ignore[no-untyped-def]
        def write(path: Path) -> None:
            calls.append(path)
            path.write_bytes(f"graph {len(calls)}".encode())
        return graph_memo.exported(module, tmp_path / name, write, 20)

    yield export, calls
    graph_memo.forget()


def test_the_same_module_is_exported_once_and_copied_after(exports, tmp_path):
    export, calls = exports
    torch.manual_seed(0)
    model = Scaled()
    assert export(model, "fp32.onnx") is False
    again = Scaled()  # built anew, as the artifact cache does for each precision
    again.load_state_dict(model.state_dict())
    assert export(again, "int8-src.onnx") is True
    assert len(calls) == 1 and (tmp_path / "int8-src.onnx").read_bytes() == b"graph 1"


@pytest.mark.parametrize("change", ["weight", "res_scale", "activation", "training", "forward", "salt"])
def test_whatever_changes_the_graph_exports_again(exports, change):
    export, calls = exports
    torch.manual_seed(0)
    model = Scaled()
    export(model, "first.onnx")
    if change == "weight":
        with torch.no_grad():
            model.conv.weight[0, 0, 0, 0] += 1e-3
    elif change == "res_scale":  # no weight changes, the graph does (EDSR's 0.1)
        model.res_scale = 0.1
    elif change == "activation":  # a plain function attribute
        model.act = torch.sigmoid
    elif change == "training":
        model.train(not model.training)
    elif change == "forward":  # same weights, same attributes, another forward
        other = Other()
        other.load_state_dict(model.state_dict())
        model = other
    if change == "salt":  # another opset
        graph_memo.exported(model, Path(calls[0]).with_name("again.onnx"), lambda p: (calls.append(p), p.write_bytes(b"x")), 21)
    else:
        export(model, "again.onnx")
    assert len(calls) == 2


def test_a_real_int8_export_after_fp32_reuses_the_graph(tmp_path, monkeypatch):
    """Through the backend: fp32 then int8 of one model run the dynamo exporter once."""
    from edgebench.artifacts import ArtifactCache
    from edgebench.plugins import backends, models
    from edgebench_onnxruntime import export as ort_export

    graph_memo.forget()
    real, runs = ort_export.export_fp32, []

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        runs.append(args[1].name)
        return real(*args, **kwargs)

    monkeypatch.setattr(ort_export, "export_fp32", counted)
    cache = ArtifactCache(tmp_path / "cache")
    fp32 = cache.get(models.get("bicubic"), backends.get("onnxruntime"), "fp32")
    int8 = cache.get(models.get("bicubic"), backends.get("onnxruntime"), "int8")
    assert runs == ["bicubic"] and fp32.path.is_file() and int8.meta["quantization"].startswith("static QDQ")
    graph_memo.forget()
