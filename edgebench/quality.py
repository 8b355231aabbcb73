"""Image quality: PSNR and SSIM in numpy, with the SR conventions.

Conventions (as in EDSR / MAI evaluations): images are uint8 RGB; ``scale`` pixels are cropped from
every border before comparing; the Y channel is ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr``
computes it (16-235 range). SSIM is Wang et al. 2004: 11×11 Gaussian window, sigma 1.5,
K1 = 0.01, K2 = 0.03, on Y, averaged over the image.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def shave(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border > 0 else img


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float64 luma in [16, 235] (MATLAB rgb2ycbcr)."""
    x = img.astype(np.float64)
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0, peak: float = 255.0) -> float:
    """PSNR in dB between two images of the same shape (inf when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"PSNR of images with different shapes {a.shape} and {b.shape}")
    diff = shave(a.astype(np.float64), border) - shave(b.astype(np.float64), border)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def psnr_y(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    return psnr(rgb_to_y(a), rgb_to_y(b), border)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    ax = np.arange(size) - (size - 1) / 2
    g = np.exp(-(ax**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation with the 1-D kernel g along both axes."""
    from numpy.lib.stride_tricks import sliding_window_view

    rows = sliding_window_view(img, len(g), axis=0) @ g
    return sliding_window_view(rows, len(g), axis=1) @ g


def ssim(a: np.ndarray, b: np.ndarray, border: int = 0, peak: float = 255.0) -> float:
    """Mean SSIM of two single-channel images (or RGB, compared on Y)."""
    if a.ndim == 3:
        a, b = rgb_to_y(a), rgb_to_y(b)
    x, y = shave(a.astype(np.float64), border), shave(b.astype(np.float64), border)
    if x.shape != y.shape:
        raise ValueError(f"SSIM of images with different shapes {x.shape} and {y.shape}")
    g = _gaussian_window()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mu_x**2
    syy = _filter_valid(y * y, g) - mu_y**2
    sxy = _filter_valid(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def score_images(outputs: list[np.ndarray], targets: list[np.ndarray], scale: int) -> dict[str, float]:
    """Mean PSNR (RGB, Y) and SSIM over image pairs, ``scale`` px border cropped."""
    if len(outputs) != len(targets) or not outputs:
        raise ValueError(f"{len(outputs)} outputs for {len(targets)} targets")
    p, py, s = [], [], []
    for out, hr in zip(outputs, targets):
        if out.shape != hr.shape:
            raise ValueError(f"output shape {out.shape} does not match target {hr.shape}")
        p.append(psnr(out, hr, scale))
        py.append(psnr_y(out, hr, scale))
        s.append(ssim(out, hr, scale))
    return {"psnr": float(np.mean(p)), "psnr_y": float(np.mean(py)), "ssim": float(np.mean(s))}


def _bicubic_weights(size_in: int, scale: int, a: float = -0.75) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (clamped) and Keys weights of PyTorch's bicubic upsampling along one axis."""
    src = (np.arange(size_in * scale) + 0.5) / scale - 0.5  # half-pixel centres (align_corners=False)
    base = np.floor(src).astype(int)
    t = src - base
    idx = np.clip(base[:, None] + np.arange(-1, 3)[None, :], 0, size_in - 1)
    d = np.abs(t[:, None] - np.arange(-1, 3)[None, :])
    w = np.where(d <= 1, ((a + 2) * d - (a + 3)) * d * d + 1,
                 np.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, 0.0))
    return idx, w


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """uint8 HWC bicubic upscaling as the zoo's ``bicubic`` model computes it: the floor a model must beat."""
    x = lr.astype(np.float64)
    idx, w = _bicubic_weights(x.shape[0], scale)
    x = np.einsum("okc,ok->oc", x[idx].reshape(idx.shape[0], 4, -1), w).reshape(idx.shape[0], lr.shape[1], -1)
    idx, w = _bicubic_weights(x.shape[1], scale)
    x = np.einsum("hokc,ok->hoc", x[:, idx], w)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def output_problem(outputs: list[np.ndarray]) -> str | None:
    """'nan-output' or 'constant-output' when a network's outputs cannot be a picture, else None."""
    if any(np.issubdtype(o.dtype, np.floating) and np.isnan(o).any() for o in outputs):
        return "nan-output"
    if outputs and all(o.size and o.min() == o.max() for o in outputs):
        return "constant-output"
    return None


def agreement(device: np.ndarray, cpu: np.ndarray) -> dict[str, Any]:
    """How far a delegate's image is from the CPU kernels' image of the same artifact and input
    (stored as ``runtime.cpu_agreement``: fp16 drift and broken kernels show here)."""
    diff = np.abs(device.astype(np.int16) - cpu.astype(np.int16))
    value = psnr(device, cpu)
    return {"reference": "cpu", "images": 1, "max_abs_diff": int(diff.max()),
            "mean_abs_diff": round(float(diff.mean()), 6), "differing_pixels": round(float((diff > 0).mean()), 6),
            "psnr_db": None if math.isinf(value) else round(value, 4), "identical": bool(diff.max() == 0)}
