"""Paper-profile training time: seconds per epoch and the projected time of 300 epochs.

The paper (Katakis et al. 2023) trains one DDPM per muscle at 256×256 px, batch 4, for
300 epochs. This script times a few optimiser steps of exactly that configuration
(``profiles.settings("ddpm", "paper")``: the U-Net of dim 64, T = 300, L1, Adam) through
``msknb.ddpm.train.train_ddpm`` — the same code the notebooks run, with bf16 autocast and
channels-last on CUDA (``amp="auto"``) and, for comparison, in fp32 (``amp="off"``) — and
projects an epoch of ``--n-images`` images (the paper's groups hold about 300) and
300 epochs. It also times DDIM-50 and DDPM-300 sampling of a batch at that size, projected
to the 200 synthetic images per muscle of the paper (fp32, random weights: the time does
not depend on them).

    .venv/bin/python benchmarks/bench_paper_epoch.py                       # GPU (device tool)
    .venv/bin/python benchmarks/bench_paper_epoch.py --steps 3 --warmup 1 --amp off \\
        --no-sampling                                                      # CPU: minutes

Output: ``benchmarks/results/paper_epoch.json`` (or ``--out``): the device, the sizes and,
per AMP mode, seconds per step (median of the timed steps), images/s, seconds per epoch,
projected hours for 300 epochs, peak GPU memory.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from msknb.ddpm import diffusion as D
from msknb.io import write_json_atomic
from msknb.profiles import settings
from msknb.ddpm.sample import time_samplers
from msknb.ddpm.config import build_model, config_from_settings
from msknb.ddpm.train import train_ddpm
from msknb.ddpm.training_data import images_to_array
from msknb.ddpm.unet import count_parameters
from msknb.paths import REPO_ROOT
from msknb.runner.machine import device_name


def training_batch(data_dir: str | None, image_size: int, channels: int, n: int) -> tuple[np.ndarray, str]:
    """(n, C, H, W) float32 in [0, 1]: real images from ``data_dir`` (repeated to n when the
    folder holds fewer), or uniform noise when no folder is given/found (timing does not
    depend on the pixel values)."""
    if data_dir:
        from msknb.data.loading import load_folder

        ds = load_folder(data_dir, image_size=image_size, max_images=n, seed=0)
        arr = images_to_array(ds.images, ds.masks if channels == 2 else None, joint=channels == 2)
        reps = math.ceil(n / len(arr))
        return np.concatenate([arr] * reps)[:n].astype(np.float32), f"{data_dir} ({len(ds)} images)"
    rng = np.random.default_rng(0)
    return rng.random((n, channels, image_size, image_size), dtype=np.float32), "uniform noise"


def time_training(x: np.ndarray, cfg_kwargs: dict, warmup: int, steps: int, n_images: int,
                  epochs: int) -> dict:
    """Run ``warmup + steps`` optimiser steps of :func:`train_ddpm` and time the last
    ``steps`` (one timestamp per step from the training callback, which follows the
    step's ``loss.item()`` and therefore the device)."""
    stamps: list[float] = []
    cfg = dict(cfg_kwargs, max_steps=warmup + steps, epochs=10 ** 6, checkpoint_every=10 ** 9,
               sample_every=None)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = train_ddpm(x, cfg, out_dir=None, resume=False, progress=False,
                     callback=lambda info: stamps.append(time.perf_counter()))
    total = time.perf_counter() - t0
    per_step = np.diff(np.asarray(stamps[warmup - 1:]))
    sec_step = float(np.median(per_step))
    batch = cfg_kwargs["batch_size"]
    steps_per_epoch = math.ceil(n_images / batch)
    out = {"device": res.device, "steps_timed": int(len(per_step)), "warmup_steps": warmup,
           "seconds_per_step_median": sec_step, "seconds_per_step_mean": float(per_step.mean()),
           "img_per_s": batch / sec_step, "steps_per_epoch": steps_per_epoch,
           "seconds_per_epoch": sec_step * steps_per_epoch,
           f"projected_hours_{epochs}_epochs": sec_step * steps_per_epoch * epochs / 3600,
           "wall_seconds_incl_warmup": total, "final_loss": res.final_loss}
    if torch.cuda.is_available():
        out["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="data folder (default: ../shared/data/dltrack_apo when present)")
    ap.add_argument("--n-images", type=int, default=300, help="images per epoch for the projection")
    ap.add_argument("--epochs", type=int, default=300, help="epochs for the projection")
    ap.add_argument("--steps", type=int, default=50, help="timed optimiser steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (cuDNN autotune, allocator)")
    ap.add_argument("--amp", nargs="+", default=None, choices=["auto", "off", "bf16", "fp16"],
                    help="AMP modes to time (default: auto and off on CUDA, off on CPU)")
    ap.add_argument("--image-size", type=int, default=None, help="override the paper's 256 (tests)")
    ap.add_argument("--dim", type=int, default=None, help="override the paper's U-Net width (tests)")
    ap.add_argument("--mults", type=int, nargs="+", default=None, help="override dim_mults (tests)")
    ap.add_argument("--n-samples", type=int, default=4, help="batch for the sampling timing")
    ap.add_argument("--no-sampling", action="store_true")
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "paper_epoch.json"))
    args = ap.parse_args(argv)
    if args.steps < 2 or args.warmup < 1:
        ap.error("--steps must be >= 2 and --warmup >= 1")

    S = settings("ddpm", "paper")
    over = {k: v for k, v in (("image_size", args.image_size), ("dim", args.dim),
                              ("dim_mults", tuple(args.mults) if args.mults else None)) if v is not None}
    S.update(over)
    base = config_from_settings(S, seed=0).to_dict()
    data_dir = args.data
    if data_dir is None:
        from msknb.paths import shared_data_dir

        shared = shared_data_dir()
        data_dir = str(shared) if (shared / "images").is_dir() else None
    x, source = training_batch(data_dir, base["image_size"], base["channels"],
                               min(args.n_images, 64))
    cuda = torch.cuda.is_available()
    modes = args.amp or (["auto", "off"] if cuda else ["off"])
    torch.manual_seed(0)
    model = build_model(config_from_settings(S, seed=0))  # timed for sampling below (random weights)
    n_params = count_parameters(model)
    report = {"device": device_name(torch.device("cuda" if cuda else "cpu")), "torch": torch.__version__,
              "profile": "paper", "overrides": over, "image_size": base["image_size"],
              "channels": base["channels"], "batch_size": base["batch_size"], "dim": base["dim"],
              "dim_mults": list(base["dim_mults"]), "params": n_params, "timesteps": base["timesteps"],
              "n_images_per_epoch": args.n_images, "epochs_projected": args.epochs,
              "training_data": source, "training": {}}
    print(f"{report['device']}: paper DDPM {n_params / 1e6:.1f}M params, {base['image_size']}² px, "
          f"batch {base['batch_size']}", flush=True)
    for mode in modes:
        r = time_training(x, dict(base, amp=mode), args.warmup, args.steps, args.n_images, args.epochs)
        report["training"][f"amp_{mode}"] = r
        print(f"amp={mode}: {r['seconds_per_step_median'] * 1000:.1f} ms/step, {r['img_per_s']:.1f} img/s, "
              f"{r['seconds_per_epoch']:.1f} s/epoch of {args.n_images} images -> "
              f"{r[f'projected_hours_{args.epochs}_epochs']:.2f} h for {args.epochs} epochs", flush=True)
        write_json_atomic(args.out, report)  # keep what is measured even if a later mode fails
    if not args.no_sampling:
        device = torch.device("cuda" if cuda else "cpu")
        model = model.to(device).eval()
        schedule = D.make_schedule(base["schedule"], base["timesteps"]).to(device)
        times = time_samplers(model, schedule, n=args.n_samples, ddim_steps=50, seed=0)
        report["sampling"] = {"n": args.n_samples, "precision": "fp32", "seconds": times,
                              "projected_seconds_200_images": {k: v / args.n_samples * 200 for k, v in times.items()}}
        print("sampling " + ", ".join(f"{k}: {v:.1f} s for {args.n_samples}" for k, v in times.items()), flush=True)
    out = write_json_atomic(args.out, report)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
