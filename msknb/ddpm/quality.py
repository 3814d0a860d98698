"""A cheap realism check of generated images: intensity statistics against real images.

Not a substitute for the metrics of notebook 07 (``msknb.evaluation``); it catches the
brightness bias of a sampler at a glance (mean grey level, spread, skewness, histogram).
Skewness is ``scipy.stats.skew`` (biased Fisher-Pearson), the kit's one definition.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import skew

from msknb.ddpm.export import split_channels


def image_stats(images: np.ndarray, bins: int = 32) -> dict[str, Any]:
    """Intensity statistics of the image channel of ``images`` ((n, C, H, W) or (n, H, W)
    in [0, 1]), pooled over all pixels: mean, std, skewness, and the normalised histogram
    (``bins`` bins over [0, 1])."""
    imgs, _ = split_channels(images)
    v = imgs.astype(np.float64).ravel()
    mean, std = float(v.mean()), float(v.std())
    skewness = float(skew(v, bias=True)) if std > 0 else 0.0
    hist = np.histogram(v, bins=bins, range=(0, 1))[0].astype(np.float64)
    return {"mean": mean, "std": std, "skewness": skewness, "hist": hist / max(hist.sum(), 1)}


def quality_proxy(real: np.ndarray, synthetic: np.ndarray) -> dict[str, float]:
    """Absolute differences of the intensity mean, std and skewness between ``real`` and
    ``synthetic`` images, plus the L1 distance of their 32-bin intensity histograms
    (0 = identical distributions, 2 = disjoint). Lower is closer to the real data."""
    a, b = image_stats(real), image_stats(synthetic)
    return {"abs_diff_mean": abs(a["mean"] - b["mean"]), "abs_diff_std": abs(a["std"] - b["std"]),
            "abs_diff_skewness": abs(a["skewness"] - b["skewness"]),
            "hist_l1": float(np.abs(a["hist"] - b["hist"]).sum())}
