"""The report's static figures (matplotlib, embedded as base64 PNG so the page needs no
network): real-vs-synthetic sample grid, intensity histograms, distance ratios, PCA scatter,
Dice per experiment (paper vs ours, with CIs), Bland–Altman, limits of agreement."""
from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

import numpy as np

from msknb.evaluation.figures import pca_static_figure
from msknb.evaluation.report.markup import fmt, get_in
from msknb.evaluation.verdict import CLOSE_RATIO, FAR_RATIO
from msknb.paper import PAPER
from msknb.thickness.figures import bland_altman_static


def headless() -> None:
    """Draw without a display (matplotlib's Agg backend) unless one is already in use."""
    matplotlib.use("Agg", force=False)


def fig_to_data_uri(fig) -> str:
    """A matplotlib figure as ``data:image/png;base64,...`` (figure closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def img(fig, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='{fig_to_data_uri(fig)}'>"


def histogram_fig(ev: dict[str, Any]):
    matplotlib.use("Agg", force=False)
    fig, ax = plt.subplots(figsize=(6, 3))
    drawn = False
    for side in ("real", "synthetic"):
        st = get_in(ev, "intensity", side, "all")
        if st and st.get("histogram") is not None:
            ax.plot(range(len(st["histogram"])), st["histogram"], lw=1.2,
                    label=f"{side} (n={st.get('n_images')}, skew {fmt(st.get('skewness'), 3)})")
            drawn = True
    ax.set_xlabel("grey level (8-bit)")
    ax.set_ylabel("fraction of pixels")
    ax.set_title("Intensity histograms (ours, 256 bins)")
    if drawn:
        ax.legend(fontsize=8)
    return fig


def pca_fig(pca: dict[str, Any]):
    """PC1 vs PC2 of notebook 07's stored projections (``real``, ``synthetic`` lists of [x, y])."""
    title = f"PCA of {pca.get('features', 'features')}"
    return pca_static_figure(np.asarray(pca.get("real") or [], dtype=np.float64),
                             np.asarray(pca.get("synthetic") or [], dtype=np.float64),
                             pca.get("explained_variance_ratio") or [float("nan")] * 2,
                             title=title if len(title) < 90 else title[:88] + "…")


def samples_fig(real: np.ndarray, synthetic: np.ndarray, real_ids: list[str], synthetic_ids: list[str]):
    """Two rows of images (k, H, W) in [0, 1]: real test images above synthetic ones."""
    k = max(len(real), len(synthetic), 1)
    fig, axes = plt.subplots(2, k, figsize=(1.9 * k, 4.2), squeeze=False)
    for row, (imgs, ids, label) in enumerate(((real, real_ids, "real"), (synthetic, synthetic_ids, "synthetic"))):
        for col in range(k):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(imgs):
                ax.imshow(imgs[col], cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"{label}\n{ids[col]}", fontsize=7)
    fig.suptitle("Real test images (top) and synthetic images (bottom), same grey scale", fontsize=9)
    fig.tight_layout()
    return fig


def ratios_fig(rows: list[dict[str, Any]]):
    """Notebook 07's verdict rows as horizontal bars of the distance ratio (log scale), with
    lines at 1 and at the close / far thresholds; the reading beside each bar."""
    drawn = [r for r in rows if isinstance(r.get("ratio"), (int, float)) and 0 < r["ratio"] < float("inf")]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * max(len(drawn), 1) + 1.4))
    colours = {"close": "tab:green", "in between": "tab:olive", "far": "tab:red", "closer than real pairs": "tab:purple"}
    for i, r in enumerate(drawn):
        ax.barh(i, r["ratio"], color=colours.get(r.get("reading"), "lightgrey"), left=0)
        ax.annotate(f" {r['ratio']:.3g}x  {r.get('reading')}", (r["ratio"], i), va="center", fontsize=8)
    for x, style in ((1.0, "-"), (CLOSE_RATIO, "--"), (FAR_RATIO, "--")):
        ax.axvline(x, color="black", ls=style, lw=0.8)
    ax.set_xscale("log")
    lo, hi = min([1.0] + [r["ratio"] for r in drawn]), max([FAR_RATIO] + [r["ratio"] for r in drawn])
    ticks = [t for t in (0.1, 0.25, 0.5, 1, CLOSE_RATIO, FAR_RATIO, 10, 30, 100, 1000) if lo / 1.5 <= t <= hi * 1.5]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(lo / 1.6, hi * 2.2)
    ax.set_yticks(range(len(drawn)))
    ax.set_yticklabels([str(r.get("metric")) for r in drawn], fontsize=8)
    ax.set_xlabel("synthetic-vs-real / real-vs-real (1 = as far as two real halves)")
    ax.set_title("Distance ratios of notebook 07's metrics", fontsize=9)
    fig.tight_layout()
    return fig


def dice_ci_fig(live: list[dict[str, Any]], reference: list[dict[str, Any]]):
    """Mean test Dice per experiment with its 95 % CI: this run and the stored reference
    experiment side by side, the paper's Dice as crosses."""
    paper = {**{k: v["dice"][0] for k, v in PAPER["table4"]["rows"].items()},
             **{k: v["dice"] for k, v in PAPER["table6"]["rows"].items()}}
    names = list(dict.fromkeys([r["experiment"] for r in live] + [r["experiment"] for r in reference]))
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for shift, rows, label in ((-0.15, live, "this run"), (0.15, reference, "reference experiment")):
        by = {r["experiment"]: r for r in rows}
        xs = [i + shift for i, n in enumerate(names) if n in by]
        ms = [by[n]["mean"] for n in names if n in by]
        lo = [by[n]["mean"] - by[n]["ci_low"] for n in names if n in by]
        hi = [by[n]["ci_high"] - by[n]["mean"] for n in names if n in by]
        if xs:
            ax.errorbar(xs, ms, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="o", capsize=3, label=label)
    px = [(i, paper[n]) for i, n in enumerate(names) if n in paper]
    if px:
        ax.scatter([p[0] for p in px], [p[1] for p in px], marker="x", color="black", label="paper")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, fontsize=8)
    ax.set_ylabel("test Dice (95 % CI)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Dice per experiment: this run, the reference experiment, the paper", fontsize=9)
    fig.tight_layout()
    return fig


def bland_altman_fig(pairs: dict[str, Any], unit: str = "px"):
    """Bland–Altman of predicted against expert MT (:func:`~.dice_mt.mt_pairs`)."""
    return bland_altman_static(pairs["expert"], pairs["predicted"], pairs["flags"],
                               title=f"Bland–Altman, reference models ({pairs['experiment']})", unit=unit)


def loa_fig(agreements: dict[str, Any], unit: str):
    """Bias and 95 % limits of agreement of each experiment's MT against the expert's (notebook 06)."""
    names = [n for n, a in agreements.items() if isinstance(a, dict) and a.get("bias") is not None]
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * max(len(names), 1) + 1.4))
    for i, n in enumerate(names):
        a = agreements[n]
        ax.errorbar([a["bias"]], [i], xerr=[[a["bias"] - a["loa_low"]], [a["loa_high"] - a["bias"]]], fmt="o",
                    capsize=4, color="tab:blue")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel(f"predicted − expert MT ({unit}): bias and 95 % limits of agreement")
    ax.set_title("Muscle thickness against the expert, this run (notebook 06)", fontsize=9)
    fig.tight_layout()
    return fig
