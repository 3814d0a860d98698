"""DL_Track_US's muscle-thickness method (Cronin et al. 2020; Ritsche et al. 2023, 2024):
the shortest distance from the superficial aponeurosis' lower edge to the deep
aponeurosis' upper edge, taken from every column of the central third of the range both
cover and averaged. For parallel straight aponeuroses it equals the paper's chords; where
they converge it measures the thinnest crossing from each superficial point.

With an anisotropic spacing the distances are taken in millimetres (``chords_physical``).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from msknb.errors import ThicknessError
from msknb.thickness.aponeuroses import Aponeuroses
from msknb.thickness.result import ThicknessResult

#: the part of the common column range measured (DL_Track_US: the central third)
CENTRAL = (1 / 3, 2 / 3)


def nearest_on_polyline(points: np.ndarray, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point (M, 2) the nearest point on the polyline ``poly`` (K, 2) and the
    distance: ``(nearest (M, 2), distance (M,))``; any consistent (x, y) units."""
    a, b = poly[:-1], poly[1:]
    ab = b - a
    denom = np.maximum((ab ** 2).sum(axis=1), 1e-12)
    t = np.clip(((points[:, None, :] - a[None]) * ab[None]).sum(axis=2) / denom[None], 0.0, 1.0)
    q = a[None] + t[..., None] * ab[None]
    d = np.hypot(*(q - points[:, None, :]).transpose(2, 0, 1))
    k = np.argmin(d, axis=1)
    rows = np.arange(len(points))
    return q[rows, k], d[rows, k]


def _shortest(xs, sup, deep, sel, sx: float, sy: float):
    """Distances (scaled units) and segments ((y, x) px, superficial end first) from the
    superficial edge at columns ``sel`` to the deep edge."""
    pts = np.column_stack([xs[sel] * sx, sup[sel] * sy])
    q, d = nearest_on_polyline(pts, np.column_stack([xs * sx, deep * sy]))
    ends = [((p[1] / sy, p[0] / sx), (e[1] / sy, e[0] / sx)) for p, e in zip(pts, q)]
    return d, ends


def measure_dltrack(apo: Aponeuroses, spacing: tuple[float, float] | None, n_chords: int = 5,
                    span: Sequence[float] = CENTRAL) -> ThicknessResult:
    """DL_Track_US's MT of ``apo`` (px, and mm with ``spacing``). ``n_chords`` and ``span``
    are the chord method's and are not used: every column of the central third counts."""
    xs, sup, deep = apo.xs, apo.superficial, apo.deep
    lo = xs[0] + (xs[-1] - xs[0]) * CENTRAL[0]
    hi = xs[0] + (xs[-1] - xs[0]) * CENTRAL[1]
    sel = np.nonzero((xs >= lo - 1e-9) & (xs <= hi + 1e-9))[0]
    if not len(sel):
        raise ThicknessError("the aponeuroses share too few columns for the central third", "mask")
    len_px, ends = _shortest(xs, sup, deep, sel, 1.0, 1.0)
    len_mm, physical = None, ends
    if spacing is not None:
        sy, sx = spacing
        if math.isclose(sy, sx, rel_tol=1e-9):
            len_mm = len_px * sy
        else:
            len_mm, physical = _shortest(xs, sup, deep, sel, sx, sy)
    centre = 0.5 * (sup + deep)
    points = np.array([[(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] for a, b in ends])
    return ThicknessResult(
        mt_px=float(np.mean(len_px)), mt_mm=None if len_mm is None else float(np.mean(len_mm)),
        chord_lengths_px=len_px, chord_lengths_mm=len_mm, chords=ends, points=points, chords_physical=physical,
        centreline=np.column_stack([centre, xs]), superficial_edge=np.column_stack([sup, xs]),
        deep_edge=np.column_stack([deep, xs]), n_components=apo.n_components, n_bands=len(apo.bands),
        spacing_mm=spacing, notes=list(apo.notes), bands=apo.band_image(), method="dltrack")
