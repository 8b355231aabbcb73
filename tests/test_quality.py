import math

import numpy as np
import pytest

from edgebench import quality


def test_psnr_known_values():
    a = np.full((10, 10, 3), 100, np.uint8)
    assert quality.psnr(a, a) == math.inf
    # every pixel off by 1: MSE 1 -> 20*log10(255)
    assert quality.psnr(a, a + 1) == pytest.approx(48.1308, abs=1e-4)
    # off by 16: MSE 256 -> 20*log10(255/16)
    assert quality.psnr(a, a + 16) == pytest.approx(24.0484, abs=1e-4)


def test_psnr_border_crop_ignores_edges():
    a = np.zeros((20, 20, 3), np.uint8)
    b = a.copy()
    b[:3] = 255  # damage only the top 3 rows
    assert quality.psnr(a, b, border=3) == math.inf
    assert quality.psnr(a, b, border=2) < 20


def test_y_channel_is_matlab_bt601():
    white = np.full((1, 1, 3), 255, np.uint8)
    black = np.zeros((1, 1, 3), np.uint8)
    assert quality.rgb_to_y(white)[0, 0] == pytest.approx(235.0, abs=1e-9)
    assert quality.rgb_to_y(black)[0, 0] == pytest.approx(16.0)


def test_ssim_matches_reference_implementation():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (60, 70), dtype=np.uint8)
    b = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
    ref = metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=255)
    assert quality.ssim(a, b) == pytest.approx(ref, abs=1e-9)
    assert quality.ssim(a, a) == pytest.approx(1.0)


def test_score_images_rejects_shape_mismatch():
    a = np.zeros((12, 12, 3), np.uint8)
    with pytest.raises(ValueError, match="does not match"):
        quality.score_images([a], [np.zeros((9, 12, 3), np.uint8)], 3)
