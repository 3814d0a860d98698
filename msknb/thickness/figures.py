"""Drawings of the thickness stage: the chords on a mask or image (paper Fig. 3), a
Bland–Altman plot (plotly), a scan with its predicted mask and chords, and MT over the
frames of a cine loop."""
from __future__ import annotations

import math
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
from skimage import measure

from msknb.thickness.agreement import agreement
from msknb.masks.probability import as_probability
from msknb.thickness.result import ThicknessResult
from msknb.viz import overlay_mask

#: at most this many chords are drawn (the "dltrack" method has one per column)
MAX_DRAWN_CHORDS = 15


def _outlines(ax, result: ThicknessResult, image, mask) -> None:
    bands = result.bands
    if image is not None:
        ax.imshow(np.asarray(image, dtype=np.float32), cmap="gray", vmin=0, vmax=1)
    elif bands is not None:
        ax.imshow(bands > 0, cmap="gray", vmin=0, vmax=3)
    if bands is not None:
        for value, colour in ((1, "cyan"), (2, "gold"), (3, "0.6")):
            for c in measure.find_contours((bands == value).astype(float), 0.5):
                ax.plot(c[:, 1], c[:, 0], color=colour, lw=0.8)
    elif mask is not None:
        for c in measure.find_contours(as_probability(mask), 0.5):
            ax.plot(c[:, 1], c[:, 0], color="cyan", lw=0.8)


def _title(result: ThicknessResult, title: str | None, true_px: float | None) -> str:
    text = title or f"MT = {result.mt_px:.2f} px" + (f" = {result.mt_mm:.2f} mm" if result.mt_mm is not None else "")
    if true_px is not None:
        text += f" (true {true_px:.2f} px)"
    return text


def plot_chords(image: np.ndarray | None, result: ThicknessResult, ax=None, mask: np.ndarray | None = None,
                title: str | None = None, true_px: float | None = None):
    """Paper Fig. 3: the image (H, W) in [0, 1] (or None), the outlines of the selected
    aponeuroses (superficial cyan, deep yellow, ignored bands grey), the inner edges,
    the centre line (dashed) and the chords (red) with their lengths in px. With an
    anisotropic spacing the physical chords are drawn, labelled in the spacing's unit,
    and the axes get its aspect ratio, so that they look perpendicular. Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    _outlines(ax, result, image, mask)
    ax.plot(result.superficial_edge[:, 1], result.superficial_edge[:, 0], color="deepskyblue", lw=1)
    ax.plot(result.deep_edge[:, 1], result.deep_edge[:, 0], color="orange", lw=1)
    ax.plot(result.centreline[:, 1], result.centreline[:, 0], "--", color="lime", lw=1, label="centre line")
    physical = result.spacing_mm is not None and not math.isclose(*result.spacing_mm, rel_tol=1e-6)
    chords, lengths = ((result.chords_physical, result.chord_lengths_mm) if physical
                       else (result.chords, result.chord_lengths_px))
    step = max(1, int(math.ceil(len(chords) / MAX_DRAWN_CHORDS)))
    for ((y0, x0), (y1, x1)), length in list(zip(chords, lengths))[::step]:
        ax.plot([x0, x1], [y0, y1], "-", color="red", lw=1.5)
        ax.plot([x0, x1], [y0, y1], "o", color="red", ms=2.5)
        ax.annotate(f"{length:.1f}", (x1, y1), textcoords="offset points", xytext=(2, 3), color="red", fontsize=7)
    ax.set_title(_title(result, title, true_px), fontsize=9)
    if physical:
        ax.set_aspect(result.spacing_mm[0] / result.spacing_mm[1])  # show the physical geometry
    ax.set_axis_off()
    return ax


def bland_altman_figure(a: Any, b: Any, ids: Sequence[str] | None = None, title: str = "Bland–Altman",
                        unit: str = "px", label_a: str = "expert", label_b: str = "predicted"):
    """Plotly Bland–Altman plot: x = mean of the pair, y = b - a, one point per image
    (hover shows the image id and both values), with the bias and the 95 % limits of
    agreement (bias -+ 1.96 SD) as horizontal lines. Pairs with NaN are left out.
    Returns a ``plotly.graph_objects.Figure``."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    ids = [str(i) for i in (ids if ids is not None else range(len(a)))]
    stats = agreement(a, b, ids)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    kept_ids = [i for i, k in zip(ids, keep) if k]
    mean, diff = (a + b) / 2, b - a
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=mean, y=diff, mode="markers", name="images", marker={"size": 7, "opacity": 0.75},
        customdata=np.column_stack([kept_ids, a, b]) if len(a) else None,
        hovertemplate=(f"id %{{customdata[0]}}<br>{label_a} %{{customdata[1]:.2f}} {unit}<br>"
                       f"{label_b} %{{customdata[2]:.2f}} {unit}<br>diff %{{y:.2f}} {unit}<extra></extra>")))
    for key, name, dash in (("bias", "bias", "solid"), ("loa_high", "+1.96 SD", "dash"), ("loa_low", "-1.96 SD", "dash")):
        value = stats[key]
        if np.isfinite(value):
            fig.add_hline(y=value, line_dash=dash, line_color="firebrick" if key == "bias" else "grey",
                          annotation_text=f"{name} {value:.2f} {unit}", annotation_position="right")
    fig.update_layout(
        title=f"{title} (n = {stats['n']}, RMSE {stats['rmse']:.2f} {unit})",
        xaxis_title=f"mean of {label_a} and {label_b} ({unit})",
        yaxis_title=f"{label_b} − {label_a} ({unit})", template="plotly_white", width=700, height=450,
        showlegend=False)
    return fig


def bland_altman_static(a: Any, b: Any, flags: Sequence[str] | None = None, title: str = "Bland–Altman",
                        unit: str = "px", label_a: str = "expert", label_b: str = "predicted", ax=None):
    """The static twin of :func:`bland_altman_figure` (matplotlib): x = mean of the pair,
    y = b - a, bias and 95 % limits of agreement; with ``flags`` ("ok" | "doubtful: ..." per
    pair), doubtful readings are drawn as open markers. Returns the figure."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    stats = agreement(a, b)
    ok = np.array([str(f) == "ok" for f in flags], dtype=bool) if flags is not None else np.ones(len(a), bool)
    keep = np.isfinite(a) & np.isfinite(b)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    mean, diff = (a + b) / 2, b - a
    ax.scatter(mean[keep & ok], diff[keep & ok], s=22, color="tab:blue", label="flag ok")
    if flags is not None and (keep & ~ok).any():
        ax.scatter(mean[keep & ~ok], diff[keep & ~ok], s=28, facecolors="none", edgecolors="tab:orange",
                   label="flagged doubtful")
    for key, style in (("bias", "-"), ("loa_high", "--"), ("loa_low", "--")):
        if np.isfinite(stats[key]):
            ax.axhline(stats[key], ls=style, color="firebrick" if key == "bias" else "grey", lw=1)
            ax.annotate(f"{stats[key]:+.2f}", (1.0, stats[key]), xycoords=("axes fraction", "data"), fontsize=8,
                        va="bottom", ha="right")
    ax.set(xlabel=f"mean of {label_a} and {label_b} ({unit})", ylabel=f"{label_b} − {label_a} ({unit})",
           title=f"{title} (n = {stats['n']})")
    ax.legend(fontsize=8, loc="best")
    ax.figure.tight_layout()
    return ax.figure


def overlay_figure(image: np.ndarray, mask: np.ndarray | None, result: ThicknessResult | None, title: str):
    """The image (H, W) in [0, 1] with the predicted mask tinted red and, when measured,
    the chords (:func:`plot_chords`); the figure keeps the image's own pixel grid."""
    h, w = np.shape(image)
    fig, ax = plt.subplots(figsize=(max(3.0, w / 100), max(2.5, h / 100)), dpi=100)
    if result is not None:
        plot_chords(overlay_mask(image, mask), result, ax=ax, title=title)  # an RGB image: drawn as is
    else:
        ax.imshow(overlay_mask(image, mask), vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def mt_over_time_figure(frames: Sequence[int], mt: Sequence[float], flags: Sequence[str], unit: str = "mm",
                        title: str = "MT over the cine loop"):
    """MT per frame of a cine loop (line), doubtful frames as open red circles, failed
    frames left out. Returns the matplotlib figure."""
    f = np.asarray(frames, dtype=float)
    v = np.asarray([np.nan if x is None else x for x in mt], dtype=float)
    doubtful = np.array([str(s).startswith("doubtful") for s in flags])
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(f, v, "-o", ms=3, lw=1, label="MT")
    if doubtful.any():
        ax.plot(f[doubtful], v[doubtful], "o", ms=8, mfc="none", mec="red", label="doubtful")
    ax.set(xlabel="frame", ylabel=f"MT ({unit})", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
