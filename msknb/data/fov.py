"""Finding the B-mode field of view in a scanner screen capture (:func:`crop_fov`)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def _blocks(a: np.ndarray, f: int) -> np.ndarray:
    """Mean over f x f blocks (float32)."""
    h2, w2 = a.shape[0] // f, a.shape[1] // f
    return a[:h2 * f, :w2 * f].reshape(h2, f, w2, f).sum(axis=(1, 3), dtype=np.float32) / np.float32(f * f)


def _speckle_cells(img: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(active cells bool (h2, w2), texture fraction per cell, the image as 8-bit levels int16)."""
    H, W = img.shape
    small = _blocks(img, f)
    m = ndi.uniform_filter(small, 5)
    m2 = ndi.uniform_filter(small * small, 5)
    std = np.sqrt(np.clip(m2 - m * m, 0, None))
    img8 = np.rint(np.clip(img, 0, 1) * 255).astype(np.int16)  # flatness is judged on 8-bit levels
    nonflat = np.zeros((H, W), bool)
    nonflat[:, 1:] = img8[:, 1:] != img8[:, :-1]
    nonflat[1:, :] |= img8[1:, :] != img8[:-1, :]
    texf = _blocks(nonflat, f)
    p = 3
    act = np.pad((std > 0.03) & (texf > 0.6), p, mode="edge")
    act = ndi.binary_opening(act, np.ones((5, 5)))
    act = ndi.binary_closing(act, np.ones((5, 5)))[p:-p, p:-p]
    return act, texf, img8


def _main_component(act: np.ndarray, min_area: float) -> np.ndarray | None:
    """The largest component of ``act`` plus large components in the same columns, or
    ``None`` when nothing covers ``min_area`` of the grid."""
    lab, n = ndi.label(act)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel())[1:]
    k = int(np.argmax(sizes)) + 1
    if sizes[k - 1] < min_area * act.size:
        return None
    comp = lab == k
    cols = np.nonzero(comp.any(0))[0]
    mc0, mc1 = cols[0], cols[-1] + 1
    for j in range(1, n + 1):  # e.g. a bright band above a dark subcutaneous layer
        if j == k or sizes[j - 1] < 0.01 * act.size:
            continue
        cj = np.nonzero((lab == j).any(0))[0]
        a0, a1 = cj[0], cj[-1] + 1
        if min(a1, mc1) - max(a0, mc0) >= 0.5 * (a1 - a0) and (a1 - a0) >= 0.3 * (mc1 - mc0):
            comp |= lab == j
    return comp


def _extent(occ: np.ndarray) -> tuple[int, int]:
    idx = np.nonzero(occ >= 0.15)[0]
    return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, len(occ))


def _trimmed_box(comp: np.ndarray) -> tuple[int, int, int, int]:
    """Grid box (r0, r1, c0, c1) of ``comp`` without thin attachments (< 15 % filled)."""
    rows = np.nonzero(comp.any(1))[0]
    cols = np.nonzero(comp.any(0))[0]
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    a, b = _extent(comp[r0:r1, c0:c1].mean(0))
    c0, c1 = c0 + a, c0 + b
    a, b = _extent(comp[r0:r1, c0:c1].mean(1))
    r0, r1 = r0 + a, r0 + b
    return r0, r1, c0, c1


def _tissue_cells(img8: np.ndarray, texf: np.ndarray, f: int) -> np.ndarray:
    """float32 (h2, w2): 1 where a cell is textured or not of the border's flat UI colours
    (values covering >= 15 % of the outer frame)."""
    q = np.concatenate([img8[:2].ravel(), img8[-2:].ravel(), img8[:, :2].ravel(), img8[:, -2:].ravel()])
    counts = np.bincount(q, minlength=256)
    bg_values = np.nonzero(counts >= 0.15 * q.size)[0]
    if len(bg_values) == 0:
        bg_values = [int(counts.argmax())]
    isbg = np.zeros(img8.shape, bool)
    for v in bg_values:
        isbg |= np.abs(img8 - v) <= 1
    return ((texf > 0.05) | (_blocks(isbg, f) < 0.5)).astype(np.float32)


def _grow(box: tuple[int, int, int, int], fov: np.ndarray) -> tuple[int, int, int, int]:
    """Grow the grid box over rows/columns that are mostly tissue."""
    r0, r1, c0, c1 = box
    h2, w2 = fov.shape
    while r1 < h2 and fov[r1, c0:c1].mean() > 0.5:
        r1 += 1
    while r0 > 0 and fov[r0 - 1, c0:c1].mean() > 0.5:
        r0 -= 1
    while c1 < w2 and fov[r0:r1, c1].mean() > 0.5:
        c1 += 1
    while c0 > 0 and fov[r0:r1, c0 - 1].mean() > 0.5:
        c0 -= 1
    return r0, r1, c0, c1


def crop_fov(image: np.ndarray, min_area: float = 0.2) -> tuple[int, int, int, int]:
    """Bounding box ``(y0, y1, x0, x1)`` (px, end exclusive) of the B-mode field of view.

    Scanner screen captures show flat UI (bars, text, grey panels) around the image.
    On a ~128 px grid: cells with speckle (local std > 0.03 *and* most pixels differing
    from their neighbours) are opened/closed; the largest component plus large components
    in the same columns gives the box; thin attachments (columns/rows < 15 % filled) are
    trimmed; the box then grows over dim tissue (textured or not of the border's flat UI
    colour). Falls back to the whole image when nothing covers ``min_area`` of it.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 8:
        return 0, int(img.shape[0]), 0, int(img.shape[1])
    H, W = img.shape
    full = (0, H, 0, W)
    f = max(1, int(round(max(H, W) / 128)))
    h2, w2 = H // f, W // f
    if min(h2, w2) < 8:
        return full
    act, texf, img8 = _speckle_cells(img, f)
    comp = _main_component(act, min_area)
    if comp is None:
        return full
    r0, r1, c0, c1 = _grow(_trimmed_box(comp), _tissue_cells(img8, texf, f))
    y0, y1 = r0 * f, (H if r1 >= h2 else r1 * f)
    x0, x1 = c0 * f, (W if c1 >= w2 else c1 * f)
    if (y1 - y0) < 8 or (x1 - x0) < 8:
        return full
    return int(y0), int(y1), int(x0), int(x1)
