"""A complete run folder for the report tests, written into a tmp dir: results of 05, 06 and
07 (07's metrics, verdict, texture and PCA computed by the kit's own functions from small
random sets), a synthetic set and a real data folder as PNGs, and a stored reference
experiment (``experiment.json`` + cells). Nothing is downloaded."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from msknb.evaluation.intensity import intensity_by_group
from msknb.evaluation.metric_table import EvalSets, compute_table_metrics
from msknb.evaluation.pca import pca_offsets, pca_project, read_pca
from msknb.evaluation.texture import texture_stats
from msknb.evaluation.verdict import synthetic_verdict
from msknb.io import write_png
from msknb.results import save_results

#: an offline download error as notebook 07 stores it: long and on several lines
LONG_REASON = ("/root/.cache/torch/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth: file not found and "
               "cannot be downloaded ([Errno -2] Name or service not known)\nTraceback (most recent call last):\n"
               + "  File 'x.py', line 1, in <module>\n" * 20)
SIZE = 32


def _images(rng: np.random.Generator, n: int, blur: bool = False) -> np.ndarray:
    base = np.linspace(0.2, 0.6, SIZE)[None, :, None] * np.ones((n, SIZE, SIZE))
    noise = rng.random((n, SIZE, SIZE)) * (0.1 if blur else 0.4)
    return np.clip(base + noise, 0, 1)


def _write_set(folder: Path, images: np.ndarray, prefix: str) -> list[str]:
    ids = [f"{prefix}_{i:03d}" for i in range(len(images))]
    for i, im in zip(ids, images):
        write_png(folder / "images" / f"{i}.png", im)
    return ids


def _results_07(real: np.ndarray, synth: np.ndarray, real_ids: list[str], data: Path) -> dict:
    rng = np.random.default_rng(1)
    half_a, half_b = real[: len(real) // 2], real[len(real) // 2:]
    side = lambda psnr, ssim, lp: {"psnr_db": {"mean": psnr, "std": 1.0}, "ssim": {"mean": ssim, "std": 0.1},  # noqa: E731
                                   "lpips": {"mean": lp, "std": 0.02}}
    feats_r, feats_s = rng.normal(size=(len(real), 8)), rng.normal(0.8, 0.5, size=(len(synth), 8))
    pr, ps, ratio = pca_project(feats_r, feats_s)
    offsets = pca_offsets(pr, ps)
    ev = {"eval_image_size": SIZE, "n_real_test": len(real), "n_synthetic": len(synth), "synthetic_source": "synthetic/",
          "intensity": {"real": intensity_by_group(real), "synthetic": intensity_by_group(synth), "note": "bits"},
          "similarity": {"nearest": {"n": 6, "definition": "halves by cluster", "synthetic": side(19.0, 0.25, 0.04),
                                     "inter_patient": side(17.3, 0.21, 0.05)}},
          "lpips": {"pretrained": False, "note": "random backbone", "reason": "alexnet-owt-7be5be79.pth not found"},
          "fid": {"status": "not run", "reason": LONG_REASON},
          "domain": {"n": 6, "note": "bottleneck", "trained": True,
                     "synthetic_vs_real": {"frechet": 0.92, "kid_mean": 0.035, "kid_std": 0.002},
                     "real_vs_real": {"frechet": 0.47, "kid_mean": 1e-6, "kid_std": 4e-6}},
          "metrics": compute_table_metrics(EvalSets(half_a, half_b, synth, 0)),
          "texture": {"real": texture_stats(real), "synthetic": texture_stats(synth)},
          "pca": {"features": "bottleneck", "explained_variance_ratio": ratio, "real": pr, "synthetic": ps,
                  "real_ids": real_ids, "offsets": offsets, "reading": read_pca(offsets, ratio)},
          "memorisation": {"status": "not run", "reason": "no synthetic set\nsecond line"},
          "generator_test_overlap": 0}
    ev["verdict"] = {k: v for k, v in synthetic_verdict(ev).items() if k != "markdown"}
    return ev


def _reference(folder: Path, ids: list[str]) -> None:
    rng = np.random.default_rng(2)
    (folder / "cells").mkdir(parents=True)
    (folder / "experiment.json").write_text(json.dumps({"resolution": 128, "command": "python -m msknb experiment run"}))
    for name, exp, seed, level in (("real-d0-s0", "Real", 0, 0.8), ("real-d0-s1", "Real", 1, 0.79),
                                   ("10pct-d0-s0", "10%", 0, 0.72), ("10pct-d0-s1", "10%", 1, 0.73)):
        expert = rng.uniform(30, 45, len(ids))
        cell = {"experiment": exp, "seed": seed, "draw": 0, "gen_use": None, "name": name,
                "test": {"ids": ids, "dice": list(np.clip(rng.normal(level, 0.05, len(ids)), 0, 1)),
                         "mt_expert_px": list(expert), "mt_pred_px": list(expert + rng.normal(0, 2, len(ids))),
                         "flagged": [False] * len(ids)}}
        (folder / "cells" / f"{name}.json").write_text(json.dumps(cell))


def write_run(root: Path) -> tuple[Path, Path]:
    """A run folder and a reference folder under ``root``; returns ``(out_dir, reference_dir)``."""
    rng = np.random.default_rng(0)
    out, data, ref = root / "out", root / "data", root / "reference"
    real, synth = _images(rng, 12), _images(rng, 10, blur=True)
    real_ids = _write_set(data, real, "img")
    _write_set(out / "synthetic", synth, "syn")
    ctx = dict(profile="smoke", seed=0, data=str(data), image_size=SIZE, epochs=1, split="05 split.json")
    per_image = {n: list(np.clip(rng.normal(m, 0.08, 12), 0, 1)) for n, m in (("Real", 0.75), ("Gen", 0.69),
                                                                            ("Real+Gen", 0.76))}
    save_results(out, "05_segmentation", {"test_ids": real_ids, "experiments": {
        n: {"dice": {"mean": float(np.mean(v)), "std": 0.08}, "test_dice_per_image": v, "n_test": 12}
        for n, v in per_image.items()}}, **ctx)
    save_results(out, "06_muscle_thickness", {"unit": "px", "agreement": {
        "Real": {"n": 12, "rmse": 3.0, "bias": -0.5, "loa_low": -6.0, "loa_high": 5.0},
        "Gen": {"n": 12, "rmse": 4.0, "bias": 1.5, "loa_low": -7.0, "loa_high": 10.0}}}, **ctx)
    save_results(out, "07_evaluation", _results_07(real, synth, real_ids, data), **ctx)
    _reference(ref, real_ids)
    return out, ref
