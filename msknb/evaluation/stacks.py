"""Image stacks as the evaluation takes them: float arrays (N, H, W) in [0, 1] (as
:func:`msknb.data.load_folder` returns them); two sets compared pixel-wise must have the
same H, W (:func:`resize_images` makes them so)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from msknb.errors import MsknbError


def as_stack(images: Any, name: str = "images") -> np.ndarray:
    """float32 (N, H, W) from (N, H, W) or (N, 1, H, W); empty or other shapes raise
    :class:`MsknbError` naming ``name``."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or len(arr) == 0:
        raise MsknbError(f"expected a non-empty image stack (N, H, W), got shape {arr.shape}", name)
    return arr


def check_same_shape(a: np.ndarray, b: np.ndarray, name: str = "set_b") -> None:
    """:class:`MsknbError` unless stacks ``a`` and ``b`` hold images of one size."""
    if a.shape[1:] != b.shape[1:]:
        raise MsknbError(f"image sizes differ: {a.shape[1:]} vs {b.shape[1:]}; resize both to one size "
                         f"(msknb.evaluation.stacks.resize_images)", name)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) -> (N, size, size) float32, bilinear with antialiasing, kept in [0, 1]."""
    arr = as_stack(images)
    if arr.shape[1:] == (size, size):
        return arr.copy()
    x = torch.from_numpy(arr).unsqueeze(1)
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y[:, 0].clamp(0, 1).numpy().astype(np.float32)
