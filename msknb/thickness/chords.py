"""The paper's muscle-thickness method (Katakis et al. 2023, Sec. 2.5, Fig. 3): the centre
line midway between the two inner edges, ``n_chords`` points evenly spaced on it, at each
the chord perpendicular to the centre line between the two edges; MT = mean chord length.

Chord points: ``x_i = x_a + (x_b - x_a) * linspace(span[0], span[1], n)`` over the common
column range ``[x_a, x_b]`` (default span (0.1, 0.9): the outer 10 % at each end, where the
mask edges are ragged, are left out). The centre line's local tangent comes from a
quadratic fit (exact for straight lines and parabolas); the chords are intersected
(sub-pixel) with the edge polylines. With an anisotropic spacing the construction is
repeated in physical coordinates, because a chord perpendicular in pixel space is not
perpendicular in millimetres.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from msknb.errors import ThicknessError
from msknb.thickness.aponeuroses import Aponeuroses
from msknb.thickness.result import ThicknessResult

#: default fraction of the common column range over which the chord points are spread
DEFAULT_SPAN = (0.1, 0.9)


def slope_at(x: np.ndarray, c: np.ndarray, xq: float) -> float:
    """Local tangent slope dc/dx of the centre line at ``xq``: derivative of a quadratic
    least-squares fit over a window of 15 % of the line (at least 5 columns) around
    ``xq`` (exact for straight and parabolic centre lines; smooths pixel steps)."""
    n = len(x)
    if n < 3:
        return float(np.polyfit(x, c, 1)[0]) if n == 2 else 0.0
    half = max(2, int(round(0.075 * n)))
    i = int(np.clip(np.searchsorted(x, xq), 0, n - 1))
    lo, hi = max(0, i - half), min(n, i + half + 1)
    if hi - lo < 5:  # near an end: keep the window width, shifted inwards
        lo, hi = max(0, min(lo, n - 5)), min(n, max(hi, 5))
    deg = 2 if hi - lo >= 5 else 1
    coef = np.polyfit(x[lo:hi] - xq, c[lo:hi], deg)
    return float(coef[-2])


def intersect(poly_xy: np.ndarray, p: np.ndarray, n: np.ndarray, sign: int) -> np.ndarray | None:
    """Nearest intersection of the line ``p + s n`` (``s`` of sign ``sign``) with the
    polyline ``poly_xy`` (K, 2) in (x, y); None if it misses."""
    d = poly_xy - p
    f = n[0] * d[:, 1] - n[1] * d[:, 0]  # signed side of each vertex w.r.t. the line
    f0, f1 = f[:-1], f[1:]
    idx = np.nonzero((f0 * f1 < 0) | (f0 == 0))[0]
    t = np.where(f0[idx] == 0, 0.0, f0[idx] / np.where(f0[idx] == f1[idx], 1.0, f0[idx] - f1[idx]))
    q = poly_xy[idx] + t[:, None] * (poly_xy[idx + 1] - poly_xy[idx])
    if f[-1] == 0:
        q = np.vstack([q, poly_xy[-1:]])
    if not len(q):
        return None
    s = (q - p) @ n
    ok = s * sign >= -1e-9
    if not ok.any():
        return None
    q, s = q[ok], s[ok]
    return q[np.argmin(np.abs(s))]


def chords_between(xs, sup, deep, xq, sx: float, sy: float):
    """Chords in a coordinate system scaled by (sx, sy) (1, 1 = pixels).

    Returns (lengths in scaled units, list of end points in px (y, x) or None)."""
    X = xs * sx
    cs = 0.5 * (sup + deep) * sy
    sup_xy = np.column_stack([X, sup * sy])
    deep_xy = np.column_stack([X, deep * sy])
    lengths, ends = [], []
    for x in xq:
        px = x * sx
        py = float(np.interp(px, X, cs))
        k = slope_at(X, cs, px)
        n = np.array([-k, 1.0]) / math.hypot(1.0, k)  # normal pointing down (+y)
        p = np.array([px, py])
        a = intersect(sup_xy, p, n, -1)
        b = intersect(deep_xy, p, n, +1)
        if a is None or b is None:
            lengths.append(np.nan)
            ends.append(None)
            continue
        lengths.append(float(np.hypot(*(b - a))))
        ends.append(((a[1] / sy, a[0] / sx), (b[1] / sy, b[0] / sx)))
    return np.asarray(lengths), ends


def chord_positions(xs: np.ndarray, n_chords: int, span: Sequence[float] = DEFAULT_SPAN) -> np.ndarray:
    """Columns (n,) of the chord points over the common range ``xs``."""
    x_a, x_b = float(xs[0]), float(xs[-1])
    if n_chords == 1:
        return np.array([0.5 * (x_a + x_b)])
    return x_a + (x_b - x_a) * np.linspace(float(span[0]), float(span[1]), n_chords)


def measure_chords(apo: Aponeuroses, spacing: tuple[float, float] | None, n_chords: int = 5,
                   span: Sequence[float] = DEFAULT_SPAN) -> ThicknessResult:
    """The paper's 5-chord MT of ``apo`` (px, and mm with ``spacing`` (row_mm, col_mm))."""
    xs, sup, deep = apo.xs, apo.superficial, apo.deep
    xq = chord_positions(xs, n_chords, span)
    len_px, ends = chords_between(xs, sup, deep, xq, 1.0, 1.0)
    ok = np.isfinite(len_px)
    if not ok.any():
        raise ThicknessError("no chord perpendicular to the centre line meets both aponeuroses", "mask")
    notes = list(apo.notes)
    if not ok.all():
        notes.append(f"{int((~ok).sum())} of {n_chords} chord(s) missed an aponeurosis and were left out")
    len_mm, chords_physical = None, None
    if spacing is not None:
        sy, sx = spacing
        if math.isclose(sy, sx, rel_tol=1e-9):
            len_mm = len_px * sy
        else:
            len_mm, ends_mm = chords_between(xs, sup, deep, xq, sx, sy)
            chords_physical = [e for e, k in zip(ends_mm, ok) if k and e is not None]
    centre = 0.5 * (sup + deep)
    points = np.column_stack([np.interp(xq, xs, centre), xq])
    chords = [e for e in ends if e is not None]
    return ThicknessResult(
        mt_px=float(np.mean(len_px[ok])), mt_mm=None if len_mm is None else float(np.nanmean(len_mm[ok])),
        chord_lengths_px=len_px[ok], chord_lengths_mm=None if len_mm is None else len_mm[ok],
        chords=chords, points=points[ok], chords_physical=chords_physical if chords_physical is not None else chords,
        centreline=np.column_stack([centre, xs]), superficial_edge=np.column_stack([sup, xs]),
        deep_edge=np.column_stack([deep, xs]), n_components=apo.n_components, n_bands=len(apo.bands),
        spacing_mm=spacing, notes=notes, bands=apo.band_image(), method="chords")
