"""Rendering a phantom's B-mode image from its geometry: echogenicity map, point
scatterers, point-spread function, attenuation, envelope and log compression (the steps
of :mod:`msknb.data.phantom`'s docstring), and its exact mask."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.ndimage import convolve1d, gaussian_filter
from scipy.signal import hilbert

from msknb.data.phantom.curves import curve_y
from msknb.data.phantom.presets import SPEED_OF_SOUND_MM_US


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
    f = gaussian_filter(rng.standard_normal(shape), sigma_px, mode="reflect")
    sd = f.std()
    return f * (std / sd) if sd > 0 else f


def _mask(curves, size: int, third: bool) -> np.ndarray:
    """uint8 (H, W) {0, 1}: pixels whose centre lies in a band."""
    bands_px, _ = _region_maps(curves, np.arange(size, dtype=np.float64), size, third)
    mask = np.zeros((size, size), dtype=np.uint8)
    for b in bands_px.values():
        mask[b] = 1
    return mask


def _tissue(p: dict[str, Any], rng, g: dict[str, Any]) -> tuple[np.ndarray, dict, np.ndarray]:
    """(linear echogenicity of skin, fat, muscle and the tissue below on the fine grid,
    band maps on it, muscle region)."""
    sp, H, W, os_, Y = p["spacing_mm"], p["size"], p["size"], g["os"], g["Y"]
    bands, e = _region_maps(p["curves"], g["rows_f"], W, p["third_band"])
    het = np.repeat(_smooth_field(rng, (H, W), 2.0 / sp, 2.0), os_, axis=0)  # dB, smooth
    skin_px = p["skin_mm"] / sp - 0.5
    sup_out, sup_in = e["superficial_outer"], e["superficial_inner"]
    deep_in = e["deep_inner"]
    depth_mm = g["depth_mm"]
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
    x = g["x"]
    n_septa = int(rng.integers(1, 4))
    for _ in range(n_septa):
        frac = float(rng.uniform(0.25, 0.8))
        yk = skin_px + frac * (sup_out - skin_px) + float(rng.uniform(0.2, 0.8)) / sp * np.sin(
            2 * np.pi * float(rng.uniform(0.5, 2.0)) * x / W + float(rng.uniform(0, 2 * np.pi)))[None, :]
        wk = max(0.1 / sp, 0.35)
        lin = lin + fat * 10 ** (float(rng.uniform(-16, -9)) / 10) * np.exp(-0.5 * ((Y - yk) / wk) ** 2)
    return lin, {"bands": bands, "e": e}, muscle


def _echogenicity(p: dict[str, Any], rng, g: dict[str, Any]) -> np.ndarray:
    """Linear echogenicity (1 = aponeurosis) on the fine grid: tissue, fascicles, bands."""
    sp, W, Y, X, x = p["spacing_mm"], p["size"], g["Y"], g["X"], g["x"]
    lin, maps, muscle = _tissue(p, rng, g)
    bands, e = maps["bands"], maps["e"]
    # fascicles: insert into the deep aponeurosis at the pennation angle
    beta = math.atan(math.tan(math.radians(p["tilt_deg"][1])))
    gamma = beta - math.radians(p["pennation_deg"])
    lin = lin + 10 ** (-30.0 / 10) * _fascicles(rng, Y, X, gamma, sp, muscle)
    below = Y > e["deep_outer"]
    if p["third_band"]:
        below &= ~bands["third"]
    lin = lin + 10 ** (-31.0 / 10) * _fascicles(rng, Y, X, beta + math.radians(p["pennation_deg"] * 0.8),
                                               sp, below, spacing_mm=(0.8, 2.5), gain_db=(2.0, 10.0))
    # aponeuroses: bright, with a slowly varying brightness along the band
    for name, b in bands.items():
        var = float(rng.uniform(1.0, 3.0)) * np.sin(
            2 * np.pi * float(rng.uniform(0.5, 2.0)) * x / W + float(rng.uniform(0, 2 * np.pi)))
        level = {"superficial": 0.0, "deep": -1.5, "third": -4.0}[name]
        lin = np.where(b, 10 ** ((level + var[None, :]) / 10.0), lin)
    return lin


def _psf(p: dict[str, Any], g: dict[str, Any]) -> dict[str, Any]:
    """Separable point-spread function: axial Gaussian-windowed carrier, lateral Gaussian."""
    sp, spf = p["spacing_mm"], g["spf"]
    sig_z = max(p["pulse_sigma_mm"] / spf, 0.8)                  # fine rows
    lam_f = g["lam_mm"] / spf                                     # fine rows per wavelength
    zk = np.arange(-math.ceil(4 * sig_z), math.ceil(4 * sig_z) + 1, dtype=np.float64)
    h_ax = np.exp(-0.5 * (zk / sig_z) ** 2) * np.cos(2 * np.pi * zk / lam_f)
    sig_x = max(p["beam_sigma_mm"] / sp, 0.6)
    xk = np.arange(-math.ceil(4 * sig_x), math.ceil(4 * sig_x) + 1, dtype=np.float64)
    h_lat = np.exp(-0.5 * (xk / sig_x) ** 2)
    return {"zk": zk, "sig_z": sig_z, "h_ax": h_ax, "h_lat": h_lat,
            "energy": float(np.sum(h_ax ** 2) * np.sum(h_lat ** 2))}


def _envelope2(p: dict[str, Any], rng, g: dict[str, Any], lin: np.ndarray) -> np.ndarray:
    """Squared envelope (mean = echogenicity at no attenuation) on the fine grid."""
    h = _psf(p, g)
    att_db = 2.0 * p["attenuation_db_cm_mhz"] * p["freq_mhz"] * (g["depth_mm"] / 10.0) * (1.0 - p["tgc"])
    att = 10.0 ** (-att_db / 20.0)
    if not p["speckle"]:  # noise-free: blurred echogenicity
        g_ax = np.exp(-0.5 * (h["zk"] / h["sig_z"]) ** 2)
        env2 = convolve1d(lin, g_ax / g_ax.sum(), axis=0, mode="reflect")
        return convolve1d(env2, h["h_lat"] / h["h_lat"].sum(), axis=1, mode="reflect") * att ** 2
    density = min(1.0, p["scatterer_density"] * g["spf"] * p["spacing_mm"])  # probability per fine cell
    amp = rng.standard_normal(g["Y"].shape)
    if density < 1.0:
        amp *= (rng.random(g["Y"].shape) < density) / math.sqrt(density)
    scat = amp * np.sqrt(lin)
    rf = convolve1d(scat, h["h_ax"], axis=0, mode="reflect")
    rf = convolve1d(rf, h["h_lat"], axis=1, mode="reflect")
    rf *= att / math.sqrt(h["energy"])                             # rms = sqrt(E) (at no attenuation)
    if p["noise"] > 0:
        rf += p["noise"] * rng.standard_normal(rf.shape)
    return np.abs(hilbert(rf, axis=0)) ** 2 / 2.0                  # mean = E


def _fine_grid(p: dict[str, Any]) -> dict[str, Any]:
    """The axially oversampled grid: ``os`` sub-rows per pixel (carrier sampled >= ~5x per wavelength)."""
    H = W = p["size"]
    sp = p["spacing_mm"]
    lam_mm = SPEED_OF_SOUND_MM_US / p["freq_mhz"]
    os_ = int(np.clip(math.ceil(5.0 * sp / lam_mm), 2, 16))
    rows_f = (np.arange(H * os_) + 0.5) / os_ - 0.5         # fine rows in px
    x = np.arange(W, dtype=np.float64)
    Y = np.broadcast_to(rows_f[:, None], (H * os_, W))
    return {"os": os_, "spf": sp / os_, "lam_mm": lam_mm, "rows_f": rows_f, "x": x, "Y": Y,
            "X": np.broadcast_to(x[None, :], (H * os_, W)), "depth_mm": (Y + 0.5) * sp}


def render(p: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 (H, W) in [0, 1], mask uint8 (H, W) {0, 1}) of resolved parameters ``p``."""
    H = W = p["size"]
    g = _fine_grid(p)
    mask = _mask(p["curves"], H, p["third_band"])
    lin = _echogenicity(p, rng, g)
    env2 = _envelope2(p, rng, g, lin)
    inten = env2.reshape(H, g["os"], W).mean(axis=1)
    img_db = 10.0 * np.log10(inten + 1e-30)
    image = np.clip(1.0 + (img_db + p["gain_db"]) / p["dynamic_range_db"], 0.0, 1.0).astype(np.float32)
    return image, mask
