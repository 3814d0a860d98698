"""The kit split: the DL_Track set cut 80/10/10 (train / val / test) by near-duplicate
cluster, stored beside the shipped models (``msknb/checkpoints/dltrack_split.json``) so
the split never changes under a model. Every shipped model trains on ``train`` only;
``val`` picks epochs and thresholds; ``test`` is touched only by the benchmarks.

This module reads and writes the ids only (json, no torch, no MONAI), so notebooks 03/04
can use the split without importing the segmentation stage.
"""
from __future__ import annotations

from pathlib import Path

from msknb.data.split_file import read_split_file
from msknb.data.splits import SPLIT_NAMES, split_dataset
from msknb.io import write_json_atomic
from msknb.paths import CHECKPOINTS_DIR

KIT_SPLIT_FILE = CHECKPOINTS_DIR / "dltrack_split.json"
KIT_FRACTIONS = (0.8, 0.1, 0.1)


def kit_split(ds, seed: int = 0) -> dict[str, list[str]]:
    """The kit's grouped 80/10/10 split of a loaded DL_Track set: ``{"train", "val",
    "test"}`` id lists (every near-duplicate cluster on one side)."""
    sp = split_dataset(ds, KIT_FRACTIONS, seed=seed)
    return {k: [ds.ids[i] for i in sp[k]] for k in SPLIT_NAMES}


def load_kit_split(path: str | Path | None = None) -> dict[str, list[str]] | None:
    """The stored kit split (``path``, default ``KIT_SPLIT_FILE``): ``{"train", "val",
    "test"}`` id lists (str), or None when the file is absent; unreadable or lacking a part
    -> :class:`~msknb.errors.SplitError` naming the file."""
    path = Path(path) if path is not None else KIT_SPLIT_FILE
    if not path.is_file():
        return None
    data = read_split_file(path, required=SPLIT_NAMES)
    return {k: data[k] for k in SPLIT_NAMES}


def write_kit_split(split: dict[str, list[str]], seed: int, path: str | Path | None = None) -> Path:
    """Store ``split`` (id lists) with how it was made; returns the path written."""
    path = Path(path) if path is not None else KIT_SPLIT_FILE
    write_json_atomic(path, {"data": "DL_Track aponeurosis set (463 images)", "seed": seed,
                             "fractions": list(KIT_FRACTIONS), "grouping": "near-duplicate clusters", **split})
    return path
