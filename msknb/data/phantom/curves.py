"""Analytic curves of the phantom's band edges (:func:`curve_y`) and the chords of the
true muscle thickness between two of them (:func:`chords_between`), in px (row, column;
pixel-centre coordinates)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import brentq

from msknb.errors import ConfigError


def curve_y(spec: dict[str, Any], x) -> np.ndarray:
    """Row coordinate (px, pixel-centre convention) of the analytic curve ``spec`` at
    column(s) ``x`` (px)::

        u = (x - xc) / half_width
        y = y0 + slope * (x - xc) + quad * u**2
              + sum(a * sin(2 * pi * f * (x - xc) / (2 * half_width) + phase)
                    for a, f, phase in waves)

    ``spec`` is a JSON-able dict with keys ``y0, xc, half_width, slope, quad, waves``.
    """
    x = np.asarray(x, dtype=np.float64)
    d = x - spec["xc"]
    u = d / spec["half_width"]
    y = spec["y0"] + spec["slope"] * d + spec["quad"] * u * u
    for a, f, ph in spec["waves"]:
        y = y + a * np.sin(2.0 * np.pi * f * d / (2.0 * spec["half_width"]) + ph)
    return y


def curve_dydx(spec: dict[str, Any], x) -> np.ndarray:
    """Derivative dy/dx of :func:`curve_y` at column(s) ``x``."""
    x = np.asarray(x, dtype=np.float64)
    d = x - spec["xc"]
    hw = spec["half_width"]
    dy = spec["slope"] + 2.0 * spec["quad"] * d / (hw * hw)
    for a, f, ph in spec["waves"]:
        k = 2.0 * np.pi * f / (2.0 * hw)
        dy = dy + a * k * np.cos(k * d + ph)
    return dy + 0.0 * x


def _first_root(fun, step: float, sign: int, limit: float) -> float:
    """First root of ``fun(s)`` going from s = 0 in direction ``sign`` (sub-pixel)."""
    f0 = fun(0.0)
    a = 0.0
    while abs(a) < limit:
        b = a + sign * step
        fb = fun(b)
        if fb == 0.0:
            return b
        if (fb > 0) != (f0 > 0):
            lo, hi = (a, b) if a < b else (b, a)
            return float(brentq(fun, lo, hi, xtol=1e-12, rtol=1e-14, maxiter=200))
        a, f0 = b, fb
    raise ConfigError("the aponeuroses do not enclose a measurable muscle (no chord found)", "thickness_mm")


def chord_fractions(n_chords: int = 5) -> np.ndarray:
    """Positions of the chords along the x-range, as fractions: 10 %-90 % evenly spaced
    inclusive (``[0.1, 0.3, 0.5, 0.7, 0.9]`` for 5; ``[0.5]`` for 1)."""
    if n_chords < 1:
        raise ConfigError(f"n_chords must be >= 1, got {n_chords}", "n_chords")
    if n_chords == 1:
        return np.array([0.5])
    return np.linspace(0.1, 0.9, n_chords)


def chords_between(upper: dict[str, Any], lower: dict[str, Any], x_range: tuple[float, float],
                   n_chords: int = 5) -> tuple[list[tuple[tuple[float, float], tuple[float, float]]], np.ndarray]:
    """Chords perpendicular to the centreline between two analytic inner edges.

    ``upper``/``lower``: curve specs of the superficial / deep inner edges (px);
    ``x_range``: (x_min, x_max) in px. Returns (chords, lengths_px) where each chord is
    ``((y0, x0), (y1, x1))`` with (y0, x0) on ``upper`` and (y1, x1) on ``lower``.
    """
    x_min, x_max = x_range
    chords, lengths = [], []
    for f in chord_fractions(n_chords):
        xk = x_min + f * (x_max - x_min)
        ys, yd = float(curve_y(upper, xk)), float(curve_y(lower, xk))
        if not yd > ys:
            raise ConfigError(f"deep aponeurosis is not below the superficial one at x = {xk:.1f} px",
                              "thickness_mm")
        py = 0.5 * (ys + yd)
        dm = 0.5 * (float(curve_dydx(upper, xk)) + float(curve_dydx(lower, xk)))
        norm = math.hypot(dm, 1.0)
        nx, ny = -dm / norm, 1.0 / norm
        limit = 4.0 * (yd - ys) + 50.0

        def f_deep(s):
            return py + s * ny - float(curve_y(lower, xk + s * nx))

        def f_sup(s):
            return py + s * ny - float(curve_y(upper, xk + s * nx))

        step = max(0.05, min(0.5, 0.1 * (yd - ys)))
        s1 = _first_root(f_deep, step, +1, limit)
        s0 = _first_root(f_sup, step, -1, limit)
        chords.append(((py + s0 * ny, xk + s0 * nx), (py + s1 * ny, xk + s1 * nx)))
        lengths.append(s1 - s0)
    return chords, np.asarray(lengths)
