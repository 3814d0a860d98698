"""Pixel spacing: the kit's one reader of a spacing given by a user, a file or a manifest.

A spacing is ``(row_mm, col_mm)``: mm per pixel down the rows (vertical) and along the
columns (horizontal). ``None`` means unknown.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from msknb.errors import ConfigError, DataError


def parse_spacing(spacing_mm: Any) -> tuple[float, float] | None:
    """A spacing as ``(row_mm, col_mm)`` floats, or ``None`` when unknown.

    ``None`` or NaN (all values) -> ``None``; one number ``s`` -> ``(s, s)``; a pair
    ``(row, col)`` -> that pair. Anything else, or values that are not positive and
    finite, raises :class:`ConfigError` (field ``spacing_mm``)."""
    if spacing_mm is None:
        return None
    try:
        arr = np.asarray(spacing_mm, dtype=np.float64).ravel()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"spacing_mm must be one number or (row_mm, col_mm), got {spacing_mm!r}",
                          "spacing_mm") from e
    if arr.size == 1:
        arr = np.array([arr[0], arr[0]])
    if arr.size != 2:
        raise ConfigError(f"spacing_mm must be one number or (row_mm, col_mm), got {spacing_mm!r}", "spacing_mm")
    if np.isnan(arr).all():
        return None
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(f"spacing_mm must be positive mm per pixel, got {spacing_mm!r}", "spacing_mm")
    return float(arr[0]), float(arr[1])


def manifest_spacing(row: Mapping[str, str], manifest: str | Path) -> tuple[float, float] | None:
    """Spacing of one ``manifest.csv`` row (columns ``spacing_row_mm``, ``spacing_col_mm``;
    one of them alone is used for both), ``None`` when empty or NaN. A value that is not a
    positive number raises :class:`DataError` naming the manifest and the id."""
    r, c = (row.get("spacing_row_mm") or "").strip(), (row.get("spacing_col_mm") or "").strip()
    if not r and not c:
        return None
    try:
        rv, cv = float(r or c), float(c or r)
    except ValueError as e:
        raise DataError(f"bad spacing for id {row.get('id')!r}: {r!r}, {c!r} (numbers in mm expected)",
                        manifest) from e
    if not (math.isfinite(rv) and math.isfinite(cv)):
        return None
    if rv <= 0 or cv <= 0:
        raise DataError(f"spacing for id {row.get('id')!r} must be positive, got {rv}, {cv}", manifest)
    return rv, cv
