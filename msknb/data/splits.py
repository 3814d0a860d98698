"""Leak-free train/val/test splits.

Many DL_Track images are consecutive frames of the same scan: near copies of each
other. Putting one in train and its copy in test inflates test scores, so splits are
made over *groups*: subjects when they are known, otherwise clusters of near-duplicate
images (:func:`near_duplicate_clusters`). Every group stays on one side.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from skimage.transform import resize

from msknb.errors import ConfigError

SPLIT_NAMES = ("train", "val", "test")


def _features(images: np.ndarray | Sequence[np.ndarray], size: int) -> np.ndarray:
    """(N, size*size) float64 rows: each image resized to size x size and z-scored."""
    feats = []
    for img in images:
        a = np.asarray(img, dtype=np.float64)
        if a.ndim != 2:
            raise ConfigError(f"images must be 2-D (H, W), got shape {a.shape}", "images")
        if a.shape != (size, size):
            a = resize(a, (size, size), order=1, anti_aliasing=True, preserve_range=True)
        a = a.ravel()
        sd = a.std()
        feats.append((a - a.mean()) / sd if sd > 0 else np.zeros_like(a))
    return np.stack(feats) if feats else np.zeros((0, size * size))


def correlation_matrix(images, size: int = 64) -> np.ndarray:
    """Pearson correlation (N, N) between ``images`` after resizing to ``size``²."""
    f = _features(images, size)
    if len(f) == 0:
        return np.zeros((0, 0))
    return (f @ f.T) / f.shape[1]


def _components(n: int, pairs_i: np.ndarray, pairs_j: np.ndarray) -> np.ndarray:
    """Connected-component labels 0..K-1 (ordered by first member) of a graph on n nodes."""
    parent = np.arange(n)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(pairs_i.tolist(), pairs_j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n)])
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64)


def near_duplicate_clusters(images, size: int = 64, threshold: float = 0.95, *, also=None) -> np.ndarray:
    """Cluster labels (N,) int: images linked by a chain of Pearson correlations
    > ``threshold`` (after resizing each to ``size``² px and z-scoring) share a label.
    Labels are 0..K-1 in order of first appearance.

    ``also``: optional second view of the same N images (e.g. the uncropped screen
    captures); a pair correlated above ``threshold`` in either view is linked, which
    errs on the side of keeping copies together."""
    if not 0 < threshold <= 1:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold}", "threshold")
    linked = correlation_matrix(images, size) > threshold
    if also is not None:
        other = correlation_matrix(also, size) > threshold
        if other.shape != linked.shape:
            raise ConfigError(f"'also' must hold the same {len(linked)} images, got {len(other)}", "also")
        linked |= other
    i, j = np.nonzero(np.triu(linked, k=1))
    return _components(len(linked), i, j)


def cluster_stats(labels: np.ndarray) -> dict:
    """Summary of cluster labels: n_images, n_clusters, n_in_multi (images in clusters
    of size >= 2), frac_with_near_copy, largest cluster size."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return {"n_images": 0, "n_clusters": 0, "n_in_multi": 0, "frac_with_near_copy": 0.0, "largest": 0}
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    in_multi = counts[inverse] >= 2
    return {"n_images": int(labels.size), "n_clusters": int(len(counts)), "n_in_multi": int(in_multi.sum()),
            "frac_with_near_copy": float(in_multi.mean()), "largest": int(counts.max())}


def _check_fractions(fractions) -> np.ndarray:
    try:
        f = np.asarray(fractions, dtype=np.float64).ravel()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"fractions must be three numbers (train, val, test), got {fractions!r}", "fractions") from e
    if f.size != 3 or not np.all(np.isfinite(f)) or np.any(f < 0) or not abs(f.sum() - 1.0) < 1e-6:
        raise ConfigError(f"fractions must be three non-negative numbers (train, val, test) summing to 1, "
                          f"got {fractions!r}", "fractions")
    return f


def group_split(groups: Sequence, fractions=(0.4, 0.2, 0.4), seed: int = 0) -> dict[str, np.ndarray]:
    """Assign whole groups to train/val/test, approximating ``fractions`` of images.

    ``groups``: (N,) labels (any hashable). Groups are visited in a seeded random order
    (largest first among ties broken randomly) and each goes to the split whose image
    count is furthest below its target. Returns ``{"train","val","test"}`` -> sorted int
    index arrays; deterministic for a seed. Bad fractions raise :class:`ConfigError`.
    """
    frac = _check_fractions(fractions)
    labels = np.asarray([str(g) for g in groups], dtype=object)
    n = len(labels)
    out = {name: [] for name in SPLIT_NAMES}
    if n == 0:
        return {k: np.zeros(0, dtype=np.int64) for k in SPLIT_NAMES}
    uniq, inverse = np.unique(labels, return_inverse=True)
    members = [np.nonzero(inverse == k)[0] for k in range(len(uniq))]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    # big groups first so that the small ones can fill the gaps
    order = sorted(order, key=lambda k: -len(members[k]))
    target = frac * n
    counts = np.zeros(3)
    for k in order:
        size = len(members[k])
        # deficit after adding this group, relative to each target; skip zero-fraction splits
        gain = np.where(frac > 0, (target - counts) / np.maximum(target, 1e-9), -np.inf)
        s = int(np.argmax(gain))
        out[SPLIT_NAMES[s]].extend(members[k].tolist())
        counts[s] += size
    return {k: np.array(sorted(v), dtype=np.int64) for k, v in out.items()}


def split_dataset(ds, fractions=(0.4, 0.2, 0.4), seed: int = 0) -> dict[str, np.ndarray]:
    """Split an :class:`msknb.data.loading.UltrasoundSet` by ``ds.subjects`` (near-duplicate
    clusters when subjects are unknown). With several ``ds.groups`` (muscles) the split is
    stratified: each group is split separately and the indices merged."""
    subjects = np.asarray(ds.subjects, dtype=object)
    groups = np.asarray(ds.groups, dtype=object)
    out: dict[str, list[int]] = {k: [] for k in SPLIT_NAMES}
    for gi, g in enumerate(sorted(set(groups.tolist()))):
        idx = np.nonzero(groups == g)[0]
        # a subject seen in several groups must stay on one side: key it by subject only,
        # but split each group separately for stratification
        part = group_split(subjects[idx], fractions, seed=seed + gi)
        for k in SPLIT_NAMES:
            out[k].extend(idx[part[k]].tolist())
    result = {k: np.array(sorted(v), dtype=np.int64) for k, v in out.items()}
    # guard: a subject split across groups could land on two sides; move it to train-most side
    side = {}
    for k in SPLIT_NAMES:
        for i in result[k]:
            side.setdefault(subjects[i], set()).add(k)
    conflicted = {s for s, v in side.items() if len(v) > 1}
    if conflicted:
        moved = {k: [] for k in SPLIT_NAMES}
        for k in SPLIT_NAMES:
            for i in result[k]:
                if subjects[i] in conflicted:
                    first = next(name for name in SPLIT_NAMES if name in side[subjects[i]])
                    moved[first].append(int(i))
                else:
                    moved[k].append(int(i))
        result = {k: np.array(sorted(v), dtype=np.int64) for k, v in moved.items()}
    return result


def cross_split_near_copies(images, split: dict[str, np.ndarray], threshold: float = 0.95,
                            size: int = 64, a: str = "test", b: str = "train") -> int:
    """Number of images in split ``a`` (default test) that have a near copy (Pearson
    r > ``threshold`` at ``size``² px) in split ``b`` (default train). 0 means no leak."""
    ia, ib = np.asarray(split[a], dtype=np.int64), np.asarray(split[b], dtype=np.int64)
    if len(ia) == 0 or len(ib) == 0:
        return 0
    images = list(images)
    fa = _features([images[i] for i in ia], size)
    fb = _features([images[i] for i in ib], size)
    corr = (fa @ fb.T) / fa.shape[1]
    return int((corr > threshold).any(axis=1).sum())
