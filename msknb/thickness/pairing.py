"""Which two bands are the examined muscle's superficial and deep aponeurosis.

Every pair of bands (upper, lower) that overlaps horizontally is a candidate, described by

- **length**: the common column range as a fraction of the widest band (a short fragment
  above or below the muscle pairs badly);
- **parallelism**: ``1 / (1 + cv)`` with ``cv`` the coefficient of variation of the gap
  (deep band's top - superficial band's bottom) over the common columns;
- **thickness range**: 1 when the median gap is within ``THICKNESS_RANGE`` of the image
  height, else 0.3;
- **confidence**: the mean probability inside the two bands (1 for a binary mask).

Depth order comes first (the examined muscle is the one nearest the probe; a neighbouring
muscle's aponeurosis lies below it): the chosen pair is the most superficial *plausible*
candidate: its upper band is long (at least ``LONG_BAND`` of the widest band: a short
fragment above the muscle is passed over), the gap is in the thickness range, parallel
enough (``MIN_PARALLELISM``) and the bands confident enough (``MIN_CONFIDENCE``). A deep
band that is found only in part still pairs (the reading is then flagged "bands short").
When no candidate is plausible, the one with the best score (the product of the four
factors) is taken.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msknb.errors import ThicknessError
from msknb.masks.bands import Band, overlap

#: expected muscle thickness as a fraction of the image height (DL_Track expert masks: 0.13-0.54)
THICKNESS_RANGE = (0.05, 0.8)
#: a plausible pair's upper band spans at least this fraction of the widest band
LONG_BAND = 0.5
#: ... its gap varies by at most a coefficient of variation of 0.5 (parallelism 1 / 1.5) ...
MIN_PARALLELISM = 1.0 / 1.5
#: ... and its bands' mean probability is at least this
MIN_CONFIDENCE = 0.6


@dataclass
class Pair:
    """A candidate pair: indices into the depth-sorted bands, and its score's factors."""

    upper: int
    lower: int
    length: float
    parallelism: float
    in_range: bool
    confidence: float

    @property
    def score(self) -> float:
        return self.length * self.parallelism * (1.0 if self.in_range else 0.3) * self.confidence


def band_confidence(prob: np.ndarray, labels: np.ndarray, band: Band) -> float:
    """Mean probability of ``prob`` (H, W) over the pixels of ``band``."""
    sel = np.isin(labels, band.labels)
    return float(prob[sel].mean()) if sel.any() else 0.0


def _candidate(i: int, j: int, a: Band, b: Band, widest: int, height: int, conf: list[float]) -> Pair | None:
    if overlap(a, b) < max(3, 0.1 * min(a.width, b.width)):
        return None
    common, ia, ib = np.intersect1d(a.cols, b.cols, return_indices=True)
    if len(common) < 2:
        return None
    gap = b.top[ib] - a.bot[ia]
    med = float(np.median(gap))
    if med <= 0:
        return None
    cv = float(np.std(gap) / med)
    lo, hi = THICKNESS_RANGE
    return Pair(i, j, overlap(a, b) / widest, 1.0 / (1.0 + cv), lo <= med / height <= hi, 0.5 * (conf[i] + conf[j]))


def candidate_pairs(bands: list[Band], prob: np.ndarray, labels: np.ndarray) -> list[Pair]:
    """Every overlapping (upper, lower) pair of the depth-sorted ``bands``, most superficial first."""
    widest = max((b.width for b in bands), default=1)
    conf = [band_confidence(prob, labels, b) for b in bands]
    pairs = [_candidate(i, j, bands[i], bands[j], widest, prob.shape[0], conf)
             for i in range(len(bands)) for j in range(i + 1, len(bands))]
    return [p for p in pairs if p is not None]


def choose_pair(bands: list[Band], prob: np.ndarray, labels: np.ndarray) -> tuple[Pair, list[Pair]]:
    """The chosen pair and all candidates (see the module docstring). ``bands`` sorted by
    depth. ThicknessError when there are fewer than two bands or no overlapping pair."""
    if len(bands) < 2:
        raise ThicknessError(f"found {len(bands)} aponeurosis band(s); need 2", "mask")
    pairs = candidate_pairs(bands, prob, labels)
    if not pairs:
        raise ThicknessError(f"found {len(bands)} aponeurosis band(s) but none below the superficial one "
                             "overlaps it horizontally; need 2 overlapping", "mask")
    widest = max(b.width for b in bands)
    plausible = [p for p in pairs if bands[p.upper].width >= LONG_BAND * widest and p.in_range
                 and p.parallelism >= MIN_PARALLELISM and p.confidence >= MIN_CONFIDENCE]
    chosen = plausible[0] if plausible else max(pairs, key=lambda p: p.score)
    return chosen, pairs
