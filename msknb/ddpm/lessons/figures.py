"""Figures of the practitioner lessons (matplotlib; each returns the Figure):

* :func:`sampler_sharpness_figure` (04): the same starting noise through DDIM with few and many
  steps and DDPM-T, side by side, with each sampler's sharpness against the real images';
* :func:`raw_vs_ema_figure` (03): samples of the raw and the EMA weights from the same noise;
* :func:`memorisation_size_figure` (07): share of near-copies vs training-set size;
* :func:`min_snr_weights_figure` (03): Min-SNR-γ loss weights over t for each prediction target;
* :func:`objective_screening_figure` (03): the objectives screened by ``bench_objectives.py``;
* :func:`toy_field_figure`, :func:`toy_samples_figure` (02): the 2-D toy's exact and learned
  denoiser, and where four samplers land (:mod:`msknb.ddpm.lessons.toy2d`).
"""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from msknb.ddpm import diffusion as D
from msknb.ddpm.export import split_channels
from msknb.ddpm.lessons import toy2d as toy
from msknb.ddpm.lessons.measures import network_calls


def _show(ax, img: np.ndarray, title: str | None = None) -> None:
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def sampler_sharpness_figure(samples: Mapping[str, np.ndarray], table: dict[str, Any], n: int = 2):
    """Top rows: the first ``n`` samples of each sampler (columns, fewest network calls
    first; ``samples`` {name: (N, C, H, W) or (N, H, W)}); bottom left: sharpness per sampler
    (grey levels/px; bar = mean, dots = images, whisker = SD) against the real images' mean
    and SD (line and band); bottom right: the same with each image's contrast divided out
    (``msknb.ddpm.lessons.measures.sharpness_by_sampler``)."""
    names = sorted(samples, key=network_calls)
    rows = max(1, min(n, min(len(samples[k]) for k in names)))
    fig = plt.figure(figsize=(max(8.0, 2.0 * len(names)), 2.0 * rows + 2.6))
    grid = fig.add_gridspec(rows + 1, len(names), height_ratios=[1] * rows + [1.3])
    for j, name in enumerate(names):
        imgs = split_channels(samples[name])[0]
        for i in range(rows):
            _show(fig.add_subplot(grid[i, j]), imgs[i], name.replace("_", "-").upper() if i == 0 else None)
    labels = [k.replace("_", "-").upper() for k in names]
    bottom = grid[rows, :].subgridspec(1, 2, wspace=0.35)
    rows_of = [table["samplers"][k] for k in names]
    free = table.get("real_free") or {"mean": np.nan, "sd": np.nan}
    panels = [(bottom[0, 0], "mean |gradient| (grey levels/px)", table["real"], table.get("real_sd", np.nan),
               [r["mean"] for r in rows_of], [r.get("sd", np.nan) for r in rows_of],
               [np.asarray(r.get("ratios", [])) * table["real"] for r in rows_of]),
              (bottom[0, 1], "|gradient| / image SD (1/px)", free["mean"], free["sd"],
               [r.get("free", {}).get("mean", np.nan) for r in rows_of],
               [r.get("free", {}).get("sd", np.nan) for r in rows_of], [[]] * len(names))]
    for spec, ylabel, ref, ref_sd, means, sds, dots in panels:
        ax = fig.add_subplot(spec)
        ax.bar(range(len(names)), means, color="tab:blue", alpha=0.6,
               yerr=[v if np.isfinite(v) else 0.0 for v in sds], capsize=3)
        for j, d in enumerate(dots):
            if len(d) > 1:
                ax.plot(j + np.linspace(-0.15, 0.15, len(d)), d, "k.", ms=3)
        ax.axhline(ref, color="k", ls="--", label="real images (mean, ± SD band)")
        if np.isfinite(ref_sd):
            ax.axhspan(ref - ref_sd, ref + ref_sd, color="0.85", zorder=0)
        ax.set_xticks(range(len(names)), labels, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Same model, same starting noise per image: DDIM with k steps and ancestral DDPM", fontsize=10)
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


def min_snr_weights_figure(schedule: D.Schedule, gamma: float = 5.0):
    """Min-SNR-γ weights (:func:`msknb.ddpm.diffusion.min_snr_weights`) over t for ε, x0 and v
    targets, beside the SNR (dB) of ``schedule``: where SNR > γ (small t) the loss is turned down."""
    t = np.arange(schedule.timesteps)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax.plot(t, D.snr_db(schedule, t).numpy())
    ax.axhline(10 * np.log10(gamma), color="k", ls="--", lw=0.8, label=f"γ = {gamma:g}")
    ax.set_xlabel("t")
    ax.set_ylabel("SNR (dB)")
    ax.legend(fontsize=8)
    for p in D.PREDICTIONS:
        bx.plot(t, D.min_snr_weights(schedule, t, p, gamma).numpy(), label=f"{p}-prediction")
    bx.set_yscale("log")
    bx.set_xlabel("t")
    bx.set_ylabel("loss weight")
    bx.legend(fontsize=8)
    fig.suptitle(f"Min-SNR-γ (Hang et al. 2023): weight min(SNR, γ) on the x0 error, γ = {gamma:g}", fontsize=10)
    fig.tight_layout()
    return fig


def objective_screening_figure(report: dict[str, Any], setting: str = "ddim50+mean"):
    """Bars per objective of ``report`` (:func:`msknb.ddpm.lessons.objectives.read_objective_screening`):
    alignment Dice (real images through the same 64-px pipeline as a line), mean grey level
    (real as a line) and histogram L1 of DDIM-50 samples for the kit's val masks."""
    names = list(report["objectives"])
    rows = [report["objectives"][k]["samplers"][setting] for k in names]
    real_dice = next(iter(report["objectives"].values()))["real_64"]["alignment"]["dice_mean"]
    panels = [("alignment Dice", [r["alignment"]["dice_mean"] for r in rows], real_dice),
              ("mean grey level", [r["mean_grey"] for r in rows], rows[0]["real_mean_grey"]),
              ("histogram L1 vs real", [r["hist_l1"] for r in rows], None)]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for ax, (title, values, ref) in zip(axes, panels):
        ax.bar(range(len(names)), values, color="tab:blue")
        if ref is not None:
            ax.axhline(ref, color="k", ls="--", lw=0.8, label="real")
            ax.legend(fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"Training objectives, {report['steps']} steps each, same seed ({setting}, "
                 f"{report['n']} val masks)", fontsize=10)
    fig.tight_layout()
    return fig


def _field_panel(ax, mix, schedule, t: int, eps_fn, title: str, lim: float = 2.4, n: int = 17) -> None:
    """log p_t as a grey background, -eps(x, t) (the score times sqrt(1 - abar_t)) as arrows."""
    a, b = schedule.sqrt_alphas_cumprod[t], schedule.sqrt_one_minus_alphas_cumprod[t]
    fine = torch.linspace(-lim, lim, 120)
    gx, gy = torch.meshgrid(fine, fine, indexing="xy")
    logp = toy.log_density(mix, torch.stack([gx.ravel(), gy.ravel()], 1), a, b).reshape(gx.shape)
    ax.imshow(logp.clamp(min=float(logp.max()) - 8).numpy(), extent=(-lim, lim, -lim, lim), origin="lower",
              cmap="Greys")
    coarse = torch.linspace(-lim * 0.9, lim * 0.9, n)
    cx, cy = torch.meshgrid(coarse, coarse, indexing="xy")
    pts = torch.stack([cx.ravel(), cy.ravel()], 1)
    arrows = -eps_fn(pts, torch.full((len(pts),), int(t))).reshape(n, n, 2)
    longest = float(arrows.norm(dim=-1).max()) or 1.0   # the longest arrow spans one grid cell
    ax.quiver(cx.numpy(), cy.numpy(), arrows[..., 0].numpy(), arrows[..., 1].numpy(), color="tab:red",
              angles="xy", scale_units="xy", scale=longest / float(coarse[1] - coarse[0]), width=0.006)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def toy_field_figure(mix, schedule, model, ts, errors: dict[int, float] | None = None):
    """Two rows of panels, one column per t in ``ts``: the exact -eps*(x, t) (top) and the
    learned -eps_theta(x, t) (bottom) as arrows over the noisy density log p_t (grey; darker =
    more likely). ``errors`` ({t: relative rms error}, :func:`msknb.ddpm.lessons.toy2d.eps_error`)
    goes into the bottom titles."""
    fig, axes = plt.subplots(2, len(ts), figsize=(2.6 * len(ts), 5.4), squeeze=False)
    learned = toy.learned_denoiser(model)
    with toy.one_thread():
        for j, t in enumerate(ts):
            abar = float(schedule.alphas_cumprod[t])
            _field_panel(axes[0, j], mix, schedule, t, toy.exact_denoiser(mix, schedule),
                         f"exact, t = {t} (ᾱ = {abar:.2f})")
            err = "" if errors is None or t not in errors else f", error {100 * errors[t]:.0f} %"
            _field_panel(axes[1, j], mix, schedule, t, learned, f"learned, t = {t}{err}")
    fig.suptitle("−ε(x, t): where the denoiser pushes a noisy point (grey: density of x_t; "
                 "arrows scaled per panel)", fontsize=10)
    fig.tight_layout()
    return fig


def toy_samples_figure(data, samples: dict, landed: dict | None = None, lim: float = 2.4):
    """Scatter plots: the data (N, 2) and each sampler's points (``samples`` {name: (N, 2)}),
    titled with the share within 3 sd of a blob when ``landed`` ({name: landing}) is given."""
    fig, axes = plt.subplots(1, len(samples) + 1, figsize=(2.6 * (len(samples) + 1), 2.9), squeeze=False)
    panels = [("data", data)] + list(samples.items())
    for ax, (name, pts) in zip(axes[0], panels):
        ax.scatter(pts[:, 0].numpy(), pts[:, 1].numpy(), s=2, alpha=0.5)
        extra = "" if landed is None or name not in landed else f"\n{100 * landed[name]['within_3sd']:.0f} % on a blob"
        ax.set_title(name + extra, fontsize=8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("the same starting noise through four samplers", fontsize=10)
    fig.tight_layout()
    return fig


def guidance_figure(masks: np.ndarray, images_by_w: dict, table: dict[str, Any], real: np.ndarray | None = None,
                    rows: int = 3):
    """Top: for the first ``rows`` masks (N, H, W), the mask, its real image (when given) and the
    image drawn at each guidance scale w (``images_by_w`` {w: (N, H, W)}). Bottom: mask contrast
    and mean grey per w (:func:`msknb.ddpm.lessons.guidance.guidance_table`), one thin line per
    image, the mean ± sd in black, the real images' mean dashed."""
    ws = table["scales"]
    cols = [("mask", masks)] + ([("real", real)] if real is not None else []) + [(f"w = {w:g}", images_by_w[w]) for w in ws]
    rows = max(1, min(rows, len(masks)))
    fig = plt.figure(figsize=(1.7 * len(cols), 1.7 * rows + 2.6))
    grid = fig.add_gridspec(rows + 1, len(cols), height_ratios=[1] * rows + [1.6])
    for j, (name, imgs) in enumerate(cols):
        for i in range(rows):
            _show(fig.add_subplot(grid[i, j]), imgs[i], name if i == 0 else None)
    half = len(cols) // 2
    for k, (key, label) in enumerate((("contrast", "mask contrast (image sd)"), ("mean_grey", "mean grey level"))):
        ax = fig.add_subplot(grid[rows, k * half:(k + 1) * half if k == 0 else len(cols)])
        values = np.array([table["by_w"][w][key]["values"] for w in ws])          # (W, N)
        ax.plot(ws, values, color="tab:blue", lw=0.7, alpha=0.5)
        ax.errorbar(ws, values.mean(1), yerr=[table["by_w"][w][key]["sd"] for w in ws], color="k", marker="o",
                    capsize=3)
        if table.get("real"):
            ax.axhline(table["real"][key]["mean"], color="k", ls="--", lw=0.8, label="real")
            ax.legend(fontsize=7)
        ax.set_xlabel("guidance scale w", fontsize=8)
        ax.set_ylabel(label, fontsize=8)
    fig.suptitle(f"Classifier-free guidance: same masks, same noise ({table['n']} images)", fontsize=10)
    fig.tight_layout()
    return fig


def solver_errors_figure(errors: dict[str, Any]):
    """Left: the first image of the reference and of each sampler at the fewest steps (same
    noise); right: per-image RMSE to the reference against the number of network calls, one
    line per sampler (dots = images, line = mean), log-log
    (``msknb.ddpm.lessons.solvers.solver_errors``)."""
    k0, ref = errors["steps"][0], f"ddim_{errors['reference_steps']}"
    shown = [(ref, f"DDIM-{errors['reference_steps']} (reference)"), (f"ddim_{k0}", f"DDIM-{k0}"),
             (f"dpm++2m_{k0}", f"DPM-Solver++(2M)-{k0}")]
    fig = plt.figure(figsize=(12, 3.4))
    grid = fig.add_gridspec(1, 5, width_ratios=[1, 1, 1, 0.25, 2.2])
    for j, (key, title) in enumerate(shown):
        _show(fig.add_subplot(grid[0, j]), split_channels(errors["images"][key])[0][0], title)
    ax = fig.add_subplot(grid[0, 4])
    for method, label, colour in (("ddim", "DDIM (first order)", "tab:blue"),
                                  ("dpm++2m", "DPM-Solver++(2M) (second order)", "tab:orange")):
        ks = errors["steps"]
        per = [np.asarray(errors["rmse"][method][k]) for k in ks]
        for k, v in zip(ks, per):
            ax.plot(np.full(len(v), k), v, ".", color=colour, alpha=0.4, ms=4)
        ax.plot(ks, [v.mean() for v in per], "-o", color=colour, label=label)
    ax.set(xscale="log", yscale="log", xticks=ks, xticklabels=[str(k) for k in ks],
           xlabel="network calls per image (steps)",
           ylabel=f"RMSE to DDIM-{errors['reference_steps']} (grey levels)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
