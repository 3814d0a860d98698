"""Figures of the practitioner lessons (matplotlib; each returns the Figure):

* :func:`sampler_sharpness_figure` (04): the same starting noise through DDIM with few and many
  steps and DDPM-T, side by side, with each sampler's sharpness against the real images';
* :func:`raw_vs_ema_figure` (03): samples of the raw and the EMA weights from the same noise;
* :func:`memorisation_size_figure` (07): share of near-copies vs training-set size.
"""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from msknb.ddpm.export import split_channels
from msknb.ddpm.lessons.measures import network_calls


def _show(ax, img: np.ndarray, title: str | None = None) -> None:
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def sampler_sharpness_figure(samples: Mapping[str, np.ndarray], table: dict[str, Any], n: int = 2):
    """Top rows: the first ``n`` samples of each sampler (columns, fewest network calls
    first; ``samples`` {name: (N, C, H, W) or (N, H, W)}); bottom: sharpness per sampler
    (``msknb.ddpm.lessons.measures.sharpness_by_sampler``) with the real images' as a line."""
    names = sorted(samples, key=network_calls)
    rows = max(1, min(n, min(len(samples[k]) for k in names)))
    fig = plt.figure(figsize=(2.0 * len(names), 2.0 * rows + 2.4))
    grid = fig.add_gridspec(rows + 1, len(names), height_ratios=[1] * rows + [1.2])
    for j, name in enumerate(names):
        imgs = split_channels(samples[name])[0]
        for i in range(rows):
            _show(fig.add_subplot(grid[i, j]), imgs[i], name.replace("_", "-").upper() if i == 0 else None)
    ax = fig.add_subplot(grid[rows, :])
    values = [table["samplers"][k]["mean"] for k in names]
    ax.bar(range(len(names)), values, color="tab:blue")
    ax.axhline(table["real"], color="k", ls="--", label="real images")
    ax.set_xticks(range(len(names)), [k.replace("_", "-").upper() for k in names])
    ax.set_ylabel("mean |gradient| (grey levels/px)")
    ax.legend(fontsize=8)
    fig.suptitle("Same model, same starting noise: DDIM with k steps and ancestral DDPM", fontsize=10)
    fig.tight_layout()
    return fig


def raw_vs_ema_figure(raw_samples: np.ndarray, ema_samples: np.ndarray, comparison: dict[str, Any]):
    """Two rows of samples from the same noise, raw weights above, EMA weights below, each
    row titled with its histogram L1 to the real images and its sharpness ratio."""
    raw, ema = split_channels(raw_samples)[0], split_channels(ema_samples)[0]
    n = len(raw)
    fig, axes = plt.subplots(2, n, figsize=(1.8 * n, 4.0), squeeze=False)
    for r, (name, imgs) in enumerate((("raw", raw), ("ema", ema))):
        c = comparison[name]
        for j in range(n):
            _show(axes[r, j], imgs[j])
        axes[r, 0].set_ylabel(f"{name.upper()}\nhist L1 {c['hist_l1']:.2f}\nsharp {100 * c['sharpness_ratio']:.0f} %",
                              fontsize=8)
    fig.suptitle("Raw weights vs their exponential moving average, same noise", fontsize=10)
    fig.tight_layout()
    return fig


def memorisation_size_figure(report: dict[str, Any]):
    """Share of samples above the real p95 / p99 nearest-neighbour similarity vs the number
    of training images (log x), with the shares expected without copying as dashed lines;
    right: the largest nearest-training NCC of the samples vs that of real held-out images."""
    runs = sorted(report["runs"], key=lambda r: r["n_train"])
    n = [r["n_train"] for r in runs]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4))
    for key, colour in (("p95", "tab:blue"), ("p99", "tab:red")):
        ax.plot(n, [100 * r["fraction_above"][key] for r in runs], "o-", color=colour, label=f"above real {key}")
        ax.axhline(100 * runs[0]["expected_fraction"][key], color=colour, ls="--", lw=0.8)
    for a in (ax, bx):
        a.set_xscale("log")
        a.set_xticks(n, [str(k) for k in n])
        a.minorticks_off()
    ax.set_xlabel("training images")
    ax.set_ylabel("% of samples")
    ax.set_title("closer to a training image than real images are", fontsize=9)
    ax.legend(fontsize=8)
    bx.plot(n, [r["synthetic"]["max"] for r in runs], "o-", label="samples: max NCC")
    bx.plot(n, [r["synthetic"]["median"] for r in runs], "o:", label="samples: median NCC")
    bx.plot(n, [r["thresholds"]["p95"] for r in runs], "s--", color="k", label="real held-out: p95")
    bx.set_xlabel("training images")
    bx.set_ylabel("nearest training image, NCC")
    bx.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Memorisation vs training-set size ({report['settings']['steps']} steps each, "
                 f"{report['settings']['image_size']} px)", fontsize=10)
    fig.tight_layout()
    return fig
