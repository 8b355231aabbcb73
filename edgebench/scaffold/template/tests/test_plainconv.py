"""Tests for edgebench-plainconv, using the fixtures and helpers of edgebench.testing."""

import json

import numpy as np
import pytest
from edgebench.testing import invoke_cli, measure_one, reference_output, run_artifact


def test_plugin_registers_its_model_and_backend():
    rows = {row["name"]: row for row in json.loads(invoke_cli("plugins").output)}
    assert rows["plainconv"]["models"] == ["plainconv-cubic"]
    assert rows["plainconv"]["backends"] == ["plainconv"]


def test_cubic_keeps_a_flat_image_flat():
    flat = np.full((8, 8, 3), 77, dtype=np.uint8)
    assert (reference_output("plainconv-cubic", flat) == 77).all()


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1), ("int8", 4)])
def test_artifact_matches_the_torch_module(edgebench_env, precision, tolerance):
    ours = run_artifact("plainconv-cubic", "plainconv", precision).astype(int)
    torch_says = reference_output("plainconv-cubic").astype(int)
    assert ours.shape == torch_says.shape == (1, 72, 96, 3)
    assert np.abs(ours - torch_says).max() <= tolerance


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_measure_on_the_host(edgebench_env, precision):
    row = measure_one("plainconv-cubic", "plainconv", precision)
    assert row["backend"] == "plainconv" and row["precision"] == precision
    assert row["median_ms"] > 0 and row["mem_peak_bytes"] is not None
    assert row["psnr"] > 24  # bicubic on the bundled photos
