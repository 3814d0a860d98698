"""Figures of the evaluation (notebook 07): intensity histograms, closest synthetic/training
pairs, similarity distributions (matplotlib) and the PCA scatter (plotly). Numbers come
from :mod:`~msknb.evaluation.intensity`, :mod:`~msknb.evaluation.memorisation` and
:mod:`~msknb.evaluation.pca`; this module only draws."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np
import plotly.graph_objects as go

from msknb.evaluation.intensity import intensity_stats
from msknb.evaluation.memorisation import Neighbours
from msknb.evaluation.pca import pca_project
from msknb.evaluation.training_screen import start_label
from msknb.evaluation.stacks import as_stack


def histogram_figure(real: np.ndarray, synthetic: np.ndarray | None, real_groups: Sequence[str] | None = None,
                     synthetic_groups: Sequence[str] | None = None, group: str = "all",
                     labels: tuple[str, str] = ("real", "synthetic"), log: bool = False):
    """Matplotlib figure: 256-bin 8-bit intensity histograms (probability per grey
    level) of ``real`` and ``synthetic`` for ``group`` ("all" = every image), legend with
    n, skewness and entropy (bits). ``synthetic`` may be None (real only)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for imgs, groups, label in ((real, real_groups, labels[0]), (synthetic, synthetic_groups, labels[1])):
        if imgs is None or len(imgs) == 0:
            continue
        arr = as_stack(imgs)
        if group != "all" and groups is not None:
            arr = arr[np.asarray(groups) == group]
        if len(arr) == 0:
            continue
        st = intensity_stats(arr)
        ax.plot(np.arange(256), st["histogram"], lw=1.2,
                label=f"{label} (n={st['n_images']}, skew {st['skewness']:.2f}, H {st['entropy_bits']:.2f} bits)")
    ax.set_xlabel("grey level (8-bit)")
    ax.set_ylabel("fraction of pixels")
    if log:
        ax.set_yscale("log")
    ax.set_title(f"Intensity histogram, group: {group} (256 bins)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def closest_pairs_figure(synthetic: np.ndarray, train: np.ndarray, neighbours: Neighbours,
                         synthetic_ids: Sequence[str] | None = None, k: int = 6,
                         threshold: float | None = None):
    """Matplotlib figure of the ``k`` synthetic images closest to a training image
    (top row) above their nearest training image (bottom row), titled with ids and
    similarity; pairs above ``threshold`` (e.g. the baseline's 99th percentile) in red."""
    s, t = as_stack(synthetic, "synthetic"), as_stack(train, "train")
    sids = [str(i) for i in (synthetic_ids if synthetic_ids is not None else range(len(s)))]
    order = np.argsort(-neighbours.similarity)[:max(1, min(k, len(s)))]
    fig, axes = plt.subplots(2, len(order), figsize=(2.0 * len(order), 4.4), squeeze=False)
    for col, i in enumerate(order):
        sim = neighbours.similarity[i]
        colour = "red" if threshold is not None and sim > threshold else "black"
        axes[0, col].imshow(s[i], cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(f"{sids[i]}\n{neighbours.metric} {sim:.3f}", fontsize=7, color=colour)
        axes[1, col].imshow(t[neighbours.index[i]], cmap="gray", vmin=0, vmax=1)
        axes[1, col].set_title(f"train {neighbours.ids[i]}", fontsize=7)
        for ax in axes[:, col]:
            ax.axis("off")
    fig.suptitle("Closest synthetic / training pairs (top: generated, bottom: nearest training image)", fontsize=9)
    fig.tight_layout()
    return fig


def similarity_histogram_figure(synthetic_similarity: np.ndarray, baseline_similarity: np.ndarray,
                                metric: str = "ncc", thresholds: dict[str, float] | None = None):
    """Matplotlib histogram of nearest-training similarities, synthetic vs real baseline,
    with the baseline percentile thresholds as vertical lines."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    both = np.concatenate([np.ravel(synthetic_similarity), np.ravel(baseline_similarity)])
    bins = np.linspace(both.min(), both.max() + 1e-9, 30)
    ax.hist(baseline_similarity, bins=bins, alpha=0.6, density=True, label=f"real test -> train (n={len(baseline_similarity)})")
    ax.hist(synthetic_similarity, bins=bins, alpha=0.6, density=True, label=f"synthetic -> train (n={len(synthetic_similarity)})")
    for key, t in (thresholds or {}).items():
        ax.axvline(t, color="k", ls="--", lw=0.8)
        ax.text(t, ax.get_ylim()[1] * 0.9, key, fontsize=7)
    ax.set_xlabel(f"similarity to nearest training image ({metric})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def metric_distribution_figure(values: dict[str, np.ndarray], metric: str, title: str | None = None):
    """Matplotlib figure: one histogram per label of per-image values of ``metric``
    (e.g. {"synthetic vs real": (n,), "real vs real": (n,)}), with the means as lines."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items() if v is not None and len(v)}
    if arrays:
        both = np.concatenate(list(arrays.values()))
        bins = np.linspace(both.min(), both.max() + 1e-9, 25)
        for label, v in arrays.items():
            patches = ax.hist(v, bins=bins, alpha=0.55, label=f"{label} (n={len(v)}, mean {v.mean():.3g})")[2]
            ax.axvline(v.mean(), color=patches[0].get_facecolor(), lw=1.5)
        ax.legend(fontsize=8)
    ax.set_xlabel(metric)
    ax.set_ylabel("images")
    ax.set_title(title or f"Per-image {metric}", fontsize=10)
    fig.tight_layout()
    return fig


def pca_figure(real_feats: np.ndarray, synth_feats: np.ndarray | None, real_ids: Sequence[str],
               synth_ids: Sequence[str] | None = None, title: str = "PCA of bottleneck features",
               standardize: bool = True):
    """Plotly scatter of the first two principal components (:func:`pca_project`) of
    real (N, F) vs synthetic (M, F) features; hover shows each image's id."""
    pr, ps, ratio = pca_project(real_feats, synth_feats, 2, standardize)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=pr[:, 0], y=pr[:, 1], mode="markers", name=f"real (n={len(pr)})",
                             text=list(map(str, real_ids)), hovertemplate="%{text}<extra>real</extra>",
                             marker={"size": 7, "opacity": 0.7}))
    if len(ps):
        fig.add_trace(go.Scatter(x=ps[:, 0], y=ps[:, 1], mode="markers", name=f"synthetic (n={len(ps)})",
                                 text=list(map(str, synth_ids if synth_ids is not None else range(len(ps)))),
                                 hovertemplate="%{text}<extra>synthetic</extra>",
                                 marker={"size": 7, "opacity": 0.7, "symbol": "x"}))
    fig.update_layout(title=title, xaxis_title=f"PC1 ({100 * ratio[0]:.1f} % var.)",
                      yaxis_title=f"PC2 ({100 * ratio[1]:.1f} % var.)", width=640, height=460)
    return fig


def pca_static_figure(real_proj: np.ndarray, synth_proj: np.ndarray | None, explained: Sequence[float],
                      title: str = "PCA of bottleneck features"):
    """The static twin of :func:`pca_figure` (matplotlib): PC1 vs PC2 of real (N, >=2) and
    synthetic (M, >=2) projections (:func:`pca_project`), each set's mean as a large marker
    with a bar of one real SD per axis. Returns the figure."""
    r = np.asarray(real_proj, dtype=np.float64).reshape(-1, 2) if len(real_proj) else np.zeros((0, 2))
    s = np.asarray(synth_proj, dtype=np.float64).reshape(-1, 2) if synth_proj is not None and len(synth_proj) \
        else np.zeros((0, 2))
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    sd = r.std(axis=0, ddof=1) if len(r) > 1 else np.zeros(2)
    for pts, label, marker, colour in ((r, "real", "o", "tab:blue"), (s, "synthetic", "x", "tab:orange")):
        if not len(pts):
            continue
        ax.scatter(pts[:, 0], pts[:, 1], marker=marker, s=18, alpha=0.6, color=colour, label=f"{label} (n={len(pts)})")
        m = pts.mean(axis=0)
        ax.errorbar([m[0]], [m[1]], xerr=[sd[0]], yerr=[sd[1]], fmt="s", ms=8, color=colour, mec="black", capsize=3)
    ev = list(explained) + [float("nan")] * 2
    ax.set_xlabel(f"PC1 ({100 * ev[0]:.1f} % var.)")
    ax.set_ylabel(f"PC2 ({100 * ev[1]:.1f} % var.)")
    ax.set_title(f"{title}\n(squares: set means, bars: ±1 real SD)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def generator_screen_figure(rows: list, gap: dict | None = None, target: float = 2.0):
    """Left: domain Fréchet ratio at 256 px (log scale) of each screened generator (rows of
    :func:`msknb.evaluation.generator_screen.screen_rows`; fold blue, cascade orange) and of
    real images shrunk and blown up back (``gap``: ``resolution_gap["by_size"]``, grey), the
    target as a dashed line. Right: alignment Dice with the real images' value. Returns the figure."""
    names = [f"real, shrunk to {k} px" for k in sorted(gap or {}, key=int)] + [r["name"] for r in rows]
    ratios = [gap[k]["ratio"] for k in sorted(gap or {}, key=int)] + [r["domain_ratio"] for r in rows]
    colors = ["tab:grey"] * len(gap or {}) + ["tab:orange" if r["kind"] == "cascade" else "tab:blue" for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 0.45 * len(names) + 1.6), gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(names))
    a.barh(y, ratios, color=colors)
    a.axvline(target, ls="--", color="black", lw=1, label=f"target {target:g}")
    a.set_xscale("log")
    a.set_yticks(y, names, fontsize=8)
    a.invert_yaxis()
    a.set_xlabel("domain Fréchet ratio at 256 px (1 = as close as real to real)")
    a.legend(fontsize=8)
    k0 = len(gap or {})
    b.barh(y[k0:], [r["alignment"] for r in rows], color=colors[k0:])
    real = next((r["alignment_real"] for r in rows if r.get("alignment_real") is not None), None)
    if real is not None:
        b.axvline(real, ls=":", color="black", lw=1, label=f"real images {real:.2f}")
        b.legend(fontsize=8)
    b.set_yticks(y, [""] * len(names))
    b.invert_yaxis()
    b.set_xlim(0, 1)
    b.set_xlabel("alignment Dice (segmenter finds the mask)")
    fig.tight_layout()
    return fig


def _setting_colour(row: dict) -> str:
    """Blue: guided at every step; orange: on an interval of t; green: autoguided or guided near
    the mask only (a :func:`msknb.evaluation.sampling_screen.sampling_rows` variant)."""
    if row.get("variant"):
        return "tab:green"
    return "tab:blue" if "every step" in row["label"] else "tab:orange"


def guidance_settings_figure(rows: list, ratio_target: float = 2.0, alignment_target: float = 0.80):
    """Domain Fréchet ratio (x, log scale) against alignment Dice (y) of one generator under
    each guidance setting (rows of :func:`msknb.evaluation.generator_screen.guidance_rows` or
    :func:`msknb.evaluation.sampling_screen.sampling_rows`; error bars: ± 1 sd over sampling
    seeds where screened over several), each point numbered, its setting listed beside the plot
    under its number; the target corner (ratio <= ``ratio_target``, alignment >=
    ``alignment_target``) shaded. Returns the figure."""
    fig, (ax, key) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    ax.axvline(ratio_target, ls="--", color="black", lw=1)
    ax.axhline(alignment_target, ls="--", color="black", lw=1, label=f"targets: ratio <= {ratio_target:g}, "
                                                                     f"alignment >= {alignment_target:.2f}")
    lines = []
    for k, r in enumerate(rows, start=1):
        many = r["n_seeds"] > 1 and r["domain_ratio_mean"] is not None
        x, y = (r["domain_ratio_mean"], r["alignment_mean"]) if many else (r["domain_ratio"], r["alignment"])
        ax.errorbar(x, y, xerr=r["domain_ratio_sd"] if many else None, yerr=r["alignment_sd"] if many else None,
                    fmt="o", color=_setting_colour(r), capsize=3)
        ax.annotate(str(k), (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points")
        lines.append((f"{k}. {r['label']}" + (f" ({r['n_seeds']} seeds)" if many else ""), _setting_colour(r)))
    for k, (text, colour) in enumerate(lines):
        key.text(0, 1 - (k + 0.5) / max(len(lines), 12), text, fontsize=7.5, color=colour, va="center",
                 transform=key.transAxes, wrap=True)
    key.axis("off")
    ax.set_xscale("log")
    lo_x, top = min(ax.get_xlim()[0], 0.9 * ratio_target), max(ax.get_ylim()[1], alignment_target + 0.01)
    ax.fill_between([lo_x, ratio_target], alignment_target, top, color="tab:green", alpha=0.1, lw=0)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if v in (2, 3, 5, 20, 30) else ""))
    ax.set_xlim(left=lo_x)
    ax.set_ylim(top=top)
    ax.set_xlabel("domain Fréchet ratio at 256 px (1 = as close as real to real)")
    ax.set_ylabel("alignment Dice (segmenter finds the mask)")
    steps = sorted({r["step"] for r in rows if r.get("step") is not None})
    at = f" at training step {steps[0]}" if len(steps) == 1 else ""
    kinds = "blue: every step, orange: an interval of t" + (",\ngreen: autoguided, near the mask or coarse only"
                                                             if any(r.get("variant") for r in rows) else "")
    ax.set_title(f"One generator{at}, several guidance settings\n({kinds})", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def training_curve_figure(rows: list, start: dict | None = None, ratio_target: float = 2.0,
                          alignment_target: float = 0.80):
    """Left: domain Fréchet ratio (log scale), right: alignment Dice, against the training step of
    each snapshot (rows of :func:`msknb.evaluation.training_screen.training_rows`, one colour per
    run; marker = mean over sampling seeds, bar = ± 1 sd, dots = seeds), the weights the runs
    continued (``start``, a :func:`msknb.evaluation.generator_screen.guidance_rows` row) as a grey
    square, the targets dashed. Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    runs = list(dict.fromkeys(r["run"] for r in rows))
    steps = [r["step"] for r in rows]
    for ax, key, target, label in ((axes[0], "domain_ratio", ratio_target, "domain Fréchet ratio at 256 px"),
                                   (axes[1], "alignment", alignment_target, "alignment Dice")):
        for k, run in enumerate(runs):
            mine = [r for r in rows if r["run"] == run]
            colour = plt.cm.tab10(k)
            ax.errorbar([r["step"] for r in mine], [r[f"{key}_mean"] for r in mine],
                        yerr=[r[f"{key}_sd"] for r in mine], fmt="-o", color=colour, capsize=3,
                        label=f"{run} (mean ± sd over seeds)")
            for r in mine:
                v = r.get(f"{key}_values") or []
                ax.plot([r["step"]] * len(v), v, ".", color=colour, alpha=0.4, ms=4)
        if start is not None and start.get(f"{key}_mean") is not None:
            ax.errorbar([start.get("step", steps[0] if steps else 0)], [start[f"{key}_mean"]],
                        yerr=[start[f"{key}_sd"]], fmt="s", color="grey", capsize=3, label=start_label(start))
        ax.axhline(target, ls="--", color="black", lw=1, label=f"target {target:g}")
        ax.set(xlabel="training step (batch 8)", ylabel=label)
    axes[0].set_yscale("log")
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0].yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if v in (2, 3, 5, 20, 30) else ""))
    axes[0].set_title("lower is closer to real", fontsize=9)
    axes[1].set_title("higher: the segmenter finds the conditioning mask", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
