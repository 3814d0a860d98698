"""Figures of notebooks 01-04 about training and sampling (matplotlib; each returns the Figure).

* :func:`plot_losses` (03): loss per optimiser step and its running mean.
* :func:`residual_signal_figure` (01): sqrt(abar_T), the share of the image left in x_T,
  for each schedule and T: the cause of the brightness bias (Lin et al. 2024).
* :func:`schedules_static_figure` (01): abar_t and SNR(t) per schedule, the static twin of the
  interactive :func:`msknb.ddpm.widgets.schedules_figure` (shows without a live kernel).
* :func:`sampler_comparison_figure`, :func:`real_vs_synthetic_figure`,
  :func:`intensity_histograms_figure`, :func:`conditional_samples_figure`,
  :func:`real_mask_generated_figure`, :func:`fold_figure`, :func:`cost_figure` (04).
The figures of the diffusion maths (forward, posterior, trajectories) are in
:mod:`msknb.ddpm.widgets`, beside their interactive twins.
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from msknb.ddpm import diffusion as D
from msknb.ddpm.export import split_channels
from msknb.viz import overlay_mask


def plot_losses(losses: list[float], smooth: int = 20, title: str = "DDPM training loss",
                ylabel: str = "loss |eps - eps_theta|"):
    """Loss per optimiser step (light) and its running mean over ``smooth`` steps."""
    y = np.asarray(losses, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 3))
    if y.size:
        ax.plot(np.arange(1, y.size + 1), y, lw=0.6, alpha=0.4, label="per step")
        k = max(1, min(smooth, y.size))
        run = np.convolve(y, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, y.size + 1), run, lw=1.5, label=f"mean of {k}")
        ax.legend()
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def schedules_static_figure(timesteps: int = 300, kinds: Sequence[str] = D.SCHEDULE_KINDS):
    """Two panels against t (0-based): abar_t (left) and SNR(t) = abar_t / (1 - abar_t) in dB
    (right; 0 dB: signal and noise of equal power), one line per schedule kind."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.4))
    t = np.arange(timesteps)
    for kind in kinds:
        s = D.make_schedule(kind, timesteps)
        ax.plot(t, s.alphas_cumprod.numpy(), label=kind)
        bx.plot(t, D.snr_db(s, range(timesteps)).numpy(), label=kind)
    ax.set(xlabel="t", ylabel="ᾱ_t (signal power kept)", title=f"ᾱ_t, T = {timesteps}")
    bx.axhline(0, color="k", lw=0.6, ls=":")
    bx.set(xlabel="t", ylabel="SNR(t) [dB]", title="SNR(t) = ᾱ_t / (1 − ᾱ_t)", ylim=(-80, 45))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def residual_signal(kinds: Sequence[str] = D.SCHEDULE_KINDS, timesteps: Sequence[int] = (100, 300, 1000),
                    zero_terminal_snr: bool = False) -> dict[str, dict[int, float]]:
    """``{kind: {T: sqrt(abar_{T-1})}}``: the amplitude of the clean image still in x_T."""
    return {k: {int(T): float(D.make_schedule(k, int(T), zero_terminal_snr=zero_terminal_snr)
                              .sqrt_alphas_cumprod[-1]) for T in timesteps} for k in kinds}


def residual_signal_figure(kinds: Sequence[str] = D.SCHEDULE_KINDS, timesteps: Sequence[int] = (100, 300, 1000)):
    """Bars of sqrt(abar_T) per schedule kind (groups) and T (bars), plus the zero-terminal-SNR
    rescaled schedules (all 0). The sampler starts from N(0, I), i.e. assumes 0."""
    res, ztsnr = residual_signal(kinds, timesteps), residual_signal(kinds, timesteps, zero_terminal_snr=True)
    fig, ax = plt.subplots(figsize=(7, 3))
    width = 0.8 / len(timesteps)
    x = np.arange(len(kinds))
    for j, T in enumerate(timesteps):
        vals = [res[k][int(T)] for k in kinds]
        bars = ax.bar(x + (j - (len(timesteps) - 1) / 2) * width, vals, width, label=f"T = {T}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.plot(x, [max(ztsnr[k].values()) for k in kinds], "k_", ms=20, label="rescaled to zero terminal SNR")
    ax.set_xticks(x, list(kinds))
    ax.set_ylabel(r"$\sqrt{\bar\alpha_T}$ (image left in $x_T$)")
    ax.set_title("residual signal at the last step: the sampler assumes 0", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def sampler_comparison_figure(times: dict[str, Any], images: dict[str, np.ndarray] | None = None, max_show: int = 4):
    """For each sampler in ``times`` (``time_samplers(..., return_images=True)``) a row of up to
    ``max_show`` samples (mask overlaid in joint mode) titled with its wall time."""
    images = images if images is not None else times.get("images", {})
    names = [k for k in times if k != "images"]
    ncols = max(1, min(max_show, max(len(images[k]) for k in names)))
    fig, axes = plt.subplots(len(names), ncols, figsize=(1.9 * ncols, 2.1 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        imgs, masks = split_channels(images[name])
        for c in range(ncols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(imgs):
                ax.imshow(overlay_mask(imgs[c], None if masks is None else masks[c]), cmap="gray", vmin=0, vmax=1)
        method, steps = name.split("_")
        axes[r, 0].set_title(f"{method.upper()} {steps} steps: {times[name]:.1f} s", fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def real_vs_synthetic_figure(real_images: np.ndarray, real_masks: np.ndarray | None, synthetic: np.ndarray,
                             n: int = 8, label: str = "synthetic"):
    """Two rows: ``n`` real images (H, W) [0, 1] with their masks, and ``n`` synthetic
    samples (n, C, H, W) with their generated masks; ``label`` titles the second row (name
    the sampler, e.g. "synthetic (DDIM-25)")."""
    syn, syn_masks = split_channels(synthetic)
    n = max(1, min(n, len(real_images), len(syn)))
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.2), squeeze=False)
    for c in range(n):
        axes[0, c].imshow(overlay_mask(real_images[c], None if real_masks is None else real_masks[c]))
        axes[1, c].imshow(overlay_mask(syn[c], None if syn_masks is None else syn_masks[c]))
        axes[0, c].axis("off")
        axes[1, c].axis("off")
    axes[0, 0].set_title("real", fontsize=9, loc="left")
    axes[1, 0].set_title(label, fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def intensity_histograms_figure(sets: dict[str, np.ndarray], bins: int = 32):
    """Grey-level histograms (density over [0, 1]) of each image set in ``sets``
    (``{label: (n, C, H, W) or (n, H, W)}``), with each set's mean grey level in the legend."""
    fig, ax = plt.subplots(figsize=(6, 3))
    for label, images in sets.items():
        v = split_channels(images)[0].ravel()
        ax.hist(v, bins=bins, range=(0, 1), density=True, histtype="step", lw=1.5,
                label=f"{label} (mean {v.mean():.3f})")
    ax.set_xlabel("grey level")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def conditional_samples_figure(masks: np.ndarray, images: np.ndarray, joint: np.ndarray | None = None,
                               labels: Sequence[str] | None = None):
    """Mask-conditioned samples: row 1 the conditioning ``masks`` (n, H, W) {0, 1}, row 2 the
    image drawn for each (``images`` (n, C, H, W) or (n, H, W) in [0, 1]); with ``joint`` (m, 2, H, W) a third row of joint image+mask samples for
    comparison. ``labels`` (one per column) title the mask row, e.g. 'real' / 'prior'."""
    imgs = split_channels(images)[0]
    n = len(imgs)
    rows = 2 if joint is None else 3
    fig, axes = plt.subplots(rows, n, figsize=(1.9 * n, 2.1 * rows), squeeze=False)
    for c in range(n):
        axes[0, c].imshow(masks[c], cmap="gray", vmin=0, vmax=1)
        axes[1, c].imshow(imgs[c], cmap="gray", vmin=0, vmax=1)
        if labels is not None:
            axes[0, c].set_title(labels[c], fontsize=8)
        if joint is not None and c < len(joint):
            j_img, j_mask = split_channels(joint[c:c + 1])
            axes[2, c].imshow(overlay_mask(j_img[0], None if j_mask is None else j_mask[0]))
    for ax in axes.ravel():
        ax.axis("off")
    axes[1, 0].set_title("drawn for the mask above", fontsize=9, loc="left")
    if joint is not None:
        axes[2, 0].set_title("joint mode (image + mask drawn)", fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def real_mask_generated_figure(real_images: np.ndarray, masks: np.ndarray, generated: np.ndarray,
                               label: str = "generated"):
    """One row per pair: a real image (H, W) in [0, 1], its mask (H, W) {0, 1}, and the image a
    mask-conditioned generator drew for that mask (``generated`` (n, C, H, W) or (n, H, W) in
    [0, 1]); the images' titles give their mean grey level, ``label`` names the third column."""
    gen = split_channels(generated)[0]
    n = min(len(real_images), len(masks), len(gen))
    fig, axes = plt.subplots(max(n, 1), 3, figsize=(7.8, 2.7 * max(n, 1)), squeeze=False)
    for r in range(n):
        axes[r, 0].imshow(real_images[r], cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_title(f"real image (mean grey {float(np.mean(real_images[r])):.3f})", fontsize=9)
        axes[r, 1].imshow(masks[r], cmap="gray", vmin=0, vmax=1)
        axes[r, 1].set_title("its mask: the condition", fontsize=9)
        axes[r, 2].imshow(gen[r], cmap="gray", vmin=0, vmax=1)
        axes[r, 2].set_title(f"{label} (mean grey {float(np.mean(gen[r])):.3f})", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def fold_figure(image: np.ndarray, fold: int = 4, show: int = 4):
    """An image (H, W) in [0, 1] beside ``show`` of the ``fold``² channels a :class:`~msknb.ddpm.fold.FoldedUNet`
    sees: channel k holds the pixels at offset (k // fold, k % fold) of every fold x fold block,
    an (H/fold, W/fold) image. Nothing is lost: the channels together hold every pixel once."""
    x = torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None]
    ch = torch.nn.functional.pixel_unshuffle(x, fold)[0].numpy()
    fig, axes = plt.subplots(1, show + 1, figsize=(2.6 * (show + 1), 2.8))
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"image {image.shape[1]} x {image.shape[0]} px")
    picks = np.linspace(0, fold * fold - 1, show).astype(int)
    for ax, k in zip(axes[1:], picks):
        ax.imshow(ch[k], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"channel {k} of {fold * fold}: {ch.shape[2]} x {ch.shape[1]}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def cost_figure(table: dict, reference: str = "pixel 64 px, width 16"):
    """Training cost of each generator architecture relative to ``reference`` (bars, log
    scale) from :func:`msknb.ddpm.cost.read_cost_table`. Returns the figure."""
    rows = table["rows"]
    names = list(rows)
    ref = rows[reference]["train_img_per_s"]
    rel = [ref / rows[n]["train_img_per_s"] for n in names]
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(names) + 1.4))
    ax.barh(range(len(names)), rel, color=["tab:grey" if "pixel 256" in n else "tab:blue" for n in names])
    for k, v in enumerate(rel):
        ax.annotate(f"{v:.1f}x ({rows[names[k]]['sample_s_per_image']:.1f} s / image)", (v, k),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"training time per image, relative to the {reference} U-Net (log scale)")
    ax.set_title(f"What a generator costs on this CPU ({table.get('threads', 1)} thread, random weights)")
    fig.tight_layout()
    return fig
