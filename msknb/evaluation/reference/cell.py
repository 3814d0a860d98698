"""Train and score one cell of the reference experiment.

``RealData`` holds the DL_Track set at the experiment's resolution with the kit split's
indices (train / val without the pairs label QA flags; test whole, flags noted).
:func:`train_cell` trains under :data:`~.plan.TRAINING_RULE` (resumable through a state
file), :func:`score_cell` gives per-test-image Dice and MT (px, chords method) of the
predicted against the expert mask.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from msknb.data.kit_split import load_kit_split
from msknb.data.label_qa import unflagged
from msknb.data.loading import load_folder
from msknb.errors import ConfigError, DataError, MsknbError
from msknb.evaluation.reference.plan import TRAINING_RULE, Cell
from msknb.segmentation.experiments import fraction_subset
from msknb.segmentation.metrics import segmentation_metrics
from msknb.segmentation.predict import predict
from msknb.segmentation.training import train_segmenter
from msknb.thickness.methods import measure_thickness


@dataclass
class RealData:
    """Images (N, S, S) in [0, 1], masks (N, S, S) {0, 1}, ids, near-duplicate clusters,
    and int index arrays ``train`` / ``val`` (flagged pairs dropped) and ``test`` (all)."""
    images: np.ndarray
    masks: np.ndarray
    ids: list[str]
    clusters: list[str]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    flagged_test: list[str]


def load_real(data_dir: str | Path, size: int) -> RealData:
    """The DL_Track folder at ``size`` px (cropped to the field of view) cut by the kit split."""
    kit = load_kit_split()
    if kit is None:
        raise DataError("the kit split file is missing; it binds every model", "msknb/checkpoints/dltrack_split.json")
    ds = load_folder(data_dir, image_size=size, crop_fov=True, seed=0)
    index = {str(i): k for k, i in enumerate(ds.ids)}
    missing = [i for i in kit["train"] + kit["val"] + kit["test"] if i not in index]
    if missing:
        raise DataError(f"{len(missing)} ids of the kit split are not in this folder (e.g. {missing[0]}); "
                        "the reference experiment needs the DL_Track set", data_dir)
    part = {k: np.array(sorted(index[i] for i in kit[k]), dtype=np.int64) for k in ("train", "val", "test")}
    tr, _ = unflagged(ds, part["train"])
    va, _ = unflagged(ds, part["val"])
    _, flagged_test = unflagged(ds, part["test"])
    return RealData(np.asarray(ds.images, np.float32), (np.asarray(ds.masks) > 0).astype(np.float32),
                    [str(i) for i in ds.ids], [str(s) for s in ds.subjects], np.asarray(tr), np.asarray(va),
                    part["test"], list(flagged_test))


def cell_train_index(data: RealData, cell: Cell) -> np.ndarray:
    """The real training images of ``cell``: a nested cluster-grouped fraction of train
    (draw ``cell.draw``), all of train for 1.0, none for "Gen"."""
    if cell.synthetic_only:
        return np.array([], dtype=np.int64)
    return fraction_subset(data.train, data.clusters, cell.fraction, seed=cell.draw)


def train_cell(data: RealData, cell: Cell, state_path: Path, synthetic: tuple[np.ndarray, np.ndarray] | None = None,
               init_from=None, max_seconds: float | None = None, progress: bool = True):
    """Train ``cell`` (see :mod:`.plan`); ``synthetic`` (images, masks) at the same size is
    required by Gen and "mix" cells; ``init_from`` (a model) by "pretrain" (the Gen model of
    the same seed) and "control" (the real model of the same subset and seed) cells."""
    idx = cell_train_index(data, cell)
    leaked = set(idx.tolist()) & set(data.test.tolist())
    if leaked:
        raise DataError(f"cell {cell.name} would train on {len(leaked)} test image(s); the test ids are only scored",
                        "msknb/checkpoints/dltrack_split.json")
    x, m = data.images[idx], data.masks[idx]
    if cell.synthetic_only or cell.gen_use == "mix":
        if synthetic is None:
            raise ConfigError(f"cell {cell.name} needs a synthetic set", "synthetic")
        x, m = np.concatenate([x, synthetic[0]]), np.concatenate([m, synthetic[1]])
    if cell.gen_use in ("pretrain", "control") and init_from is None:
        raise ConfigError(f"cell {cell.name} continues from another cell's model; train that first", "init_from")
    cfg = {**TRAINING_RULE, "max_seconds": max_seconds}
    return train_segmenter(x, m, data.images[data.val], data.masks[data.val], cfg, seed=cell.seed,
                           progress=progress, desc=cell.name, init_from=init_from, state_path=state_path)


def _mt_px(mask: np.ndarray) -> float:
    try:
        return float(measure_thickness(mask, method="chords").mt_px)
    except MsknbError:
        return math.nan


def score_cell(model, data: RealData) -> dict[str, Any]:
    """Per test image: id, Dice, MT (px) of prediction and expert mask, and whether label QA
    flags the pair. Lists in the order of ``data.test``."""
    t0 = time.perf_counter()
    x, truth = data.images[data.test], data.masks[data.test]
    pred = predict(model, x, float(TRAINING_RULE["threshold"]))[1]
    rows = segmentation_metrics(pred, truth)
    ids = [data.ids[i] for i in data.test]
    return {"ids": ids, "dice": [float(r["dice"]) for r in rows],
            "mt_pred_px": [_mt_px(p) for p in pred], "mt_expert_px": [_mt_px(t) for t in truth],
            "flagged": [i in set(data.flagged_test) for i in ids], "seconds": time.perf_counter() - t0}
