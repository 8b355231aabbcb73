"""Photos for training, calibration and evaluation, and low-resolution input generation.

edgebench ships eleven real photos (``edgebench/photos``, sources in its README), split into
disjoint sets so a model is never evaluated on what it was trained or calibrated on:

* ``train``: astronaut, coffee, motorcycle_left, motorcycle_right, hubble_deep_field
* ``calib``: rocket, retina (int8 calibration)
* ``eval``: chelsea, china, flower, grace_hopper (held out; the ``bundled`` dataset)

Users bring their own with ``--dataset PATH``: a folder of HR images, or DIV2K's layout
(``*_HR`` next to ``*_LR_bicubic/X{scale}``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ArtifactError, EdgebenchError

PHOTO_DIR = Path(__file__).parent / "photos"
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "coffee", "motorcycle_left", "motorcycle_right", "hubble_deep_field"),
    "calib": ("rocket", "retina"),
    "eval": ("chelsea", "china", "flower", "grace_hopper"),
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class DatasetError(ArtifactError):
    """``--dataset`` names a folder that is missing or holds no readable image: a usage problem."""

    exit_code = 2


class UnreadableImage(ArtifactError):
    """An image file that cannot be decoded; ``reason`` is the decoder's words without the path."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"image {path} cannot be decoded: {reason}")


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 HWC RGB; a corrupt file is one clear error (UnreadableImage)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise ArtifactError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # PIL names the file in its message ("cannot identify image file '/x/y.png'"): the caller does
        reason = re.sub(r"\s+", " ", str(exc).replace(repr(str(path)), "").replace(str(path), "")).strip(" :")
        raise UnreadableImage(path, reason or type(exc).__name__) from None


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    return read_image(PHOTO_DIR / f"{name}.png")


def photos(split: str) -> list[tuple[str, np.ndarray]]:
    """The bundled photos of one split as (name, uint8 HWC) pairs."""
    if split not in SPLITS:
        raise EdgebenchError(f"unknown photo split {split!r}; choose from {sorted(SPLITS)}")
    return [(name, _photo(name).copy()) for name in SPLITS[split]]


def modcrop(hr: np.ndarray, scale: int) -> np.ndarray:
    """Crop so both sides are multiples of ``scale``."""
    h, w = hr.shape[:2]
    return hr[: h - h % scale, : w - w % scale]


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic (antialiased) downscale by ``scale``, the usual SR degradation."""
    from PIL import Image

    hr = modcrop(hr, scale)
    h, w = hr.shape[:2]
    lr = Image.fromarray(hr).resize((w // scale, h // scale), Image.Resampling.BICUBIC)
    return np.asarray(lr, dtype=np.uint8)


def make_pairs(hrs: list[np.ndarray], scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(lr, hr) pairs with the HR cropped to a multiple of ``scale``."""
    return [(downscale(hr, scale), modcrop(hr, scale)) for hr in hrs]


def calibration_inputs(scale: int, size: tuple[int, int] | None = None, count: int = 8) -> list[np.ndarray]:
    """Low-resolution uint8 HWC crops of the calibration photos for int8 quantization."""
    images = [downscale(hr, scale) for _, hr in photos("calib")]
    if size is None:
        return images
    rng = np.random.default_rng(0)
    crops = []
    for i in range(count):
        lr = images[i % len(images)]
        h, w = size
        h, w = min(h, lr.shape[0]), min(w, lr.shape[1])
        y = int(rng.integers(0, lr.shape[0] - h + 1))
        x = int(rng.integers(0, lr.shape[1] - w + 1))
        crops.append(np.ascontiguousarray(lr[y : y + h, x : x + w]))
    return crops


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def folder_pairs(path: Path, scale: int, skipped: list[str] | None = None,
                 limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Load a user dataset: DIV2K's HR/LR layout when present, else a folder of HR images.

    With a ``skipped`` list, an image that cannot be decoded is left out and named there
    ("x.png (cannot identify image file)", relative to ``path``); without one it raises. A missing
    folder, or one with no (readable) image, raises DatasetError. ``limit``: stop after that many pairs.
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"dataset folder not found: {path}" if not path.exists()
                           else f"dataset {path} is not a folder (give the folder that holds the images)")

    def read(file: Path) -> np.ndarray | None:
        try:
            return read_image(file)
        except UnreadableImage as exc:
            if skipped is None:
                raise
            skipped.append(f"{file.relative_to(path)} ({exc.reason})")
            return None

    hr_dirs = sorted(p for p in path.iterdir() if p.is_dir() and p.name.upper().endswith("_HR"))
    if hr_dirs:
        hr_dir = hr_dirs[0]
        lr_dir = path / hr_dir.name.replace("_HR", "_LR_bicubic") / f"X{scale}"
        hr_files = _images_in(hr_dir)
        if not hr_files:
            raise DatasetError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {hr_dir}")
        pairs = []
        for hr_file in hr_files:
            if limit and len(pairs) >= limit:
                break
            hr = read(hr_file)
            if hr is None:
                continue
            lr_file = lr_dir / f"{hr_file.stem}x{scale}{hr_file.suffix}"
            if lr_file.exists():
                lr = read(lr_file)
                if lr is None:
                    continue
                hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
            else:
                lr = downscale(hr, scale)
                hr = modcrop(hr, scale)
            pairs.append((lr, hr))
        if not pairs:
            raise DatasetError(f"no readable image in {hr_dir}: {'; '.join(skipped or [])}")
        return pairs
    files = _images_in(path)
    if not files:
        raise DatasetError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in dataset folder {path}")
    hrs: list[np.ndarray] = []
    for file in files:
        if limit and len(hrs) >= limit:
            break
        image = read(file)
        if image is not None:
            hrs.append(image)
    if not hrs:
        raise DatasetError(f"no readable image in dataset folder {path}: {'; '.join(skipped or [])}")
    return make_pairs(hrs, scale)


def dataset_pairs(name_or_path: str, scale: int, limit: int | None = None,
                  skipped: list[str] | None = None) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Resolve ``--dataset``: a registered dataset name or a folder. Returns (label, pairs).

    ``skipped``: see :func:`folder_pairs` (unreadable images of a folder are left out and named there).
    """
    from .plugins import datasets

    registered = datasets.all()
    if name_or_path in registered:
        spec = registered[name_or_path]
        pairs = spec.load_pairs(scale) if spec.load_pairs else make_pairs(spec.load(), scale)
        label = spec.name
    elif Path(name_or_path).exists() or re.search(r"[/\\.]", name_or_path):
        pairs = folder_pairs(Path(name_or_path), scale, skipped=skipped, limit=limit)
        label = str(Path(name_or_path).resolve())
    else:
        from .errors import UnknownName

        raise UnknownName("dataset", name_or_path, list(registered))
    return label, pairs[:limit] if limit else pairs
