"""Inner edges of two aponeurosis bands, per column: the lower edge of the superficial band
and the upper edge of the deep band, at the pixel boundary (``last row + 0.5`` / ``first
row - 0.5``; for a probability map, the linear sub-pixel crossing of the threshold). Columns
missing in one band (a gap) are linearly interpolated; the pixel staircase is smoothed by a
local quadratic fit (exact for straight and parabolic edges). Rows and columns in px."""
from __future__ import annotations

import numpy as np

from msknb.masks.bands import Band

#: window of the inner-edge smoothing, as a fraction of the common column range
DEFAULT_EDGE_SMOOTH = 0.05


def subpixel_edge(p: np.ndarray, rows: np.ndarray, cols: np.ndarray, step: int, threshold: float) -> np.ndarray:
    """Edge position just beyond ``rows`` in direction ``step`` (+1 down, -1 up):
    the linear ``threshold`` crossing between the row and its neighbour (``row +- 0.5``
    for a binary mask)."""
    rows = rows.astype(int)
    nb = np.clip(rows + step, 0, p.shape[0] - 1)
    pin, pout = p[rows, cols], p[nb, cols]
    frac = np.full(len(rows), 0.5)
    ok = (pin > pout) & (nb != rows)
    frac[ok] = np.clip((pin[ok] - threshold) / (pin[ok] - pout[ok]), 0.0, 1.0)
    return rows + step * frac


def edge_over(band: Band, xs: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, int]:
    """``values`` (per band column) over integer columns ``xs``, missing columns
    linearly interpolated; returns (edge, number of interpolated columns)."""
    out = np.interp(xs, band.cols, values)
    missing = int(len(xs) - np.isin(xs, band.cols).sum())
    return out, missing


def smooth_edge(values: np.ndarray, window: int) -> np.ndarray:
    """Local quadratic least-squares smoothing (Savitzky–Golay) of an edge over
    ``window`` (odd) columns; the first/last half window use one quadratic fit each.
    Removes the pixel staircase of a rasterised edge; keeps lines and parabolas exact."""
    n = len(values)
    window = int(window) | 1
    if window < 5 or n < window:
        return values
    half = window // 2
    x = np.arange(-half, half + 1)
    coef = np.linalg.pinv(np.vander(x, 3, increasing=True))[0]
    out = np.convolve(values, coef[::-1], mode="same")
    idx = np.arange(n)
    for part, seg in ((slice(0, half), slice(0, window)), (slice(n - half, n), slice(n - window, n))):
        fit = np.polyfit(idx[seg], values[seg], 2)
        out[part] = np.polyval(fit, idx[part])
    return out


def inner_edges(p: np.ndarray, sup: Band, deep: Band, threshold: float, edge_smooth: float,
                notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, superficial_edge, deep_edge)`` over the columns both bands cover: integer
    columns (K,) and the two edges' rows (K,) in px, gaps interpolated, smoothed over
    ``edge_smooth`` of the range (at least 5 columns; 0 = off)."""
    x_a, x_b = max(sup.x0, deep.x0), min(sup.x1, deep.x1)
    xs = np.arange(x_a, x_b + 1)
    sup_edge, m1 = edge_over(sup, xs, subpixel_edge(p, sup.bot, sup.cols, +1, threshold))
    deep_edge, m2 = edge_over(deep, xs, subpixel_edge(p, deep.top, deep.cols, -1, threshold))
    if m1 or m2:
        notes.append(f"interpolated {m1 + m2} missing edge column(s) across gaps")
    if edge_smooth:
        window = max(5, int(round(edge_smooth * len(xs))))
        sup_edge, deep_edge = smooth_edge(sup_edge, window), smooth_edge(deep_edge, window)
    return xs, sup_edge, deep_edge
