"""How good is the mask-conditioned generator? (one run; writes JSON)

For the shipped (or ``--checkpoint``) mask-conditioned DDPM, draws one image for each of
``--n`` real masks of the kit split's **val** ids (never the test ids; the generator trained
on the train ids only) and records, beside the real val images:

* intensity: mean grey level, pooled skewness, per-image skewness (mean, and the real set's
  p5-p95 spread), 32-bin histogram L1 (``msknb.ddpm.quality``);
* the same intensity numbers for ``--n`` real **train** images vs the val images
  (``real_vs_real``: the baseline the targets are relative to, e.g. histogram L1 <= 1.5 x it);
* alignment: the shipped segmenter (128 px input; ``--segmenter``) segments each
  generated image (resized 64 -> 128, bilinear) and its Dice with the conditioning mask
  (resized, nearest) is averaged; the same pipeline on the real val images (64 -> 128) is the
  baseline ("real_64"), and the real val images loaded at 128 px directly ("real_native").

Each sampler setting of ``--settings`` is run from the same seed: ``ddim50`` / ``ddpm`` start
from N(0, I); ``+mean`` starts from the forward marginal of the training mean image stored in
the checkpoint (the brightness fix of notebook 04); ``+w1.5`` / ``+w2``: classifier-free guidance w = 1.5 / 2.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_conditional.py       # CPU, ~5 min

Output: ``benchmarks/results/conditional.json`` (or ``--out``). Images and masks are resized with
``msknb.segmentation.experiments.resize_set`` and scored with ``msknb.segmentation.metrics``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import skew


from msknb.data.kit_split import KIT_SPLIT_FILE
from msknb.data.loading import load_folder
from msknb.ddpm.checkpoints import SHIPPED_COND_DDPM, checkpoint_extras, load_checkpoint, load_model, set_guidance
from msknb.ddpm.quality import image_stats, quality_proxy
from msknb.ddpm.sample import sample_images
from msknb.ddpm.training_data import split_indices
from msknb.io import sha256_file, write_json_atomic
from msknb.paths import CHECKPOINTS_DIR, REPO_ROOT, default_data_dir
from msknb.segmentation.experiments import resize_set
from msknb.segmentation.metrics import segmentation_metrics
from msknb.segmentation.model import load_segmenter
from msknb.segmentation.predict import predict
from msknb.segmentation.shipped import SHIPPED_SEGMENTER

#: setting -> (sampler, start from the mean image, classifier-free guidance scale)
SETTINGS = {"ddim50": ("ddim", False, 1.0), "ddim50+mean": ("ddim", True, 1.0), "ddim50+mean+w1.5": ("ddim", True, 1.5),
            "ddim50+mean+w2": ("ddim", True, 2.0),
            "ddpm": ("ddpm", False, 1.0), "ddpm+mean": ("ddpm", True, 1.0)}


def alignment(segmenter, images: np.ndarray, masks: np.ndarray) -> dict:
    """Dice of the segmenter's masks on ``images`` (N, h, h) vs ``masks`` (N, h, h), both resized to
    the segmenter's size (128 px)."""
    size = int(segmenter.msknb_config.get("image_size", 128))
    x, m = resize_set(np.clip(np.asarray(images, np.float32), 0, 1), (np.asarray(masks) > 0.5).astype(np.uint8), size)
    _, pred = predict(segmenter, x)
    d = np.array([r["dice"] for r in segmentation_metrics(pred, m)])
    return {"dice_mean": float(d.mean()), "dice_median": float(np.median(d)), "dice_min": float(d.min())}


def intensity(real: np.ndarray, syn: np.ndarray) -> dict:
    """Mean grey level, skewness (pooled and per image) and histogram L1 of ``syn`` vs ``real`` (N, H, W)."""
    per_real = np.array([skew(x.ravel()) for x in real])
    per_syn = np.array([skew(x.ravel()) for x in syn])
    a, b = image_stats(real), image_stats(syn)
    return {"mean_grey": b["mean"], "real_mean_grey": a["mean"], "skewness": b["skewness"],
            "real_skewness": a["skewness"], "per_image_skewness_mean": float(per_syn.mean()),
            "real_per_image_skewness_mean": float(per_real.mean()),
            "real_per_image_skewness_p5_p95": [float(np.percentile(per_real, 5)), float(np.percentile(per_real, 95))],
            "hist_l1": quality_proxy(real, syn)["hist_l1"]}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(CHECKPOINTS_DIR / SHIPPED_COND_DDPM))
    ap.add_argument("--segmenter", default=str(SHIPPED_SEGMENTER))
    ap.add_argument("--data", default=None, help="DL_Track folder (default: the shared data)")
    ap.add_argument("--split", default=str(KIT_SPLIT_FILE))
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--settings", nargs="+", default=["ddim50", "ddim50+mean"], choices=list(SETTINGS))
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--merge", action="store_true", help="keep the settings already in --out")
    ap.add_argument("--store-guidance", default=None, metavar="SETTING",
                    help="after measuring, store this setting's guidance scale in the checkpoint as its default "
                         "(msknb.ddpm.checkpoints.set_guidance; choose on these val masks, never on test ids)")
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "conditional.json"))
    a = ap.parse_args(argv)
    if a.store_guidance is not None and a.store_guidance not in a.settings:
        ap.error(f"--store-guidance {a.store_guidance} must be one of the measured --settings {a.settings}")
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    model, schedule, config = load_model(args.checkpoint)
    ck = load_checkpoint(args.checkpoint)
    data = Path(args.data) if args.data else default_data_dir()
    ds = load_folder(data, image_size=config.image_size)
    val = split_indices(args.split, ds.ids, "val")[:args.n]
    real, masks = ds.images[val].astype(np.float32), ds.masks[val]
    train = split_indices(args.split, ds.ids, "train")[:args.n]
    segmenter = load_segmenter(args.segmenter)
    mean_image = checkpoint_extras(args.checkpoint)["mean_image"]
    result = {"checkpoint": Path(args.checkpoint).name, "sha256": sha256_file(args.checkpoint)[:16],
              "step": int(ck["step"]), "config": {k: ck["config"][k] for k in ("prediction", "schedule", "timesteps",
                                                                                "condition", "cond_dropout")},
              "segmenter": Path(args.segmenter).name, "n": len(val), "masks_from": "kit split val ids",
              "real_64": {"alignment": alignment(segmenter, real, masks)},
              "real_vs_real": {"what": f"the first {len(train)} train images vs the val images (64 px)",
                               **intensity(real, ds.images[train].astype(np.float32))},
              "samplers": {}}
    big = load_folder(data, image_size=int(segmenter.msknb_config.get("image_size", 128)))
    big_val = split_indices(args.split, big.ids, "val")[:args.n]
    result["real_native"] = {"alignment": alignment(segmenter, big.images[big_val], big.masks[big_val])}
    print("real alignment: 64 -> 128", result["real_64"]["alignment"], "native", result["real_native"]["alignment"])
    for name in args.settings:
        method, from_mean, guidance = SETTINGS[name]
        t0 = time.perf_counter()
        x = sample_images(model, schedule, None, method=method, steps=args.steps, seed=args.seed, masks=masks,
                          start_mean=mean_image if from_mean else None, guidance=guidance, progress=False)[:, 0]
        row = {"seconds": time.perf_counter() - t0, **intensity(real, x), "alignment": alignment(segmenter, x, masks)}
        result["samplers"][name] = row
        print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    if args.merge and Path(args.out).is_file():
        old = json.loads(Path(args.out).read_text())
        if old.get("sha256") == result["sha256"]:
            result["samplers"] = {**old.get("samplers", {}), **result["samplers"]}
    if args.store_guidance is not None:
        row, w = result["samplers"][args.store_guidance], SETTINGS[args.store_guidance][2]
        why = (f"benchmarks/bench_conditional.py {args.store_guidance} on {len(val)} kit val masks: alignment Dice "
               f"{row['alignment']['dice_mean']:.3f}, mean grey {row['mean_grey']:.3f} (real {row['real_mean_grey']:.3f}),"
               f" per-image skewness {row['per_image_skewness_mean']:.2f} (real p5-p95 "
               f"{row['real_per_image_skewness_p5_p95'][0]:.2f}-{row['real_per_image_skewness_p5_p95'][1]:.2f})")
        set_guidance(args.checkpoint, w, why)
        result["stored_guidance"] = {"setting": args.store_guidance, "guidance": w, "chosen_by": why}
        result["sha256"] = sha256_file(args.checkpoint)[:16]
        print(f"stored guidance {w} in {args.checkpoint}")
    write_json_atomic(args.out, result)
    print("->", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
