"""The numbers behind the practitioner lessons, and a sentence of conclusion computed from them.

* :func:`sharpness` -- mean gradient magnitude of each image (grey levels per px) and
  :func:`contrast_free_sharpness` (the same over the image's grey-level SD);
  :func:`sharpness_by_sampler` / :func:`ddim_steps_comparison` / :func:`ddim_blur_conclusion`
  (04: do few DDIM steps blur? measured over several images, paired by starting noise);
* :func:`load_raw_and_ema` / :func:`weight_distance` / :func:`ema_conclusion` (03: what the
  EMA of the weights does to samples);
* :func:`read_memorisation_size` / :func:`memorisation_size_conclusion` (07: how many
  training images before a DDPM copies them; ``msknb/checkpoints/memorisation_size.json``,
  written by ``benchmarks/bench_memorisation_size.py``).
"""
from __future__ import annotations

import math
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
from msknb.readings import paired_bootstrap
from msknb.stored_results import StoredResult, read_stored_result

MEMORISATION_SIZE = StoredResult("memorisation_size.json", "benchmarks/bench_memorisation_size.py",
                                 "memorisation-size result")


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


def contrast_free_sharpness(images: np.ndarray) -> np.ndarray:
    """:func:`sharpness` divided by each image's standard deviation of grey levels (its
    contrast), in 1/px: the same texture at twice the contrast scores the same, so a
    brighter, higher-contrast sample is not counted as sharper. Same shapes as
    :func:`sharpness`; returns (N,) float64, NaN for a flat image (SD 0)."""
    arr = np.asarray(images, dtype=np.float64)
    img = split_channels(arr)[0].astype(np.float64) if arr.ndim == 4 else arr
    sd = img.reshape(len(img), -1).std(axis=1) if img.ndim == 3 else np.array([np.nan])
    s = sharpness(arr)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, s / np.where(sd > 0, sd, 1.0), np.nan)


def _spread(values: np.ndarray) -> dict[str, Any]:
    """n, mean and SD (ddof 1; NaN for one value) of finite ``values``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return {"n": int(v.size), "mean": float(v.mean()) if v.size else math.nan,
            "sd": float(v.std(ddof=1)) if v.size > 1 else math.nan}


def sharpness_by_sampler(samples: Mapping[str, np.ndarray], real: np.ndarray) -> dict[str, Any]:
    """Sharpness (:func:`sharpness`, grey levels/px) and contrast-free sharpness
    (:func:`contrast_free_sharpness`, 1/px) of each named sample set and of the real images,
    image by image, with their spread.

    ``samples`` {name: (N, C, H, W) or (N, H, W)} in [0, 1], names as ``time_samplers``
    writes them (``ddim_<k>``, ``ddpm_<T>``); sample ``i`` of every set should start from the
    same noise (the readings pair them by index). ``real`` (M, H, W) at the same size.
    Returns ``{"real": mean, "real_sd", "real_n", "real_free": {n, mean, sd},
    "real_contrast": mean grey-level SD, "samplers": {name: {"n", "mean", "sd",
    "ratio_to_real", "ratios" (per image, share of the real mean), "free" {n, mean, sd},
    "contrast"}}}``.
    """
    ref_all = sharpness(real)
    ref = float(ref_all.mean())
    real_img = np.asarray(real, dtype=np.float64)
    real_img = split_channels(real_img)[0] if real_img.ndim == 4 else real_img
    out: dict[str, Any] = {"real": ref, "real_sd": _spread(ref_all)["sd"], "real_n": int(len(ref_all)),
                           "real_free": _spread(contrast_free_sharpness(real)),
                           "real_contrast": float(real_img.reshape(len(real_img), -1).std(axis=1).mean())}
    rows = {}
    for name, x in samples.items():
        s = sharpness(x)
        img = np.asarray(x, dtype=np.float64)
        img = split_channels(img)[0] if img.ndim == 4 else img
        ratios = s / ref if ref else np.full(len(s), np.nan)
        rows[name] = {**_spread(s), "ratio_to_real": float(s.mean() / ref) if ref else None,
                      "ratios": [float(r) for r in ratios], "free": _spread(contrast_free_sharpness(x)),
                      "contrast": float(img.reshape(len(img), -1).std(axis=1).mean())}
    out["samplers"] = rows
    return out


def network_calls(name: str) -> int:
    """Network calls of a sampler named ``ddim_<k>`` or ``ddpm_<T>`` (k or T)."""
    return int(str(name).rsplit("_", 1)[-1])


def _label(name: str) -> str:
    return name.replace("_", "-").upper()


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _sampler_part(name: str, row: Mapping[str, Any], ref: float) -> str:
    if row["n"] < 2:
        return f"{_label(name)} {_pct(row['ratio_to_real'])} (one image: one example)"
    return f"{_label(name)} {100 * row['ratio_to_real']:.0f} ± {_pct(row['sd'] / ref)} (n = {row['n']})"


def ddim_steps_comparison(table: Mapping[str, Any], seed: int = 0) -> dict[str, Any] | None:
    """The DDIM sets of :func:`sharpness_by_sampler` with the fewest and the most steps,
    compared image by image (sample ``i`` of both starts from the same noise): the paired
    difference of sharpness (most minus fewest, as a share of the real mean) with its paired
    bootstrap 95 % CI (:func:`msknb.readings.paired_bootstrap`), how many images got sharper,
    and with three or more DDIM sets how many rise with every added step. None with fewer than
    two DDIM sets."""
    ddim = sorted((k for k in table["samplers"] if k.startswith("ddim")), key=network_calls)
    if len(ddim) < 2:
        return None
    n = min(len(table["samplers"][k]["ratios"]) for k in ddim)
    per = np.array([table["samplers"][k]["ratios"][:n] for k in ddim])      # (settings, images)
    boot = paired_bootstrap(per[0], per[-1], seed=seed)
    rising = int(np.all(np.diff(per, axis=0) > 0, axis=0).sum()) if len(ddim) >= 3 else None
    return {"fewest": ddim[0], "most": ddim[-1], "n": n, "diff": boot["diff"], "ci_low": boot["ci_low"],
            "ci_high": boot["ci_high"], "significant": boot["significant"],
            "sharper": int((per[-1] > per[0]).sum()), "rising_every_step": rising, "settings": len(ddim)}


def ddim_blur_conclusion(table: dict[str, Any], seed: int = 0) -> str:
    """Sentences reading :func:`sharpness_by_sampler`, all computed from its numbers: each
    sampler's sharpness as a share of the real mean with its spread (one image is "one
    example"); the paired comparison of the fewest and the most DDIM steps
    (:func:`ddim_steps_comparison`: a CI containing 0 reads "no measurable difference"); and
    where the samples lie against the real spread, with and without their contrast."""
    ref = table["real"]
    rows = sorted(table["samplers"].items(), key=lambda kv: network_calls(kv[0]))
    real_rel_sd = table.get("real_sd", math.nan) / ref if ref else math.nan
    spread = (f"; one SD across the {table['real_n']} real images: ± {_pct(real_rel_sd)}"
              if math.isfinite(real_rel_sd) else "")
    out = [f"Sharpness (mean gradient magnitude) as a share of the real images' mean ({ref:.4f} grey levels/px"
           f"{spread}): " + ", ".join(_sampler_part(k, r, ref) for k, r in rows) + "."]
    cmp = ddim_steps_comparison(table, seed=seed)
    if cmp is not None:
        most, fewest = _label(cmp["most"]), _label(cmp["fewest"])
        if cmp["n"] < 2:
            out.append(f"From the same starting noise, {most} against {fewest}: {100 * cmp['diff']:+.0f} % of the real "
                       f"mean on one image: one example, not a trend.")
        else:
            if not cmp["significant"]:
                verdict = (f"The CI contains 0: no measurable difference, so on these images {fewest} is not "
                           f"measurably blurrier than {most}.")
            elif cmp["diff"] > 0:
                verdict = f"The CI lies above 0: {fewest} is measurably blurrier than {most} here."
            else:
                verdict = f"The CI lies below 0: {fewest} is measurably sharper than {most} here, not blurrier."
            rising = ("" if cmp["rising_every_step"] is None else
                      f", rising with every added DDIM step in {cmp['rising_every_step']} of {cmp['n']}")
            out.append(f"From the same starting noise, {most} against {fewest}: {100 * cmp['diff']:+.0f} % of the real "
                       f"mean on average (95 % CI {100 * cmp['ci_low']:+.0f} to {100 * cmp['ci_high']:+.0f} %, paired "
                       f"bootstrap over {cmp['n']} images), sharper in {cmp['sharper']} of {cmp['n']}{rising}. {verdict}")
    ratios = [r["ratio_to_real"] for _, r in rows]
    free = table.get("real_free") or {}
    if min(ratios) > 1.0 and free.get("n", 0) >= 2 and math.isfinite(free.get("sd", math.nan)):
        beyond = all(x - 1.0 > real_rel_sd for x in ratios)
        where = "more than one real SD above" if beyond else "above (within one real SD of)"
        f_means = [r["free"]["mean"] for _, r in rows]
        lo, hi = min(f_means), max(f_means)
        inside = all(abs(m - free["mean"]) <= free["sd"] for m in f_means)
        higher_contrast = all(r["contrast"] > table["real_contrast"] for _, r in rows)
        contrast = (f"grey-level SD {min(r['contrast'] for _, r in rows):.3f}-{max(r['contrast'] for _, r in rows):.3f} "
                    f"against the real {table['real_contrast']:.3f}")
        if inside:
            tail = ("inside the real spread. So the extra sharpness in grey levels comes with the samples' higher "
                    "contrast, not with finer detail" if higher_contrast else
                    "inside the real spread: once contrast is divided out the samples are as sharp as real scans")
        elif lo > free["mean"]:
            tail = "above the real spread even without contrast: finer texture, or noise left in the samples"
        else:
            tail = "not all inside the real spread"
        out.append(f"Every sampler's mean lies {where} the real mean. Divided by each image's own contrast "
                   f"({contrast}), the samples score {lo:.2f}-{hi:.2f} /px against the real "
                   f"{free['mean']:.2f} ± {free['sd']:.2f}, {tail}.")
    elif min(ratios) > 1.0:
        out.append("Every sampler comes out sharper than the real images, so on these images this measure cannot "
                   "show blur.")
    return " ".join(out)


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


def read_memorisation_size(path: str | Path | None = None) -> dict[str, Any]:
    """The stored result (``path``, default ``MEMORISATION_SIZE.path``): ``{"runs": [...],
    "command", "machine", "total_cpu_s", "settings"}``. Missing or garbled:
    :class:`~msknb.errors.StoredResultError` naming the file and the benchmark that writes it."""
    return read_stored_result(MEMORISATION_SIZE, lambda r: [(x["fraction"], x["n_train"], x["fraction_above"]["p95"])
                                                            for x in r["runs"]], path)


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
