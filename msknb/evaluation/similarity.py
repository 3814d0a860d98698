"""Pixel similarity between *unpaired* image sets with the pairing stated (the paper's
PSNR/SSIM, Tables 2-3) and the real-vs-real baseline beside every synthetic-vs-real number:
:func:`paired_similarity`, :func:`similarity_with_baseline` ("inter-patient" vs "synthetic")."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from msknb.errors import MsknbError
from msknb.evaluation.features import Lpips, lpips_distance
from msknb.evaluation.stacks import as_stack, check_same_shape

PSNR_CAP_DB = 100.0


def cluster_halves(clusters: Sequence[Any], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split indices 0..N-1 into two disjoint halves with every cluster (near-duplicate
    cluster / subject) on one side, image counts as equal as possible (clusters shuffled
    with ``seed``, each put on the currently smaller side). -> (idx_a, idx_b) sorted."""
    c = np.asarray(clusters)
    names = np.unique(c)
    if len(names) < 2:
        raise MsknbError("need at least 2 clusters to split the real set into halves", "clusters")
    rng = np.random.default_rng(seed)
    sizes = {name: int((c == name).sum()) for name in names}
    order = sorted(rng.permutation(names).tolist(), key=lambda n: -sizes[n])  # big first, ties random
    side_a, side_b, na, nb = [], [], 0, 0
    for name in order:
        if na <= nb:
            side_a.append(name)
            na += sizes[name]
        else:
            side_b.append(name)
            nb += sizes[name]
    return np.flatnonzero(np.isin(c, side_a)), np.flatnonzero(np.isin(c, side_b))


def mse_matrix(set_a: np.ndarray, set_b: np.ndarray) -> np.ndarray:
    """Mean squared error of every pair: (N, H, W) x (M, H, W) -> (N, M)."""
    a = as_stack(set_a, "set_a").reshape(len(set_a), -1).astype(np.float64)
    b = as_stack(set_b, "set_b").reshape(len(set_b), -1).astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0) / a.shape[1]


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR in dB of one pair (H, W) (skimage.metrics.peak_signal_noise_ratio);
    identical images (MSE = 0) are capped at ``PSNR_CAP_DB`` = 100 dB."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if np.mean((a64 - b64) ** 2) <= 0:
        return PSNR_CAP_DB
    return float(min(peak_signal_noise_ratio(a64, b64, data_range=data_range), PSNR_CAP_DB))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of one pair (H, W): skimage.metrics.structural_similarity, 7 x 7 uniform
    window, K1 = 0.01, K2 = 0.03, ``data_range`` 1 for [0, 1] images."""
    return float(structural_similarity(np.asarray(a, np.float64), np.asarray(b, np.float64), data_range=data_range))


def pair_indices(set_a: np.ndarray, set_b: np.ndarray, pairing: str = "nearest", seed: int = 0) -> np.ndarray:
    """For each image of A the index of its partner in B: (N,) ints.

    ``"nearest"``: the B image with the smallest MSE (the most favourable partner;
    B images may be reused). ``"random"``: a seeded random B image, without
    replacement while B has images left."""
    a, b = as_stack(set_a, "set_a"), as_stack(set_b, "set_b")
    check_same_shape(a, b)
    if pairing == "nearest":
        return np.argmin(mse_matrix(a, b), axis=1)
    if pairing == "random":
        rng = np.random.default_rng(seed)
        reps = int(np.ceil(len(a) / len(b)))
        return np.concatenate([rng.permutation(len(b)) for _ in range(reps)])[:len(a)]
    raise MsknbError(f"unknown pairing {pairing!r}; choose 'nearest' or 'random'", "pairing")


def _summary(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v))}


def paired_similarity(set_a: np.ndarray, set_b: np.ndarray, pairing: str = "nearest", seed: int = 0,
                      data_range: float = 1.0) -> dict[str, Any]:
    """PSNR and SSIM between two *unpaired* sets, with the pairing stated.

    Each image a_i of A (N, H, W) is paired with b_j(i) of B (M, H, W) by
    :func:`pair_indices` (``pairing`` "nearest" by MSE, or "random"); PSNR (dB,
    ``data_range`` 1 on [0, 1], = 255 on 8-bit; identical pairs capped at 100 dB) and
    SSIM (:func:`ssim`) are averaged over the N pairs.
    Returns {"pairing", "n_pairs", "n_reference", "psnr_db": {mean, std, median},
    "ssim": {...}, "n_identical", "index_b" (N,), "psnr_values", "ssim_values"}.
    """
    a, b = as_stack(set_a, "set_a"), as_stack(set_b, "set_b")
    check_same_shape(a, b)
    idx = pair_indices(a, b, pairing, seed)
    p = np.array([psnr(a[i], b[j], data_range) for i, j in enumerate(idx)])
    s = np.array([ssim(a[i], b[j], data_range) for i, j in enumerate(idx)])
    return {"pairing": pairing, "n_pairs": int(len(a)), "n_reference": int(len(b)),
            "psnr_db": _summary(p), "ssim": _summary(s), "n_identical": int((p >= PSNR_CAP_DB).sum()),
            "index_b": idx, "psnr_values": p, "ssim_values": s}


SIMILARITY_DEFINITION = (
    "The real set is split into halves A and B by near-duplicate cluster (a stand-in for patient; "
    "frames of one scan never sit on both sides). 'Inter-patient' PSNR/SSIM: mean over n images of A "
    "of PSNR/SSIM with their partner in B; 'synthetic' PSNR/SSIM: mean over n synthetic images of "
    "PSNR/SSIM with their partner in the same B. Same n (= min(|A|, |synthetic|), seeded draw), same "
    "reference B, same pairing: 'nearest' = the B image of least MSE, 'random' = a random B image. "
    "SSIM: skimage, 7x7 uniform window, data range 1; PSNR data range 1 (= 255 on 8-bit).")


def similarity_with_baseline(real: np.ndarray, clusters: Sequence[Any], synthetic: np.ndarray | None,
                             pairing: str = "nearest", seed: int = 0, lpips_model: Lpips | None = None
                             ) -> dict[str, Any]:
    """Table 3 of the paper, defined: "inter-patient" vs "synthetic" PSNR/SSIM (+ LPIPS).

    ``real`` (N, H, W) with ``clusters`` (N,) near-duplicate cluster ids, ``synthetic``
    (M, H, W) or None (then only the real-vs-real baseline). See
    ``SIMILARITY_DEFINITION``. LPIPS (when ``lpips_model`` given) is computed on the
    same pairs. Returns {"definition", "pairing", "n", "n_reference", "inter_patient":
    {psnr_db, ssim, [lpips], n_identical, values: per-pair arrays (n,)}, "synthetic": {...} or
    None, ["lpips_note"]}.
    """
    r = as_stack(real, "real")
    idx_a, idx_b = cluster_halves(clusters, seed)
    reference = r[idx_b]
    rng = np.random.default_rng(seed)
    s = None if synthetic is None or len(synthetic) == 0 else as_stack(synthetic, "synthetic")
    if s is not None:
        check_same_shape(r, s, "synthetic")
    n = len(idx_a) if s is None else min(len(idx_a), len(s))
    queries = {"inter_patient": r[np.sort(rng.choice(idx_a, n, replace=False))]}
    if s is not None:
        queries["synthetic"] = s[np.sort(rng.choice(len(s), n, replace=False))]
    out: dict[str, Any] = {"definition": SIMILARITY_DEFINITION, "pairing": pairing, "n": int(n),
                           "n_reference": int(len(reference)), "synthetic": None}
    for key, q in queries.items():
        res = paired_similarity(q, reference, pairing, seed)
        entry = {"psnr_db": res["psnr_db"], "ssim": res["ssim"], "n_identical": res["n_identical"],
                 "values": {"psnr_db": res["psnr_values"], "ssim": res["ssim_values"]}}
        if lpips_model is not None:
            d = lpips_distance(lpips_model, q, reference[res["index_b"]])
            entry["lpips"], entry["values"]["lpips"] = _summary(d), d
        out[key] = entry
    if lpips_model is not None:
        out["lpips_note"] = lpips_model.note
    return out
