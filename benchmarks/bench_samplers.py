"""Which sampler, with how many steps, for a trained msknb DDPM? (one run; writes JSON)

For each checkpoint (default: the shipped ``ddpm_dltrack_64.pt``) and each sampler --
ancestral DDPM with all T steps and DDIM with each of ``--ddim-steps`` (eta = 0) -- draws
``--n`` samples from the same seed and records:

* wall time (seconds for the whole set, batches of ``--batch``),
* the intensity proxy vs ``--n`` real images (``msknb.ddpm.quality.quality_proxy``; lower = closer),
* in joint image+mask mode, the aponeurosis-pair rate of the generated masks
  (``msknb.thickness.batch.aponeurosis_pair_rate``: two aponeuroses overlapping over >= half the
  width), beside the same rate of the real masks.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_samplers.py                  # CPU, ~10 min
    .venv/bin/python benchmarks/bench_samplers.py --checkpoint old.pt new.pt --n 64

Output: ``benchmarks/results/samplers.json`` (or ``--out``) and, with ``--grids DIR``, one
PNG mosaic per checkpoint and sampler.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from msknb.data.loading import load_folder
from msknb.errors import MsknbError
from msknb.io import sha256_file, write_json_atomic
from msknb.paths import REPO_ROOT, default_data_dir
from msknb.runner.machine import device_name
from msknb.ddpm.export import save_grid_png, split_channels
from msknb.ddpm.quality import quality_proxy
from msknb.ddpm.sample import sample_images
from msknb.thickness.batch import aponeurosis_pair_rate
from msknb.ddpm.checkpoints import load_checkpoint, load_model, pretrained_path

PAIR_KEYS = ("n", "measured", "spanning", "spanning_rate", "min_span")


def pair_summary(masks: np.ndarray) -> dict:
    """The aponeurosis-pair counts of (n, H, W) masks (continuous masks are cut at 0.5)."""
    r = aponeurosis_pair_rate(np.asarray(masks) > 0.5)
    mt = np.asarray(r["mt_px"], dtype=float)
    out = {k: r[k] for k in PAIR_KEYS}
    out["median_mt_px"] = float(np.nanmedian(mt)) if np.isfinite(mt).any() else None
    return out


def sweep(checkpoint: Path, loaded, real, n: int, ddim_steps: list[int], seed: int, batch: int,
          grids: Path | None = None) -> dict:
    """One checkpoint (``loaded`` = its ``load_model`` result):
    ``{"checkpoint", "sha256", "step", "samplers": {"ddpm_300": {...}, ...}}``."""
    model, schedule, config = loaded
    step = load_checkpoint(checkpoint).get("step")
    joint = config.channels == 2
    entry = {"checkpoint": str(checkpoint), "sha256": sha256_file(checkpoint), "step": step,
             "image_size": config.image_size, "joint_mask": joint, "samplers": {}}
    runs = [("ddpm", schedule.timesteps)] + [("ddim", k) for k in ddim_steps]
    for method, k in runs:
        t0 = time.perf_counter()
        x = sample_images(model, schedule, n, method=method, steps=k, seed=seed, batch_size=batch, progress=False)
        seconds = time.perf_counter() - t0
        name = f"{method}_{k}"
        res = {"steps": k, "seconds": seconds, "quality_proxy_vs_real": quality_proxy(real.images, x)}
        if joint:
            res["aponeurosis_pairs"] = pair_summary(split_channels(x)[1])
        entry["samplers"][name] = res
        pairs = res.get("aponeurosis_pairs")
        print(f"{checkpoint.name} {name:9s} {seconds:7.1f} s  hist L1 {res['quality_proxy_vs_real']['hist_l1']:.3f}"
              + (f"  pairs {pairs['spanning']}/{pairs['n']}" if pairs else ""), flush=True)
        if grids is not None:
            save_grid_png(x[:16], grids / f"{checkpoint.stem}_{name}.png")
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", nargs="+", default=None, help="checkpoint files (default: the shipped one)")
    ap.add_argument("--data", default=None, help="real data folder (default: msknb.paths.default_data_dir())")
    ap.add_argument("--n", type=int, default=32, help="samples per sampler (and real images)")
    ap.add_argument("--ddim-steps", type=int, nargs="+", default=[10, 25, 50, 100])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--grids", default=None, help="folder for one PNG mosaic per checkpoint and sampler")
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "samplers.json"))
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if (args.device == "auto" and torch.cuda.is_available()) else
                          ("cpu" if args.device == "auto" else args.device))
    ckpts = [Path(c) for c in args.checkpoint] if args.checkpoint else [pretrained_path("ddpm_dltrack_64.pt")]
    for c in ckpts:
        if c is None or not c.is_file():
            ap.error(f"checkpoint not found: {c}")
    grids = Path(args.grids) if args.grids else None
    if grids is not None:
        grids.mkdir(parents=True, exist_ok=True)
    data = Path(args.data) if args.data else default_data_dir()
    report = {"device": device_name(device), "torch": torch.__version__, "data": str(data), "n": args.n,
              "seed": args.seed, "batch": args.batch, "checkpoints": []}
    real = None
    try:
        for c in ckpts:
            loaded = load_model(c, map_location=device)
            size = loaded[2].image_size
            if real is None or real.images.shape[-1] != size:
                real = load_folder(data, image_size=size, max_images=args.n, seed=args.seed)
                if real.masks is not None:
                    report[f"real_aponeurosis_pairs_{size}"] = pair_summary(real.masks)
            report["checkpoints"].append(sweep(c, loaded, real, args.n, args.ddim_steps, args.seed, args.batch, grids))
    except MsknbError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = write_json_atomic(args.out, report)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
