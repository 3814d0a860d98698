"""Resizing images (anti-aliased bilinear) and masks (nearest neighbour) to a square size."""
from __future__ import annotations

import numpy as np
from PIL import Image
from skimage.transform import resize


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """float32 (size, size) in [0, 1]: anti-aliased bilinear resize.

    Uses Pillow's float ("F") resampling, whose bilinear filter widens with the scale
    factor (anti-aliasing like ``skimage.transform.resize(..., anti_aliasing=True)``) and
    is ~20x faster; skimage is used for arrays Pillow cannot take."""
    img = np.asarray(image, dtype=np.float32)
    if img.shape == (size, size):
        return img.copy()
    try:
        out = np.asarray(Image.fromarray(img, mode="F").resize((size, size), Image.Resampling.BILINEAR))
    except (ValueError, TypeError):  # pragma: no cover - unusual arrays
        out = resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0, 1).astype(np.float32)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """uint8 (size, size) in {0, 1}: nearest-neighbour resize (skimage, order=0)."""
    if mask.shape == (size, size):
        return mask.astype(np.uint8)
    out = resize(mask.astype(np.uint8), (size, size), order=0, anti_aliasing=False, preserve_range=True,
                 mode="edge")
    return (out > 0).astype(np.uint8)
