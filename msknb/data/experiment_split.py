"""The one train/val/test split of a loaded data set that every experiment of the series
uses (notebook 03 trains the generator on its ``train`` part, notebook 05 tests the
segmenters on its ``test`` part), so a generator never saw the images it is tested on.

When every loaded id belongs to the kit split stored beside the shipped models
(``msknb/checkpoints/dltrack_split.json``: the DL_Track set cut 80/10/10 by near-duplicate
cluster, see :mod:`msknb.data.kit_split`), that split is used, restricted to the
loaded ids; the shipped generators were trained on its train ids. Any other data gets a
grouped split (subjects, or near-duplicate clusters when subjects are unknown; seeded).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from msknb.data import splits
from msknb.data.kit_split import load_kit_split

#: train / val / test fractions of the grouped split used for data outside the kit split
GROUPED_FRACTIONS = (0.4, 0.2, 0.4)
KIT_SOURCE = "kit split (msknb/checkpoints/dltrack_split.json, 80/10/10 by near-duplicate cluster)"


def kit_indices(ids: Sequence[str], kit: dict[str, list[str]] | None) -> dict[str, np.ndarray] | None:
    """``{"train","val","test"}`` sorted int64 index arrays into ``ids`` from the kit split
    ``kit`` (id lists), or None when ``kit`` is None, some id is not in it, or the
    restriction leaves no train or no test image."""
    if not kit:
        return None
    side = {i: k for k in splits.SPLIT_NAMES for i in kit.get(k, [])}
    if not ids or any(str(i) not in side for i in ids):
        return None
    out = {k: np.array([n for n, i in enumerate(ids) if side[str(i)] == k], dtype=np.int64)
           for k in splits.SPLIT_NAMES}
    if len(out["train"]) == 0 or len(out["test"]) == 0:
        return None
    return out


def split_summary(ds, parts: dict[str, np.ndarray], source: str) -> dict[str, Any]:
    """``parts`` plus leak statistics: ``near_copies_test_in_train`` / ``near_copies_val_in_train``
    (images with a near copy, Pearson r > 0.95 at 64 px, on the train side: 0 = no leak),
    ``sizes``, ``clusters`` (statistics of ``ds.subjects``) and ``source``."""
    _, labels = np.unique(np.asarray(ds.subjects, dtype=object).astype(str), return_inverse=True)
    out: dict[str, Any] = {k: np.asarray(parts[k], dtype=np.int64) for k in splits.SPLIT_NAMES}
    out["near_copies_test_in_train"] = splits.cross_split_near_copies(ds.images, out, a="test", b="train")
    out["near_copies_val_in_train"] = splits.cross_split_near_copies(ds.images, out, a="val", b="train")
    out["sizes"] = {k: int(len(out[k])) for k in splits.SPLIT_NAMES}
    out["clusters"] = splits.cluster_stats(labels)
    out["source"] = source
    return out


def grouped_split(ds, fractions=GROUPED_FRACTIONS, seed: int = 0) -> dict[str, Any]:
    """Train/val/test split of ``ds`` by subject (near-duplicate cluster when subjects are
    unknown), stratified by ``ds.groups``; the keys of :func:`split_summary`."""
    sp = splits.split_dataset(ds, fractions, seed=seed)
    f = ", ".join(f"{x:g}" for x in fractions)
    return split_summary(ds, sp, f"grouped split ({f}) by subject / near-duplicate cluster, seed {seed}")


def experiment_split(ds, seed: int = 0, fractions=GROUPED_FRACTIONS,
                     kit: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The experiments' split of ``ds`` (an ``UltrasoundSet``).

    Returns ``{"train","val","test"}`` sorted int64 index arrays into ``ds``,
    ``near_copies_test_in_train``, ``near_copies_val_in_train`` (0 = no leak), ``sizes``,
    ``clusters`` and ``source`` (text). The kit split (``kit``, default the stored one from
    :func:`msknb.data.kit_split.load_kit_split`) restricted to ``ds.ids`` when all of
    them are in it; else :func:`grouped_split` with ``fractions`` and ``seed``."""
    if kit is None:
        kit = load_kit_split()
    parts = kit_indices(list(ds.ids), kit)
    if parts is not None:
        return split_summary(ds, parts, KIT_SOURCE)
    return grouped_split(ds, fractions, seed=seed)


def split_ids(ds, split: dict[str, Any]) -> dict[str, list[str]]:
    """``{"train","val","test"}`` id lists of ``split`` (index arrays into ``ds``)."""
    return {k: [str(ds.ids[i]) for i in split[k]] for k in splits.SPLIT_NAMES}
