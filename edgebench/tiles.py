"""Overlapping tiles for running a fixed-size model over photos of any size, and stitching them back.

A tile keeps only what lies beyond its margin (the image border excepted), so with a margin no
smaller than the network's receptive radius the stitched image is the one the network would give
for the whole photo; only a photo smaller than a tile is padded by edge replication (its border is
then approximate). The runner adapters keep their own copy: they run on devices without edgebench.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def receptive_radius(module: Any) -> int:
    """Upper bound of how far (in input pixels) one output pixel sees: the sum of conv radii."""
    import torch

    radius = 0
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            k, d = layer.kernel_size, layer.dilation
            radius += max(d[0] * (k[0] - 1), d[1] * (k[1] - 1)) // 2 + 1  # +1: padding/stride slack
    return max(radius, 1)


def starts(length: int, tile: int, margin: int) -> list[int]:
    if length <= tile:
        return [0]
    step = max(tile - 2 * margin, 1)
    return list(range(0, length - tile, step)) + [length - tile]


def tile_crops(image: np.ndarray, th: int, tw: int, margin: int) -> list[tuple[int, int, np.ndarray]]:
    """The overlapping (y, x, crop) tiles of an NHWC image, padded by edge replication when smaller."""
    _, h, w, _ = image.shape
    padded = image
    if h < th or w < tw:
        padded = np.pad(image, ((0, 0), (0, max(th - h, 0)), (0, max(tw - w, 0)), (0, 0)), mode="edge")
    ph, pw = padded.shape[1:3]
    return [(y, x, np.ascontiguousarray(padded[:, y:y + th, x:x + tw]))
            for y in starts(ph, th, margin) for x in starts(pw, tw, margin)]


def stitch(tiles: list[tuple[int, int, np.ndarray]], image_shape: tuple[int, ...], th: int, tw: int,
           margin: int) -> np.ndarray:
    """Join the SR outputs of :func:`tile_crops`' tiles ([(y, x, sr)]) into one image of the input's size."""
    _, h, w, _ = image_shape
    ph, pw = max(h, th), max(w, tw)
    scale = tiles[0][2].shape[1] // th
    out = np.zeros((1, ph * scale, pw * scale, 3), np.uint8)
    for y, x, sr in tiles:
        y0, x0 = (y + margin if y else 0), (x + margin if x else 0)
        out[:, y0 * scale:(y + th) * scale, x0 * scale:(x + tw) * scale] = sr[:, (y0 - y) * scale:, (x0 - x) * scale:]
    return out[:, :h * scale, :w * scale]


def largest_tile(images: list[np.ndarray], multiple: int = 1) -> tuple[int, int]:
    """The largest tile no image is smaller than (so none is padded and the smallest needs one tile),
    floored to ``multiple``."""
    h = min(int(i.shape[-3]) for i in images)
    w = min(int(i.shape[-2]) for i in images)
    return max(h // multiple * multiple, multiple), max(w // multiple * multiple, multiple)
