"""The numbers behind the practitioner lessons, and a sentence of conclusion computed from them.

* :func:`sharpness` -- mean gradient magnitude of each image (grey levels per px);
  :func:`sharpness_by_sampler` / :func:`ddim_blur_conclusion` (04: few DDIM steps blur);
* :func:`load_raw_and_ema` / :func:`weight_distance` / :func:`ema_conclusion` (03: what the
  EMA of the weights does to samples);
* :func:`read_memorisation_size` / :func:`memorisation_size_conclusion` (07: how many
  training images before a DDPM copies them; the JSON of ``benchmarks/bench_memorisation_size.py``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from msknb.ddpm import diffusion as D
from msknb.ddpm.checkpoints import FORMAT_FULL, float_weights, load_checkpoint
from msknb.ddpm.config import TrainConfig, build_model, schedule_of
from msknb.ddpm.export import split_channels
from msknb.ddpm.quality import quality_proxy
from msknb.ddpm.unet import DiffusionUNet
from msknb.errors import DataError, MsknbError
from msknb.io import read_checked_json
from msknb.paths import REPO_ROOT

#: where ``benchmarks/bench_memorisation_size.py`` writes its result
MEMORISATION_SIZE_JSON = REPO_ROOT / "benchmarks" / "results" / "memorisation_size.json"
MEMORISATION_SIZE_COMMAND = ("OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/bench_memorisation_size.py "
                             "--threads 1")


def sharpness(images: np.ndarray) -> np.ndarray:
    """Mean gradient magnitude of each image: mean over pixels of
    sqrt((dI/dx)^2 + (dI/dy)^2), central differences (``np.gradient``), intensities in
    [0, 1], so in grey levels per px. Blur lowers it, speckle and edges raise it; compare
    only images of the same size (px).

    ``images`` (N, H, W) or (N, C, H, W) (the image channel, 0, is used); H, W >= 2.
    Returns (N,) float64. Raises :class:`DataError` for another shape.
    """
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim == 4:
        arr = split_channels(arr)[0].astype(np.float64)
    if arr.ndim != 3 or min(arr.shape[1:]) < 2:
        raise DataError(f"images must be (N, H, W) or (N, C, H, W) with H, W >= 2, got {arr.shape}", "images")
    gy, gx = np.gradient(arr, axis=(1, 2))
    return np.hypot(gx, gy).mean(axis=(1, 2))


def sharpness_by_sampler(samples: Mapping[str, np.ndarray], real: np.ndarray) -> dict[str, Any]:
    """Sharpness (:func:`sharpness`) of each named sample set against the real images:
    ``{"real": mean, "samplers": {name: {"n", "mean", "ratio_to_real"}}}``; names as
    ``time_samplers`` writes them (``ddim_<k>``, ``ddpm_<T>``)."""
    ref = float(sharpness(real).mean())
    rows = {}
    for name, x in samples.items():
        s = sharpness(x)
        rows[name] = {"n": int(len(s)), "mean": float(s.mean()), "ratio_to_real": float(s.mean() / ref) if ref else None}
    return {"real": ref, "samplers": rows}


def network_calls(name: str) -> int:
    """Network calls of a sampler named ``ddim_<k>`` or ``ddpm_<T>`` (k or T)."""
    return int(str(name).rsplit("_", 1)[-1])


def ddim_blur_conclusion(table: dict[str, Any]) -> str:
    """One sentence reading :func:`sharpness_by_sampler`: the sharpness of each sampler as a
    share of the real images', fewest network calls first, and whether it rises with them."""
    rows = sorted(table["samplers"].items(), key=lambda kv: network_calls(kv[0]))
    parts = ", ".join(f"{name.replace('_', '-').upper()} {100 * r['ratio_to_real']:.0f} %" for name, r in rows)
    ddim = [r["mean"] for name, r in rows if name.startswith("ddim")] or [r["mean"] for _, r in rows]
    if all(b >= a for a, b in zip(ddim, ddim[1:])):
        trend = "rises with every added DDIM step"
    elif ddim[-1] > ddim[0]:
        trend = "is higher with the most DDIM steps than with the fewest, though not at every step"
    else:
        trend = "does not rise with the number of DDIM steps here"
    if min(r["ratio_to_real"] for _, r in rows) > 1.0:
        trend += (" -- every sampler comes out sharper than the real images, so on these images this measure "
                  "cannot show blur")
    n = min(r["n"] for _, r in rows)
    how_many = "one image per sampler: one example, not a trend" if n == 1 else f"{n} images per sampler"
    return (f"Mean gradient magnitude of the samples as a share of the real images' ({table['real']:.4f} grey "
            f"levels/px): {parts}; it {trend} (same model, same starting noise, {how_many}).")


def load_raw_and_ema(path: str | Path) -> tuple[DiffusionUNet | None, DiffusionUNet, D.Schedule, TrainConfig, str]:
    """Both sets of weights of a training checkpoint (format ``msknb-ddpm``): ``(raw, ema,
    schedule, config, note)``, models float32 on the CPU in eval mode. An EMA-only export has
    no raw weights: ``raw`` is None and ``note`` says so. Raises :class:`CheckpointError`
    naming the file when it cannot be read."""
    ckpt = load_checkpoint(path)
    config = ckpt["config_obj"]
    models = {}
    for key in ("model", "ema"):
        if key == "model" and (ckpt["format"] != FORMAT_FULL or "model" not in ckpt):
            continue
        m = build_model(config)
        m.load_state_dict(float_weights(ckpt[key]))
        m.eval().requires_grad_(False)
        models[key] = m
    note = (f"{Path(path).name}: raw and EMA weights after {int(ckpt['step'])} steps"
            if "model" in models else f"{Path(path).name} holds EMA weights only: no raw weights to compare")
    return models.get("model"), models["ema"], schedule_of(config), config, note


def weight_distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """Relative distance of two models' weights: ||a - b|| / ||b|| over all floating parameters."""
    num = den = 0.0
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        if pa.is_floating_point():
            num += float(((pa.float() - pb.float()) ** 2).sum())
            den += float((pb.float() ** 2).sum())
    if den == 0:
        raise MsknbError("the reference model's weights are all zero", "weight_distance")
    return (num / den) ** 0.5


def ema_comparison(raw_samples: np.ndarray, ema_samples: np.ndarray, real: np.ndarray) -> dict[str, Any]:
    """Raw vs EMA samples against the real images: per set its sharpness (mean, and as a
    share of the real images'), and the 32-bin intensity-histogram L1 to the real images
    (``msknb.ddpm.quality.quality_proxy``; 0 = same histogram, 2 = disjoint)."""
    ref = float(sharpness(real).mean())
    out: dict[str, Any] = {"real_sharpness": ref}
    for name, x in (("raw", raw_samples), ("ema", ema_samples)):
        s = float(sharpness(x).mean())
        out[name] = {"n": int(len(x)), "sharpness": s, "sharpness_ratio": s / ref if ref else None,
                     "hist_l1": quality_proxy(real, x)["hist_l1"]}
    return out


def ema_conclusion(comparison: dict[str, Any], distance: float, steps: int, decay: float) -> str:
    """One sentence reading :func:`ema_comparison` (and the weights' relative distance)."""
    raw, ema = comparison["raw"], comparison["ema"]
    gap = raw["hist_l1"] - ema["hist_l1"]
    closer = ("practically the same" if abs(gap) < 0.05 * max(raw["hist_l1"], ema["hist_l1"], 1e-9)
              else f"the {'EMA' if gap > 0 else 'raw'} samples are closer")
    return (f"After {steps} steps the EMA weights (decay {decay}) differ from the raw ones by "
            f"{100 * distance:.2f} % (relative L2). Intensity-histogram L1 to the real images: raw "
            f"{raw['hist_l1']:.3f}, EMA {ema['hist_l1']:.3f} ({closer}); sharpness "
            f"{100 * raw['sharpness_ratio']:.0f} % vs {100 * ema['sharpness_ratio']:.0f} % of the real images' "
            f"({raw['n']} samples each, same noise)."
            + (" Both are sharper than the real images (finer speckle than real scans, or noise left in the "
               "samples): sharpness alone cannot tell which; look at the grids above."
               if min(raw["sharpness_ratio"], ema["sharpness_ratio"]) > 1.0 else ""))


def read_memorisation_size(path: str | Path = MEMORISATION_SIZE_JSON) -> dict[str, Any] | None:
    """The JSON of ``benchmarks/bench_memorisation_size.py``, or None when it does not exist.
    A garbled file raises :class:`MsknbError` naming it."""
    return read_checked_json(path, lambda r: [(x["fraction"], x["n_train"], x["fraction_above"]["p95"])
                                              for x in r["runs"]], "a memorisation-size")


def memorisation_size_conclusion(report: dict[str, Any]) -> str:
    """One sentence reading :func:`read_memorisation_size`: for each training-set size the
    share of samples closer to a training image than the real p95, against the 5 % expected."""
    runs = sorted(report["runs"], key=lambda r: r["n_train"])
    parts = "; ".join(f"{r['n_train']} images ({r['epochs']:.0f} epochs): {100 * r['fraction_above']['p95']:.0f} % "
                      f"(max NCC {r['synthetic']['max']:.3f})" for r in runs)
    flagged = [r for r in runs if r["fraction_above"]["p95"] > max(3 * r["expected_fraction"]["p95"],
                                                                    r["expected_fraction"]["p95"] + 0.05)]
    verdict = (f"copying shows up at {', '.join(str(r['n_train']) for r in flagged)} training images"
               if flagged else "no training-set size here shows more copies than real held-out images do")
    steps = report.get("settings", {}).get("steps")
    top = [r["synthetic"]["max"] for r in runs]
    if len(runs) > 1 and all(a >= b for a, b in zip(top, top[1:])):
        verdict += (f"; but the closest sample-to-training NCC rises as the set shrinks ({top[-1]:.3f} at "
                    f"{runs[-1]['n_train']} -> {top[0]:.3f} at {runs[0]['n_train']} images): the direction copying comes from")
    return (f"Share of samples closer to a training image than the real images' 95th percentile (about 5 % "
            f"expected without copying), same {steps} optimiser steps for every size: {parts}. So {verdict}.")
