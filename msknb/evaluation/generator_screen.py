"""Screening a mask-conditioned generator on the kit val masks, at the generator's own size.

One function per number the generator issue is judged by, each beside its real baseline:

- :func:`degraded` and :func:`resolution_gap`: the domain Fréchet ratio of real val images
  degraded to a lower size and upsampled back (is a 64 px generator's gap missing
  resolution, or wrong anatomy?);
- :func:`domain_ratio`: Fréchet distance of a query set to the real train images in the
  segmenter's bottleneck features, divided by that of the real val images (same n);
- :func:`alignment_dice`: does the segmenter find the conditioning mask in the drawn image;
- :func:`intensity_row`: mean grey, per-image skewness against the real p5-p95, histogram L1;
- :func:`screen`: all of them for one set of drawn images, as one JSON-safe dict.

The val ids pick and tune; the test ids are never read here.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.stats import skew

from msknb.ddpm.quality import image_stats, quality_proxy
from msknb.evaluation.features import frechet_distance
from msknb.evaluation.memorisation import memorisation_check
from msknb.evaluation.stacks import resize_images
from msknb.segmentation.metrics import segmentation_metrics
from msknb.segmentation.model import bottleneck_features
from msknb.segmentation.predict import predict


def degraded(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) in [0, 1] resized to ``size`` (antialiased) and back to (H, W) (bilinear):
    what a generator of ``size`` px can show at best."""
    small = resize_images(images, size)
    return resize_images(small, images.shape[-1]) if images.shape[-1] != size else small


def segmenter_features(segmenter) -> Callable[[np.ndarray], np.ndarray]:
    """Images (N, H, W) -> the segmenter's average-pooled bottleneck features (N, F), the
    images resized to the segmenter's training size first."""
    size = int(segmenter.msknb_config.get("image_size", 128))
    return lambda x: bottleneck_features(segmenter, resize_images(x, size))


def domain_ratio(features: Callable, query: np.ndarray, baseline: np.ndarray, reference: np.ndarray,
                 seed: int = 0) -> dict[str, float]:
    """Fréchet(query, reference) / Fréchet(baseline, reference), both at n = min(len(query),
    len(baseline)) images (seeded draw); 1 = as far from the train images as real val images."""
    rng = np.random.default_rng(seed)
    n = min(len(query), len(baseline))
    q = query[np.sort(rng.choice(len(query), n, replace=False))]
    b = baseline[np.sort(rng.choice(len(baseline), n, replace=False))]
    ref = features(reference)
    fq, fb = frechet_distance(features(q), ref), frechet_distance(features(b), ref)
    return {"frechet": fq, "real_frechet": fb, "ratio": fq / fb if fb > 0 else float("nan"), "n": n}


def resolution_gap(features: Callable, val: np.ndarray, train: np.ndarray, sizes=(32, 64, 128)) -> dict[str, Any]:
    """:func:`domain_ratio` of the val images degraded to each of ``sizes``; keys are sizes."""
    return {int(s): domain_ratio(features, degraded(val, int(s)), val, train) for s in sizes}


def alignment_dice(segmenter, images: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """Mean / median Dice between the segmenter's masks on ``images`` and ``masks`` (both
    resized to the segmenter's size)."""
    size = int(segmenter.msknb_config.get("image_size", 128))
    _, pred = predict(segmenter, resize_images(images, size))
    truth = (resize_images(np.asarray(masks, np.float32), size) > 0.5).astype(np.uint8)
    d = np.array([r["dice"] for r in segmentation_metrics(pred, truth)])
    return {"dice_mean": float(d.mean()), "dice_median": float(np.median(d)), "n": int(len(d))}


def intensity_row(real: np.ndarray, drawn: np.ndarray) -> dict[str, Any]:
    """Mean grey level, per-image skewness (mean; share inside the real p5-p95) and the
    32-bin histogram L1 of ``drawn`` against ``real`` (N, H, W)."""
    per_real = np.array([skew(x.ravel()) for x in real])
    per_drawn = np.array([skew(x.ravel()) for x in drawn])
    lo, hi = np.percentile(per_real, [5, 95])
    return {"mean_grey": image_stats(drawn)["mean"], "real_mean_grey": image_stats(real)["mean"],
            "skewness_mean": float(per_drawn.mean()), "real_skewness_p5_p95": [float(lo), float(hi)],
            "skewness_inside_real_p5_p95": float(((per_drawn >= lo) & (per_drawn <= hi)).mean()),
            "hist_l1": quality_proxy(real, drawn)["hist_l1"]}


def screen(drawn: np.ndarray, masks: np.ndarray, real_val: np.ndarray, real_train: np.ndarray,
           train_ids, val_clusters, train_clusters, segmenter) -> dict[str, Any]:
    """Every screening number for ``drawn`` (N, S, S) images drawn for ``masks`` (N, S, S) of
    the kit val ids, against the real val images (same ids, same size) and the real train
    images; real-vs-real baselines beside each."""
    feats = segmenter_features(segmenter)
    half = len(real_train) // 2
    mem, _, _ = memorisation_check(drawn, real_train, train_ids, real_val, val_clusters, train_clusters)
    return {"n": int(len(drawn)), "size": int(drawn.shape[-1]),
            "intensity": intensity_row(real_val, drawn),
            "intensity_real_vs_real": intensity_row(real_val, real_train[:half]),
            "alignment": alignment_dice(segmenter, drawn, masks),
            "alignment_real": alignment_dice(segmenter, real_val, masks),
            "domain": domain_ratio(feats, drawn, real_val, real_train),
            "memorisation": {k: mem[k] for k in ("fraction_above", "thresholds", "synthetic", "baseline")}}
