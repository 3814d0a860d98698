"""The phantom's geometry: parameters drawn from a preset (:func:`resolve_params`) and the
analytic curves of every band edge, fitted so that the true thickness is the one asked for."""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from scipy.optimize import brentq

from msknb.data.phantom.curves import chord_fractions, chords_between, curve_y
from msknb.data.phantom.presets import DEFAULTS, MAX_TRIES, PAIR_KEYS, PRESETS
from msknb.errors import ConfigError


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


def _spec(size: int, y0: float, tilt: float, curv: float, waves) -> dict[str, Any]:
    """Curve spec (see :func:`curve_y`) centred on an image ``size`` px wide."""
    xc, hw = (size - 1) / 2.0, size / 2.0
    return {"y0": float(y0), "xc": xc, "half_width": hw, "slope": math.tan(math.radians(tilt)),
            "quad": float(curv) * hw, "waves": waves}


def _with_y0(s: dict[str, Any], y0: float) -> dict[str, Any]:
    out = copy.deepcopy(s)
    out["y0"] = float(y0)
    return out


def _outer(inner: dict[str, Any], thick: float, shape, direction: float) -> dict[str, Any]:
    """Outer edge of a band ``thick`` px from ``inner`` (up: -1, down: +1), its own waviness."""
    out = copy.deepcopy(inner)
    out["y0"] = inner["y0"] + direction * thick
    out["waves"] = out["waves"] + [[direction * a, f, ph] for a, f, ph in _waves(shape, 0.2 * thick)]
    return out


def _inner_edges(p: dict[str, Any], ws: dict[str, Any], size: int):
    """(superficial inner edge, deep inner edge) at y0 = 0 / at the gap whose chords give
    the target thickness, or None when no gap does."""
    W = size
    x = np.arange(W, dtype=np.float64)
    wav = p["waviness_px"]
    sup_in = _spec(size, 0.0, p["tilt_deg"][0], p["curvature"][0], _waves(ws["superficial_inner"], wav))
    deep_in_base = _spec(size, 0.0, p["tilt_deg"][1], p["curvature"][1], _waves(ws["deep_inner"], wav))
    target = p["thickness_mm"] / p["spacing_mm"]

    def mt(gap):
        _, lengths = chords_between(sup_in, _with_y0(deep_in_base, gap), (0.0, W - 1.0), 5)
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
    return sup_in, _with_y0(deep_in_base, gap)


def _third_band(p: dict[str, Any], draw: dict[str, Any], curves: dict[str, Any], size: int) -> None:
    """Add ``third_inner``/``third_outer`` (a neighbouring muscle's aponeurosis) below the deep band."""
    sp, ws = p["spacing_mm"], draw["wave_shapes"]
    x = np.arange(size, dtype=np.float64)
    d_out = curves["deep_outer"]
    t3 = 0.5 * (p["apo_thickness_px"][0] + p["apo_thickness_px"][1])
    gap3 = draw["third_gap_mm"] / sp
    third_in = _spec(size, d_out["y0"] + gap3, draw["third_tilt_deg"], p["curvature"][1],
                     _waves(ws["third_inner"], p["waviness_px"]))
    sep = float(np.min(curve_y(third_in, x) - curve_y(d_out, x)))
    min_sep = max(3.0, 2.0 / sp)
    if sep < min_sep:
        third_in["y0"] += min_sep - sep
    curves["third_inner"] = third_in
    curves["third_outer"] = _outer(third_in, t3, ws["third_thick"], +1.0)


def _place(p: dict[str, Any], curves: dict[str, Any], size: int) -> bool:
    """Shift ``curves`` vertically: superficial outer edge at superficial_depth_mm at the
    centre, up if the deepest band would leave the image (never into the skin); the
    superficial inner edge on a pixel border. False when they do not fit."""
    sp, H = p["spacing_mm"], size
    x = np.arange(size, dtype=np.float64)
    xc = (size - 1) / 2.0
    sup_in = curves["superficial_inner"]
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
        return False
    shift = math.floor(sup_in["y0"] + shift) + 0.5 - sup_in["y0"]  # superficial inner edge on a pixel border
    if float(np.min(curve_y(curves["superficial_outer"], x))) + shift < top_limit - 1.0:
        shift += 1.0
    if float(np.max(curve_y(curves[bottom_key], x))) + shift > H - 1.5:
        return False
    for c in curves.values():
        c["y0"] = float(c["y0"] + shift)
    return True


def _geometry(p: dict[str, Any], draw: dict[str, Any], size: int) -> dict[str, dict[str, Any]] | None:
    """Analytic curves of all band edges (px), or None when they do not fit the image."""
    ws = draw["wave_shapes"]
    t_sup, t_deep = p["apo_thickness_px"]
    edges = _inner_edges(p, ws, size)
    if edges is None:
        return None
    sup_in, deep_in = edges
    curves = {
        "superficial_outer": _outer(sup_in, t_sup, ws["superficial_thick"], -1.0),
        "superficial_inner": sup_in,
        "deep_inner": deep_in,
        "deep_outer": _outer(deep_in, t_deep, ws["deep_thick"], +1.0),
    }
    if p["third_band"]:
        _third_band(p, draw, curves, size)
    return curves if _place(p, curves, size) else None


def resolve_params(preset: str = "TA", size: int = 256, seed: int = 0, **overrides: Any) -> dict[str, Any]:
    """All parameters and analytic curves of ``make_phantom(preset, size, seed, **overrides)``
    without rendering the image (fast)."""
    p, _, _ = resolve(preset, size, seed, overrides)
    return p


def _base_params(preset: str, size: int, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fixed parameters: defaults, the preset's fixed values, depth and frequency given,
    the user's non-None overrides), checking names and size."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown phantom preset {preset!r}; choose one of {', '.join(PRESETS)}", "preset")
    for key in overrides:
        if key not in DEFAULTS:
            raise ConfigError(f"unknown phantom parameter {key!r}; known: {', '.join(DEFAULTS)}", key)
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 32:
        raise ConfigError(f"size must be an integer >= 32, got {size!r}", "size")
    p: dict[str, Any] = {k: v for k, v in DEFAULTS.items()}
    p.update({k: v for k, v in PRESETS[preset].items() if k in DEFAULTS and not isinstance(v, tuple)})
    user = {k: v for k, v in overrides.items() if v is not None}
    if "depth_mm" in user:
        p["depth_mm"] = float(user["depth_mm"])
    if "freq_mhz" in user:
        p["freq_mhz"] = float(user["freq_mhz"])
    if not (5 <= float(p["depth_mm"]) <= 300):
        raise ConfigError(f"depth_mm = {p['depth_mm']!r} out of range: 5..300 mm", "depth_mm")
    return p, user


def _candidate(p: dict[str, Any], draw: dict[str, Any], user: dict[str, Any], size: int, sp: float) -> dict[str, Any]:
    """One try's parameters: ``p`` with the drawn geometry, then the user's values, typed and checked."""
    q = dict(p)
    for k in ("thickness_mm", "superficial_depth_mm", "tilt_deg", "curvature", "apo_thickness_px",
              "pennation_deg", "waviness_px"):
        q[k] = draw[k]
    q.update(user)
    for k in PAIR_KEYS:
        q[k] = _as_pair(k, q[k])
    for k, v in q.items():
        if k in ("third_band", "speckle"):
            q[k] = bool(v)
        elif k not in PAIR_KEYS:
            try:
                q[k] = float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"{k} must be a number, got {v!r}", k) from None
    q["size"] = size
    q["spacing_mm"] = sp
    _check_ranges(q)
    return q


def _chords_record(p: dict[str, Any], preset: str, seed: int, user: dict[str, Any], curves, size: int) -> None:
    """Add the resolved pairs, the chords and the true thickness (px, mm) to ``p``."""
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
    p["thickness_mm_true"] = p["thickness_px"] * p["spacing_mm"]


def resolve(preset: str, size: int, seed: int, overrides: dict[str, Any]):
    """(parameters with curves, the last draw, the generator to render with): up to
    :data:`MAX_TRIES` draws until the muscle fits the field of view."""
    p, user = _base_params(preset, size, overrides)
    size = int(size)
    sp = float(p["depth_mm"]) / size
    # the preset is mixed into the seed: TA and GCM with the same seed are not look-alikes
    rng = np.random.default_rng([int(seed), list(PRESETS).index(preset)])
    curves = draw = None
    for _ in range(MAX_TRIES):
        draw = _draw(PRESETS[preset], rng, sp)
        q = _candidate(p, draw, user, size, sp)
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
    _chords_record(p, preset, seed, user, curves, size)
    return p, draw, rng
