"""The report's static figures (matplotlib, embedded as base64 PNG so the page needs no
network): intensity histograms, PCA scatter, Dice paper vs ours."""
from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

from msknb.evaluation.report.markup import fmt, get_in
from msknb.paper import PAPER


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
    fig, ax = plt.subplots(figsize=(5, 4))
    for key, marker in (("real", "o"), ("synthetic", "x")):
        pts = pca.get(key) or []
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, alpha=0.7, label=f"{key} (n={len(pts)})")
    ratio = pca.get("explained_variance_ratio") or [float("nan")] * 2
    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f} %)")
    ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f} %)")
    ax.set_title(f"PCA of {pca.get('features', 'features')} (ours)", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def dice_fig(exps: dict[str, Any]):
    paper = {**{k: v["dice"][0] for k, v in PAPER["table4"]["rows"].items()},
             **{k: v["dice"] for k, v in PAPER["table6"]["rows"].items()}}
    names = [n for n in list(paper) + [n for n in exps if n not in paper] if n in exps or n in paper]
    fig, ax = plt.subplots(figsize=(7, 3))
    x = list(range(len(names)))
    ours = [get_in(exps, n, "dice", "mean", default=float("nan")) if isinstance(get_in(exps, n, "dice"), dict)
            else (get_in(exps, n, "dice") if get_in(exps, n, "dice") is not None else float("nan")) for n in names]
    ax.bar([i - 0.2 for i in x], [paper.get(n, float("nan")) for n in names], width=0.4, label="paper")
    ax.bar([i + 0.2 for i in x], ours, width=0.4, label="ours")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, fontsize=8)
    ax.set_ylabel("Dice (DSC)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Dice per experiment: paper vs ours (different data, resolution, epochs)", fontsize=9)
    return fig
