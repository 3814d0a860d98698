"""Memorisation screening: is a generated image a copy of a training image? Each synthetic
image's nearest training image (NCC or SSIM) against the real baseline (held-out images'
nearest training image of another near-duplicate cluster). Not a privacy guarantee."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb.data.subset import load_ids
from msknb.errors import MsknbError
from msknb.evaluation.similarity import ssim
from msknb.evaluation.stacks import as_stack, check_same_shape


@dataclass
class Neighbours:
    """Nearest reference image of each query: ``index`` (N,), ``ids`` (N,) reference ids,
    ``similarity`` (N,) (NCC in [-1, 1] or SSIM), ``metric``."""

    index: np.ndarray
    ids: list[str]
    similarity: np.ndarray
    metric: str
    notes: dict[str, Any] = field(default_factory=dict)


def ncc_matrix(set_a: np.ndarray, set_b: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation (Pearson r of pixel values) of every pair:
    (N, H, W) x (M, H, W) -> (N, M) in [-1, 1]; a constant image correlates 0."""
    def z(x: np.ndarray) -> np.ndarray:
        f = x.reshape(len(x), -1).astype(np.float64)
        f = f - f.mean(1, keepdims=True)
        norm = np.linalg.norm(f, axis=1, keepdims=True)
        return np.divide(f, norm, out=np.zeros_like(f), where=norm > 0)

    a, b = as_stack(set_a, "set_a"), as_stack(set_b, "set_b")
    check_same_shape(a, b)
    return np.clip(z(a) @ z(b).T, -1, 1)


def _nearest(query: np.ndarray, reference: np.ndarray, metric: str, candidates: int | None,
             allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    ncc = ncc_matrix(query, reference)
    if allowed is not None:
        ncc = np.where(allowed, ncc, -np.inf)
    if metric == "ncc":
        idx = np.argmax(ncc, axis=1)
        return idx, ncc[np.arange(len(query)), idx]
    if metric != "ssim":
        raise MsknbError(f"unknown metric {metric!r}; choose 'ncc' or 'ssim'", "metric")
    k = ncc.shape[1] if candidates is None else min(int(candidates), ncc.shape[1])
    top = np.argsort(-ncc, axis=1)[:, :k]
    idx, sim = np.zeros(len(query), dtype=int), np.full(len(query), -np.inf)
    for i, row in enumerate(top):
        for j in row:
            if not np.isfinite(ncc[i, j]):
                continue
            v = ssim(query[i], reference[j])
            if v > sim[i]:
                idx[i], sim[i] = j, v
    return idx, sim


def nearest_training_neighbours(synthetic: np.ndarray, train: np.ndarray, train_ids: Sequence[str] | None = None,
                                metric: str = "ncc", candidates: int | None = 16) -> Neighbours:
    """For every synthetic image (N, H, W) its most similar training image (M, H, W).

    ``metric`` "ncc" (:func:`ncc_matrix`, exhaustive) or "ssim" (:func:`ssim` over the
    ``candidates`` best NCC matches per image; None = all M). Returns :class:`Neighbours`.
    """
    s, t = as_stack(synthetic, "synthetic"), as_stack(train, "train")
    ids = [str(i) for i in (train_ids if train_ids is not None else range(len(t)))]
    idx, sim = _nearest(s, t, metric, candidates, None)
    return Neighbours(idx, [ids[j] for j in idx], sim, metric, {"candidates": candidates})


def baseline_neighbours(query: np.ndarray, reference: np.ndarray, query_clusters: Sequence[Any],
                        reference_clusters: Sequence[Any], reference_ids: Sequence[str] | None = None,
                        metric: str = "ncc", candidates: int | None = 16) -> Neighbours:
    """The real baseline: for each real ``query`` image its most similar ``reference``
    image of a DIFFERENT near-duplicate cluster (frames of its own scan excluded).

    Use the real test images as queries and the training set as reference: this is how
    close a genuinely new image gets to the training set. Same metric as for the
    synthetic images. Queries with no allowed reference are dropped.
    """
    q, r = as_stack(query, "query"), as_stack(reference, "reference")
    allowed = np.asarray(query_clusters)[:, None] != np.asarray(reference_clusters)[None, :]
    keep = allowed.any(axis=1)
    if not keep.any():
        raise MsknbError("every reference image shares a cluster with the queries; no baseline", "reference_clusters")
    ids = [str(i) for i in (reference_ids if reference_ids is not None else range(len(r)))]
    idx, sim = _nearest(q[keep], r, metric, candidates, allowed[keep])
    return Neighbours(idx, [ids[j] for j in idx], sim, metric,
                      {"candidates": candidates, "query_index": np.flatnonzero(keep)})


def memorisation_summary(synthetic_similarity: np.ndarray, baseline_similarity: np.ndarray,
                         percentiles: Sequence[float] = (95, 99)) -> dict[str, Any]:
    """How many synthetic images are closer to a training image than real images are.

    For each percentile p of the real baseline nearest-neighbour similarities
    (:func:`baseline_neighbours`), the fraction of synthetic images whose nearest-training
    similarity exceeds it. Under no memorisation ~ (100 - p) % is expected; clearly more
    suggests copies. Returns {"n_synthetic", "n_baseline", "synthetic": {median, max},
    "baseline": {median, max}, "thresholds": {"p95": t, ...}, "fraction_above": {"p95": f, ...},
    "expected_fraction": {"p95": 0.05, ...}}. Not a privacy guarantee.
    """
    s = np.asarray(synthetic_similarity, dtype=np.float64)
    b = np.asarray(baseline_similarity, dtype=np.float64)
    if len(s) == 0 or len(b) == 0:
        raise MsknbError("need synthetic and baseline similarities", "memorisation_summary")
    out: dict[str, Any] = {"n_synthetic": int(len(s)), "n_baseline": int(len(b)),
                           "synthetic": {"median": float(np.median(s)), "max": float(s.max())},
                           "baseline": {"median": float(np.median(b)), "max": float(b.max())},
                           "thresholds": {}, "fraction_above": {}, "expected_fraction": {}}
    for p in percentiles:
        key = f"p{p:g}"
        t = float(np.percentile(b, p))
        out["thresholds"][key] = t
        out["fraction_above"][key] = float((s > t).mean())
        out["expected_fraction"][key] = round(1 - p / 100, 6)
    return out


def memorisation_conclusion(summary: dict[str, Any]) -> str:
    """A carefully worded one-paragraph reading of :func:`memorisation_summary`."""
    key = "p99" if "p99" in summary["fraction_above"] else next(iter(summary["fraction_above"]))
    frac, exp = summary["fraction_above"][key], summary["expected_fraction"][key]
    n = summary["n_synthetic"]
    head = (f"{100 * frac:.1f} % of {n} synthetic images are closer to a training image than the {key[1:]}th "
            f"percentile of real held-out images (expected about {100 * exp:.0f} % if the generator "
            f"does not copy); max similarity synthetic {summary['synthetic']['max']:.3f} vs real "
            f"{summary['baseline']['max']:.3f}. ")
    if summary["synthetic"]["max"] >= 0.999 or frac > max(3 * exp, exp + 0.05):
        verdict = ("This suggests that some synthetic images are near-copies of training images: inspect the "
                   "closest pairs; the synthetic set must not be shared as 'anonymous'.")
    else:
        verdict = ("No sign of near-copies at this sample size and resolution with this similarity measure. "
                   "This is a screening check, not a privacy guarantee: copies of parts of an image, other "
                   "measures, or more samples could show what this does not.")
    return head + verdict


def memorisation_check(synthetic: np.ndarray, train: np.ndarray, train_ids: Sequence[str],
                       test: np.ndarray, test_clusters: Sequence[Any], train_clusters: Sequence[Any],
                       synthetic_ids: Sequence[str] | None = None, metric: str = "ncc",
                       candidates: int | None = 16, top: int = 10) -> tuple[dict[str, Any], Neighbours, Neighbours]:
    """Synthetic (N, H, W) -> nearest training image (M, H, W), against the real baseline
    (held-out ``test`` images -> nearest training image of a different cluster).

    Returns (summary dict for JSON: :func:`memorisation_summary` + "metric", "closest"
    (top pairs: synthetic_id, train_id, similarity), "conclusion"; synthetic neighbours;
    baseline neighbours).
    """
    nb = nearest_training_neighbours(synthetic, train, train_ids, metric, candidates)
    base = baseline_neighbours(test, train, test_clusters, train_clusters, train_ids, metric, candidates)
    summary = memorisation_summary(nb.similarity, base.similarity)
    sids = [str(i) for i in (synthetic_ids if synthetic_ids is not None else range(len(nb.index)))]
    order = np.argsort(-nb.similarity)[:top]
    summary.update(metric=metric, candidates=candidates,
                   closest=[{"synthetic_id": sids[i], "train_id": nb.ids[i], "similarity": float(nb.similarity[i])}
                            for i in order])
    summary["conclusion"] = memorisation_conclusion(summary)
    return summary, nb, base


def generator_reference(data_dir: str | Path, training_ids: Sequence[str], test_ids: Sequence[str],
                        image_size: int | None, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Every real image the generator saw (``training_ids``) as the memorisation search set,
    and the real ``test_ids`` as baseline queries, loaded together with
    :func:`~msknb.data.subset.load_ids` so that their near-duplicate clusters (``subjects``)
    are comparable. Returns ``{"train", "test"}`` (UltrasoundSets), ``"n_requested"`` and
    ``"missing"`` (training ids not found in ``data_dir``)."""
    wanted = sorted({str(i) for i in training_ids} | {str(i) for i in test_ids})
    joint = load_ids(data_dir, wanted, image_size, cache_dir=cache_dir)
    ids = np.asarray(joint.ids)
    train = joint.subset(np.flatnonzero(np.isin(ids, [str(i) for i in training_ids])))
    test = joint.subset(np.flatnonzero(np.isin(ids, [str(i) for i in test_ids])))
    if len(train) == 0 or len(test) == 0:
        raise MsknbError(f"{len(train)} of the generator's training images and {len(test)} test images found", data_dir)
    missing = sorted(set(map(str, training_ids)) - set(train.ids))
    return {"train": train, "test": test, "n_requested": len(set(map(str, training_ids))), "missing": missing}
