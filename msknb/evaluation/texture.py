"""Contrast and sharpness of an image set: what tells a blurred, low-contrast (averaged)
synthetic set from a real one when pixel distances cannot."""
from __future__ import annotations

from typing import Any

import numpy as np

from msknb.evaluation.stacks import as_stack


def texture_stats(images: np.ndarray) -> dict[str, Any]:
    """(N, H, W) in [0, 1] -> ``{"n_images", "contrast"`` (mean over images of each image's
    grey-level SD, in [0, 1] units), ``"sharpness"`` (mean over images of the mean gradient
    magnitude, grey-level units per pixel, central differences)``}``."""
    arr = as_stack(images).astype(np.float64)
    gy, gx = np.gradient(arr, axis=(1, 2))
    return {"n_images": int(len(arr)), "contrast": float(arr.reshape(len(arr), -1).std(axis=1).mean()),
            "sharpness": float(np.sqrt(gx ** 2 + gy ** 2).mean())}


def texture_ratios(texture: dict[str, Any] | None) -> dict[str, float] | None:
    """Synthetic over real ``contrast`` and ``sharpness`` from ``{"real": texture_stats,
    "synthetic": texture_stats or None}``; None when either side or a real value is missing/0."""
    if not isinstance(texture, dict):
        return None
    real, syn = texture.get("real"), texture.get("synthetic")
    if not isinstance(real, dict) or not isinstance(syn, dict):
        return None
    out = {}
    for key in ("contrast", "sharpness"):
        r, s = real.get(key), syn.get(key)
        if not isinstance(r, (int, float)) or not isinstance(s, (int, float)) or r <= 0:
            return None
        out[key] = float(s) / float(r)
    return out
