"""The segmenter msknb ships (``msknb/checkpoints/segmenter_dltrack_128.pt``) and the
grouped split that binds every shipped model.

The kit split (:mod:`msknb.data.kit_split`) cuts the DL_Track set into train / val / test
(80 / 10 / 10 %) by near-duplicate cluster, so no test image has a near copy in training.
The shipped segmenter and the shipped generator train on ``train`` only; ``val`` picks the
epoch; ``test`` is touched only by the benchmarks. The ids are stored beside the weights
(``msknb/checkpoints/dltrack_split.json``) so the split never changes under a model.

Retrain (the command and budget are in ``msknb/checkpoints/README.md``)::

    python -m msknb.segmentation.shipped --data ../shared/data/dltrack_apo --max-seconds 1800
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msknb.data.kit_split import kit_split, load_kit_split, write_kit_split
from msknb.data.label_qa import unflagged
from msknb.data.loading import load_folder
from msknb.data.splits import split_dataset
from msknb.paths import CHECKPOINTS_DIR
from msknb.segmentation.training import train_segmenter

SHIPPED_SEGMENTER = CHECKPOINTS_DIR / "segmenter_dltrack_128.pt"
#: what ``measure``, ``segment predict`` and notebook 06 use by default: the 128 px and 256 px
#: segmenters as one (:mod:`msknb.segmentation.ensemble`), chosen on the kit val ids
DEFAULT_SEGMENTER = CHECKPOINTS_DIR / "segmenter_dltrack_ensemble.json"
#: training settings of the shipped segmenter
SHIPPED_CONFIG: dict[str, Any] = {
    "image_size": 128, "channels": (16, 32, 64, 128), "strides": None, "epochs": 60, "batch_size": 8,
    "lr": 3e-3, "lr_step": 20, "lr_gamma": 0.5, "loss": "generalized_dice_bce", "augment": True,
    "min_samples_per_epoch": None, "threshold": 0.5, "crop_fov": True,
}


def all_data_split(ds, seed: int = 0) -> dict[str, Any]:
    """Train on all of ``ds`` but a grouped validation part (it picks the epoch).

    When ``ds`` holds ids of the kit split (the DL_Track set), ``val`` is the kit split's val
    ids and the kit's test ids are left out (``"excluded"``), so the benchmarks' test images
    stay unseen; otherwise a grouped 90/10 split of ``ds`` (near-duplicate clusters or
    subjects on one side). Returns ``{"train", "val", "excluded"}`` sorted int64 index arrays
    and ``"source"`` (``"kit split"`` or ``"grouped 90/10"``)."""
    kit = load_kit_split()
    index = {str(i): k for k, i in enumerate(ds.ids)}
    if kit and any(i in index for i in kit["val"] + kit["test"]):
        va = sorted(index[i] for i in kit["val"] if i in index)
        ex = sorted(index[i] for i in kit["test"] if i in index)
        tr = sorted(set(range(len(ds.ids))) - set(va) - set(ex))
        parts, source = (tr, va, ex), "kit split"
    else:
        sp = split_dataset(ds, (0.9, 0.1, 0.0), seed=seed)
        parts, source = (sp["train"], sp["val"], []), "grouped 90/10"
    out: dict[str, Any] = {k: np.asarray(v, dtype=np.int64) for k, v in zip(("train", "val", "excluded"), parts)}
    out["source"] = source
    return out


def train_shipped(data_dir: str | Path, out: str | Path = SHIPPED_SEGMENTER, max_seconds: float | None = 1800,
                  seed: int = 0, threads: int | None = None, drop_flagged_pairs: bool = True,
                  init_from: str | Path | None = None, split_seed: int = 0, state_path: str | Path | None = None,
                  **overrides: Any) -> dict[str, Any]:
    """Train the shipped segmenter on the kit split's ``train`` ids (val picks the epoch),
    without the label pairs QA flags when ``drop_flagged_pairs``; write the weights to
    ``out`` and the split to ``KIT_SPLIT_FILE``. ``seed`` seeds the training, ``split_seed`` the
    split (the kit split is seed 0: another training seed must not move it); ``init_from``:
    continue from these weights (kept when no epoch beats their validation Dice); ``state_path``:
    the run's resumable state, rewritten after every epoch (re-running continues). Returns a summary."""
    if threads:
        torch.set_num_threads(int(threads))
    cfg = {**SHIPPED_CONFIG, **overrides, "max_seconds": max_seconds}
    t0 = time.perf_counter()
    ds = load_folder(data_dir, image_size=int(cfg["image_size"]), crop_fov=bool(cfg["crop_fov"]), seed=seed)
    split = kit_split(ds, seed=split_seed)
    index = {i: k for k, i in enumerate(ds.ids)}
    tr = np.array([index[i] for i in split["train"]])
    va = np.array([index[i] for i in split["val"]])
    dropped: dict[str, list[str]] = {}
    if drop_flagged_pairs:
        (tr, dropped["train"]), (va, dropped["val"]) = unflagged(ds, tr), unflagged(ds, va)
    write_kit_split(split, split_seed)
    res = train_segmenter(ds.images[tr], ds.masks[tr], ds.images[va], ds.masks[va], cfg, out_path=out,
                          seed=seed, desc="shipped segmenter", init_from=init_from,
                          state_path=state_path)
    return {"best_epoch": res.best_epoch, "best_val_dice": res.best_val_dice, "seconds": time.perf_counter() - t0,
            "epochs_run": len(res.history), "n_train": len(tr), "n_val": len(va), "dropped_flagged": dropped,
            "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train msknb's shipped aponeurosis segmenter")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default=str(SHIPPED_SEGMENTER))
    ap.add_argument("--max-seconds", type=float, default=1800)
    ap.add_argument("--epochs", type=int, default=SHIPPED_CONFIG["epochs"])
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the kit split (0 = the shipped split)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--lr-step", type=int, default=SHIPPED_CONFIG["lr_step"])
    ap.add_argument("--keep-flagged", action="store_true", help="train also on pairs label QA flags")
    ap.add_argument("--init-from", default=None, help="continue from this segmenter checkpoint")
    ap.add_argument("--lr", type=float, default=SHIPPED_CONFIG["lr"])
    ap.add_argument("--image-size", type=int, default=SHIPPED_CONFIG["image_size"], help="training size in px")
    ap.add_argument("--loss", default=SHIPPED_CONFIG["loss"])
    ap.add_argument("--state", default=None,
                    help="resumable training state (default: OUT with .state.pt); re-running continues from it")
    a = ap.parse_args(argv)
    state = a.state or str(Path(a.out).with_suffix(".state.pt"))
    print(train_shipped(a.data, a.out, a.max_seconds, a.seed, a.threads, drop_flagged_pairs=not a.keep_flagged,
                        init_from=a.init_from, split_seed=a.split_seed, state_path=state, epochs=a.epochs,
                        lr_step=a.lr_step, lr=a.lr, image_size=a.image_size, loss=a.loss))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
