"""Synthetic longitudinal B-mode ultrasound of a pennate muscle, with exact masks
and a known ("true") muscle thickness.

Image rows are depth (row 0 = skin, under the probe), columns run along the probe.
Pixels are square: ``spacing_mm = depth_mm / size`` mm per pixel in both directions.

Anatomy, top to bottom: a bright skin line and dermis; subcutaneous fat with a few
bright wavy septa; the **superficial aponeurosis** (a bright band); the muscle belly
(dark, with faint bright oblique fascicles at the pennation angle that insert into the
deep aponeurosis); the **deep aponeurosis** (a bright band); the tissue of a
neighbouring muscle below (optionally with a third aponeurosis band, ``third_band``).
Each aponeurosis has its own thickness (px), tilt (degrees), curvature and a small
waviness.

Image formation (a teaching-grade model, not a full acoustic simulation):

1. an echogenicity map ``E(z, x)`` (linear intensity, 1 = aponeurosis) on an axially
   oversampled grid (``os`` sub-rows per pixel, so the carrier is sampled ≥ ~5x per
   wavelength);
2. random point scatterers: Gaussian amplitudes scaled by ``sqrt(E)``, Bernoulli-thinned
   to ``scatterer_density`` per mm²;
3. convolution with a separable point-spread function: axial pulse = Gaussian envelope
   × cosine carrier at ``freq_mhz``, lateral beam = Gaussian (RF signal);
4. depth attenuation ``2·α·f·z`` dB (round trip), partly compensated by time-gain
   compensation (``tgc``), plus receiver noise (``noise``);
5. envelope detection: ``|hilbert(rf)|`` along depth, averaged (in intensity) over the
   sub-rows of each pixel;
6. log compression to ``dynamic_range_db`` → float32 image in [0, 1].

Masks and true thickness
------------------------
The mask (uint8 {0, 1}) holds the aponeurosis bands exactly: pixel (row ``i``, column
``j``) has its centre at ``(y, x) = (i, j)`` and is in a band when its centre lies between
the band's analytic outer and inner edge curves (``params["curves"]``, see
:func:`curve_y`). In a column, the continuous inner edge therefore lies between the last
band pixel and the first muscle pixel; for flat aponeuroses the superficial inner edge
is placed exactly on a pixel border (``k + 0.5``), so the number of muscle rows between
the two bands equals ``thickness_px`` within 0.5 px.

The **true muscle thickness** is defined as the kit measures it (Katakis et al. 2023):
the centreline ``m(x) = (y_sup(x) + y_deep(x)) / 2`` runs midway between the inner edges
of the superficial and deep aponeuroses; ``n_chords = 5`` points on it at columns
``x_k = x_min + f_k (x_max - x_min)``, ``f_k = 0.1, 0.3, 0.5, 0.7, 0.9`` (evenly spaced,
10 %-90 % inclusive; here ``[x_min, x_max] = [0, W - 1]`` since both bands span the
width, in pixel-centre coordinates); at each, the chord perpendicular to the centreline
between the two inner edges; MT = mean chord length. It is solved numerically on the
analytic curves (sub-pixel, ~1e-9 px). For flat parallel aponeuroses it equals the
vertical gap. :func:`true_chords` returns the chords.

Use :func:`make_phantom` for one image, :func:`write_phantom_set` for a DL_Track-layout
folder (``python -m msknb phantom``).
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb.errors import ConfigError, MsknbError
from msknb.io import ensure_dir, save_with, write_text_atomic
from msknb.paths import PHANTOM_SAMPLES_DIR

SPEED_OF_SOUND_MM_US = 1.54  # mm per microsecond → wavelength_mm = 1.54 / f_MHz

#: Muscle presets. Tuples are uniform sampling ranges ``(low, high)``; plain values fixed.
#: ``thickness_mm`` is the true muscle thickness (see module docstring); the paper's
#: manual MT is 24.50 ± 6.49 mm overall. Depth of field 40 mm (RF: 60 mm).
PRESETS: dict[str, dict[str, Any]] = {
    "TA": {  # tibialis anterior: fairly flat, bipennate-looking, thin fat layer
        "description": "tibialis anterior",
        "depth_mm": 40.0,
        "thickness_mm": (20.0, 30.0),
        "superficial_depth_mm": (2.5, 5.0),
        "tilt_deg": (-4.0, 4.0),            # tilt of the whole muscle (both aponeuroses)
        "convergence_deg": (-2.0, 2.0),     # deep minus superficial tilt
        "curvature": (-0.03, 0.03),
        "apo_thickness_mm": (0.9, 1.4),
        "pennation_deg": (9.0, 15.0),
        "freq_mhz": 10.0,
    },
    "RF": {  # rectus femoris: deeper, thicker fat layer, 6 cm field of view
        "description": "rectus femoris",
        "depth_mm": 60.0,
        "thickness_mm": (18.0, 28.0),
        "superficial_depth_mm": (5.0, 12.0),
        "tilt_deg": (-3.0, 3.0),
        "convergence_deg": (-3.0, 3.0),
        "curvature": (-0.04, 0.04),
        "apo_thickness_mm": (1.2, 1.9),
        "pennation_deg": (10.0, 18.0),
        "freq_mhz": 7.5,
    },
    "GCM": {  # gastrocnemius medialis: thin, clearly pennate, converging aponeuroses
        "description": "gastrocnemius medialis",
        "depth_mm": 40.0,
        "thickness_mm": (14.0, 22.0),
        "superficial_depth_mm": (3.0, 7.0),
        "tilt_deg": (-3.0, 3.0),
        "convergence_deg": (-5.0, 1.0),
        "curvature": (-0.03, 0.03),
        "apo_thickness_mm": (0.9, 1.4),
        "pennation_deg": (17.0, 26.0),
        "freq_mhz": 10.0,
    },
    "BB": {  # biceps brachii: near-parallel fibres, curved
        "description": "biceps brachii",
        "depth_mm": 40.0,
        "thickness_mm": (18.0, 30.0),
        "superficial_depth_mm": (2.5, 5.5),
        "tilt_deg": (-2.0, 2.0),
        "convergence_deg": (-2.0, 2.0),
        "curvature": (-0.05, 0.03),
        "apo_thickness_mm": (0.8, 1.3),
        "pennation_deg": (4.0, 10.0),
        "freq_mhz": 10.0,
    },
}

#: Parameters every phantom has (and that ``make_phantom(**overrides)`` accepts), with
#: their defaults; ``None`` = drawn at random from the preset. Units in the names.
DEFAULTS: dict[str, Any] = {
    # geometry
    "depth_mm": None,              # field depth = image height (mm); preset value
    "thickness_mm": None,          # true muscle thickness (mm)
    "superficial_depth_mm": None,  # depth of the superficial aponeurosis' outer edge at the centre (mm)
    "tilt_deg": None,              # float (both) or (superficial, deep); + = deeper to the right
    "curvature": None,             # float (both) or pair; sagitta / half-width (+ = ends deeper)
    "apo_thickness_px": None,      # float (both) or pair; band thickness in output pixels
    "pennation_deg": None,         # fascicle angle to the deep aponeurosis (degrees)
    "waviness_px": None,           # amplitude of the inner-edge waviness (px); 0 = smooth
    "third_band": False,           # add a third aponeurosis (neighbouring muscle) below
    "skin_mm": 1.2,                # skin (epidermis + dermis) thickness (mm)
    # imaging
    "freq_mhz": None,              # transmit centre frequency (MHz); preset value
    "pulse_sigma_mm": 0.18,        # axial Gaussian envelope sigma (mm)
    "beam_sigma_mm": 0.35,         # lateral Gaussian beam sigma (mm)
    "scatterer_density": 150.0,    # scatterers per mm²
    "attenuation_db_cm_mhz": 0.5,  # tissue attenuation (dB / cm / MHz), one way
    "tgc": 0.8,                    # fraction of the attenuation undone by time-gain compensation
    "noise": 0.002,                # receiver noise rms, relative to the aponeurosis echo
    "dynamic_range_db": 50.0,      # log-compression dynamic range (dB)
    "gain_db": -6.0,               # overall gain: the aponeurosis echo maps to 1 + gain/DR
    "speckle": True,               # False: noise-free echogenicity map (no scatterers)
}

_PAIR_KEYS = ("tilt_deg", "curvature", "apo_thickness_px")
_MAX_TRIES = 50


# ---------------------------------------------------------------------------------
# analytic curves
# ---------------------------------------------------------------------------------
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
    from scipy.optimize import brentq

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


# ---------------------------------------------------------------------------------
# the phantom
# ---------------------------------------------------------------------------------
@dataclass
class Phantom:
    """One synthetic image.

    - ``image``: float32 (H, W) in [0, 1] (log-compressed B-mode);
    - ``mask``: uint8 (H, W) in {0, 1}: the aponeurosis bands (2, or 3 with ``third_band``);
    - ``thickness_px`` / ``thickness_mm``: true muscle thickness (mean of 5 chords);
    - ``spacing_mm``: isotropic pixel spacing (mm per px);
    - ``params``: every resolved parameter (JSON-able), incl. ``curves`` (analytic edge
      curves in px, see :func:`curve_y`), ``chord_lengths_px``, ``x_range_px``.
    """

    image: np.ndarray
    mask: np.ndarray
    thickness_px: float
    thickness_mm: float
    spacing_mm: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.image.shape)  # type: ignore[return-value]


def true_chords(phantom: Phantom, n_chords: int = 5) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The chords of the true muscle thickness: ``[((y0, x0), (y1, x1)), ...]`` in px
    (row, column; pixel-centre coordinates), (y0, x0) on the superficial inner edge."""
    c = phantom.params["curves"]
    chords, _ = chords_between(c["superficial_inner"], c["deep_inner"], tuple(phantom.params["x_range_px"]), n_chords)
    return chords


def _as_pair(name: str, value) -> tuple[float, float]:
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != 2:
            raise ConfigError(f"{name} must be a number or a pair (superficial, deep), got {value!r}", name)
        return float(value[0]), float(value[1])
    return float(value), float(value)


def _check_ranges(p: dict[str, Any]) -> None:
    def need(name, ok, what):
        if not ok:
            raise ConfigError(f"{name} = {p[name]!r} out of range: {what}", name)

    need("depth_mm", 5 <= p["depth_mm"] <= 300, "5..300 mm")
    need("thickness_mm", 0.5 <= p["thickness_mm"] < p["depth_mm"], "0.5 mm .. depth_mm")
    need("superficial_depth_mm", p["superficial_depth_mm"] >= 0, ">= 0 mm")
    for k in range(2):
        need("tilt_deg", abs(p["tilt_deg"][k]) <= 25, "|tilt| <= 25 degrees")
        need("curvature", abs(p["curvature"][k]) <= 0.3, "|curvature| <= 0.3")
        need("apo_thickness_px", 1.0 <= p["apo_thickness_px"][k] <= 0.25 * p["size"], "1 px .. size/4")
    need("pennation_deg", 0 <= p["pennation_deg"] <= 60, "0..60 degrees")
    need("waviness_px", 0 <= p["waviness_px"] <= 0.05 * p["size"], "0 .. size/20 px")
    need("skin_mm", 0 <= p["skin_mm"] <= 10, "0..10 mm")
    need("freq_mhz", 1 <= p["freq_mhz"] <= 30, "1..30 MHz")
    need("pulse_sigma_mm", 0.01 <= p["pulse_sigma_mm"] <= 5, "0.01..5 mm")
    need("beam_sigma_mm", 0.01 <= p["beam_sigma_mm"] <= 5, "0.01..5 mm")
    need("scatterer_density", p["scatterer_density"] > 0, "> 0 per mm²")
    need("attenuation_db_cm_mhz", 0 <= p["attenuation_db_cm_mhz"] <= 5, "0..5 dB/cm/MHz")
    need("tgc", 0 <= p["tgc"] <= 1, "0..1")
    need("noise", 0 <= p["noise"] <= 10, "0..10")
    need("dynamic_range_db", 10 <= p["dynamic_range_db"] <= 120, "10..120 dB")
    need("gain_db", -60 <= p["gain_db"] <= 60, "-60..60 dB")


def _uniform(rng: np.random.Generator, rng_or_value) -> float:
    if isinstance(rng_or_value, (tuple, list)):
        lo, hi = rng_or_value
        return float(rng.uniform(lo, hi))
    return float(rng_or_value)


def _draw(preset: dict[str, Any], rng: np.random.Generator, sp: float) -> dict[str, Any]:
    """All random geometry values, drawn in a fixed order (overrides replace them later,
    so overriding one value does not change the others)."""
    tilt = _uniform(rng, preset["tilt_deg"])
    conv = _uniform(rng, preset["convergence_deg"])
    c_sup = _uniform(rng, preset["curvature"])
    c_deep = c_sup + float(rng.uniform(-0.015, 0.015))
    apo = [_uniform(rng, preset["apo_thickness_mm"]) / sp for _ in range(2)]
    return {
        "thickness_mm": _uniform(rng, preset["thickness_mm"]),
        "superficial_depth_mm": _uniform(rng, preset["superficial_depth_mm"]),
        "tilt_deg": (tilt - conv / 2, tilt + conv / 2),
        "curvature": (c_sup, c_deep),
        "apo_thickness_px": (max(2.0, apo[0]), max(2.0, apo[1])),
        "pennation_deg": _uniform(rng, preset["pennation_deg"]),
        "waviness_px": float(rng.uniform(0.05, 0.12)) / sp,
        # shape of the waves (unit amplitudes; scaled later)
        "wave_shapes": {
            name: [[float(rng.uniform(0.4, 1.0)), float(rng.uniform(fl, fh)), float(rng.uniform(0, 2 * np.pi))]
                   for fl, fh in ((1.0, 3.0), (3.0, 7.0))]
            for name in ("superficial_inner", "deep_inner", "superficial_thick", "deep_thick",
                         "third_inner", "third_thick")
        },
        "third_gap_mm": float(rng.uniform(3.0, 8.0)),
        "third_tilt_deg": float(rng.uniform(-3.0, 3.0)),
    }


def _waves(shape: list[list[float]], amplitude: float) -> list[list[float]]:
    total = sum(s[0] for s in shape) or 1.0
    return [[amplitude * a / total, f, ph] for a, f, ph in shape]


def _geometry(p: dict[str, Any], draw: dict[str, Any], size: int) -> dict[str, dict[str, Any]] | None:
    """Analytic curves of all band edges (px), or None when they do not fit the image."""
    from scipy.optimize import brentq

    sp = p["spacing_mm"]
    W = H = size
    xc, hw = (W - 1) / 2.0, W / 2.0
    x = np.arange(W, dtype=np.float64)
    ws = draw["wave_shapes"]
    t_sup, t_deep = p["apo_thickness_px"]
    wav = p["waviness_px"]

    def spec(y0, tilt, curv, waves):
        return {"y0": float(y0), "xc": xc, "half_width": hw, "slope": math.tan(math.radians(tilt)),
                "quad": float(curv) * hw, "waves": waves}

    # superficial inner edge; y0 is placed on a pixel border (k + 0.5) after fitting
    sup_in = spec(0.0, p["tilt_deg"][0], p["curvature"][0], _waves(ws["superficial_inner"], wav))
    deep_in_base = spec(0.0, p["tilt_deg"][1], p["curvature"][1], _waves(ws["deep_inner"], wav))
    target = p["thickness_mm"] / sp

    def with_y0(s, y0):
        out = copy.deepcopy(s)
        out["y0"] = float(y0)
        return out

    def mt(gap):
        _, lengths = chords_between(sup_in, with_y0(deep_in_base, gap), (0.0, W - 1.0), 5)
        return float(lengths.mean()) - target

    # the deep edge must stay below the superficial one everywhere
    min_gap = float(np.max(curve_y(sup_in, x) - curve_y(deep_in_base, x))) + 1.0
    lo = max(min_gap, 0.3 * target)
    hi = max(3.0 * target, lo + 10.0)
    try:
        if mt(lo) > 0:
            return None
        gap = brentq(mt, lo, hi, xtol=1e-12, rtol=1e-14, maxiter=200)
    except (ValueError, ConfigError):
        return None
    deep_in = with_y0(deep_in_base, gap)

    def outer(inner, thick, shape, direction):
        out = copy.deepcopy(inner)
        out["y0"] = inner["y0"] + direction * thick
        out["waves"] = out["waves"] + [[direction * a, f, ph] for a, f, ph in _waves(shape, 0.2 * thick)]
        return out

    curves = {
        "superficial_outer": outer(sup_in, t_sup, ws["superficial_thick"], -1.0),
        "superficial_inner": sup_in,
        "deep_inner": deep_in,
        "deep_outer": outer(deep_in, t_deep, ws["deep_thick"], +1.0),
    }
    if p["third_band"]:
        d_out = curves["deep_outer"]
        t3 = 0.5 * (t_sup + t_deep)
        gap3 = draw["third_gap_mm"] / sp
        third_in = spec(d_out["y0"] + gap3, draw["third_tilt_deg"], p["curvature"][1],
                        _waves(ws["third_inner"], wav))
        sep = float(np.min(curve_y(third_in, x) - curve_y(d_out, x)))
        min_sep = max(3.0, 2.0 / sp)
        if sep < min_sep:
            third_in["y0"] += min_sep - sep
        curves["third_inner"] = third_in
        curves["third_outer"] = outer(third_in, t3, ws["third_thick"], +1.0)

    # vertical placement: superficial outer edge at superficial_depth_mm at the centre,
    # shifted up if the deepest band would leave the image (but never into the skin)
    top_limit = (p["skin_mm"] + 0.5) / sp - 0.5
    bottom_limit = H - 0.5 - max(1.0 / sp, 2.0)
    bottom_key = "third_outer" if p["third_band"] else "deep_outer"
    shift = p["superficial_depth_mm"] / sp - 0.5 - float(curve_y(curves["superficial_outer"], xc))
    top = float(np.min(curve_y(curves["superficial_outer"], x))) + shift
    bottom = float(np.max(curve_y(curves[bottom_key], x))) + shift
    if bottom > bottom_limit:
        shift -= bottom - bottom_limit
        top -= bottom - bottom_limit
    if top < top_limit:
        return None
    shift = math.floor(sup_in["y0"] + shift) + 0.5 - sup_in["y0"]  # superficial inner edge on a pixel border
    if float(np.min(curve_y(curves["superficial_outer"], x))) + shift < top_limit - 1.0:
        shift += 1.0
    if float(np.max(curve_y(curves[bottom_key], x))) + shift > H - 1.5:
        return None
    for c in curves.values():
        c["y0"] = float(c["y0"] + shift)
    return curves


def resolve_params(preset: str = "TA", size: int = 256, seed: int = 0, **overrides: Any) -> dict[str, Any]:
    """All parameters and analytic curves of ``make_phantom(preset, size, seed, **overrides)``
    without rendering the image (fast)."""
    p, _, _ = _resolve(preset, size, seed, overrides)
    return p


def _resolve(preset: str, size: int, seed: int, overrides: dict[str, Any]):
    if preset not in PRESETS:
        raise ConfigError(f"unknown phantom preset {preset!r}; choose one of {', '.join(PRESETS)}", "preset")
    for key in overrides:
        if key not in DEFAULTS:
            raise ConfigError(f"unknown phantom parameter {key!r}; known: {', '.join(DEFAULTS)}", key)
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 32:
        raise ConfigError(f"size must be an integer >= 32, got {size!r}", "size")
    size = int(size)
    pre = PRESETS[preset]
    p: dict[str, Any] = {k: v for k, v in DEFAULTS.items()}
    p.update({k: v for k, v in pre.items() if k in DEFAULTS and not isinstance(v, tuple)})
    user = {k: v for k, v in overrides.items() if v is not None}
    if "depth_mm" in user:
        p["depth_mm"] = float(user["depth_mm"])
    if "freq_mhz" in user:
        p["freq_mhz"] = float(user["freq_mhz"])
    if not (5 <= float(p["depth_mm"]) <= 300):
        raise ConfigError(f"depth_mm = {p['depth_mm']!r} out of range: 5..300 mm", "depth_mm")
    sp = float(p["depth_mm"]) / size
    # the preset is mixed into the seed: TA and GCM with the same seed are not look-alikes
    rng = np.random.default_rng([int(seed), list(PRESETS).index(preset)])
    curves = draw = None
    for _ in range(_MAX_TRIES):
        draw = _draw(pre, rng, sp)
        q = dict(p)
        for k in ("thickness_mm", "superficial_depth_mm", "tilt_deg", "curvature", "apo_thickness_px",
                  "pennation_deg", "waviness_px"):
            q[k] = draw[k]
        q.update(user)
        for k in _PAIR_KEYS:
            q[k] = _as_pair(k, q[k])
        for k, v in q.items():
            if k in ("third_band", "speckle"):
                q[k] = bool(v)
            elif k not in _PAIR_KEYS:
                try:
                    q[k] = float(v)
                except (TypeError, ValueError):
                    raise ConfigError(f"{k} must be a number, got {v!r}", k) from None
        q["size"] = size
        q["spacing_mm"] = sp
        _check_ranges(q)
        room = q["depth_mm"] - q["skin_mm"] - 1.5 - (2.0 / sp if q["third_band"] else 0.0)
        if "thickness_mm" in user and q["thickness_mm"] + 4.0 * sp > room:
            curves = None
            break  # cannot fit whatever the random values
        curves = _geometry(q, draw, size)
        if curves is not None:
            p = q
            break
    if curves is None:
        raise ConfigError(
            f"the muscle does not fit a {p['depth_mm']:g} mm field of view with these parameters "
            f"({', '.join(f'{k}={v!r}' for k, v in user.items()) or 'preset ranges'}); "
            "reduce thickness_mm, superficial_depth_mm, tilt or curvature, or increase depth_mm",
            "thickness_mm")
    chords, lengths = chords_between(curves["superficial_inner"], curves["deep_inner"], (0.0, size - 1.0), 5)
    p.update({
        "preset": preset,
        "seed": int(seed),
        "overrides": sorted(user),
        "tilt_deg": list(p["tilt_deg"]),
        "curvature": list(p["curvature"]),
        "apo_thickness_px": list(p["apo_thickness_px"]),
        "x_range_px": [0.0, size - 1.0],
        "chord_fractions": chord_fractions(5).tolist(),
        "chords_px": [[list(a), list(b)] for a, b in chords],
        "chord_lengths_px": lengths.tolist(),
        "thickness_px": float(lengths.mean()),
        "curves": curves,
    })
    p["thickness_mm_true"] = p["thickness_px"] * sp
    return p, draw, rng


def _region_maps(curves, rows: np.ndarray, W: int, third: bool):
    """Boolean band maps on a grid of row coordinates ``rows`` (px) × columns 0..W-1."""
    x = np.arange(W, dtype=np.float64)
    Y = rows[:, None]
    e = {k: curve_y(v, x)[None, :] for k, v in curves.items()}
    sup = (Y >= e["superficial_outer"]) & (Y <= e["superficial_inner"])
    deep = (Y >= e["deep_inner"]) & (Y <= e["deep_outer"])
    bands = {"superficial": sup, "deep": deep}
    if third:
        bands["third"] = (Y >= e["third_inner"]) & (Y <= e["third_outer"])
    return bands, e


def _fascicles(rng, Y, X, angle_rad, sp, region, spacing_mm=(0.5, 1.6), gain_db=(4.0, 17.0)):
    """Linear-intensity map (relative) of faint bright lines along ``angle_rad``."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    q = -s * X + c * Y                       # constant along a fascicle
    t = c * X + s * Y                        # along the fascicle
    qmin, qmax = float(q.min()), float(q.max())
    pos = [qmin - float(rng.uniform(0, spacing_mm[1] / sp))]
    while pos[-1] < qmax + spacing_mm[1] / sp:
        pos.append(pos[-1] + float(rng.uniform(*spacing_mm)) / sp)
    pos = np.asarray(pos)
    n = len(pos)
    amp = 10.0 ** (rng.uniform(*gain_db, n) / 10.0)
    width = np.maximum(rng.uniform(0.06, 0.16, n) / sp, 0.35)
    period = rng.uniform(12.0, 40.0, n) / sp
    phase = rng.uniform(0, 2 * np.pi, n)
    cut = rng.uniform(-0.9, 0.3, n)
    qq = q[region]
    tt = t[region]
    k = np.clip(np.searchsorted(pos, qq), 1, n - 1)
    out = np.zeros_like(qq)
    for kk in (k - 1, k):
        prof = np.exp(-0.5 * ((qq - pos[kk]) / width[kk]) ** 2)
        seg = np.clip((np.sin(2 * np.pi * tt / period[kk] + phase[kk]) - cut[kk]) / 0.4, 0.0, 1.0)
        out = np.maximum(out, amp[kk] * prof * seg)
    full = np.zeros(Y.shape, dtype=np.float64)
    full[region] = out
    return full


def _smooth_field(rng, shape, sigma_px, std):
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma_px, mode="reflect")
    sd = f.std()
    return f * (std / sd) if sd > 0 else f


def _render(p: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import convolve1d
    from scipy.signal import hilbert

    size = p["size"]
    H = W = size
    sp = p["spacing_mm"]
    curves = p["curves"]
    third = p["third_band"]
    lam_mm = SPEED_OF_SOUND_MM_US / p["freq_mhz"]
    os_ = int(np.clip(math.ceil(5.0 * sp / lam_mm), 2, 16))
    spf = sp / os_                                          # mm per fine row
    rows_f = (np.arange(H * os_) + 0.5) / os_ - 0.5         # fine rows in px
    x = np.arange(W, dtype=np.float64)
    Y = np.broadcast_to(rows_f[:, None], (H * os_, W))
    X = np.broadcast_to(x[None, :], (H * os_, W))

    # ---- mask (pixel centres) ------------------------------------------------
    bands_px, _ = _region_maps(curves, np.arange(H, dtype=np.float64), W, third)
    mask = np.zeros((H, W), dtype=np.uint8)
    for b in bands_px.values():
        mask[b] = 1

    # ---- echogenicity (dB, then linear intensity) on the fine grid -------------
    bands, e = _region_maps(curves, rows_f, W, third)
    het = np.repeat(_smooth_field(rng, (H, W), 2.0 / sp, 2.0), os_, axis=0)  # dB, smooth
    skin_px = p["skin_mm"] / sp - 0.5
    sup_out, sup_in = e["superficial_outer"], e["superficial_inner"]
    deep_in, deep_out = e["deep_inner"], e["deep_outer"]
    depth_mm = (Y + 0.5) * sp

    db = np.full(Y.shape, -31.0)                                   # neighbouring muscle below
    fat = (Y > skin_px) & (Y < sup_out)
    db[fat] = -29.0
    db[depth_mm < 0.35] = -3.0                                      # skin entry echo
    db[(depth_mm >= 0.35) & (Y <= skin_px)] = -13.0                 # dermis
    muscle = (Y > sup_in) & (Y < deep_in)
    db[muscle] = -30.0
    db = db + het
    lin = 10.0 ** (db / 10.0)

    # subcutaneous septa: thin bright wavy lines roughly parallel to the skin
    n_septa = int(rng.integers(1, 4))
    for _ in range(n_septa):
        frac = float(rng.uniform(0.25, 0.8))
        yk = skin_px + frac * (sup_out - skin_px) + float(rng.uniform(0.2, 0.8)) / sp * np.sin(
            2 * np.pi * float(rng.uniform(0.5, 2.0)) * x / W + float(rng.uniform(0, 2 * np.pi)))[None, :]
        wk = max(0.1 / sp, 0.35)
        lin = lin + fat * 10 ** (float(rng.uniform(-16, -9)) / 10) * np.exp(-0.5 * ((Y - yk) / wk) ** 2)

    # fascicles: insert into the deep aponeurosis at the pennation angle
    beta = math.atan(math.tan(math.radians(p["tilt_deg"][1])))
    gamma = beta - math.radians(p["pennation_deg"])
    lin = lin + 10 ** (-30.0 / 10) * _fascicles(rng, Y, X, gamma, sp, muscle)
    below = Y > deep_out
    if third:
        below &= ~bands["third"]
    lin = lin + 10 ** (-31.0 / 10) * _fascicles(rng, Y, X, beta + math.radians(p["pennation_deg"] * 0.8),
                                               sp, below, spacing_mm=(0.8, 2.5), gain_db=(2.0, 10.0))
    # aponeuroses: bright, with a slowly varying brightness along the band
    for name, b in bands.items():
        var = float(rng.uniform(1.0, 3.0)) * np.sin(
            2 * np.pi * float(rng.uniform(0.5, 2.0)) * x / W + float(rng.uniform(0, 2 * np.pi)))
        level = {"superficial": 0.0, "deep": -1.5, "third": -4.0}[name]
        lin = np.where(b, 10 ** ((level + var[None, :]) / 10.0), lin)

    # ---- point-spread function ------------------------------------------------
    sig_z = max(p["pulse_sigma_mm"] / spf, 0.8)                  # fine rows
    lam_f = lam_mm / spf                                          # fine rows per wavelength
    zk = np.arange(-math.ceil(4 * sig_z), math.ceil(4 * sig_z) + 1, dtype=np.float64)
    h_ax = np.exp(-0.5 * (zk / sig_z) ** 2) * np.cos(2 * np.pi * zk / lam_f)
    sig_x = max(p["beam_sigma_mm"] / sp, 0.6)
    xk = np.arange(-math.ceil(4 * sig_x), math.ceil(4 * sig_x) + 1, dtype=np.float64)
    h_lat = np.exp(-0.5 * (xk / sig_x) ** 2)
    energy = float(np.sum(h_ax ** 2) * np.sum(h_lat ** 2))

    att_db = 2.0 * p["attenuation_db_cm_mhz"] * p["freq_mhz"] * (depth_mm / 10.0) * (1.0 - p["tgc"])
    att = 10.0 ** (-att_db / 20.0)

    if p["speckle"]:
        density = min(1.0, p["scatterer_density"] * spf * sp)       # probability per fine cell
        amp = rng.standard_normal(Y.shape)
        if density < 1.0:
            amp *= (rng.random(Y.shape) < density) / math.sqrt(density)
        scat = amp * np.sqrt(lin)
        rf = convolve1d(scat, h_ax, axis=0, mode="reflect")
        rf = convolve1d(rf, h_lat, axis=1, mode="reflect")
        rf *= att / math.sqrt(energy)                                # rms = sqrt(E) (at no attenuation)
        if p["noise"] > 0:
            rf += p["noise"] * rng.standard_normal(rf.shape)
        env2 = np.abs(hilbert(rf, axis=0)) ** 2 / 2.0                # mean = E
    else:  # noise-free: blurred echogenicity
        g_ax = np.exp(-0.5 * (zk / sig_z) ** 2)
        env2 = convolve1d(lin, g_ax / g_ax.sum(), axis=0, mode="reflect")
        env2 = convolve1d(env2, h_lat / h_lat.sum(), axis=1, mode="reflect") * att ** 2
    inten = env2.reshape(H, os_, W).mean(axis=1)
    img_db = 10.0 * np.log10(inten + 1e-30)
    image = np.clip(1.0 + (img_db + p["gain_db"]) / p["dynamic_range_db"], 0.0, 1.0).astype(np.float32)
    return image, mask


def make_phantom(preset: str = "TA", size: int = 256, seed: int = 0, **overrides: Any) -> Phantom:
    """A synthetic longitudinal B-mode image (``size`` × ``size`` px) of the muscle
    ``preset`` (one of :data:`PRESETS`: "TA", "RF", "GCM", "BB"), deterministic for ``seed``.

    Overrides (see :data:`DEFAULTS`; ``None`` = keep the preset/random value):
    ``thickness_mm`` (true MT), ``depth_mm``, ``superficial_depth_mm``, ``tilt_deg``,
    ``curvature``, ``apo_thickness_px`` (each a number or a (superficial, deep) pair),
    ``pennation_deg``, ``waviness_px``, ``third_band``, ``skin_mm``, ``freq_mhz``,
    ``pulse_sigma_mm``, ``beam_sigma_mm``, ``scatterer_density``,
    ``attenuation_db_cm_mhz``, ``tgc``, ``noise``, ``dynamic_range_db``, ``gain_db``,
    ``speckle``. An unknown name raises :class:`ConfigError` naming it; values that do not
    fit the field of view raise :class:`ConfigError` too.

    Flat parallel aponeuroses: ``tilt_deg=0, curvature=0, waviness_px=0``.
    """
    p, _, rng = _resolve(preset, size, seed, overrides)
    image, mask = _render(p, rng)
    return Phantom(image=image, mask=mask, thickness_px=float(p["thickness_px"]),
                   thickness_mm=float(p["thickness_mm_true"]), spacing_mm=float(p["spacing_mm"]), params=p)


# ---------------------------------------------------------------------------------
# a set in the DL_Track layout
# ---------------------------------------------------------------------------------
MANIFEST_COLUMNS = ("id", "width", "height", "group", "subject", "spacing_row_mm", "spacing_col_mm",
                    "thickness_px", "thickness_mm", "seed")


def phantom_seed(seed: int, preset: str, index: int) -> int:
    """Seed of phantom ``index`` of ``preset`` in a set made with ``seed`` (uint32)."""
    order = list(PRESETS).index(preset)
    return int(np.random.SeedSequence([int(seed), order, int(index)]).generate_state(1)[0])


def _png_bytes_writer(arr: np.ndarray):
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), mode="L")

    def write(tmp: Path) -> None:
        img.save(tmp, format="PNG", optimize=False, compress_level=9)

    return write


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float image in [0, 1] → uint8 (rounded)."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def _uid(key: list[str], what: str) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[*key, what])


def _make_uids_deterministic(path: Path, key: list[str]) -> None:
    """Replace the study / instance / frame-of-reference UIDs of ``path`` by UIDs derived
    from ``key`` (the set's seed, size, preset and index), so that a regenerated set is
    bit-identical (``write_dicom`` draws fresh ones)."""
    import pydicom

    ds = pydicom.dcmread(path)
    sop = _uid(key, "sop")
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.StudyInstanceUID = _uid(key, "study")
    if "FrameOfReferenceUID" in ds:
        ds.FrameOfReferenceUID = _uid(key, "frame")
    save_with(path, lambda tmp: pydicom.dcmwrite(tmp, ds, enforce_file_format=True))


def write_phantom_set(out_dir: str | Path, n_per_preset: int = 6, size: int = 128, seed: int = 0,
                      dicom: bool = True, presets: Sequence[str] | None = None) -> Path:
    """Write ``n_per_preset`` phantoms of each preset in the DL_Track layout and return
    ``out_dir``:

    - ``images/<id>.png`` (8-bit gray), ``masks/<id>.png`` (0/255);
    - ``manifest.csv``: ``id,width,height,group,subject,spacing_row_mm,spacing_col_mm,
      thickness_px,thickness_mm,seed`` (``make_phantom(group, width, seed)`` remakes a row);
    - ``dicom/<id>.dcm`` (when ``dicom``), with the pixel spacing and UIDs derived from the
      seed, so the whole folder is bit-identical when regenerated.

    Ids are ``<preset>-<index:03d>`` (e.g. ``TA-003``); each phantom is its own subject.
    Files of earlier runs that are not in the new manifest are left alone.
    """
    presets = list(PRESETS) if presets is None else list(presets)
    for name in presets:
        if name not in PRESETS:
            raise ConfigError(f"unknown phantom preset {name!r}; choose one of {', '.join(PRESETS)}", "presets")
    if not isinstance(n_per_preset, (int, np.integer)) or n_per_preset < 1:
        raise ConfigError(f"n_per_preset must be an integer >= 1, got {n_per_preset!r}", "n_per_preset")
    write_dicom = None
    if dicom:
        try:
            from msknb.data.dicom import write_dicom
        except ImportError as e:
            raise MsknbError(f"DICOM output needs msknb.data.dicom ({e}); pass dicom=False / --no-dicom", "dicom") from e
    out = ensure_dir(out_dir)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for name in presets:
        for i in range(int(n_per_preset)):
            s = phantom_seed(seed, name, i)
            ph = make_phantom(name, size=size, seed=s)
            pid = f"{name}-{i:03d}"
            img8 = to_uint8(ph.image)
            save_with(out / "images" / f"{pid}.png", _png_bytes_writer(img8))
            save_with(out / "masks" / f"{pid}.png", _png_bytes_writer(ph.mask.astype(np.uint8) * 255))
            if write_dicom is not None:
                dcm = out / "dicom" / f"{pid}.dcm"
                key = ["msknb-phantom", str(seed), str(size), name, str(i), str(s)]
                write_dicom(dcm, img8, spacing_mm=(ph.spacing_mm, ph.spacing_mm),
                            description=f"msknb phantom {name} ({PRESETS[name]['description']}) seed {s}",
                            series_uid=_uid(key, "series"), instance=1)
                _make_uids_deterministic(dcm, key)
            writer.writerow([pid, size, size, name, pid, f"{ph.spacing_mm:.6f}", f"{ph.spacing_mm:.6f}",
                             f"{ph.thickness_px:.6f}", f"{ph.thickness_mm:.6f}", s])
    write_text_atomic(out / "manifest.csv", buf.getvalue())
    return out


# ---------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------
def _cli(args: argparse.Namespace) -> int:
    out = write_phantom_set(args.out, n_per_preset=args.n_per_preset, size=args.size, seed=args.seed,
                            dicom=not args.no_dicom)
    n = args.n_per_preset * len(PRESETS)
    print(f"wrote {n} phantoms ({args.size}x{args.size}) to {out}")
    return 0


def register_cli(subparsers) -> None:
    """``python -m msknb phantom --out data_samples/phantoms --n-per-preset 6 --size 128 --seed 0``
    (the defaults regenerate the committed ``data_samples/phantoms``)."""
    p = subparsers.add_parser(
        "phantom", help="write synthetic ultrasound phantoms with masks (DL_Track layout)",
        description="Write synthetic longitudinal B-mode phantoms (images/, masks/, dicom/, manifest.csv). "
                    "The defaults regenerate data_samples/phantoms bit for bit.")
    p.add_argument("--out", type=Path, default=PHANTOM_SAMPLES_DIR, help="output folder (default: %(default)s)")
    p.add_argument("--n-per-preset", type=int, default=6, help="phantoms per muscle preset (default: 6)")
    p.add_argument("--size", type=int, default=128, help="image size in px (default: 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the set (default: 0)")
    p.add_argument("--no-dicom", action="store_true", help="skip dicom/<id>.dcm")
    p.set_defaults(func=_cli)
