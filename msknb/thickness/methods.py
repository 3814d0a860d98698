"""Muscle thickness (MT) from an aponeurosis mask, by a method chosen by name.

:func:`measure_thickness` is the one entry point every caller uses (notebooks 04 and 06,
the expert comparison, the command lines). What it does, step by step (each step is
visible in the result):

1. **binarise** ``mask`` (H, W): bool, {0, 1}, {0, 255} or a probability map in [0, 1]
   (``>= threshold``);
2. **bands** (:mod:`~msknb.masks.bands`): drop specks (components smaller than
   ``min_area_px``, default ``max(4, 2e-4 H W)``), join pieces of one band broken by a gap,
   drop fragments narrower than 15 % of the widest band, order by depth;
3. **pair** (:mod:`~msknb.thickness.pairing`): the examined muscle's superficial and deep
   aponeurosis; other bands (a neighbouring muscle's aponeurosis) are ignored and noted;
4. **inner edges** (:mod:`~msknb.thickness.edges`): the superficial band's lower edge and
   the deep band's upper edge per column, sub-pixel, gaps interpolated, smoothed;
5. **the method** (:data:`METHODS`) measures between the two edges:
   ``"chords"`` the paper's 5 perpendicular chords (:mod:`~msknb.thickness.chords`),
   ``"dltrack"`` DL_Track_US's shortest distances in the central third
   (:mod:`~msknb.thickness.dltrack`);
6. **quality flag** (:mod:`~msknb.thickness.quality`): ``result.flag`` is ``"ok"`` or
   ``"doubtful: <reasons>"``.

Coordinates are (row, col) = (y, x) in pixels. ``mt_px`` is in pixels; with ``spacing_mm``
(scalar, or (row, col) mm per px) the result also has ``mt_mm``. Fewer than two aponeuroses
raise :class:`~msknb.errors.ThicknessError` ("found N aponeurosis band(s); need 2"): never
a silent wrong number.

A new method: a module with ``measure_<name>(apo, spacing, n_chords, span) ->
ThicknessResult`` and one line in :data:`METHODS` (the command lines offer every name).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from msknb.data import parse_spacing
from msknb.errors import ConfigError
from msknb.thickness.aponeuroses import Aponeuroses, find_aponeuroses
from msknb.thickness.chords import DEFAULT_SPAN, measure_chords
from msknb.thickness.dltrack import measure_dltrack
from msknb.thickness.edges import DEFAULT_EDGE_SMOOTH
from msknb.masks.probability import as_probability
from msknb.thickness.quality import assess
from msknb.thickness.result import ThicknessResult

Method = Callable[[Aponeuroses, "tuple[float, float] | None", int, Sequence[float]], ThicknessResult]
#: the thickness methods by name; the first is the default
METHODS: dict[str, Method] = {"chords": measure_chords, "dltrack": measure_dltrack}
DEFAULT_METHOD = "chords"


def _check_args(method: str, n_chords: Any, threshold: float, span: Sequence[float]) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown thickness method {method!r}; use one of {', '.join(METHODS)}", "method")
    if not isinstance(n_chords, (int, np.integer)) or n_chords < 1:
        raise ConfigError(f"n_chords must be a positive integer; got {n_chords!r}", "n_chords")
    if not 0.0 < float(threshold) <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1]; got {threshold!r}", "threshold")
    lo, hi = float(span[0]), float(span[1])
    if not 0.0 <= lo <= hi <= 1.0:
        raise ConfigError(f"span must satisfy 0 <= lo <= hi <= 1; got {span!r}", "span")


def measure_thickness(mask: Any, spacing_mm: Any = None, n_chords: int = 5, threshold: float = 0.5,
                      min_area_px: int | None = None, span: Sequence[float] = DEFAULT_SPAN,
                      edge_smooth: float = DEFAULT_EDGE_SMOOTH, method: str = DEFAULT_METHOD) -> ThicknessResult:
    """Muscle thickness of an aponeurosis ``mask`` (H, W) by ``method`` (a :data:`METHODS` name).

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
    _check_args(method, n_chords, threshold, span)
    spacing = parse_spacing(spacing_mm)
    apo = find_aponeuroses(as_probability(mask), threshold, min_area_px, edge_smooth)
    result = METHODS[method](apo, spacing, int(n_chords), span)
    result.flag, result.quality = assess(apo, result)
    return result
