"""The two aponeuroses of the examined muscle in a mask, ready to be measured: the bands
found (:mod:`~msknb.masks.bands`), the pair chosen (:mod:`~msknb.thickness.pairing`)
and their inner edges (:mod:`~msknb.thickness.edges`). Every thickness method
(:mod:`~msknb.thickness.methods`) measures an :class:`Aponeuroses`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from msknb.errors import ThicknessError
from msknb.masks.bands import Band, find_bands
from msknb.thickness.edges import inner_edges
from msknb.thickness.pairing import choose_pair


@dataclass
class Aponeuroses:
    """Superficial and deep aponeurosis of one mask (px; (row, col) = (y, x)).

    - ``prob`` (H, W) float in [0, 1]: the mask as a probability map
    - ``xs`` (K,) float: the columns both bands cover
    - ``superficial`` (K,): row of the superficial band's lower edge; ``deep`` (K,): row of
      the deep band's upper edge (sub-pixel, smoothed)
    - ``bands``: every band, by depth; ``sup_band``, ``deep_band``: the chosen two
    - ``labels`` (H, W) int: connected components; ``n_components``
    - ``notes``: what was ignored, merged or interpolated
    - ``skipped_superficial``: a more superficial candidate pair was passed over (its
      geometry or confidence was much worse; :mod:`~msknb.thickness.pairing`)
    """

    prob: np.ndarray
    xs: np.ndarray
    superficial: np.ndarray
    deep: np.ndarray
    bands: list[Band]
    sup_band: Band
    deep_band: Band
    labels: np.ndarray
    n_components: int
    notes: list[str] = field(default_factory=list)
    skipped_superficial: bool = False

    @property
    def ignored(self) -> list[Band]:
        return [b for b in self.bands if b is not self.sup_band and b is not self.deep_band]

    def band_image(self) -> np.ndarray:
        """uint8 (H, W): 1 = superficial, 2 = deep, 3 = ignored band, 0 = background."""
        lut = np.zeros(self.n_components + 1, np.uint8)
        for b in self.ignored:
            lut[b.labels] = 3
        lut[self.sup_band.labels] = 1
        lut[self.deep_band.labels] = 2
        return lut[self.labels]


def find_aponeuroses(p: np.ndarray, threshold: float = 0.5, min_area_px: int | None = None,
                     edge_smooth: float = 0.05) -> Aponeuroses:
    """Bands of the probability map ``p`` (H, W), the chosen pair and its inner edges.
    ThicknessError when there is no measurable pair or the two aponeuroses touch/cross."""
    bands, n_comp, lab, notes = find_bands(p, threshold=threshold, min_area_px=min_area_px)
    pair, candidates = choose_pair(bands, p, lab)
    sup, deep = bands[pair.upper], bands[pair.lower]
    skipped = candidates.index(pair) > 0
    ignored = len(bands) - 2
    if ignored:
        notes.append(f"ignored {ignored} further band(s) (e.g. a neighbouring muscle's aponeurosis)")
    xs, sup_edge, deep_edge = inner_edges(p, sup, deep, threshold, edge_smooth, notes)
    gap = deep_edge - sup_edge
    if np.median(gap) <= 0:
        raise ThicknessError("the superficial and deep aponeurosis touch or cross; cannot measure", "mask")
    if np.any(gap <= 0):
        notes.append(f"aponeuroses touch in {int(np.sum(gap <= 0))} column(s)")
    return Aponeuroses(prob=p, xs=xs.astype(np.float64), superficial=sup_edge, deep=deep_edge, bands=bands,
                       sup_band=sup, deep_band=deep, labels=lab, n_components=n_comp, notes=notes,
                       skipped_superficial=skipped)
