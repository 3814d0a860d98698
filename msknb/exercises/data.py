r"""Exercises of notebook ``00_data``: near-duplicates and a split that does not leak them.

========================  ===========================================================  ==========================
exercise                  the student writes                                            kind
========================  ===========================================================  ==========================
leak_count                how many test images have a near copy (same cluster) in train  code (checked on fixed labels)
choose_split              "random" or "grouped": which split a test score can trust      choose and justify
========================  ===========================================================  ==========================

Fixed inputs: :func:`fixed_labels` (57 images in 30 clusters, like a cine loop: some frames
come in runs of 2-6 near copies, others alone), a seeded random half/half split and the
cluster-grouped split of :func:`msknb.data.splits.group_split`.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from msknb.data import splits
from msknb.exercises.check import CheckResult, Mistake, _verdict, ask_choice, run_check, show, where

#: the two answers ``choose_split`` may return
SPLIT_CHOICES = ("random", "grouped")


def fixed_labels() -> np.ndarray:
    """Cluster labels of 57 images: 10 runs of near copies (sizes 2-6) and 20 single images,
    in a shuffled (seeded) order."""
    sizes = [6, 5, 5, 4, 4, 3, 3, 3, 2, 2] + [1] * 20
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return np.random.default_rng(0).permutation(labels)


def random_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays: a seeded random half of the n images each, clusters ignored."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[: n // 2]), np.sort(perm[n // 2:])


def grouped_split(labels: Sequence[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays: whole clusters to one side, about half the images each."""
    parts = splits.group_split(labels, fractions=(0.5, 0.0, 0.5), seed=seed)
    return parts["train"], parts["test"]


def leaks(labels: Sequence[int], train_idx: Sequence[int], test_idx: Sequence[int]) -> int:
    """The reference: test images whose cluster also has an image in train."""
    labels = np.asarray(labels)
    seen = set(labels[np.asarray(train_idx, dtype=int)].tolist())
    return int(sum(int(labels[i]) in seen for i in np.asarray(test_idx, dtype=int)))


def _leak_mistakes(labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> list[Mistake]:
    seen = set(labels[train].tolist())
    shared = set(labels[test].tolist()) & seen
    counts = np.bincount(labels)
    return [
        Mistake(len(shared), "you counted the shared clusters; count the test IMAGES whose cluster "
                "has an image in train (one cluster may put several test images at risk)."),
        Mistake(int(sum(int(labels[i]) in set(labels[test].tolist()) for i in train)), "you counted the "
                "train images that have a copy in test; the question is about the test images."),
        Mistake(int(sum(counts[labels[i]] >= 2 for i in test)), "you counted test images that have a "
                "near copy anywhere (even in test itself); only a copy in TRAIN leaks."),
        Mistake(int(sum(np.sum(labels[train] == labels[i]) for i in test)), "you counted (test, train) "
                "pairs; count each test image once, however many copies it has in train."),
    ]


def check_leak_count(student_fn: Callable) -> CheckResult:
    """``leak_count(labels, train_idx, test_idx) -> int``: checked on a random split of
    :func:`fixed_labels` (leaks expected) and on the grouped split (0 expected)."""
    labels = fixed_labels()
    result = None
    for name, (train, test) in (("random split", random_split(len(labels))),
                                ("grouped split", grouped_split(labels))):
        result = run_check("leak_count", student_fn, (labels.copy(), train.copy(), test.copy()),
                           leaks(labels, train, test), _leak_mistakes(labels, train, test),
                           hint="the clusters seen in train are set(labels[train_idx]); count the i in "
                                "test_idx with labels[i] in that set.")
        if not result.ok:
            return show(where(result, f"on the {name}"))
    return show(result)


def leak_table(labels: Sequence[int] | None = None, seed: int = 0) -> dict[str, Any]:
    """Leaks of a random and of a grouped half/half split of ``labels`` (the fixed labels when None):
    {"n_test_random", "leaks_random", "n_test_grouped", "leaks_grouped"}."""
    labels = fixed_labels() if labels is None else np.asarray(labels)
    rtrain, rtest = random_split(len(labels), seed)
    gtrain, gtest = grouped_split(labels, seed)
    return {"n_test_random": len(rtest), "leaks_random": leaks(labels, rtrain, rtest),
            "n_test_grouped": len(gtest), "leaks_grouped": leaks(labels, gtrain, gtest)}


def check_choose_split(student_fn: Callable, labels: Sequence[int] | None = None) -> CheckResult:
    """``choose_split() -> "random" | "grouped"``: which split gives a test score for images the
    model has not seen? The verdict gives the leak counts of both splits on ``labels`` (the
    notebook's near-duplicate clusters; the fixed labels when None) as the justification."""
    got, shown = ask_choice("choose_split", student_fn, "return the string 'grouped' or 'random'.")
    if shown is not None:
        return shown
    t = leak_table(labels)
    numbers = (f"a random half/half split leaves {t['leaks_random']} of {t['n_test_random']} test images with a "
               f"near copy in train; the grouped split {t['leaks_grouped']} of {t['n_test_grouped']}.")
    answer = str(got).strip().lower()
    if answer == "grouped":
        return show(_verdict("choose_split", True, f"correct! {numbers} A test image whose near copy was "
                             "trained on measures memory, not generalisation: group by cluster."))
    if answer == "random":
        return show(_verdict("choose_split", False, f"a random split leaks: {numbers} Those test images are "
                             "near copies of training images, so the test score is too optimistic. "
                             "Hint: which split keeps every cluster on one side?"))
    return show(_verdict("choose_split", False, f"answer one of {SPLIT_CHOICES}, got {got!r}. "
                         "Hint: return exactly one of those strings."))
