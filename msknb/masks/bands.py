"""Aponeurosis bands in a mask: binarise, drop specks, label connected components, join
pieces of one band broken by a gap, drop fragments, order by depth.

A band is described per column (:class:`Band`: its columns and the top/bottom row of the
band in each); coordinates are (row, col) = (y, x) in pixels.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import measure
from skimage.segmentation import relabel_sequential

from msknb.masks.probability import as_probability

#: bands narrower than this fraction of the widest band are ignored
MIN_BAND_WIDTH_FRAC = 0.15


@dataclass
class Band:
    """Per-column extent of a band: ``cols`` sorted int array, ``top``/``bot`` rows;
    ``labels``: its connected components in the label image."""

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


def overlap(a: Band, b: Band) -> int:
    """Number of columns in the common range of ``a`` and ``b`` (<= 0: none)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) + 1


def band_from(labels: list[int], lab: np.ndarray, boxes: list) -> Band:
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
    return Band(labels=list(labels), cols=ucols + c0, top=top + r0, bot=bot + r0)


def same_band(a: Band, b: Band, height: int) -> bool:
    """Are ``a`` and ``b`` pieces of one band broken by a gap?"""
    if overlap(a, b) > 0.25 * min(a.width, b.width):
        return False  # stacked, not side by side
    left, right = (a, b) if a.x0 <= b.x0 else (b, a)
    gap = max(0, right.x0 - left.x1)
    xm = 0.5 * (left.x1 + right.x0)
    diff = abs(left.line_at(xm) - right.line_at(xm))
    tol = max(2.0 * max(a.mean_thickness(), b.mean_thickness()), 0.03 * height, 2.0) + 0.1 * gap
    return diff <= tol


def depth_cmp(a: Band, b: Band) -> int:
    """-1 when ``a`` lies above ``b`` (mean centre row over shared columns), 1 below."""
    common, ia, ib = np.intersect1d(a.cols, b.cols, return_indices=True)
    if len(common) >= 3:
        da, db = a.centre[ia].mean(), b.centre[ib].mean()
    else:
        da, db = a.centre.mean(), b.centre.mean()
    return -1 if da < db else (1 if da > db else 0)


def _remove_specks(binary: np.ndarray, min_area_px: int, notes: list[str]) -> np.ndarray:
    """Label image (8-connectivity) without components smaller than ``min_area_px``."""
    lab = measure.label(binary, connectivity=2)
    if int(lab.max()):
        areas = np.bincount(lab.ravel())
        small = np.nonzero(areas < min_area_px)[0]
        small = small[small > 0]
        if len(small):
            notes.append(f"removed {len(small)} speck(s) smaller than {min_area_px} px")
            lab[np.isin(lab, small)] = 0
            lab, _, _ = relabel_sequential(lab)
    return lab


def _merge_pieces(comps: list[Band], lab: np.ndarray, boxes: list, notes: list[str]) -> list[Band]:
    """Union-find merge of components that are pieces of one band."""
    n = len(comps)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if find(i) != find(j) and same_band(comps[i], comps[j], lab.shape[0]):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i + 1)
    merged = sum(len(g) - 1 for g in groups.values())
    if merged:
        notes.append(f"merged {merged} gap(s): pieces at the same depth joined into one band")
    return [comps[g[0] - 1] if len(g) == 1 else band_from(g, lab, boxes) for g in groups.values()]


def find_bands(mask, threshold: float = 0.5, min_area_px: int | None = None):
    """Binarise ``mask`` (H, W) (any form :func:`~msknb.masks.probability.as_probability`
    takes; a probability map in [0, 1] is thresholded ``>= threshold``), remove
    specks (default ``max(4, 2e-4 H W)`` px), label and group into aponeurosis bands.

    Returns ``(bands, n_components, label_image, notes)`` with ``bands`` sorted from the
    most superficial down (list of :class:`Band`), bands narrower than
    ``MIN_BAND_WIDTH_FRAC`` of the widest dropped (noted).
    """
    notes: list[str] = []
    p = as_probability(mask)
    h, w = p.shape
    if min_area_px is None:
        min_area_px = max(4, int(round(2e-4 * h * w)))
    lab = _remove_specks(p >= threshold, min_area_px, notes)
    n_comp = int(lab.max())
    boxes = ndimage.find_objects(lab)
    bands = _merge_pieces([band_from([i], lab, boxes) for i in range(1, n_comp + 1)], lab, boxes, notes)
    if bands:
        widest = max(b.width for b in bands)
        small = [b for b in bands if b.width < MIN_BAND_WIDTH_FRAC * widest]
        if small:
            notes.append(f"ignored {len(small)} fragment(s) narrower than {MIN_BAND_WIDTH_FRAC:.0%} of the widest band")
            bands = [b for b in bands if b.width >= MIN_BAND_WIDTH_FRAC * widest]
    bands.sort(key=functools.cmp_to_key(depth_cmp))
    return bands, n_comp, lab, notes
