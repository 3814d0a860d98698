"""One muscle-thickness reading and what it was made of."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

OK = "ok"


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
    - ``method``: the thickness method's name (:data:`msknb.thickness.methods.METHODS`)
    - ``flag``: ``"ok"`` or ``"doubtful: <reasons>"``; ``quality``: the numbers behind it
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
    method: str = "chords"
    flag: str = OK
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def n_chords(self) -> int:
        return int(len(self.chord_lengths_px))

    @property
    def ok(self) -> bool:
        return self.flag == OK

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
            "method": self.method,
            "flag": self.flag,
        }
