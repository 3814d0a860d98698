"""Screening a mask-conditioned generator on the kit val masks, at the generator's own size.

One function per number the generator issue is judged by, each beside its real baseline:

- :func:`degraded` and :func:`resolution_gap`: the domain Fréchet ratio of real val images
  degraded to a lower size and upsampled back (is a 64 px generator's gap missing
  resolution, or wrong anatomy?);
- :func:`domain_ratio`: Fréchet distance of a query set to the real train images in the
  segmenter's bottleneck features, divided by that of the real val images (same n);
- :func:`alignment_dice`: does the segmenter find the conditioning mask in the drawn image;
- :func:`intensity_row`: mean grey, per-image skewness against the real p5-p95, histogram L1;
- :func:`screen`: all of them for one set of drawn images, as one JSON-safe dict;
- :func:`over_seeds`: the spread of the headline numbers over sampling seeds;
- :func:`read_generator_screen` (the one reader of :data:`SCREEN_FILE`, which
  ``benchmarks/bench_generator_screen.py`` writes), :func:`screen_rows` and
  :func:`screen_readings`: the stored screen for notebook 07;
- :func:`guidance_rows` and :func:`guidance_readings`: one generator (:data:`GUIDANCE_SCREENED`)
  under each guidance setting screened (scale, interval, rescale), for notebook 07.

The val ids pick and tune; the test ids are never read here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.stats import skew

from msknb.ddpm.checkpoints import guidance_label
from msknb.ddpm.quality import image_stats, quality_proxy
from msknb.evaluation.features import frechet_distance
from msknb.evaluation.memorisation import memorisation_check
from msknb.errors import CheckpointError
from msknb.evaluation.stacks import resize_images
from msknb.paths import CHECKPOINTS_DIR
from msknb.segmentation.metrics import segmentation_metrics
from msknb.segmentation.model import bottleneck_features
from msknb.segmentation.predict import predict

#: the stored screen of the kit's generators (written by benchmarks/bench_generator_screen.py)
SCREEN_FILE = CHECKPOINTS_DIR / "generator_screen.json"
#: the targets the generators are screened against (domain ratio at 256 px, alignment Dice)
TARGETS = {"domain_ratio": 2.0, "alignment_dice": 0.80, "mean_grey_gap": 0.02}


def degraded(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) in [0, 1] resized to ``size`` (antialiased) and back to (H, W) (bilinear):
    what a generator of ``size`` px can show at best."""
    small = resize_images(images, size)
    return resize_images(small, images.shape[-1]) if images.shape[-1] != size else small


def segmenter_features(segmenter) -> Callable[[np.ndarray], np.ndarray]:
    """Images (N, H, W) -> the segmenter's average-pooled bottleneck features (N, F), the
    images resized to the segmenter's training size first."""
    size = int(segmenter.msknb_config.get("image_size", 128))
    return lambda x: bottleneck_features(segmenter, resize_images(x, size))


def domain_ratio(features: Callable, query: np.ndarray, baseline: np.ndarray, reference: np.ndarray,
                 seed: int = 0) -> dict[str, float]:
    """Fréchet(query, reference) / Fréchet(baseline, reference), both at n = min(len(query),
    len(baseline)) images (seeded draw); 1 = as far from the train images as real val images."""
    rng = np.random.default_rng(seed)
    n = min(len(query), len(baseline))
    q = query[np.sort(rng.choice(len(query), n, replace=False))]
    b = baseline[np.sort(rng.choice(len(baseline), n, replace=False))]
    ref = features(reference)
    fq, fb = frechet_distance(features(q), ref), frechet_distance(features(b), ref)
    return {"frechet": fq, "real_frechet": fb, "ratio": fq / fb if fb > 0 else float("nan"), "n": n}


def resolution_gap(features: Callable, val: np.ndarray, train: np.ndarray, sizes=(32, 64, 128)) -> dict[str, Any]:
    """:func:`domain_ratio` of the val images degraded to each of ``sizes``; keys are sizes."""
    return {int(s): domain_ratio(features, degraded(val, int(s)), val, train) for s in sizes}


def alignment_dice(segmenter, images: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """Mean / median Dice between the segmenter's masks on ``images`` and ``masks`` (both
    resized to the segmenter's size)."""
    size = int(segmenter.msknb_config.get("image_size", 128))
    _, pred = predict(segmenter, resize_images(images, size))
    truth = (resize_images(np.asarray(masks, np.float32), size) > 0.5).astype(np.uint8)
    d = np.array([r["dice"] for r in segmentation_metrics(pred, truth)])
    return {"dice_mean": float(d.mean()), "dice_median": float(np.median(d)), "n": int(len(d))}


def intensity_row(real: np.ndarray, drawn: np.ndarray) -> dict[str, Any]:
    """Mean grey level, per-image skewness (mean; share inside the real p5-p95) and the
    32-bin histogram L1 of ``drawn`` against ``real`` (N, H, W)."""
    per_real = np.array([skew(x.ravel()) for x in real])
    per_drawn = np.array([skew(x.ravel()) for x in drawn])
    lo, hi = np.percentile(per_real, [5, 95])
    return {"mean_grey": image_stats(drawn)["mean"], "real_mean_grey": image_stats(real)["mean"],
            "skewness_mean": float(per_drawn.mean()), "real_skewness_p5_p95": [float(lo), float(hi)],
            "skewness_inside_real_p5_p95": float(((per_drawn >= lo) & (per_drawn <= hi)).mean()),
            "hist_l1": quality_proxy(real, drawn)["hist_l1"]}


def screen(drawn: np.ndarray, masks: np.ndarray, real_val: np.ndarray, real_train: np.ndarray,
           train_ids, val_clusters, train_clusters, segmenter) -> dict[str, Any]:
    """Every screening number for ``drawn`` (N, S, S) images drawn for ``masks`` (N, S, S) of
    the kit val ids, against the real val images (same ids, same size) and the real train
    images; real-vs-real baselines beside each."""
    feats = segmenter_features(segmenter)
    half = len(real_train) // 2
    mem, _, _ = memorisation_check(drawn, real_train, train_ids, real_val, val_clusters, train_clusters)
    return {"n": int(len(drawn)), "size": int(drawn.shape[-1]),
            "intensity": intensity_row(real_val, drawn),
            "intensity_real_vs_real": intensity_row(real_val, real_train[:half]),
            "alignment": alignment_dice(segmenter, drawn, masks),
            "alignment_real": alignment_dice(segmenter, real_val, masks),
            "domain": domain_ratio(feats, drawn, real_val, real_train),
            "memorisation": {k: mem[k] for k in ("fraction_above", "thresholds", "synthetic", "baseline")}}


#: the headline numbers whose spread over sampling seeds :func:`over_seeds` reports
SEED_NUMBERS = {"domain_ratio": ("domain", "ratio"), "alignment_dice": ("alignment", "dice_mean"),
                "mean_grey": ("intensity", "mean_grey"), "hist_l1": ("intensity", "hist_l1")}


def over_seeds(rows: list[dict], seeds) -> dict[str, Any]:
    """Mean, sd and per-seed values of each :data:`SEED_NUMBERS` entry over ``rows`` (one
    :func:`screen` per sampling seed, same generator and masks): one screen of 47 images
    ranks generators only as far as this spread allows."""
    out: dict[str, Any] = {"seeds": [int(s) for s in seeds]}
    for name, (part, key) in SEED_NUMBERS.items():
        v = np.array([float(r[part][key]) for r in rows])
        out[name] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                     "values": v.tolist()}
    return out


def read_generator_screen(path: str | Path = SCREEN_FILE) -> dict[str, Any]:
    """The stored screen: ``{"generators": {name: screen(...) + sampler, step, seconds}, "resolution_gap"}``;
    CheckpointError naming the file and the command that writes it when absent or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError("no stored generator screen; run `python benchmarks/bench_generator_screen.py "
                              "--diagnostic`", p)
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read the generator screen ({e})", p) from e


def _p95(fraction_above) -> float | None:
    """The share above the real-vs-real p95 (stored as a number or as ``{"p95": ..}``)."""
    return fraction_above.get("p95") if isinstance(fraction_above, dict) else fraction_above


def screen_rows(screen_file: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per screened generator: ``name``, ``kind`` ("fold" | "cascade"), ``steps``,
    ``train_hours`` (1 thread), ``guidance``, ``domain_ratio``, ``alignment`` (and the real
    images' ``alignment_real``), ``mean_grey`` (and ``real_mean_grey``), ``hist_l1``,
    ``skew_inside`` (share of images with skewness inside the real p5-p95), ``memorised``
    (share above the real-vs-real p95), ``s_per_image``; sorted by domain ratio."""
    rows = []
    for name, g in screen_file.get("generators", {}).items():
        seconds = g.get("train_seconds", 0.0) + g.get("base_train_seconds", 0.0)
        rows.append({"name": name, "kind": "cascade" if "base" in g else "fold", "steps": g.get("step"),
                     "train_hours": seconds / 3600.0, "guidance": g.get("sampler", {}).get("guidance"),
                     "domain_ratio": g["domain"]["ratio"], "alignment": g["alignment"]["dice_mean"],
                     "alignment_real": (g.get("alignment_real") or {}).get("dice_mean"),
                     "mean_grey": g["intensity"]["mean_grey"], "real_mean_grey": g["intensity"]["real_mean_grey"],
                     "hist_l1": g["intensity"]["hist_l1"],
                     "skew_inside": g["intensity"]["skewness_inside_real_p5_p95"],
                     "memorised": _p95((g.get("memorisation") or {}).get("fraction_above")),
                     "s_per_image": g.get("sampler", {}).get("seconds_per_image")})
    return sorted(rows, key=lambda r: r["domain_ratio"])


def screen_readings(screen_file: dict[str, Any]) -> list[str]:
    """Sentences read from the stored screen: what the resolution diagnostic says, and which
    generator comes closest to the targets (:data:`TARGETS`)."""
    out = []
    gap = (screen_file.get("resolution_gap") or {}).get("by_size") or {}
    if gap:
        parts = ", ".join(f"{k} px: {v['ratio']:.0f}" for k, v in sorted(gap.items(), key=lambda kv: int(kv[0])))
        out.append(f"Real val images shrunk and blown up back to 256 px score domain ratios of {parts} against real "
                   "images: at 256 px the missing fine texture alone costs far more than any generator's gap, so "
                   "a generator has to draw at 256 px to come near real images.")
    rows = screen_rows(screen_file)
    if rows:
        best = rows[0]
        meets = [k for k, ok in (("domain ratio <= 2", best["domain_ratio"] <= TARGETS["domain_ratio"]),
                                 ("alignment >= 0.80", best["alignment"] >= TARGETS["alignment_dice"]),
                                 ("mean grey within 0.02", abs(best["mean_grey"] - best["real_mean_grey"])
                                  <= TARGETS["mean_grey_gap"])) if ok]
        out.append(f"Closest to real in the domain features: {best['name']} ({best['kind']}, {best['steps']} steps, "
                   f"{best['train_hours']:.1f} CPU-hours), ratio {best['domain_ratio']:.2f}, alignment Dice "
                   f"{best['alignment']:.2f}, mean grey {best['mean_grey']:.3f} vs {best['real_mean_grey']:.3f}; "
                   + (f"of the targets it meets {', '.join(meets)}." if meets else "it meets none of the targets."))
    return out


#: where the screen keeps one generator's guidance settings (``--section guidance``)
GUIDANCE_SECTION = "guidance"
#: the checkpoint (file stem in msknb/checkpoints) every guidance setting was screened on: the run's
#: step-2892 weights, which the longer runs of the training screen continue
GUIDANCE_SCREENED = "ddpm_cond_dltrack_256_step2892"


def steps_from_start(g: dict[str, Any]) -> int:
    """A screened row's training steps from the start of training: its own steps plus, for a
    fine-tuning run, those of the file it ``started_from``."""
    return int(g.get("step", 0)) + int(g.get("started_from_step", 0))


def seed_spread(g: dict[str, Any]) -> dict[str, Any]:
    """``domain_ratio_{mean,sd,values}`` and ``alignment_{mean,sd,values}`` of a screened row's
    ``over_seeds`` (:func:`over_seeds`); None each where it was screened with one seed."""
    seeds = g.get("over_seeds") or {}
    return {f"{k}_{stat}": (seeds.get(key) or {}).get(stat)
            for k, key in (("domain_ratio", "domain_ratio"), ("alignment", "alignment_dice"))
            for stat in ("mean", "sd", "values")}


def setting_row(name: str, g: dict[str, Any]) -> dict[str, Any]:
    """One screened row ``g`` read for a settings figure: ``name``, ``label`` (its sampler setting
    in words), ``step``, ``domain_ratio`` and ``alignment`` (seed 0), their ``*_mean`` / ``*_sd``
    / ``*_values`` over sampling ``seeds`` (None with one seed), ``n_seeds``, ``mean_grey``,
    ``real_mean_grey``, ``hist_l1`` (seed 0), ``s_per_image``."""
    seeds = g.get("over_seeds") or {}
    return {"name": name, "label": guidance_label(g.get("sampler", {})), "step": g.get("step"),
            "domain_ratio": g["domain"]["ratio"], "alignment": g["alignment"]["dice_mean"],
            "n_seeds": len(seeds.get("seeds", [0])), "seeds": seeds.get("seeds"), **seed_spread(g),
            "mean_grey": g["intensity"]["mean_grey"], "real_mean_grey": g["intensity"]["real_mean_grey"],
            "hist_l1": g["intensity"]["hist_l1"], "s_per_image": g.get("sampler", {}).get("seconds_per_image")}


def guidance_rows(screen_file: dict[str, Any], checkpoint: str = GUIDANCE_SCREENED) -> list[dict[str, Any]]:
    """One row per guidance setting screened for ``checkpoint`` (its rows in the ``generators``
    and :data:`GUIDANCE_SECTION` sections), read by :func:`setting_row`; sorted by domain ratio."""
    rows = []
    for section in ("generators", GUIDANCE_SECTION):
        for name, g in (screen_file.get(section) or {}).items():
            if Path(str(g.get("checkpoint", ""))).stem != checkpoint or "base" in g:
                continue
            rows.append(setting_row(name, g))
    screened_over_seeds = {r["label"] for r in rows if r["n_seeds"] > 1}
    rows = [r for r in rows if r["n_seeds"] > 1 or r["label"] not in screened_over_seeds]
    return sorted(rows, key=lambda r: r["domain_ratio"])


def guidance_readings(rows: list[dict[str, Any]], stored: str | None = None) -> list[str]:
    """Sentences read from :func:`guidance_rows`: the setting that reaches the alignment target
    with the lowest domain ratio, then each setting screened over several sampling seeds against
    the ``stored`` one (its :func:`msknb.ddpm.checkpoints.guidance_label`; without it, the two
    lowest-ratio settings against each other; :func:`seed_comparison`)."""
    out = []
    aligned = [r for r in rows if r["alignment"] >= TARGETS["alignment_dice"]]
    if aligned:
        best = aligned[0]
        out.append(f"Of the {len(rows)} settings screened (seed 0 of each), the lowest domain ratio among those "
                   f"whose images the segmenter aligns with their masks (alignment >= {TARGETS['alignment_dice']:.2f}) "
                   f"is {best['domain_ratio']:.2f} ({best['label']}, alignment {best['alignment']:.3f}); guiding "
                   f"every step at larger w raises alignment and the ratio together.")
    multi = sorted((r for r in rows if r["n_seeds"] > 1 and r["domain_ratio_mean"] is not None),
                   key=lambda r: r["domain_ratio_mean"])
    base = next((r for r in multi if r["label"] == stored), None)
    if base is not None:
        at = f" (screened on its weights at training step {base['step']})" if base.get("step") is not None else ""
        out.append(f"The setting stored with these weights (what samplers use with them by default): "
                   f"{base['label']}{at}.")
        out += [seed_comparison(r, base) for r in multi if r is not base]
    elif len(multi) >= 2:
        out.append(seed_comparison(multi[0], multi[1]))
    return out


def seed_comparison(a: dict[str, Any], b: dict[str, Any]) -> str:
    """``a`` against ``b`` over sampling seeds: paired seed by seed where both used the same
    seeds (same starting noise, same masks), else mean +- 2 sd apart or not."""
    head = (f"Over {a['n_seeds']} sampling seeds: {a['label']} ratio {a['domain_ratio_mean']:.2f} ± "
            f"{a['domain_ratio_sd']:.2f} (alignment {a['alignment_mean']:.3f} ± {a['alignment_sd']:.3f}), "
            f"{b['label']} ratio {b['domain_ratio_mean']:.2f} ± {b['domain_ratio_sd']:.2f} (alignment "
            f"{b['alignment_mean']:.3f} ± {b['alignment_sd']:.3f}): ")
    if a.get("seeds") and a.get("seeds") == b.get("seeds"):
        d_ratio = np.subtract(a["domain_ratio_values"], b["domain_ratio_values"])
        d_align = np.subtract(a["alignment_values"], b["alignment_values"])
        align = f"({d_align.min():+.3f} to {d_align.max():+.3f})"
        align_moved = (d_align > 0).all() or (d_align < 0).all()
        if not ((d_ratio < 0).all() or (d_ratio > 0).all()):
            return head + ("seed by seed the ratio differences change sign: no measurable effect"
                           + (f"; alignment {'higher' if d_align[0] > 0 else 'lower'} on each seed {align}"
                              if align_moved else "") + ".")
        better = bool((d_ratio < 0).all())                       # lower ratio is closer to real
        size = np.abs(d_ratio)
        lead = (f"drawn from the same noise, the first is {'lower' if better else 'higher'} in ratio on each of the "
                f"{len(d_ratio)} seeds (by {size.min():.2f} to {size.max():.2f})")
        if (better and (d_align >= 0).all()) or (not better and (d_align <= 0).all()):
            verdict = "better in both" if better else "worse in both"
            return head + (f"{lead} and {'no worse' if better else 'no better'} in alignment {align}: {verdict}; "
                           f"{len(d_ratio)} seeds are too few for a confidence interval.")
        if not align_moved:
            return head + f"{lead}; the alignment differences {align} change sign: no measurable change in alignment."
        return head + f"{lead}, with alignment {align}: a trade between the two, not a gain in both."
    apart = a["domain_ratio_mean"] + 2 * a["domain_ratio_sd"] < b["domain_ratio_mean"] - 2 * b["domain_ratio_sd"]
    return head + ("the seeds separate them." if apart else
                   "the difference lies inside the spread over seeds: no measurable effect.")
