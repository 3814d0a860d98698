"""A parametric aponeurosis-mask generator: two bands, fitted to real masks.

A mask holds a superficial and a deep aponeurosis. Each band is described, in units of the
image (so one prior serves every resolution), by its centre line
``row / H = depth + tilt * u + curvature * u**2`` with ``u = col / W - 0.5`` in [-0.5, 0.5],
its thickness (rows / H), where it starts and ends (col / W) and the share of its span lost
to a gap. :data:`PARAMS` names the 14 numbers of a mask; the deep band's depth is stored as
its separation below the superficial one (always > 0).

* :func:`mask_parameters` measures them on one mask, with the band finding of
  ``msknb.masks.bands`` (the same bands the thickness methods use);
* :func:`fit_mask_prior` fits each parameter's distribution (a normal, clipped to the range
  seen) over real masks: a plain dict of floats (JSON- and checkpoint-safe);
* :func:`draw_parameters` / :func:`render_mask` / :func:`sample_masks` draw new masks.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from msknb.errors import ConfigError, DataError
from msknb.masks.bands import find_bands

#: per band (``sup`` = superficial, ``deep``): depth / separation, thickness, tilt,
#: curvature (all rows / H), start and end (cols / W), gap (share of the span missing)
PARAMS = ("depth_sup", "separation", "thick_sup", "thick_deep", "tilt_sup", "tilt_deep", "curv_sup", "curv_deep",
          "start_sup", "start_deep", "end_sup", "end_deep", "gap_sup", "gap_deep")
#: gaps narrower than this share of the span are not drawn
MIN_GAP = 0.02


def _band_parameters(band, h: int, w: int) -> dict[str, float]:
    """depth / tilt / curvature / thickness / start / end / gap of one band (units of the image)."""
    u = band.cols / float(w) - 0.5
    c = band.centre / float(h)
    deg = 2 if len(band.cols) >= 3 else (1 if len(band.cols) >= 2 else 0)
    coef = np.polyfit(u, c, deg) if deg else np.array([c[0]])
    coef = np.concatenate([np.zeros(3 - len(coef)), coef])  # [curvature, tilt, depth]
    span = band.x1 - band.x0 + 1
    return {"depth": float(coef[2]), "tilt": float(coef[1]), "curv": float(coef[0]),
            "thick": float(np.mean(band.bot - band.top + 1)) / h, "start": band.x0 / float(w),
            "end": (band.x1 + 1) / float(w), "gap": 1.0 - len(band.cols) / float(span)}


def mask_parameters(mask: np.ndarray) -> dict[str, float] | None:
    """The :data:`PARAMS` of one mask (H, W) {0, 1}: its two most superficial bands (found
    by ``msknb.masks.bands.find_bands``); None when it holds fewer than two bands."""
    m = np.asarray(mask)
    bands = find_bands((m > 0.5).astype(np.float32))[0]
    if len(bands) < 2:
        return None
    h, w = m.shape
    sup, deep = (_band_parameters(b, h, w) for b in bands[:2])
    out = {"depth_sup": sup["depth"], "separation": deep["depth"] - sup["depth"]}
    for key in ("thick", "tilt", "curv", "start", "end", "gap"):
        out[f"{key}_sup"], out[f"{key}_deep"] = sup[key], deep[key]
    return out


def fit_mask_prior(masks: np.ndarray) -> dict[str, Any]:
    """Fit the mask prior to real masks (N, H, W) {0, 1}: for each of :data:`PARAMS` its mean,
    standard deviation and the range seen (``lo``, ``hi``), over the masks with two bands.

    Returns ``{"params": [...], "mean": [...], "std": [...], "lo": [...], "hi": [...],
    "n_masks": used, "n_skipped": masks with < 2 bands}`` (plain floats). DataError when
    fewer than 2 masks hold two bands."""
    m = np.asarray(masks)
    if m.ndim != 3:
        raise DataError(f"masks must be (N, H, W), got shape {m.shape}", "masks")
    rows = [p for p in (mask_parameters(x) for x in m) if p is not None]
    if len(rows) < 2:
        raise DataError(f"only {len(rows)} of {len(m)} masks hold two aponeuroses; cannot fit a mask prior", "masks")
    table = np.array([[r[k] for k in PARAMS] for r in rows], dtype=np.float64)
    return {"params": list(PARAMS), "mean": table.mean(0).tolist(), "std": table.std(0).tolist(),
            "lo": table.min(0).tolist(), "hi": table.max(0).tolist(), "n_masks": len(rows),
            "n_skipped": int(len(m) - len(rows))}


def _check_prior(prior: dict[str, Any]) -> None:
    if not isinstance(prior, dict) or list(prior.get("params", [])) != list(PARAMS):
        raise ConfigError(f"not a mask prior (expected a dict with params {list(PARAMS)})", "prior")


def draw_parameters(prior: dict[str, Any], n: int, rng: np.random.Generator) -> list[dict[str, float]]:
    """``n`` parameter sets drawn from ``prior`` (independent normals, clipped to the range seen)."""
    _check_prior(prior)
    mean, std = np.asarray(prior["mean"]), np.asarray(prior["std"])
    vals = np.clip(rng.normal(mean, std, size=(n, len(PARAMS))), prior["lo"], prior["hi"])
    return [dict(zip(PARAMS, map(float, row))) for row in vals]


def _draw_band(mask: np.ndarray, depth: float, p: dict[str, float], which: str, gap_at: float) -> None:
    """Paint one band of ``p`` (suffix ``which``) into ``mask`` (H, W) in place."""
    h, w = mask.shape
    x0 = int(round(np.clip(p[f"start_{which}"], 0, 1) * w))
    x1 = max(x0 + 1, int(round(np.clip(p[f"end_{which}"], 0, 1) * w)))
    cols = np.arange(x0, min(x1, w))
    gap = p[f"gap_{which}"]
    if gap >= MIN_GAP and len(cols) > 2:  # one gap of that share of the span, at ``gap_at`` along it
        g = int(round(gap * len(cols)))
        g0 = int(round(gap_at * (len(cols) - g)))
        cols = np.concatenate([cols[:g0], cols[g0 + g:]])
    u = (cols + 0.5) / w - 0.5
    centre = (depth + p[f"tilt_{which}"] * u + p[f"curv_{which}"] * u ** 2) * h - 0.5
    half = max(1.0, p[f"thick_{which}"] * h) / 2.0
    top = np.clip(np.round(centre - half + 0.5), 0, h - 1).astype(int)
    bot = np.clip(np.round(centre + half - 0.5), 0, h - 1).astype(int)
    for c, a, b in zip(cols, top, np.maximum(top, bot)):
        mask[a:b + 1, c] = 1


def render_mask(p: dict[str, float], size: int, gap_at: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """The mask (size, size) uint8 {0, 1} of one parameter set (see :data:`PARAMS`);
    ``gap_at`` places each band's gap along its span (0 = at its start, 1 = at its end)."""
    mask = np.zeros((int(size), int(size)), dtype=np.uint8)
    _draw_band(mask, p["depth_sup"], p, "sup", gap_at[0])
    _draw_band(mask, p["depth_sup"] + max(p["separation"], 0.0), p, "deep", gap_at[1])
    return mask


def sample_masks(prior: dict[str, Any], n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` masks (n, size, size) uint8 {0, 1} drawn from ``prior`` (seeded)."""
    if int(n) < 1 or int(size) < 8:
        raise ConfigError(f"need n >= 1 and size >= 8 px, got n={n}, size={size}", "n")
    rng = np.random.default_rng(int(seed))
    params = draw_parameters(prior, int(n), rng)
    gaps = rng.random((int(n), 2))
    return np.stack([render_mask(p, size, (g[0], g[1])) for p, g in zip(params, gaps)])
