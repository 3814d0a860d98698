"""Readings of notebook 00, computed from the loaded set: what its brightness figure can and
cannot say, and why the near-duplicate clusters and the groups used for splitting differ in
number.

* :func:`brightness_by_group` / :func:`brightness_reading` -- per-image mean grey level per
  group (muscle or scanner, when the manifest names one) and a sentence from those numbers;
* :func:`clusters_vs_subjects` / :func:`clusters_reading` -- how the near-duplicate clusters
  of the cropped images (:func:`msknb.data.splits.near_duplicate_clusters`) nest in the
  groups a split keeps together (``UltrasoundSet.subjects``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def brightness_by_group(images: np.ndarray, groups: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{group: {"n", "median", "p5", "p95"}}`` of the per-image mean grey level (images
    (N, H, W) in [0, 1]); percentiles over the images of the group."""
    means = np.asarray(images, dtype=np.float64).reshape(len(images), -1).mean(1)
    g = np.asarray(groups, dtype=object)
    out = {}
    for name in sorted(set(g.tolist())):
        m = means[g == name]
        out[str(name)] = {"n": int(len(m)), "median": float(np.median(m)), "p5": float(np.percentile(m, 5)),
                          "p95": float(np.percentile(m, 95))}
    return out


def brightness_reading(table: dict[str, dict[str, float]]) -> str:
    """One or two sentences from :func:`brightness_by_group`: with one group, that the figure
    cannot compare muscles or scanners and how far the images' brightness spreads within it;
    with several, each group's median and range."""
    parts = [f"{g} (n = {r['n']}): median {r['median']:.2f}, 5th-95th percentile {r['p5']:.2f}-{r['p95']:.2f}"
             for g, r in table.items()]
    if len(table) == 1:
        (g, r), = table.items()
        return (f"All {r['n']} images are in one group ('{g}': the manifest names no muscle or scanner), so this "
                f"figure cannot compare muscles or scanners. Within the group the images differ: the mean grey "
                f"level per image has median {r['median']:.2f} and runs from {r['p5']:.2f} to {r['p95']:.2f} "
                f"(5th-95th percentile), a {r['p95'] / max(r['p5'], 1e-6):.1f}-fold range the generator has to "
                f"cover.")
    lo, hi = min(table, key=lambda k: table[k]["median"]), max(table, key=lambda k: table[k]["median"])
    return (f"Mean grey level per image, per group: {'; '.join(parts)}. The darkest group by median is {lo}, "
            f"the brightest {hi}.")


def clusters_vs_subjects(clusters: Sequence[int], subjects: Sequence[str]) -> dict[str, int]:
    """How ``clusters`` (N,) (near-duplicate labels) nest in ``subjects`` (N,) (the groups a
    split keeps together): ``n_clusters``, ``n_subjects``, ``subjects_joining`` (subjects that
    hold more than one cluster), ``clusters_joined`` (the clusters in those), ``clusters_split``
    (clusters spread over more than one subject: 0 means every cluster stays on one side of a
    split)."""
    c, s = np.asarray(clusters), np.asarray(subjects, dtype=object).astype(str)
    per_subject = {k: set(c[s == k].tolist()) for k in set(s.tolist())}
    per_cluster = {k: set(s[c == k].tolist()) for k in set(c.tolist())}
    joining = [v for v in per_subject.values() if len(v) > 1]
    return {"n_clusters": len(per_cluster), "n_subjects": len(per_subject), "subjects_joining": len(joining),
            "clusters_joined": int(sum(len(v) for v in joining)),
            "clusters_split": int(sum(len(v) > 1 for v in per_cluster.values()))}


def clusters_reading(d: dict[str, Any], subjects_are_clusters: bool) -> str:
    """A sentence from :func:`clusters_vs_subjects`. ``subjects_are_clusters``: the set had no
    subject ids, so ``load_folder`` made its own groups from near copies (``dup-0007``)."""
    if d["n_clusters"] == d["n_subjects"] and d["clusters_split"] == 0:
        return f"The {d['n_clusters']} clusters are exactly the {d['n_subjects']} groups the split keeps together."
    why = ("The manifest has no subject ids, so the groups a split keeps together are near-duplicate clusters "
           "too, but judged on two views: a pair counts as near copies if it correlates above 0.95 on the cropped "
           "images or on the whole screen captures (which also share scanner text and scales). "
           if subjects_are_clusters else "The groups a split keeps together are the subjects of the manifest. ")
    split = ("no cluster is divided between groups, so a grouped split never separates near copies"
             if d["clusters_split"] == 0 else
             f"{d['clusters_split']} clusters are divided between groups: their near copies can land on both sides")
    return (why + f"That joins {d['clusters_joined']} of the {d['n_clusters']} clusters into {d['subjects_joining']} "
            f"larger groups, which leaves {d['n_subjects']} groups; {split}.")
