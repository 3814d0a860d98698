"""msknb.data.splits: near-duplicate clusters and group splits without leaks."""
from __future__ import annotations

import numpy as np
import pytest

from msknb.errors import ConfigError
from msknb.data.splits import (cluster_stats, cross_split_near_copies, group_split, near_duplicate_clusters,
                          split_dataset)


def _toy(n_groups=10, per=3, seed=0):
    """Groups of noisy copies of a random base image."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for g in range(n_groups):
        base = rng.random((32, 32))
        for _ in range(per):
            images.append(np.clip(base + 0.02 * rng.standard_normal((32, 32)), 0, 1))
            labels.append(g)
    return np.array(images, dtype=np.float32), np.array(labels)


def test_clusters_find_copies():
    images, truth = _toy()
    labels = near_duplicate_clusters(images, size=32)
    assert labels.shape == (len(images),)
    # same partition as the truth
    for a in range(len(images)):
        for b in range(len(images)):
            assert (labels[a] == labels[b]) == (truth[a] == truth[b])
    assert cluster_stats(labels)["n_clusters"] == 10
    with pytest.raises(ConfigError):
        near_duplicate_clusters(images, threshold=1.5)


def test_group_split_fractions_deterministic():
    groups = np.repeat(np.arange(50), np.random.default_rng(0).integers(1, 5, 50))
    s1 = group_split(groups, (0.4, 0.2, 0.4), seed=3)
    s2 = group_split(groups, (0.4, 0.2, 0.4), seed=3)
    for k in ("train", "val", "test"):
        assert np.array_equal(s1[k], s2[k]) and np.all(np.diff(s1[k]) > 0)
    allidx = np.concatenate([s1[k] for k in s1])
    assert sorted(allidx.tolist()) == list(range(len(groups)))
    sides = {}
    for k, idx in s1.items():
        for i in idx:
            sides.setdefault(groups[i], set()).add(k)
    assert all(len(v) == 1 for v in sides.values())  # no group on two sides
    n = len(groups)
    assert abs(len(s1["train"]) / n - 0.4) < 0.08 and abs(len(s1["val"]) / n - 0.2) < 0.08
    s4 = group_split(groups, (0.4, 0.2, 0.4), seed=4)
    assert any(not np.array_equal(s4[k], s1[k]) for k in s1)  # the seed matters


@pytest.mark.parametrize("bad", [(0.5, 0.5), (0.5, 0.5, 0.5), (-0.1, 0.6, 0.5), ("a", 0, 1)])
def test_group_split_bad_fractions(bad):
    with pytest.raises(ConfigError, match="fractions"):
        group_split([0, 1, 2], bad)


def test_cross_split_near_copies_toy():
    images, truth = _toy()
    split = group_split(near_duplicate_clusters(images, size=32), seed=0)
    assert cross_split_near_copies(images, split, size=32) == 0
    naive = {"train": np.arange(0, 30, 2), "val": np.array([], int), "test": np.arange(1, 30, 2)}
    assert cross_split_near_copies(images, naive, size=32) > 0


def test_shared_near_duplicates(shared_data):
    from msknb.data import load_folder

    ds = load_folder(shared_data, image_size=64, crop_fov=False)
    labels = near_duplicate_clusters(ds.images)
    stats = cluster_stats(labels)
    print(f"shared set: {stats['frac_with_near_copy']:.3f} of {stats['n_images']} images have a near copy "
          f"(r > 0.95), {stats['n_clusters']} clusters, largest {stats['largest']}")
    assert 0.25 <= stats["frac_with_near_copy"] <= 0.5
    ds.subjects = [f"dup-{v:04d}" for v in labels]
    split = split_dataset(ds, (0.4, 0.2, 0.4), seed=0)
    assert sum(len(v) for v in split.values()) == len(ds)
    assert cross_split_near_copies(ds.images, split) == 0
    # a naive random split leaks near copies into test
    perm = np.random.default_rng(0).permutation(len(ds))
    naive = {"train": perm[:185], "val": perm[185:278], "test": perm[278:]}
    assert cross_split_near_copies(ds.images, naive) > 0


def test_split_dataset_stratified():
    from types import SimpleNamespace

    groups = ["GM"] * 20 + ["VL"] * 10
    subjects = [f"s{i // 2}" for i in range(30)]
    ds = SimpleNamespace(groups=groups, subjects=subjects)
    split = split_dataset(ds, (0.5, 0.0, 0.5), seed=1)
    assert len(split["val"]) == 0
    for g in ("GM", "VL"):
        n_train = sum(groups[i] == g for i in split["train"])
        assert 0 < n_train < groups.count(g)  # each muscle on both sides
