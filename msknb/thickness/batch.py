"""Thickness of many masks at once: a stack (:func:`measure_many`), a folder of mask files
(:func:`measure_folder`), and the share of masks with a measurable pair of aponeuroses
(:func:`aponeurosis_pair_rate`, a plausibility score for generated masks)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from msknb.errors import ConfigError, MsknbError, ThicknessError
from msknb.data.mask_files import expand_mask_paths, read_mask
from msknb.thickness.methods import measure_thickness
from msknb.thickness.result import ThicknessResult


def measure_many(masks: Iterable[Any], ids: Sequence[str] | None = None, spacing_mm: Any = None,
                 **kwargs: Any) -> tuple[np.ndarray, dict[str, str], list[ThicknessResult | None]]:
    """Measure a stack of masks (N, H, W) or an iterable of (H, W) masks.

    ``spacing_mm``: None, one spacing for all, or (N, 2) per mask (NaN rows = unknown);
    ``kwargs`` go to :func:`measure_thickness` (e.g. ``method``, ``n_chords``).
    Returns ``(mt, errors, results)``: ``mt`` (N, 2) float array of (mt_px, mt_mm) with
    NaN where not measured, ``errors`` {id: message}, ``results`` (None where failed).
    """
    masks = list(masks)
    ids = [str(i) for i in (ids if ids is not None else range(len(masks)))]
    sp = None if spacing_mm is None else np.asarray(spacing_mm, dtype=np.float64)
    per_mask = sp is not None and sp.ndim == 2
    out = np.full((len(masks), 2), np.nan)
    errors: dict[str, str] = {}
    results: list[ThicknessResult | None] = []
    for i, m in enumerate(masks):
        s = sp[i] if per_mask else sp
        try:
            r = measure_thickness(m, spacing_mm=s, **kwargs)
        except ThicknessError as e:
            errors[ids[i]] = e.problem
            results.append(None)
            continue
        out[i, 0] = r.mt_px
        out[i, 1] = np.nan if r.mt_mm is None else r.mt_mm
        results.append(r)
    return out, errors, results


def aponeurosis_pair_rate(masks: Iterable[Any], min_span: float = 0.5, **kwargs: Any) -> dict[str, Any]:
    """How many masks show a measurable pair of aponeuroses: a plausibility score for
    generated (joint image+mask) samples, to read beside the same score of real masks.

    ``masks``: (N, H, W) or an iterable of (H, W) masks (any form :func:`measure_thickness`
    takes). A mask *measures* when :func:`measure_thickness` finds two overlapping bands;
    it *spans* when, in addition, their common column range covers ``min_span`` (fraction,
    0-1) of the width, as the superficial and deep aponeuroses of a longitudinal scan do.
    Returns ``{"n", "measured", "spanning", "measured_rate", "spanning_rate",
    "span_fraction": [per mask, NaN where not measured], "mt_px": [per mask]}``.
    """
    if not 0.0 <= float(min_span) <= 1.0:
        raise ConfigError(f"min_span must be a fraction in [0, 1]; got {min_span!r}", "min_span")
    masks = list(masks)
    mt, _, results = measure_many(masks, **kwargs)
    span = np.array([np.nan if r is None else len(r.centreline) / np.asarray(m).shape[-1]
                     for m, r in zip(masks, results)], dtype=np.float64)
    n = len(masks)
    measured = int(np.isfinite(span).sum())
    spanning = int(np.sum(np.nan_to_num(span, nan=0.0) >= min_span))
    return {"n": n, "measured": measured, "spanning": spanning, "min_span": float(min_span),
            "measured_rate": measured / n if n else float("nan"),
            "spanning_rate": spanning / n if n else float("nan"),
            "span_fraction": span.tolist(), "mt_px": mt[:, 0].tolist()}


def measure_folder(folder: str | Path, n_chords: int = 5, max_images: int | None = None, seed: int = 0,
                   spacing_mm: Any = None, method: str = "chords") -> dict[str, Any]:
    """Measure every mask file of ``folder`` (or its ``masks/``) at its stored resolution
    (a reproducible random subset of ``max_images`` with ``seed``). Returns ``{"ids",
    "mt_px" (N,), "mt_mm" (N,), "flags" (N,), "errors": {id: message}}``."""
    files = expand_mask_paths([str(folder)])
    if max_images is not None and max_images < len(files):
        pick = np.sort(np.random.default_rng(seed).choice(len(files), int(max_images), replace=False))
        files = [files[i] for i in pick]
    ids, mt_px, mt_mm, flags, errors = [], [], [], [], {}
    for f in files:
        ids.append(f.stem)
        try:
            mask, sp = read_mask(f)
            r = measure_thickness(mask, spacing_mm=spacing_mm if spacing_mm is not None else sp,
                                  n_chords=n_chords, method=method)
            mt_px.append(r.mt_px)
            mt_mm.append(np.nan if r.mt_mm is None else r.mt_mm)
            flags.append(r.flag)
        except MsknbError as e:
            errors[f.stem] = e.problem
            mt_px.append(np.nan)
            mt_mm.append(np.nan)
            flags.append(f"error: {e.problem}")
    return {"ids": ids, "mt_px": np.array(mt_px), "mt_mm": np.array(mt_mm), "flags": flags, "errors": errors}
