"""Overlap metrics of binary aponeurosis masks: precision, recall, Dice, IoU per image,
and their mean ± std over a test set (paper Tables 4 and 6)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from msknb.errors import DataError

METRICS = ("precision", "recall", "dice", "iou")


def segmentation_metrics(pred: np.ndarray, true: np.ndarray) -> list[dict[str, float]]:
    """Per-image precision, recall, Dice and IoU of binary masks ``pred`` / ``true``
    (N, H, W) or (H, W); nonzero = aponeurosis.

    Empty handling: when both masks are empty every metric is 1 (perfect agreement);
    when only one is empty, Dice = IoU = 0, precision is 1 if nothing was predicted
    (no false positives) else 0, and recall is 1 if there was nothing to find else 0.
    """
    p = np.asarray(pred) > 0
    t = np.asarray(true) > 0
    if p.shape != t.shape:
        raise DataError(f"predicted masks {p.shape} and true masks {t.shape} differ in shape", "masks")
    if p.ndim == 2:
        p, t = p[None], t[None]
    out = []
    for pi, ti in zip(p, t):
        tp = float(np.logical_and(pi, ti).sum())
        fp = float(np.logical_and(pi, ~ti).sum())
        fn = float(np.logical_and(~pi, ti).sum())
        npred, ntrue = tp + fp, tp + fn
        out.append({
            "precision": tp / npred if npred else 1.0,
            "recall": tp / ntrue if ntrue else 1.0,
            "dice": 2 * tp / (npred + ntrue) if (npred + ntrue) else 1.0,
            "iou": tp / (tp + fp + fn) if (tp + fp + fn) else 1.0,
        })
    return out


def mean_dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean Dice over images (N, H, W)."""
    return float(np.mean([d["dice"] for d in segmentation_metrics(pred, true)]))


def summarise(per_image: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """``{metric: {"mean", "std"}}`` over images (population std; NaN when empty)."""
    out = {}
    for m in METRICS:
        v = np.array([d[m] for d in per_image], dtype=np.float64)
        out[m] = {"mean": float(v.mean()) if v.size else float("nan"),
                  "std": float(v.std()) if v.size else float("nan")}
    return out
