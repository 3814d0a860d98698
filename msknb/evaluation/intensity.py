"""Intensity statistics of an image set (the paper's histograms, skewness and entropy):
256-bin histogram of the 8-bit values, skewness (``scipy.stats.skew``: the kit's one
skewness definition), Shannon entropy in bits."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.stats import skew

from msknb.evaluation.stacks import as_stack
from msknb.io import to_uint8

ENTROPY_NOTE = (
    "Shannon entropy in bits (log2) of the pooled 256-bin histogram of 8-bit pixel values "
    "(max 8 bits). The paper's 10.6-11 cannot come from 256 bins: 2^10.6 ~ 1550 occupied bins, "
    "so it must have used a finer binning, e.g. 16-bit values (65536 bins) -- then the value "
    "depends on how many distinct grey levels resampling created. 'entropy_bits_16bit' shows this "
    "(same pixels, 65536 bins of round(x * 65535)).")


def skewness(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Skewness as the kit defines it everywhere: ``scipy.stats.skew`` (biased,
    Fisher-Pearson) of ``values`` (flattened when ``axis`` is None)."""
    v = np.asarray(values, dtype=np.float64)
    return float(skew(v.ravel())) if axis is None else skew(v, axis=axis)


def intensity_histogram(images: np.ndarray) -> np.ndarray:
    """Pooled histogram of all pixels of the set: 256 bins, one per 8-bit value 0..255,
    normalised to probabilities (sums to 1). (N, H, W) -> (256,) float64."""
    counts = np.bincount(to_uint8(as_stack(images)).ravel(), minlength=256).astype(np.float64)
    return counts / counts.sum()


def shannon_entropy(probabilities: np.ndarray, base: float = 2.0) -> float:
    """-sum p log_base p over the non-empty bins (bits for base 2)."""
    p = np.asarray(probabilities, dtype=np.float64)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum() / np.log(base))


def intensity_stats(images: np.ndarray) -> dict[str, Any]:
    """Histogram statistics of one set (all pixels pooled), (N, H, W) in [0, 1].

    Returns {"n_images", "mean", "std" (8-bit grey levels), "skewness" (:func:`skewness`
    of the pooled 8-bit values), "skewness_per_image" {mean, std},
    "entropy_bits" (256 bins), "entropy_bits_16bit" (65536 bins), "histogram" (256,)
    probabilities, "binning"}. See ``ENTROPY_NOTE``.
    """
    arr = as_stack(images)
    u8 = to_uint8(arr)
    values = u8.reshape(len(u8), -1).astype(np.float64)
    hist = intensity_histogram(arr)
    u16 = np.clip(np.rint(arr * 65535.0), 0, 65535).astype(np.int64).ravel()
    per_image = skewness(values, axis=1)
    return {
        "n_images": int(len(arr)),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "skewness": skewness(values),
        "skewness_per_image": {"mean": float(np.nanmean(per_image)), "std": float(np.nanstd(per_image))},
        "entropy_bits": shannon_entropy(hist),
        "entropy_bits_16bit": shannon_entropy(np.bincount(u16, minlength=65536)),
        "histogram": hist,
        "binning": "256 bins of 8-bit values (round(255 x)); entropy base 2 (bits)",
    }


def intensity_by_group(images: np.ndarray, groups: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`intensity_stats` per group (muscle) plus "all": {group: stats}."""
    arr = as_stack(images)
    out = {"all": intensity_stats(arr)}
    if groups is not None:
        g = np.asarray(groups)
        for name in sorted(set(g.tolist())):
            if name != "all":
                out[name] = intensity_stats(arr[g == name])
    return out


def _per_image_histograms(images: np.ndarray) -> np.ndarray:
    """(N, H, W) in [0, 1] -> (N, 256) probabilities of each image's 8-bit grey levels."""
    u8 = to_uint8(as_stack(images)).reshape(len(images), -1)
    counts = np.stack([np.bincount(row, minlength=256) for row in u8]).astype(np.float64)
    return counts / counts.sum(axis=1, keepdims=True)


def _l1_with_spread(query: np.ndarray, reference: np.ndarray, rng: np.random.Generator,
                    n_boot: int) -> dict[str, float]:
    """L1 distance (0..2) of the pooled histograms of ``query`` and ``reference`` ((n, 256)
    per-image histograms), and its SD over bootstrap resamples of the query images."""
    ref = reference.mean(axis=0)
    value = float(np.abs(query.mean(axis=0) - ref).sum())
    idx = rng.integers(0, len(query), size=(n_boot, len(query)))
    boot = np.abs(query[idx].mean(axis=1) - ref).sum(axis=1)
    return {"value": value, "spread": float(boot.std())}


def histogram_l1_with_baseline(sets, n_boot: int = 200) -> dict[str, Any]:
    """L1 distance (0 = same, 2 = disjoint) between pooled 256-bin grey-level histograms:
    synthetic vs real half B beside real half A vs real half B, both at the same ``n`` images
    (seeded draw); ``spread`` = SD over ``n_boot`` bootstrap resamples of the query images.

    ``sets``: :class:`msknb.evaluation.metric_table.EvalSets`. Returns ``{"n", "note",
    "synthetic_vs_real": {"value", "spread"} or None, "real_vs_real": {...}}``."""
    rng = np.random.default_rng(sets.seed)
    ha, hb = _per_image_histograms(sets.real_a), _per_image_histograms(sets.real_b)
    hs = None if sets.synthetic is None or len(sets.synthetic) == 0 else _per_image_histograms(sets.synthetic)
    n = len(ha) if hs is None else min(len(ha), len(hs))
    out: dict[str, Any] = {"n": int(n), "note": "pooled 256-bin histograms of 8-bit grey levels, L1 (0..2)",
                           "real_vs_real": _l1_with_spread(ha[np.sort(rng.choice(len(ha), n, replace=False))], hb,
                                                           rng, n_boot),
                           "synthetic_vs_real": None}
    if hs is not None:
        out["synthetic_vs_real"] = _l1_with_spread(hs[np.sort(rng.choice(len(hs), n, replace=False))], hb, rng,
                                                   n_boot)
    return out
