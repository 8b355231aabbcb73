"""`edgebench models`, `backends` and `devices`: counts, weights states, --json, literal plugin text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from edgebench import Backend, ModelSpec, hookimpl, plugins
from edgebench.cli import cli
from edgebench.errors import BackendUnavailable
from edgebench.modelinfo import MAI_INPUT, count_macs, model_rows, weights_state
from edgebench.testing import registered, tiny_model, untraceable_model

H, W = MAI_INPUT[2], MAI_INPUT[3]  # 360 x 640


@pytest.fixture(scope="module")
def _module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-info-cache")


@pytest.fixture(autouse=True)
def _listing_cache(_module_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This module's own cache dir: counted once (the 16 first-party models take ~20 s), then reused."""
    monkeypatch.setenv("EDGEBENCH_CACHE", str(_module_cache))
    return _module_cache


def _invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


# -- MACs ---------------------------------------------------------------------------------------

def test_macs_of_a_small_conv_net_counted_by_hand():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),            # 8 outputs, each 3 channels x 3x3
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),  # depthwise: each output reads 1 channel
        nn.Conv2d(8, 16, 3, padding=1, groups=2),            # grouped: each output reads 8/2 channels
        nn.Conv2d(16, 27, 1), nn.PixelShuffle(3),            # pointwise to 3*3*3, then shuffle (free)
    )
    per_pixel = 8 * 3 * 9 + 8 * 1 * 9 + 16 * 4 * 9 + 27 * 16 * 1
    assert count_macs(net) == H * W * per_pixel
    assert count_macs(nn.Conv2d(3, 8, 3, padding=1)) == 360 * 640 * 8 * 3 * 9  # the example
    # the module was counted on a copy: still on the CPU, weights intact
    assert next(net.parameters()).device.type == "cpu"


def test_macs_of_transposed_convs_and_linear_layers():
    up = nn.ConvTranspose2d(3, 4, 2, stride=2)  # each input value meets 4 channels x 2x2 taps
    assert count_macs(up) == 3 * H * W * 4 * 2 * 2
    assert count_macs(nn.ConvTranspose2d(4, 4, 3, padding=1, groups=2), (1, 4, 8, 8)) == 4 * 8 * 8 * 2 * 9
    assert count_macs(nn.Linear(W, 10)) == 3 * H * 10 * W  # over the last dim of the 1x3xHxW input


def test_a_model_whose_forward_reads_values_is_counted_on_the_cpu():
    module = untraceable_model(scale=3).load()  # `if x.mean() > 0.5` cannot run on the meta device
    assert count_macs(module) == H * W * 27 * 3 * 9


def test_bicubic_is_a_fixed_5x5_conv_with_no_parameters():
    spec = plugins.models.get("bicubic")
    conv = spec.load().conv
    assert conv.kernel_size == (5, 5) and conv.groups == 1
    # 27 phases (3 colours x 3x3 sub-pixels), each over all 3 input channels and 5x5 taps
    assert count_macs(spec.load()) == H * W * 27 * 3 * 25
    (row,) = model_rows([spec])
    assert (row["params"], row["macs"], row["weights"]) == (0, H * W * 27 * 3 * 25, "none needed")


# -- weights states -------------------------------------------------------------------------------

def test_each_weights_state(tmp_path: Path):
    package = tmp_path / "site" / "mylab"
    (package / "weights").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "weights" / "net.pt").write_bytes(b"x")
    assert weights_state(package / "weights" / "net.pt", 10) == "shipped"
    trained = tmp_path / "zoo" / "weights" / "net_x3.pt"
    trained.parent.mkdir(parents=True)
    trained.write_bytes(b"x")
    assert weights_state(trained, 10) == "trained here"
    assert weights_state(None, 10) == "untrained"
    assert weights_state(None, 0) == "none needed"
    assert weights_state(tmp_path / "nowhere.pt", 10) == "missing"
    # the first-party plugins' files are in their packages
    assert weights_state(plugins.models.get("abpn").weights, 1) == "shipped"


def test_zoo_weights_trained_here_win_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import edgebench_zoo

    monkeypatch.setenv("EDGEBENCH_ZOO_DIR", str(tmp_path / "zoo"))
    assert edgebench_zoo.model_spec("msrn").weights is None  # nothing shipped for the big ones
    out = tmp_path / "zoo" / "weights" / "msrn_x4.pt"  # where `edgebench train msrn` writes
    out.parent.mkdir(parents=True)
    out.write_bytes(b"x")
    spec = edgebench_zoo.model_spec("msrn")
    assert spec.weights == out and weights_state(spec.weights, 1) == "trained here"


# -- the listing, its cache and --json ------------------------------------------------------------

BUILDS = {"n": 0}


def _counted_net() -> nn.Module:
    BUILDS["n"] += 1
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))


def _broken_build() -> nn.Module:
    raise RuntimeError("this network cannot be built")


class Listed:
    __name__ = "listed"

    def __init__(self, weights: Path):
        self.weights = weights

    @hookimpl
    def edgebench_register_models(self, register):
        register(ModelSpec(name="counted", scale=2, build=_counted_net, weights=self.weights, description="counted"))
        register(tiny_model("no-file", scale=2))
        register(tiny_model("gone", scale=2, weights=self.weights.with_name("gone.pt")))
        register(ModelSpec(name="broken", scale=2, build=_broken_build))


def test_models_json_keys_values_and_errors_in_their_rows(tmp_path: Path):
    weights = tmp_path / "mine" / "counted.pt"
    weights.parent.mkdir()
    torch.save(_counted_net().state_dict(), weights)
    with registered(Listed(weights)):
        rows = {r["name"]: r for r in json.loads(_invoke("models", "--json").stdout)}
    assert {"bicubic", "counted", "no-file", "gone", "broken"} <= set(rows)
    counted = rows["counted"]
    assert set(counted) == {"name", "scale", "params", "macs", "input", "weights", "weights_path", "default",
                            "plugin", "description", "fingerprint", "error"}
    assert counted == {
        "name": "counted", "scale": 2, "params": 3 * 12 * 9 + 12, "macs": H * W * 12 * 3 * 9, "input": "360x640",
        "weights": "trained here", "weights_path": str(weights), "default": False, "plugin": "listed",
        "description": "counted", "fingerprint": counted["fingerprint"], "error": None}
    assert len(counted["fingerprint"]) == 16
    assert rows["no-file"]["weights"] == "untrained" and rows["no-file"]["error"] is None
    # a load() that fails is that row's error; the architecture is still counted
    assert rows["gone"]["weights"] == "missing" and "not found" in rows["gone"]["error"]
    assert rows["gone"]["macs"] == rows["no-file"]["macs"] > 0
    assert rows["broken"]["error"] == "RuntimeError: this network cannot be built"
    assert rows["broken"]["params"] is None and rows["broken"]["macs"] is None
    assert rows["bicubic"]["weights"] == "none needed" and rows["bicubic"]["default"] is True


def test_second_listing_reuses_the_cache_until_the_weights_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))  # starts empty
    weights = tmp_path / "counted.pt"
    torch.save(_counted_net().state_dict(), weights)
    spec = ModelSpec(name="counted", scale=2, build=_counted_net, weights=weights, plugin="listed")
    seen: list[int] = []
    first = model_rows([spec], on_measure=seen.append)
    builds = BUILDS["n"]
    fresh = ModelSpec(name="counted", scale=2, build=_counted_net, weights=weights, plugin="listed")
    assert model_rows([fresh], on_measure=seen.append) == first
    assert BUILDS["n"] == builds and seen == [1]  # nothing built, nothing announced the second time
    assert (tmp_path / "cache" / "model-info.json").is_file()
    torch.save(_counted_net().state_dict(), weights)  # new weights: recounted (and refingerprinted)
    os.utime(weights, ns=(1, 1))
    again = ModelSpec(name="counted", scale=2, build=_counted_net, weights=weights, plugin="listed")
    model_rows([again], on_measure=seen.append)
    assert seen == [1, 1] and BUILDS["n"] > builds


def test_models_table_shows_counts_and_errors():
    with registered(Listed(Path("/nonexistent/counted.pt"))):
        out = _invoke("models").stdout
    assert "MACs @360x640" in out and "Params" in out
    bicubic = next(line for line in out.splitlines() if "│ bicubic " in line)
    assert "467M" in bicubic and "none needed" in bicubic
    broken = next(line for line in out.splitlines() if "│ broken " in line)
    assert "error: RuntimeError: this network cannot be built" in broken


# -- rich must not eat plugin text -----------------------------------------------------------------

class NeedsExtra(Backend):
    name = "needs-extra"
    suffix = ".bin"

    def version(self) -> str:
        raise BackendUnavailable("pip install 'edgebench[litert]'")

    def export(self, module, spec, precision, calibration, path):  # pragma: no cover - never exported
        raise NotImplementedError

    def adapter_path(self) -> Path:  # pragma: no cover
        raise NotImplementedError


class Markup:
    __name__ = "markup"

    @hookimpl
    def edgebench_register_backends(self, register):
        register(NeedsExtra())

    @hookimpl
    def edgebench_register_models(self, register):
        spec = tiny_model("marked[x]")
        spec.description = "[bold]x[/bold] needs [litert]"
        register(spec)


def test_backends_shows_the_install_hint_with_its_brackets():
    with registered(Markup()):
        out = _invoke("backends").stdout
    line = next(line for line in out.splitlines() if "needs-extra" in line)
    assert "pip install 'edgebench[litert]'" in line


def test_models_prints_plugin_descriptions_and_names_literally():
    with registered(Markup(), name="lab[litert]"):
        out = _invoke("models").stdout
    line = next(line for line in out.splitlines() if "marked[x]" in line)
    assert "[bold]x[/bold] needs [litert]" in line and "lab[litert]" in line


def test_devices_prints_profile_descriptions_literally(tmp_path: Path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "lab.toml").write_text('name = "lab"\ntransport = "local"\n'
                                     'description = "Pi 4 [bold]rev 1.4[/bold] with edgebench[litert]"\n')
    out = _invoke("devices", "--devices-dir", str(folder), "lab").stdout
    assert "Pi 4 [bold]rev 1.4[/bold] with edgebench[litert]" in out
