"""Tests of msknb.data.experiment_split: the kit split for DL_Track ids, a grouped split for
other ids, no near copies across train and test."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from msknb.data import UltrasoundSet
from msknb.data.experiment_split import KIT_SOURCE, experiment_split, kit_indices, split_ids
from msknb.data.splits import near_duplicate_clusters
from msknb.data.subset import load_ids
from msknb.data.kit_split import load_kit_split


def _toy_set(ids: list[str], seed: int = 0, dup_every: int = 0) -> UltrasoundSet:
    """Random 32 px images with ``ids``; with ``dup_every`` every k-th image copies the one before."""
    rng = np.random.default_rng(seed)
    imgs = []
    for i in range(len(ids)):
        img = rng.random((32, 32))
        if dup_every and i % dup_every == 1:
            img = imgs[-1] + 0.01 * rng.random((32, 32))
        imgs.append(np.clip(img, 0, 1).astype(np.float32))
    images = np.stack(imgs)
    n = len(ids)
    labels = near_duplicate_clusters(images, size=32)
    return UltrasoundSet(images=images, masks=(images > 0.5).astype(np.uint8), ids=list(ids),
                         paths=[Path(f"{i}.png") for i in ids], spacing_mm=np.full((n, 2), np.nan),
                         groups=["all"] * n, subjects=[f"dup-{k:04d}" for k in labels])


def test_kit_split_is_used_for_kit_ids():
    kit = load_kit_split()
    assert kit is not None and [len(kit[k]) for k in ("train", "val", "test")] == [369, 47, 47]
    ids = kit["train"][:20] + kit["test"][:6] + kit["val"][:4]
    ds = _toy_set(sorted(ids))
    sp = experiment_split(ds, seed=3)
    assert sp["source"] == KIT_SOURCE
    got = split_ids(ds, sp)
    assert set(got["train"]) == set(kit["train"][:20])
    assert set(got["test"]) == set(kit["test"][:6]) and set(got["val"]) == set(kit["val"][:4])
    assert sp["sizes"] == {"train": 20, "val": 4, "test": 6}


def test_grouped_split_for_other_ids_keeps_near_copies_together():
    ds = _toy_set([f"other_{i:03d}" for i in range(30)], dup_every=2)
    assert len(set(ds.subjects)) < len(ds)
    sp = experiment_split(ds, seed=0)
    assert sp["source"].startswith("grouped split")
    assert sp["near_copies_test_in_train"] == 0 and sp["near_copies_val_in_train"] == 0
    assert sorted(np.concatenate([sp["train"], sp["val"], sp["test"]]).tolist()) == list(range(30))
    for a, b in (("train", "test"), ("train", "val"), ("val", "test")):
        assert not {ds.subjects[i] for i in sp[a]} & {ds.subjects[i] for i in sp[b]}
    assert experiment_split(ds, seed=0)["test"].tolist() == sp["test"].tolist()  # deterministic


def test_mixed_ids_fall_back_to_a_grouped_split():
    kit = {"train": ["a", "b", "c"], "val": ["d"], "test": ["e"]}
    assert kit_indices(["a", "e", "zzz"], kit) is None  # an id outside the kit split
    assert kit_indices(["a", "b"], kit) is None  # no test image left
    assert kit_indices(["e", "a", "d"], kit)["train"].tolist() == [1]
    ds = _toy_set(["a", "b", "c", "d", "e", "zzz"])
    assert experiment_split(ds, kit=kit)["source"].startswith("grouped split")


def test_kit_split_of_the_real_set_has_no_near_copies_across(shared_data):
    kit = load_kit_split()
    ids = kit["test"] + kit["val"] + kit["train"][::4]
    ds = load_ids(shared_data, ids, image_size=64)
    sp = experiment_split(ds)
    assert sp["source"] == KIT_SOURCE and sp["sizes"]["test"] == 47
    assert sp["near_copies_test_in_train"] == 0 and sp["near_copies_val_in_train"] == 0
