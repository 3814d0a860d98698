"""How many training images does a DDPM need before it copies them? (one run; writes JSON)

Trains one small DDPM (images only, ``--image-size`` px, ``--dim``) on each of ``--fractions``
of the kit split's train ids (``msknb/checkpoints/dltrack_split.json``; nested seeded subsets:
the 10 % subset is inside the 30 % one), ALL for the same number of optimiser steps
(``--steps``), so a small subset is seen many more times per image. Then draws ``--n-samples``
DDIM samples of each and runs the memorisation check (``msknb.evaluation.memorisation``):
each sample's nearest training image (NCC) against the real baseline (the split's held-out
test images -> nearest training image of another near-duplicate cluster); the share of
samples above the real p95 / p99 (about 5 % / 1 % expected when nothing is copied).

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/bench_memorisation_size.py --threads 1   # ~11 CPU min

Output: ``msknb/checkpoints/memorisation_size.json`` (or ``--out``), with the machine and
the command; notebook 07 reads it with ``msknb.ddpm.lessons.measures.read_memorisation_size``.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from msknb.data.kit_split import KIT_SPLIT_FILE
from msknb.data.split_file import read_split_file
from msknb.data.subset import load_ids
from msknb.ddpm.lessons.measures import MEMORISATION_SIZE
from msknb.ddpm.config import TrainConfig
from msknb.ddpm.sample import sample_images
from msknb.ddpm.train import train_ddpm
from msknb.evaluation.memorisation import memorisation_check
from msknb.io import write_json_atomic
from msknb.paths import default_data_dir
from msknb.runner.machine import command_line, cpu_model

KEEP = ("n_synthetic", "n_baseline", "synthetic", "baseline", "thresholds", "fraction_above",
        "expected_fraction", "conclusion")


def nested_subsets(train_ids: list[str], fractions: list[float], seed: int) -> dict[float, list[str]]:
    """Seeded nested subsets of ``train_ids``: fraction -> the first round(f * N) ids (>= 2)
    of one permutation, so every smaller subset lies inside the larger ones."""
    order = np.random.default_rng(seed).permutation(len(train_ids))
    return {f: [train_ids[i] for i in order[:max(2, int(round(f * len(train_ids))))]] for f in fractions}


def run_fraction(fraction: float, ids: list[str], real, test_idx: np.ndarray, args) -> dict:
    """Train on ``ids`` (a subset of ``real``), sample, and run the memorisation check."""
    idx = np.flatnonzero(np.isin(real.ids, ids))
    train, test = real.subset(idx), real.subset(test_idx)
    cfg = TrainConfig(image_size=args.image_size, channels=1, dim=args.dim, dim_mults=tuple(args.mults),
                      timesteps=args.timesteps, batch_size=args.batch, epochs=10 ** 6, max_steps=args.steps,
                      lr=args.lr, hflip=False, seed=args.seed, ema_decay=args.ema_decay, device="cpu")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = train_ddpm(train.images[:, None].astype(np.float32), cfg, None, progress=False)
    train_cpu = time.process_time() - cpu0
    syn = sample_images(result.ema, result.schedule, args.n_samples, method="ddim", steps=args.ddim_steps,
                        seed=args.seed, batch_size=args.n_samples, progress=False)[:, 0]
    summary, _, _ = memorisation_check(syn, train.images, train.ids, test.images, test.subjects, train.subjects,
                                       metric="ncc", candidates=None, top=3)
    out = {"fraction": fraction, "n_train": len(train), "steps": result.steps,
           "epochs": result.steps * args.batch / len(train), "final_loss": result.final_loss,
           "train_cpu_s": train_cpu, "cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
           "closest": summary["closest"]}
    out.update({k: summary[k] for k in KEEP})
    print(f"{fraction:>5.0%}: {len(train)} images, {out['epochs']:.0f} epochs, loss {out['final_loss']:.3f}, "
          f"above real p95 {out['fraction_above']['p95']:.0%}, max NCC {out['synthetic']['max']:.3f}, "
          f"{out['cpu_s']:.0f} CPU s", flush=True)
    return out


def parse(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="real data folder (default: msknb.paths.default_data_dir())")
    ap.add_argument("--split", default=str(KIT_SPLIT_FILE), help="split JSON with 'train' and 'test' id lists")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--mults", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--timesteps", type=int, default=300)
    ap.add_argument("--steps", type=int, default=600, help="optimiser steps per model (the same for every subset)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema-decay", type=float, default=0.99)
    ap.add_argument("--n-samples", type=int, default=48)
    ap.add_argument("--ddim-steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(MEMORISATION_SIZE.path))
    args = ap.parse_args(argv)
    if args.steps < 1 or args.n_samples < 2 or not all(0 < f <= 1 for f in args.fractions):
        ap.error("need --steps >= 1, --n-samples >= 2 and fractions in (0, 1]")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    split = read_split_file(args.split)
    data = Path(args.data) if args.data else default_data_dir()
    subsets = nested_subsets(split["train"], sorted(args.fractions), args.seed)
    real = load_ids(data, split["train"] + split["test"], args.image_size)
    test_idx = np.flatnonzero(np.isin(real.ids, split["test"]))
    cmd = command_line(__file__, sys.argv[1:] if argv is None else argv)
    report = {"what": __doc__.splitlines()[0], "command": cmd, "machine": f"{cpu_model()} ({platform.machine()})",
              "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "data": str(data),
              "split": str(args.split), "n_test": int(len(test_idx)), "metric": "ncc",
              "settings": {k: getattr(args, k) for k in ("image_size", "dim", "mults", "timesteps", "steps", "batch",
                                                         "lr", "ema_decay", "n_samples", "ddim_steps", "seed")},
              "runs": []}
    for f, ids in subsets.items():
        report["runs"].append(run_fraction(f, ids, real, test_idx, args))
    report["total_cpu_s"] = time.process_time()
    write_json_atomic(args.out, report)
    print(f"-> {args.out} ({report['total_cpu_s']:.0f} CPU s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
