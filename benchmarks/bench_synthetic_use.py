"""How should the segmentation grid use the synthetic set? "mix" vs "pretrain", over seeds (issue 13).

Notebook 05's "x+Gen" experiments either mix the synthetic pairs into the real training set
(``gen_use="mix"``, the paper) or fine-tune the "Gen" model (trained on synthetic pairs only)
on the real part (``gen_use="pretrain"``). This runs the grid of ``--profile`` (default quick:
64 px, 6 epochs x 256 samples) once per mode and training seed, on the kit split with the
flagged label pairs dropped from training and validation, as notebook 05 does. The synthetic
set is the one notebook 04 writes for that profile: the shipped mask-conditioned generator,
one image per training mask (``--n-synthetic``, DDIM-``--steps``, guidance ``--guidance``),
rounded to 8 bits as the PNGs 05 reads.

``--control`` also runs the budget-matched control of "pretrain": the "Real" (or "10%") model
fine-tuned once more on its own real images (the same two training cycles, no synthetic
image), so a gain of "pretrain" can be told apart from a gain of training twice as long.

The **val** Dice (mean over the val ids of the best epoch's model) is what a mode is chosen
on; the test Dice is reported beside it, never used to choose.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_synthetic_use.py --seeds 0 1 2   # CPU, ~15 min

Output: ``msknb/checkpoints/synthetic_use.json`` (or ``--out``), with the command line; notebook 05
reads it with ``msknb.segmentation.synthetic_use.read_synthetic_use`` (which needs ``--control``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from msknb import profiles
from msknb.data import label_qa
from msknb.data.folder import load_folder
from msknb.data.experiment_split import experiment_split
from msknb.ddpm.checkpoints import SHIPPED_COND_DDPM, pretrained_path
from msknb.ddpm.export import split_channels
from msknb.ddpm.synthetic_set import conditional_set
from msknb.io import write_json_atomic
from msknb.paths import default_data_dir
from msknb.runner.machine import command_line
from msknb.segmentation.experiments import fraction_subset, run_experiment_grid, without_ids
from msknb.segmentation.synthetic_use import SYNTHETIC_USE


@dataclasses.dataclass
class Pairs:
    """The synthetic set as ``run_experiment_grid`` reads it: images (N, H, W), masks (N, H, W)."""
    images: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def synthetic_pairs(ds, split, a) -> tuple[Pairs, float]:
    """Notebook 04's conditional set for the train part of ``split``, 8-bit rounded; (pairs, seconds)."""
    made = conditional_set(pretrained_path(SHIPPED_COND_DDPM), ds.subset(split["train"]), a.n_synthetic,
                           steps=a.steps, seed=0, progress=False, batch_size=4, guidance=a.guidance)
    images, masks = split_channels(made["images"])
    return Pairs(np.round(np.clip(images, 0, 1) * 255) / 255, masks), made["seconds"]


def grid_row(results: dict) -> dict:
    """Per experiment: val Dice (the choice), test Dice (the report)."""
    return {name: {"val_dice": round(r["best_val_dice"], 4), "test_dice": round(r["dice"]["mean"], 4),
                   "gen_use": r["gen_use"]} for name, r in results["experiments"].items()}


def seed_mean(runs: dict, prefix: str, seeds) -> dict:
    """Per experiment of the ``prefix/seed<k>`` runs: val and test Dice averaged over ``seeds``."""
    rows = [runs[f"{prefix}/seed{s}"] for s in seeds]
    names = [n for n, v in rows[0].items() if isinstance(v, dict)]
    return {n: {k: round(float(np.mean([r[n][k] for r in rows])), 4) for k in ("val_dice", "test_dice")} for n in names}


def control_row(ds, split, flagged, cfg, seed) -> dict:
    """"Real→Real" and "10%→10%": the grid's "pretrain" path with the real part standing in for
    the synthetic set (same cycles and budget, no synthetic image)."""
    kept, _ = without_ids(ds, split, flagged)
    parts = {"Real+Gen": kept["train"], "10%+Gen": fraction_subset(kept["train"], ds.subjects, 0.1, seed)}
    row = {}
    for name, idx in parts.items():
        res = run_experiment_grid(ds, ds.subset(idx), [name], {**cfg, "gen_use": "pretrain"}, None, seed=seed,
                                  progress=False, split=split, drop_ids=flagged)
        row[name.replace("+Gen", "") + " twice"] = grid_row(res)[name]
    return row


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="data folder (default: the shared DL_Track set)")
    p.add_argument("--profile", default="quick")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    p.add_argument("--modes", nargs="*", default=["mix", "pretrain"], choices=["mix", "pretrain"])
    p.add_argument("--experiments", default="Real,Gen,Real+Gen,10%,10%+Gen")
    p.add_argument("--n-synthetic", type=int, default=None, help="default: the profile's n_samples")
    p.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the profile's synthetic_steps)")
    p.add_argument("--guidance", type=float, default=None, help="default: the profile's synthetic_guidance")
    p.add_argument("--control", action="store_true", help="also the budget-matched control (real twice)")
    p.add_argument("--out", type=Path, default=SYNTHETIC_USE.path)
    a = p.parse_args(argv)
    gen_cfg = profiles.settings("ddpm", a.profile)
    a.n_synthetic = a.n_synthetic or gen_cfg["n_samples"]
    a.steps = a.steps or gen_cfg["synthetic_steps"]
    a.guidance = a.guidance if a.guidance is not None else gen_cfg["synthetic_guidance"]
    cfg = profiles.settings("segment", a.profile)
    data = a.data or default_data_dir()
    ds = load_folder(data, image_size=cfg["image_size"], crop_fov=profiles.settings("data", a.profile)["crop_fov"])
    split = experiment_split(ds, seed=0)
    flagged = label_qa.summary(label_qa.check_dataset(ds))["flagged_ids"]
    syn, syn_seconds = synthetic_pairs(ds, split, a)
    out: dict = {"profile": a.profile, "data": str(data), "split": split["source"], "n_synthetic": len(syn),
                 "synthetic": f"shipped conditional, ddim-{a.steps}, guidance {a.guidance}, {syn_seconds:.0f} s",
                 "seeds": a.seeds, "runs": {}, "mean": {},
                 "command": command_line(__file__, sys.argv[1:] if argv is None else argv)}
    names = [e.strip() for e in a.experiments.split(",")]
    for mode in a.modes:
        for seed in a.seeds:
            t0 = time.perf_counter()
            res = run_experiment_grid(ds, syn, names, {**cfg, "gen_use": mode}, None, seed=seed, progress=False,
                                      split=split, drop_ids=flagged)
            out["runs"][f"{mode}/seed{seed}"] = {**grid_row(res), "seconds": round(time.perf_counter() - t0, 1)}
            print(mode, seed, out["runs"][f"{mode}/seed{seed}"], flush=True)
        out["mean"][mode] = seed_mean(out["runs"], mode, a.seeds)
    if a.control:
        for seed in a.seeds:
            out["runs"][f"control/seed{seed}"] = control_row(ds, split, flagged, cfg, seed)
            print("control", seed, out["runs"][f"control/seed{seed}"], flush=True)
        out["mean"]["control"] = seed_mean(out["runs"], "control", a.seeds)
    write_json_atomic(a.out, out)
    print(out["mean"])
    return out


if __name__ == "__main__":
    main()
