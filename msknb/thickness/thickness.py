"""Muscle thickness (MT) from an aponeurosis mask, after Katakis et al. 2023 (Sec. 2.5, Fig. 3).

The paper's method: draw the centre line midway between the superficial and the deep
aponeurosis, put 5 evenly spaced points on it, at each draw the chord perpendicular to
the centre line between the two aponeuroses, and report MT = mean chord length
(pixels -> mm with the DICOM pixel spacing).

What :func:`measure_thickness` does, step by step (each step is visible in the result):

1. **binarise** ``mask`` (H, W): bool, {0, 1}, {0, 255} or a probability map in [0, 1]
   (``>= threshold``);
2. **remove specks**: connected components (8-connectivity) smaller than ``min_area_px``
   (default ``max(4, 2e-4 * H * W)`` px, i.e. 13 px at 256 x 256);
3. **bands**: components are grouped into aponeurosis bands. Two components that barely
   overlap horizontally and lie at the same depth (their straight-line fits meet within a
   tolerance across the gap) are one band broken by a gap, and are merged. Bands narrower
   than 15 % of the widest band are ignored (noted);
4. **order by depth** (mean centre row, compared over shared columns) and take the two
   uppermost overlapping bands: the examined muscle's superficial and deep aponeurosis.
   Any band below (a neighbouring muscle's aponeurosis) is ignored and noted;
5. **inner edges** per column over the columns both bands cover: the lower edge of the
   superficial band and the upper edge of the deep band, at the pixel boundary
   (``last row + 0.5`` / ``first row - 0.5``; for a probability map, the linear
   sub-pixel crossing of ``threshold``). Columns missing in one band (a gap) are linearly
   interpolated; the pixel staircase is smoothed by a local quadratic fit over 5 % of the
   range (``edge_smooth``; exact for straight and parabolic edges);
6. **centre line** midway between the two edges, smoothed (local quadratic fit, exact for
   straight lines and parabolas) for its local tangent;
7. **chord points**: ``n_chords`` points evenly spaced in x over the central part
   ``span = (0.1, 0.9)`` of the common column range ``[x_a, x_b]``, i.e.
   ``x_i = x_a + (x_b - x_a) * linspace(0.1, 0.9, n)`` (the outer 10 % at each end,
   where the mask edges are ragged, are left out);
8. **chords** perpendicular to the centre line at each point, intersected (sub-pixel) with
   the two edge polylines; MT = mean chord length.

Coordinates are (row, col) = (y, x) in pixels, pixel centres at integer positions.

Units: ``mt_px`` is in pixels. With ``spacing_mm`` (scalar, or (row, col) mm per px) the
result also has ``mt_mm``; for anisotropic spacing the whole construction (tangent,
perpendicular, intersections) is repeated in physical coordinates, because a chord
perpendicular in pixel space is not perpendicular in millimetres.

Fewer than two aponeuroses raise :class:`~msknb.errors.ThicknessError` ("found N
aponeurosis band(s); need 2"): never a silent wrong number.

Command line: ``python -m msknb thickness PATH... [--spacing-mm X] [--json|--csv]``.
"""
from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from msknb.errors import ConfigError, DataError, MsknbError, ThicknessError

#: default fraction of the common column range over which the chord points are spread
DEFAULT_SPAN = (0.1, 0.9)
#: window of the inner-edge smoothing, as a fraction of the common column range
DEFAULT_EDGE_SMOOTH = 0.05
#: bands narrower than this fraction of the widest band are ignored
MIN_BAND_WIDTH_FRAC = 0.15
#: the paper's segmentation experiments, in its order (tables and plots follow it)
EXPERIMENT_ORDER = ("Real", "Gen", "Real+Gen", "50%", "50%+Gen", "30%", "30%+Gen", "10%", "10%+Gen")
#: mask file types the command line reads from folders
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".dcm")


@dataclass
class ThicknessResult:
    """Muscle thickness of one mask.

    - ``mt_px``: mean chord length (px); ``mt_mm``: the same in mm (None without spacing)
    - ``chord_lengths_px`` (n,), ``chord_lengths_mm`` (n,) or None
    - ``chords``: list of ``((y0, x0), (y1, x1))`` float end points (px), superficial end
      first, deep end second
    - ``chords_physical``: with an anisotropic spacing, the chords perpendicular in
      physical space (end points in px; their lengths are ``chord_lengths_mm``); else
      the same as ``chords``
    - ``points`` (n, 2): chord centre-line points (y, x) px
    - ``centreline``, ``superficial_edge``, ``deep_edge``: (K, 2) arrays of (y, x) px over
      the common columns (one row per column)
    - ``n_components``: connected components after speck removal; ``n_bands``: bands
      after merging gaps and dropping fragments
    - ``bands``: uint8 (H, W) label image, 1 = superficial, 2 = deep, 3 = ignored band
    - ``notes``: what was ignored, merged or interpolated
    """

    mt_px: float
    mt_mm: float | None
    chord_lengths_px: np.ndarray
    chord_lengths_mm: np.ndarray | None
    chords: list
    points: np.ndarray
    centreline: np.ndarray
    superficial_edge: np.ndarray
    deep_edge: np.ndarray
    n_components: int
    n_bands: int
    chords_physical: list = field(default_factory=list)
    spacing_mm: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    bands: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_chords(self) -> int:
        return int(len(self.chord_lengths_px))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no arrays except the chords)."""
        return {
            "mt_px": float(self.mt_px),
            "mt_mm": None if self.mt_mm is None else float(self.mt_mm),
            "n_chords": self.n_chords,
            "chord_lengths_px": [float(v) for v in self.chord_lengths_px],
            "chords": [[list(map(float, a)), list(map(float, b))] for a, b in self.chords],
            "n_components": int(self.n_components),
            "n_bands": int(self.n_bands),
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------
def _as_probability(mask: Any) -> np.ndarray:
    """(H, W) float64 in [0, 1] from bool / {0,1} / {0,255} / probability input."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    elif m.ndim == 3 and m.shape[-1] in (1, 3, 4):
        m = m[..., 0]
    if m.ndim != 2 or min(m.shape) < 2:
        raise ThicknessError(f"mask must be a 2-D (H, W) array; got shape {tuple(np.shape(mask))}", "mask")
    if m.dtype == bool:
        return m.astype(np.float64)
    if not (np.issubdtype(m.dtype, np.number)):
        raise ThicknessError(f"mask must be numeric or boolean; got dtype {m.dtype}", "mask")
    p = np.nan_to_num(m.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    top = p.max() if p.size else 0.0
    if top > 1.0:  # 0/255 (or 0/65535) masks
        p = p / (255.0 if top <= 255.0 else top)
    return np.clip(p, 0.0, 1.0)


def normalise_spacing(spacing_mm: Any) -> tuple[float, float] | None:
    """``None`` / NaN -> None; scalar -> (s, s); (row, col) -> tuple. Must be > 0."""
    if spacing_mm is None:
        return None
    arr = np.asarray(spacing_mm, dtype=np.float64).ravel()
    if arr.size == 1:
        arr = np.array([arr[0], arr[0]])
    if arr.size != 2:
        raise ConfigError(f"spacing_mm must be a number or (row, col); got {spacing_mm!r}", "spacing_mm")
    if np.isnan(arr).all():
        return None
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(f"spacing_mm must be positive and finite; got {spacing_mm!r}", "spacing_mm")
    return float(arr[0]), float(arr[1])


# ------------------------------------------------------------------------------------
# bands
# ------------------------------------------------------------------------------------
@dataclass
class _Band:
    """Per-column extent of a band: ``cols`` sorted int array, ``top``/``bot`` rows."""

    labels: list[int]
    cols: np.ndarray
    top: np.ndarray
    bot: np.ndarray

    @property
    def centre(self) -> np.ndarray:
        return 0.5 * (self.top + self.bot)

    @property
    def width(self) -> int:
        return int(self.cols[-1] - self.cols[0] + 1)

    @property
    def x0(self) -> int:
        return int(self.cols[0])

    @property
    def x1(self) -> int:
        return int(self.cols[-1])

    def mean_thickness(self) -> float:
        return float(np.mean(self.bot - self.top + 1))

    def line_at(self, x: float) -> float:
        """Centre row at ``x`` from a straight-line fit (extrapolated)."""
        if len(self.cols) < 2:
            return float(self.centre[0])
        k, d = np.polyfit(self.cols.astype(float), self.centre, 1)
        return float(k * x + d)


def _band_from(labels: list[int], lab: np.ndarray, boxes: list) -> _Band:
    """Band made of components ``labels`` of the label image ``lab`` (``boxes``: their
    ``ndimage.find_objects`` slices, to look only inside their bounding box)."""
    r0 = min(boxes[i - 1][0].start for i in labels)
    r1 = max(boxes[i - 1][0].stop for i in labels)
    c0 = min(boxes[i - 1][1].start for i in labels)
    c1 = max(boxes[i - 1][1].stop for i in labels)
    sub = lab[r0:r1, c0:c1]
    sel = (sub == labels[0]) if len(labels) == 1 else np.isin(sub, labels)
    rows, cols = np.nonzero(sel)
    ucols, inv = np.unique(cols, return_inverse=True)
    top = np.full(len(ucols), np.inf)
    bot = np.full(len(ucols), -np.inf)
    np.minimum.at(top, inv, rows)
    np.maximum.at(bot, inv, rows)
    return _Band(labels=list(labels), cols=ucols + c0, top=top + r0, bot=bot + r0)


def _same_band(a: _Band, b: _Band, height: int) -> bool:
    """Are ``a`` and ``b`` pieces of one band broken by a gap?"""
    overlap = min(a.x1, b.x1) - max(a.x0, b.x0) + 1
    if overlap > 0.25 * min(a.width, b.width):
        return False  # stacked, not side by side
    left, right = (a, b) if a.x0 <= b.x0 else (b, a)
    gap = max(0, right.x0 - left.x1)
    xm = 0.5 * (left.x1 + right.x0)
    diff = abs(left.line_at(xm) - right.line_at(xm))
    tol = max(2.0 * max(a.mean_thickness(), b.mean_thickness()), 0.03 * height, 2.0) + 0.1 * gap
    return diff <= tol


def _depth_cmp(a: _Band, b: _Band) -> int:
    common, ia, ib = np.intersect1d(a.cols, b.cols, return_indices=True)
    if len(common) >= 3:
        da, db = a.centre[ia].mean(), b.centre[ib].mean()
    else:
        da, db = a.centre.mean(), b.centre.mean()
    return -1 if da < db else (1 if da > db else 0)


def find_bands(mask: Any, threshold: float = 0.5, min_area_px: int | None = None):
    """Binarise, remove specks, label and group ``mask`` into aponeurosis bands.

    Returns ``(bands, n_components, label_image, notes)`` with ``bands`` sorted from the
    most superficial down (list of internal ``_Band`` objects: per-column top/bottom rows).
    """
    from scipy import ndimage
    from skimage import measure

    notes: list[str] = []
    p = _as_probability(mask)
    h, w = p.shape
    binary = p >= threshold
    if min_area_px is None:
        min_area_px = max(4, int(round(2e-4 * h * w)))
    lab = measure.label(binary, connectivity=2)
    n_raw = int(lab.max())
    if n_raw:
        areas = np.bincount(lab.ravel())
        small = np.nonzero(areas < min_area_px)[0]
        small = small[small > 0]
        if len(small):
            notes.append(f"removed {len(small)} speck(s) smaller than {min_area_px} px")
            lab[np.isin(lab, small)] = 0
            lab, _, _ = _relabel(lab)
    n_comp = int(lab.max())
    boxes = ndimage.find_objects(lab)
    comps = [_band_from([i], lab, boxes) for i in range(1, n_comp + 1)]
    # union-find merge of pieces of one band
    parent = list(range(n_comp))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n_comp):
        for j in range(i + 1, n_comp):
            if find(i) != find(j) and _same_band(comps[i], comps[j], h):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(n_comp):
        groups.setdefault(find(i), []).append(i + 1)
    bands = [comps[g[0] - 1] if len(g) == 1 else _band_from(g, lab, boxes) for g in groups.values()]
    merged = sum(len(g) - 1 for g in groups.values())
    if merged:
        notes.append(f"merged {merged} gap(s): pieces at the same depth joined into one band")
    if bands:
        widest = max(b.width for b in bands)
        small = [b for b in bands if b.width < MIN_BAND_WIDTH_FRAC * widest]
        if small:
            notes.append(f"ignored {len(small)} fragment(s) narrower than {MIN_BAND_WIDTH_FRAC:.0%} of the widest band")
            bands = [b for b in bands if b.width >= MIN_BAND_WIDTH_FRAC * widest]
    bands.sort(key=functools.cmp_to_key(_depth_cmp))
    return bands, n_comp, lab, notes


def _relabel(lab: np.ndarray):
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(lab)


# ------------------------------------------------------------------------------------
# edges, centre line and chords
# ------------------------------------------------------------------------------------
def _subpixel_edge(p: np.ndarray, rows: np.ndarray, cols: np.ndarray, step: int, threshold: float) -> np.ndarray:
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


def _edge_over(band: _Band, xs: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, int]:
    """``values`` (per band column) over integer columns ``xs``, missing columns
    linearly interpolated; returns (edge, number of interpolated columns)."""
    out = np.interp(xs, band.cols, values)
    missing = int(len(xs) - np.isin(xs, band.cols).sum())
    return out, missing


def _smooth_edge(values: np.ndarray, window: int) -> np.ndarray:
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


def _slope_at(x: np.ndarray, c: np.ndarray, xq: float) -> float:
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


def _intersect(poly_xy: np.ndarray, p: np.ndarray, n: np.ndarray, sign: int) -> np.ndarray | None:
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


def _chords(xs, sup, deep, xq, sx: float, sy: float):
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
        k = _slope_at(X, cs, px)
        n = np.array([-k, 1.0]) / math.hypot(1.0, k)  # normal pointing down (+y)
        p = np.array([px, py])
        a = _intersect(sup_xy, p, n, -1)
        b = _intersect(deep_xy, p, n, +1)
        if a is None or b is None:
            lengths.append(np.nan)
            ends.append(None)
            continue
        lengths.append(float(np.hypot(*(b - a))))
        ends.append(((a[1] / sy, a[0] / sx), (b[1] / sy, b[0] / sx)))
    return np.asarray(lengths), ends


def measure_thickness(mask: Any, spacing_mm: Any = None, n_chords: int = 5, threshold: float = 0.5,
                      min_area_px: int | None = None, span: Sequence[float] = DEFAULT_SPAN,
                      edge_smooth: float = DEFAULT_EDGE_SMOOTH) -> ThicknessResult:
    """Muscle thickness of an aponeurosis ``mask`` (H, W) by the paper's chord method.

    ``mask``: bool / {0, 1} / {0, 255} / probability in [0, 1] (binarised ``>= threshold``).
    ``spacing_mm``: None, a scalar, or (row, col) mm per pixel -> also ``mt_mm``.
    ``n_chords``: number of evenly spaced chord points (paper: 5), placed at
    ``x_a + (x_b - x_a) * linspace(span[0], span[1], n_chords)`` over the common column
    range ``[x_a, x_b]`` of the two aponeuroses.
    ``min_area_px``: components smaller than this are specks (default ``max(4, 2e-4 H W)``).
    ``edge_smooth``: window of the edge smoothing as a fraction of the common column
    range (default 0.05, at least 5 columns; 0 = off).

    Raises :class:`ThicknessError` if fewer than two aponeuroses are found, if they do not
    overlap horizontally, or if no chord meets both.
    """
    if not isinstance(n_chords, (int, np.integer)) or n_chords < 1:
        raise ConfigError(f"n_chords must be a positive integer; got {n_chords!r}", "n_chords")
    if not 0.0 < float(threshold) <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1]; got {threshold!r}", "threshold")
    lo, hi = float(span[0]), float(span[1])
    if not 0.0 <= lo <= hi <= 1.0:
        raise ConfigError(f"span must satisfy 0 <= lo <= hi <= 1; got {span!r}", "span")
    spacing = normalise_spacing(spacing_mm)
    p = _as_probability(mask)
    bands, n_comp, lab, notes = find_bands(p, threshold=threshold, min_area_px=min_area_px)
    if len(bands) < 2:
        raise ThicknessError(f"found {len(bands)} aponeurosis band(s); need 2", "mask")
    sup = bands[0]
    deep = None
    for cand in bands[1:]:
        ov = min(sup.x1, cand.x1) - max(sup.x0, cand.x0) + 1
        if ov >= max(3, 0.1 * min(sup.width, cand.width)):
            deep = cand
            break
    if deep is None:
        raise ThicknessError(f"found {len(bands)} aponeurosis band(s) but none below the superficial one "
                             "overlaps it horizontally; need 2 overlapping", "mask")
    ignored = [b for b in bands if b is not sup and b is not deep]
    if ignored:
        notes.append(f"ignored {len(ignored)} further band(s) (e.g. a neighbouring muscle's aponeurosis)")
    x_a, x_b = max(sup.x0, deep.x0), min(sup.x1, deep.x1)
    xs = np.arange(x_a, x_b + 1)
    sup_vals = _subpixel_edge(p, sup.bot, sup.cols, +1, threshold)
    deep_vals = _subpixel_edge(p, deep.top, deep.cols, -1, threshold)
    sup_edge, m1 = _edge_over(sup, xs, sup_vals)
    deep_edge, m2 = _edge_over(deep, xs, deep_vals)
    if m1 or m2:
        notes.append(f"interpolated {m1 + m2} missing edge column(s) across gaps")
    if edge_smooth:
        window = max(5, int(round(edge_smooth * len(xs))))
        sup_edge, deep_edge = _smooth_edge(sup_edge, window), _smooth_edge(deep_edge, window)
    gap = deep_edge - sup_edge
    if np.median(gap) <= 0:
        raise ThicknessError("the superficial and deep aponeurosis touch or cross; cannot measure", "mask")
    if np.any(gap <= 0):
        notes.append(f"aponeuroses touch in {int(np.sum(gap <= 0))} column(s)")
    xs_f = xs.astype(np.float64)
    xq = x_a + (x_b - x_a) * np.linspace(lo, hi, n_chords) if n_chords > 1 else np.array([0.5 * (x_a + x_b)])
    len_px, ends = _chords(xs_f, sup_edge, deep_edge, xq, 1.0, 1.0)
    ok = np.isfinite(len_px)
    if not ok.any():
        raise ThicknessError("no chord perpendicular to the centre line meets both aponeuroses", "mask")
    if not ok.all():
        notes.append(f"{int((~ok).sum())} of {n_chords} chord(s) missed an aponeurosis and were left out")
    len_mm = None
    mt_mm = None
    chords_physical = None
    if spacing is not None:
        sy, sx = spacing
        if math.isclose(sy, sx, rel_tol=1e-9):
            len_mm = len_px * sy
        else:
            len_mm, ends_mm = _chords(xs_f, sup_edge, deep_edge, xq, sx, sy)
            chords_physical = [e for e, k in zip(ends_mm, ok) if k and e is not None]
        mt_mm = float(np.nanmean(len_mm[ok]))
    centre = 0.5 * (sup_edge + deep_edge)
    lut = np.zeros(n_comp + 1, np.uint8)
    for b in ignored:
        lut[b.labels] = 3
    lut[sup.labels] = 1
    lut[deep.labels] = 2
    bands_img = lut[lab]
    points = np.column_stack([np.interp(xq, xs_f, centre), xq])
    return ThicknessResult(
        mt_px=float(np.mean(len_px[ok])), mt_mm=mt_mm,
        chord_lengths_px=len_px[ok], chord_lengths_mm=None if len_mm is None else len_mm[ok],
        chords=[e for e in ends if e is not None], points=points[ok],
        chords_physical=chords_physical if chords_physical is not None else [e for e in ends if e is not None],
        centreline=np.column_stack([centre, xs_f]),
        superficial_edge=np.column_stack([sup_edge, xs_f]), deep_edge=np.column_stack([deep_edge, xs_f]),
        n_components=n_comp, n_bands=len(bands), spacing_mm=spacing, notes=notes, bands=bands_img)


def measure_many(masks: Iterable[Any], ids: Sequence[str] | None = None, spacing_mm: Any = None,
                 **kwargs: Any) -> tuple[np.ndarray, dict[str, str], list[ThicknessResult | None]]:
    """Measure a stack of masks (N, H, W) or an iterable of (H, W) masks.

    ``spacing_mm``: None, one spacing for all, or (N, 2) per mask (NaN rows = unknown).
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


# ------------------------------------------------------------------------------------
# expert vs predicted masks (notebook 06)
# ------------------------------------------------------------------------------------
def _read_manifest_spacing(root: Path) -> dict[str, tuple[float, float]]:
    """{id: (row_mm, col_mm)} from ``manifest.csv`` columns spacing_row_mm/spacing_col_mm."""
    path = root / "manifest.csv"
    out: dict[str, tuple[float, float]] = {}
    if not path.is_file():
        return out
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                sp = (float(row.get("spacing_row_mm") or "nan"), float(row.get("spacing_col_mm") or "nan"))
            except ValueError:
                continue
            if all(math.isfinite(v) and v > 0 for v in sp):
                out[str(row.get("id", ""))] = sp
    return out


def load_expert_masks(data_dir: str | Path, ids: Sequence[str], image_size: int | None = None,
                      crop_fov: bool = True) -> dict[str, Any]:
    """Expert masks of ``ids`` prepared exactly as :func:`msknb.data.loading.load_folder` prepares
    them (crop to the field of view found on the image, nearest resize to
    ``image_size``²), read one file at a time so that a test split of a large folder is
    fast. DL_Track layout (``images/`` + ``masks/``) only; other layouts go through
    ``load_folder``.

    Returns ``{"ids", "masks" uint8 (N, S, S), "scale" (N, 2) stored-file px per px
    (row, col), "spacing_mm" (N, 2) mm per px at this size (NaN unknown), "missing"}``.
    Use ``scale`` as the spacing of :func:`measure_thickness` to get lengths in pixels of
    the stored file (the square resize squashes the images anisotropically).
    """
    from msknb.data import loading as D

    root = Path(data_dir)
    ids = [str(i) for i in ids]
    images_dir, masks_dir = root / "images", root / "masks"
    if not (images_dir.is_dir() and masks_dir.is_dir()):
        ds = D.load_folder(root, image_size=image_size, crop_fov=crop_fov)
        where = {i: k for k, i in enumerate(ds.ids)}
        keep = [i for i in ids if i in where]
        sub = ds.subset([where[i] for i in keep])
        box = sub.boxes if sub.boxes is not None else np.zeros((len(keep), 4))
        shape = np.array(sub.masks.shape[1:], float)
        scale = np.column_stack([(box[:, 1] - box[:, 0]) / shape[0], (box[:, 3] - box[:, 2]) / shape[1]])
        return {"ids": keep, "masks": sub.masks, "scale": scale, "spacing_mm": sub.spacing_mm,
                "missing": [i for i in ids if i not in where]}
    index = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in D.ALL_EXTS}
    mindex = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() in D.ALL_EXTS}
    manifest = _read_manifest_spacing(root)
    out_ids, masks, scales, spacings, missing = [], [], [], [], []
    for i in ids:
        if i not in index or i not in mindex:
            missing.append(i)
            continue
        img = D.load_image(index[i])
        msk = D.load_mask(mindex[i])
        y0, y1, x0, x1 = D.crop_fov(img) if crop_fov else (0, img.shape[0], 0, img.shape[1])
        msk = msk[y0:y1, x0:x1]
        sc = np.array([1.0, 1.0])
        if image_size is not None:
            sc = np.array([(y1 - y0) / image_size, (x1 - x0) / image_size])
            msk = D.resize_mask(msk, int(image_size))
        sp = np.array(manifest.get(i, (np.nan, np.nan)))
        if index[i].suffix.lower() in D.DICOM_EXTS:
            from msknb.data.dicom import read_dicom

            sp = np.asarray(read_dicom(index[i], require_spacing=False).spacing_mm, float)
        out_ids.append(i)
        masks.append(msk)
        scales.append(sc)
        spacings.append(sp * sc)
    return {"ids": out_ids, "masks": np.stack(masks) if masks else np.zeros((0, 1, 1), np.uint8),
            "scale": np.array(scales).reshape(-1, 2), "spacing_mm": np.array(spacings).reshape(-1, 2),
            "missing": missing}


def find_segmentation_outputs(out_dir: str | Path) -> dict[str, Any] | None:
    """What notebook 05 left in ``<out_dir>/segmentation/``: ``{"split": the split.json
    content, "test_ids": [...], "image_size", "crop_fov", "experiments": {name: {id: png
    path}}}``, or None when there is no split.json or no experiment with predicted masks."""
    seg = Path(out_dir) / "segmentation"
    split_path = seg / "split.json"
    if not split_path.is_file():
        return None
    split = json.loads(split_path.read_text())
    test = split.get("test", split.get("test_ids", []))
    if isinstance(test, dict):
        test = test.get("ids", [])
    all_ids = split.get("ids")
    test_ids = [str(all_ids[t]) if isinstance(t, int) and all_ids else str(t) for t in test]
    experiments = {}
    order = {name: k for k, name in enumerate(EXPERIMENT_ORDER)}
    for d in sorted((p for p in seg.iterdir() if (p / "pred_masks").is_dir()),
                    key=lambda p: (order.get(p.name, len(order)), p.name)):
        preds = {p.stem: p for p in sorted((d / "pred_masks").glob("*.png"))}
        if preds:
            experiments[d.name] = preds
    if not experiments:
        return None
    image_size = split.get("image_size")
    if image_size is None:
        from msknb.data.loading import load_mask

        first = next(iter(next(iter(experiments.values())).values()))
        image_size = int(load_mask(first).shape[0])
    return {"split": split, "test_ids": test_ids or sorted({i for e in experiments.values() for i in e}),
            "image_size": int(image_size), "crop_fov": bool(split.get("crop_fov", True)),
            "experiments": experiments}


def compare_with_experts(data_dir: str | Path, seg: dict[str, Any], n_chords: int = 5,
                         max_images: int | None = None) -> dict[str, Any]:
    """MT on expert masks vs predicted masks of each experiment in ``seg`` (from
    :func:`find_segmentation_outputs`), both at the segmentation size, lengths converted
    to mm when every spacing is known, else to pixels of the stored image files.

    Returns ``{"unit", "ids", "expert" (N,), "predicted": {experiment: (N,)},
    "errors": {"expert"|experiment: {id: message}}, "missing": [...]}`` (NaN = not measured).
    """
    ids = list(seg["test_ids"])[: max_images or None]
    ex = load_expert_masks(data_dir, ids, seg["image_size"], seg["crop_fov"])
    use_mm = len(ex["ids"]) > 0 and bool(np.all(np.isfinite(ex["spacing_mm"])))
    spacing = ex["spacing_mm"] if use_mm else ex["scale"]
    unit = "mm" if use_mm else "px"
    expert, err_e, _ = measure_many(ex["masks"], ex["ids"], spacing_mm=spacing, n_chords=n_chords)
    out = {"unit": unit, "ids": ex["ids"], "expert": expert[:, 1], "predicted": {},
           "errors": {"expert": err_e}, "missing": ex["missing"]}
    from msknb.data.loading import load_mask

    for name, preds in seg["experiments"].items():
        masks, sp, keep = [], [], []
        values = np.full(len(ex["ids"]), np.nan)
        errs: dict[str, str] = {}
        for k, i in enumerate(ex["ids"]):
            if i not in preds:
                errs[i] = "no predicted mask"
                continue
            masks.append(load_mask(preds[i]))
            sp.append(spacing[k])
            keep.append(k)
        if keep:
            mt, e, _ = measure_many(masks, [ex["ids"][k] for k in keep], spacing_mm=np.array(sp), n_chords=n_chords)
            values[keep] = mt[:, 1]
            errs.update(e)
        out["predicted"][name] = values
        out["errors"][name] = errs
    return out


def measure_folder(folder: str | Path, n_chords: int = 5, max_images: int | None = None, seed: int = 0,
                   spacing_mm: Any = None) -> dict[str, Any]:
    """Measure every mask file of ``folder`` (or its ``masks/``) at its stored resolution
    (a reproducible random subset of ``max_images`` with ``seed``). Returns ``{"ids",
    "mt_px" (N,), "mt_mm" (N,), "errors": {id: message}}``."""
    files = _expand_paths([str(folder)])
    if max_images is not None and max_images < len(files):
        pick = np.sort(np.random.default_rng(seed).choice(len(files), int(max_images), replace=False))
        files = [files[i] for i in pick]
    ids, mt_px, mt_mm, errors = [], [], [], {}
    for f in files:
        ids.append(f.stem)
        try:
            mask, sp = _read_mask(f)
            r = measure_thickness(mask, spacing_mm=spacing_mm if spacing_mm is not None else sp, n_chords=n_chords)
            mt_px.append(r.mt_px)
            mt_mm.append(np.nan if r.mt_mm is None else r.mt_mm)
        except MsknbError as e:
            errors[f.stem] = e.problem
            mt_px.append(np.nan)
            mt_mm.append(np.nan)
    return {"ids": ids, "mt_px": np.array(mt_px), "mt_mm": np.array(mt_mm), "errors": errors}


def phantom_check(n: int = 20, size: int = 256, seed: int = 0, n_chords: int = 5,
                  presets: Sequence[str] = ("TA", "RF", "GCM", "BB")) -> dict[str, Any]:
    """Measured vs true MT on ``n`` phantoms (masks only, no speckle rendering needed for
    the mask), cycling through ``presets``; every third has a third band. Returns
    ``{"n", "size", "true_px", "measured_px", "spacing_mm", "presets", "abs_error_px":
    {"mean", "max"}, "rmse_px", "rmse_mm", "n_failed"}``."""
    from msknb.data.phantom import make_phantom, phantom_seed

    true, meas, sps, names, failed = [], [], [], [], 0
    for k in range(n):
        preset = presets[k % len(presets)]
        ph = make_phantom(preset, size=size, seed=phantom_seed(seed, preset, k), speckle=False,
                          third_band=(k % 3 == 2))
        try:
            r = measure_thickness(ph.mask, spacing_mm=ph.spacing_mm, n_chords=n_chords)
            meas.append(r.mt_px)
        except ThicknessError:
            failed += 1
            meas.append(np.nan)
        true.append(ph.thickness_px)
        sps.append(ph.spacing_mm)
        names.append(preset)
    t, m, s = np.array(true), np.array(meas), np.array(sps)
    err = m - t
    ok = np.isfinite(err)
    return {"n": n, "size": size, "presets": names, "true_px": t, "measured_px": m, "spacing_mm": s,
            "abs_error_px": {"mean": float(np.mean(np.abs(err[ok]))) if ok.any() else float("nan"),
                             "max": float(np.max(np.abs(err[ok]))) if ok.any() else float("nan")},
            "rmse_px": float(np.sqrt(np.mean(err[ok] ** 2))) if ok.any() else float("nan"),
            "rmse_mm": float(np.sqrt(np.mean((err[ok] * s[ok]) ** 2))) if ok.any() else float("nan"),
            "n_failed": failed}


# ------------------------------------------------------------------------------------
# plotting
# ------------------------------------------------------------------------------------
def plot_chords(image: np.ndarray | None, result: ThicknessResult, ax=None, mask: np.ndarray | None = None,
                title: str | None = None, true_px: float | None = None):
    """Paper Fig. 3: the image (H, W) in [0, 1] (or None), the outlines of the selected
    aponeuroses (superficial cyan, deep yellow, ignored bands grey), the inner edges,
    the centre line (dashed) and the chords (red) with their lengths in px. With an
    anisotropic spacing the physical chords are drawn, labelled in the spacing's unit,
    and the axes get its aspect ratio, so that they look perpendicular. Returns the axes."""
    import matplotlib.pyplot as plt
    from skimage import measure

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    bands = result.bands
    if image is not None:
        ax.imshow(np.asarray(image, dtype=np.float32), cmap="gray", vmin=0, vmax=1)
    elif bands is not None:
        ax.imshow(bands > 0, cmap="gray", vmin=0, vmax=3)
    if bands is not None:
        for value, colour in ((1, "cyan"), (2, "gold"), (3, "0.6")):
            for c in measure.find_contours((bands == value).astype(float), 0.5):
                ax.plot(c[:, 1], c[:, 0], color=colour, lw=0.8)
    elif mask is not None:
        for c in measure.find_contours(_as_probability(mask), 0.5):
            ax.plot(c[:, 1], c[:, 0], color="cyan", lw=0.8)
    ax.plot(result.superficial_edge[:, 1], result.superficial_edge[:, 0], color="deepskyblue", lw=1)
    ax.plot(result.deep_edge[:, 1], result.deep_edge[:, 0], color="orange", lw=1)
    ax.plot(result.centreline[:, 1], result.centreline[:, 0], "--", color="lime", lw=1, label="centre line")
    physical = result.spacing_mm is not None and not math.isclose(*result.spacing_mm, rel_tol=1e-6)
    chords, lengths = ((result.chords_physical, result.chord_lengths_mm) if physical
                       else (result.chords, result.chord_lengths_px))
    for ((y0, x0), (y1, x1)), length in zip(chords, lengths):
        ax.plot([x0, x1], [y0, y1], "-", color="red", lw=1.5)
        ax.plot([x0, x1], [y0, y1], "o", color="red", ms=2.5)
        ax.annotate(f"{length:.1f}", (x1, y1), textcoords="offset points", xytext=(2, 3), color="red", fontsize=7)
    text = title or f"MT = {result.mt_px:.2f} px" + (f" = {result.mt_mm:.2f} mm" if result.mt_mm is not None else "")
    if true_px is not None:
        text += f" (true {true_px:.2f} px)"
    ax.set_title(text, fontsize=9)
    if physical:
        ax.set_aspect(result.spacing_mm[0] / result.spacing_mm[1])  # show the physical geometry
    ax.set_axis_off()
    return ax


# ------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------
def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def _read_mask(path: Path) -> tuple[np.ndarray, tuple[float, float] | None]:
    """(mask, spacing from the file or None); DataError naming the file if unreadable.
    PNG/TIFF through :func:`msknb.data.loading.load_mask`; a DICOM through
    :func:`msknb.data.dicom.read_dicom` (its pixel spacing, when present, comes along)."""
    try:
        if _is_dicom(path):
            from msknb.data.dicom import read_dicom

            d = read_dicom(path, require_spacing=False)
            return np.asarray(d.image), normalise_spacing(d.spacing_mm)
        from msknb.data.loading import load_mask

        return np.asarray(load_mask(path)), None
    except MsknbError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoder failure is a bad file
        raise DataError(f"cannot read mask ({type(e).__name__}: {e})", path) from e


def _expand_paths(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise DataError("no such file or folder", p)
        if p.is_dir():
            folder = p / "masks" if (p / "masks").is_dir() else p
            found = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in MASK_SUFFIXES
                           and not f.name.startswith("."))
            if not found:
                raise DataError(f"no mask files ({', '.join(MASK_SUFFIXES)}) in folder", folder)
            files.extend(found)
        else:
            files.append(p)
    return files


def _parse_spacing(text: str | None):
    if text is None:
        return None
    try:
        values = [float(v) for v in str(text).replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--spacing-mm must be a number or ROW,COL; got {text!r}", "--spacing-mm") from None
    if len(values) not in (1, 2):
        raise ConfigError(f"--spacing-mm must be a number or ROW,COL; got {text!r}", "--spacing-mm")
    return normalise_spacing(values)


def _cli(args: argparse.Namespace) -> int:
    spacing = _parse_spacing(args.spacing_mm)
    if args.n_chords < 1:
        raise ConfigError(f"--n-chords must be >= 1; got {args.n_chords}", "--n-chords")
    files = _expand_paths(args.paths)
    out = sys.stdout
    writer = None
    if args.csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "path", "mt_px", "mt_mm", "n_chords", "error"])
    failed = 0
    for f in files:
        row: dict[str, Any] = {"id": f.stem}
        try:
            mask, file_spacing = _read_mask(f)
            sp = spacing if spacing is not None else file_spacing
            r = measure_thickness(mask, spacing_mm=sp, n_chords=args.n_chords)
            row.update(mt_px=round(r.mt_px, 4), mt_mm=None if r.mt_mm is None else round(r.mt_mm, 4),
                       n_chords=r.n_chords)
        except MsknbError as e:
            failed += 1
            row["error"] = f"{f}: {e.problem}"
        if writer is not None:
            writer.writerow([row["id"], str(f), row.get("mt_px", ""), "" if row.get("mt_mm") is None else row["mt_mm"],
                             row.get("n_chords", ""), row.get("error", "")])
        else:
            out.write(json.dumps(row) + "\n")
        out.flush()
    if failed:
        print(f"msknb thickness: {failed} of {len(files)} mask(s) could not be measured", file=sys.stderr)
    return 1 if failed else 0


def register_cli(subparsers) -> None:
    """``python -m msknb thickness PATH... [--spacing-mm X] [--json|--csv] [--n-chords 5]``."""
    p = subparsers.add_parser(
        "thickness", help="muscle thickness from aponeurosis masks",
        description="Muscle thickness (paper's chord method) of aponeurosis masks: files or folders of "
                    "PNG/TIFF masks (a folder with masks/ inside uses that), or DICOM masks (spacing from "
                    "the file). One JSON object per mask and line, or CSV. Exit 0: all measured; 1: some "
                    "could not be measured (error lines name the file); 2: usage error.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="mask file(s) or folder(s)")
    p.add_argument("--spacing-mm", default=None, metavar="X",
                   help="mm per pixel: one number or ROW,COL (overrides a DICOM's spacing)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON lines (default)")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    p.add_argument("--n-chords", type=int, default=5, help="number of chords (default 5, as the paper)")
    p.set_defaults(func=_cli)
