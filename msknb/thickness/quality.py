"""Is a thickness reading trustworthy? Each reading gets ``flag`` = ``"ok"`` or
``"doubtful: <reasons>"`` (reasons joined by ``"; "``), so that a doubtful number is marked,
never silently wrong. Reasons (limits in :data:`QUALITY_LIMITS`):

- ``bands short``: the two aponeuroses share less than ``min_coverage`` of the image width,
  or less than ``min_length`` of the widest band;
- ``chords disagree``: the chord lengths' coefficient of variation exceeds ``max_chord_cv``
  (DL_Track expert masks: at most 0.26);
- ``bands patchy``: either aponeurosis has its own pixels in less than ``min_support`` of
  the measured columns (the rest is interpolated across gaps, so the chords there measure
  a guess);
- ``low confidence``: the mean model probability inside either band is below
  ``min_confidence`` (binary masks have 1);
- ``third band``: another band covering at least ``min_third`` of the two aponeuroses'
  common columns lies above them, between them, or below the deep one by less than
  ``near_third`` x MT (either could be the aponeurosis measured), or a more superficial
  pair was passed over. A band far below is a neighbouring muscle's and is fine (the
  DL_Track expert masks have one in 100 of 463 images);
- ``thickness out of range``: MT / image height outside ``mt_over_height``. The lower limit
  is the smallest MT / height of the DL_Track expert masks the shipped segmenter trained on
  (the kit train ids: 0.132, 368 measurable masks, chords) divided by :data:`MT_RANGE_MARGIN`
  (:func:`mt_range` refits it; ``tests/test_quality_flags.py`` checks it against the data):
  on the kit val ids it flags one reading, a wrong pair of close bands (MT 33 px vs the
  experts' 174 px), and no good one. The upper limit stays 0.8 (the pairing's
  ``THICKNESS_RANGE``), not the training masks' 0.53 x 1.25: the phantoms of thicker muscles
  (TA, BB) reach 0.75 of the image height, as real scans at a shallow depth setting do.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from msknb.thickness.aponeuroses import Aponeuroses
from msknb.masks.bands import Band
from msknb.thickness.pairing import THICKNESS_RANGE, band_confidence
from msknb.thickness.result import OK, ThicknessResult

#: how far beyond the training masks' MT / height a reading may go before it is doubtful
MT_RANGE_MARGIN = 1.25
QUALITY_LIMITS: dict[str, Any] = {"min_coverage": 0.35, "min_length": 0.6, "max_chord_cv": 0.3,
                                  "min_confidence": 0.75, "min_third": 0.5, "min_support": 0.7,
                                  "near_third": 0.5, "mt_over_height": (0.105, THICKNESS_RANGE[1])}


def mt_range(mt_over_height: Sequence[float], margin: float = MT_RANGE_MARGIN) -> tuple[float, float]:
    """Limits fitted to the MT / image height of reference masks: (min / margin, max x margin),
    rounded to 3 decimals (``mt_over_height`` uses the lower one, see the module docstring)."""
    values = np.asarray(mt_over_height, dtype=np.float64)
    return round(float(values.min() / margin), 3), round(float(values.max() * margin), 3)


def _competes(apo: Aponeuroses, band: Band) -> bool:
    """Could ``band`` be one of the two measured aponeuroses? (see the module docstring)"""
    cols, ib, ix = np.intersect1d(band.cols, apo.xs.astype(int), return_indices=True)
    if len(cols) < QUALITY_LIMITS["min_third"] * len(apo.xs):
        return False
    sup, deep = apo.superficial[ix].mean(), apo.deep[ix].mean()
    return bool(band.top[ib].mean() - deep < QUALITY_LIMITS["near_third"] * (deep - sup))


def support(apo: Aponeuroses) -> float:
    """The share (0..1) of the measured columns where the weaker of the two bands has its
    own pixels (1 = no column interpolated across a gap)."""
    xs = apo.xs.astype(int)
    if not len(xs):
        return 0.0
    return float(min(len(np.intersect1d(b.cols, xs)) for b in (apo.sup_band, apo.deep_band)) / len(xs))


def quality_numbers(apo: Aponeuroses, result: ThicknessResult) -> dict[str, Any]:
    """The numbers behind the flag (fractions; ``confidence`` = the weaker band's mean probability,
    ``support`` = :func:`support`)."""
    height, width = apo.prob.shape
    widest = max(b.width for b in apo.bands)
    lengths = np.asarray(result.chord_lengths_px, dtype=np.float64)
    return {
        "coverage": len(apo.xs) / width, "length": len(apo.xs) / widest,
        "chord_cv": float(np.std(lengths) / np.mean(lengths)) if len(lengths) > 1 else 0.0, "support": support(apo),
        "confidence": min(band_confidence(apo.prob, apo.labels, b) for b in (apo.sup_band, apo.deep_band)),
        "competing_bands": sum(_competes(apo, b) for b in apo.ignored),
        "skipped_superficial_pair": apo.skipped_superficial, "mt_over_height": result.mt_px / height,
    }


def assess(apo: Aponeuroses, result: ThicknessResult) -> tuple[str, dict[str, Any]]:
    """``(flag, quality numbers)`` of one reading (see the module docstring)."""
    q = quality_numbers(apo, result)
    lim = QUALITY_LIMITS
    reasons = []
    if q["coverage"] < lim["min_coverage"] or q["length"] < lim["min_length"]:
        reasons.append("bands short")
    if q["chord_cv"] > lim["max_chord_cv"]:
        reasons.append("chords disagree")
    if q["support"] < lim["min_support"]:
        reasons.append("bands patchy")
    if q["confidence"] < lim["min_confidence"]:
        reasons.append("low confidence")
    if q["competing_bands"] or q["skipped_superficial_pair"]:
        reasons.append("third band")
    low, high = lim["mt_over_height"]
    if not low <= q["mt_over_height"] <= high:
        reasons.append("thickness out of range")
    return (OK if not reasons else "doubtful: " + "; ".join(reasons)), q
