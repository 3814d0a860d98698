"""Evaluating synthetic images against real ones (the paper's section 2.6 / Tables 2-3),
with the definitions the paper leaves out stated and a real-vs-real baseline beside
every synthetic-vs-real number.

Images everywhere are float arrays (N, H, W) in [0, 1] (as ``msknb.data.loading`` returns them);
two sets compared pixel-wise must have the same H, W.

* Intensity: 256-bin histogram of 8-bit values, skewness, Shannon entropy (bits).
* Pixel similarity between *unpaired* sets: :func:`paired_similarity` (PSNR, SSIM with a
  stated pairing) and :func:`similarity_with_baseline` (Table 3's "inter-patient SSIM"
  vs "synthetic SSIM").
* Set distances (LPIPS, FID, domain Fréchet distance, KID): :mod:`msknb.evaluation.features`,
  re-exported here.
* Memorisation: :func:`nearest_training_neighbours`, :func:`memorisation_summary`,
  :func:`closest_pairs_figure`.
* PCA of (bottleneck) features: :func:`pca_project`, :func:`pca_figure`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb.errors import MsknbError
from msknb.evaluation.features import (  # noqa: F401  (re-exported: one import for the notebook)
    FeatureNet, Lpips, distances_with_baseline, frechet_distance, kid, load_inception, load_lpips,
    lpips_distance, network_features, random_feature_net)

PSNR_CAP_DB = 100.0
ENTROPY_NOTE = (
    "Shannon entropy in bits (log2) of the pooled 256-bin histogram of 8-bit pixel values "
    "(max 8 bits). The paper's 10.6-11 cannot come from 256 bins: 2^10.6 ~ 1550 occupied bins, "
    "so it must have used a finer binning, e.g. 16-bit values (65536 bins) -- then the value "
    "depends on how many distinct grey levels resampling created. 'entropy_bits_16bit' shows this "
    "(same pixels, 65536 bins of round(x * 65535)).")


def _images(images: Any, name: str = "images") -> np.ndarray:
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or len(arr) == 0:
        raise MsknbError(f"expected a non-empty image stack (N, H, W), got shape {arr.shape}", name)
    return arr


def _same_shape(a: np.ndarray, b: np.ndarray, name: str = "set_b") -> None:
    if a.shape[1:] != b.shape[1:]:
        raise MsknbError(f"image sizes differ: {a.shape[1:]} vs {b.shape[1:]}; resize both to one size "
                         f"(msknb.evaluation.metrics.resize_images)", name)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) -> (N, size, size) float32, bilinear with antialiasing, kept in [0, 1]."""
    import torch
    import torch.nn.functional as F

    arr = _images(images)
    if arr.shape[1:] == (size, size):
        return arr.copy()
    x = torch.from_numpy(arr).unsqueeze(1)
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y[:, 0].clamp(0, 1).numpy().astype(np.float32)


# ------------------------------------------------------------------ intensity ----------
def to_uint8(images: np.ndarray) -> np.ndarray:
    """(N, H, W) in [0, 1] -> uint8 (N, H, W), round(255 x)."""
    return np.clip(np.rint(_images(images) * 255.0), 0, 255).astype(np.uint8)


def intensity_histogram(images: np.ndarray) -> np.ndarray:
    """Pooled histogram of all pixels of the set: 256 bins, one per 8-bit value 0..255,
    normalised to probabilities (sums to 1). (N, H, W) -> (256,) float64."""
    counts = np.bincount(to_uint8(images).ravel(), minlength=256).astype(np.float64)
    return counts / counts.sum()


def shannon_entropy(probabilities: np.ndarray, base: float = 2.0) -> float:
    """-sum p log_base p over the non-empty bins (bits for base 2)."""
    p = np.asarray(probabilities, dtype=np.float64)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum() / np.log(base))


def intensity_stats(images: np.ndarray) -> dict[str, Any]:
    """Histogram statistics of one set (all pixels pooled), (N, H, W) in [0, 1].

    Returns {"n_images", "mean", "std" (8-bit grey levels), "skewness" (scipy.stats.skew,
    biased/Fisher-Pearson, of the pooled 8-bit values), "skewness_per_image" {mean, std},
    "entropy_bits" (256 bins), "entropy_bits_16bit" (65536 bins), "histogram" (256,)
    probabilities, "binning"}. See ``ENTROPY_NOTE``.
    """
    from scipy.stats import skew

    arr = _images(images)
    u8 = to_uint8(arr)
    values = u8.reshape(len(u8), -1).astype(np.float64)
    hist = intensity_histogram(arr)
    u16 = np.clip(np.rint(arr * 65535.0), 0, 65535).astype(np.int64).ravel()
    per_image = skew(values, axis=1)
    return {
        "n_images": int(len(arr)),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "skewness": float(skew(values.ravel())),
        "skewness_per_image": {"mean": float(np.nanmean(per_image)), "std": float(np.nanstd(per_image))},
        "entropy_bits": shannon_entropy(hist),
        "entropy_bits_16bit": shannon_entropy(np.bincount(u16, minlength=65536)),
        "histogram": hist,
        "binning": "256 bins of 8-bit values (round(255 x)); entropy base 2 (bits)",
    }


def intensity_by_group(images: np.ndarray, groups: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`intensity_stats` per group (muscle) plus "all": {group: stats}."""
    arr = _images(images)
    out = {"all": intensity_stats(arr)}
    if groups is not None:
        g = np.asarray(groups)
        for name in sorted(set(g.tolist())):
            if name != "all":
                out[name] = intensity_stats(arr[g == name])
    return out


def histogram_figure(real: np.ndarray, synthetic: np.ndarray | None, real_groups: Sequence[str] | None = None,
                     synthetic_groups: Sequence[str] | None = None, group: str = "all",
                     labels: tuple[str, str] = ("real", "synthetic"), log: bool = False):
    """Matplotlib figure: 256-bin 8-bit intensity histograms (probability per grey
    level) of ``real`` and ``synthetic`` for ``group`` ("all" = every image), legend with
    n, skewness and entropy (bits). ``synthetic`` may be None (real only)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for imgs, groups, label in ((real, real_groups, labels[0]), (synthetic, synthetic_groups, labels[1])):
        if imgs is None or len(imgs) == 0:
            continue
        arr = _images(imgs)
        if group != "all" and groups is not None:
            arr = arr[np.asarray(groups) == group]
        if len(arr) == 0:
            continue
        st = intensity_stats(arr)
        ax.plot(np.arange(256), st["histogram"], lw=1.2,
                label=f"{label} (n={st['n_images']}, skew {st['skewness']:.2f}, H {st['entropy_bits']:.2f} bits)")
    ax.set_xlabel("grey level (8-bit)")
    ax.set_ylabel("fraction of pixels")
    if log:
        ax.set_yscale("log")
    ax.set_title(f"Intensity histogram, group: {group} (256 bins)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ splitting ----------
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


# ------------------------------------------------------------------ PSNR / SSIM --------
def mse_matrix(set_a: np.ndarray, set_b: np.ndarray) -> np.ndarray:
    """Mean squared error of every pair: (N, H, W) x (M, H, W) -> (N, M)."""
    a = _images(set_a, "set_a").reshape(len(set_a), -1).astype(np.float64)
    b = _images(set_b, "set_b").reshape(len(set_b), -1).astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0) / a.shape[1]


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR in dB of one pair (H, W) (skimage.metrics.peak_signal_noise_ratio);
    identical images (MSE = 0) are capped at ``PSNR_CAP_DB`` = 100 dB."""
    from skimage.metrics import peak_signal_noise_ratio

    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if np.mean((a64 - b64) ** 2) <= 0:
        return PSNR_CAP_DB
    return float(min(peak_signal_noise_ratio(a64, b64, data_range=data_range), PSNR_CAP_DB))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of one pair (H, W): skimage.metrics.structural_similarity, 7 x 7 uniform
    window, K1 = 0.01, K2 = 0.03, ``data_range`` 1 for [0, 1] images."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(a, np.float64), np.asarray(b, np.float64), data_range=data_range))


def pair_indices(set_a: np.ndarray, set_b: np.ndarray, pairing: str = "nearest", seed: int = 0) -> np.ndarray:
    """For each image of A the index of its partner in B: (N,) ints.

    ``"nearest"``: the B image with the smallest MSE (the most favourable partner;
    B images may be reused). ``"random"``: a seeded random B image, without
    replacement while B has images left."""
    a, b = _images(set_a, "set_a"), _images(set_b, "set_b")
    _same_shape(a, b)
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
    a, b = _images(set_a, "set_a"), _images(set_b, "set_b")
    _same_shape(a, b)
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
    r = _images(real, "real")
    idx_a, idx_b = cluster_halves(clusters, seed)
    reference = r[idx_b]
    rng = np.random.default_rng(seed)
    s = None if synthetic is None or len(synthetic) == 0 else _images(synthetic, "synthetic")
    if s is not None:
        _same_shape(r, s, "synthetic")
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


# ------------------------------------------------------------------ memorisation -------
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

    a, b = _images(set_a, "set_a"), _images(set_b, "set_b")
    _same_shape(a, b)
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
    s, t = _images(synthetic, "synthetic"), _images(train, "train")
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
    q, r = _images(query, "query"), _images(reference, "reference")
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


def read_split(path: str | Path) -> dict[str, list[str]]:
    """Image ids per split from a ``split.json`` (``{"train": [...], "val": [...], "test":
    [...]}``, possibly nested under "ids" or "splits"). Missing/garbled -> MsknbError."""
    import json

    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise MsknbError(f"cannot read split file ({e})", p) from e
    for key in ("ids", "splits", "split"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("train", "test")):
        raise MsknbError("split file needs id lists under 'train' and 'test'", p)
    return {k: [str(i) for i in v] for k, v in data.items() if isinstance(v, list)}


def load_ids(root: str | Path, ids: Sequence[str], image_size: int | None, crop_fov: bool = True):
    """Load only the images ``ids`` (file stems) of a data folder with
    :func:`msknb.data.loading.load_folder` (through a temporary folder of symbolic links to those
    files, their masks and the manifest), so a 40-image split does not read all 463.
    Near-duplicate clusters are computed among the loaded images. Ids not found are
    ignored (compare ``len(result)`` with ``len(ids)``). -> UltrasoundSet."""
    import os
    import tempfile

    from msknb.data.loading import load_folder

    root = Path(root)
    images_dir = next((root / d for d in ("images", "apo_images") if (root / d).is_dir()), root)
    masks_dir = next((root / d for d in ("masks", "apo_masks") if (root / d).is_dir()), None)
    wanted = set(map(str, ids))
    files = [f for f in sorted(images_dir.iterdir()) if f.is_file() and f.stem in wanted]
    if not files:
        raise MsknbError(f"none of the {len(wanted)} split ids found in this folder", images_dir)
    with tempfile.TemporaryDirectory(prefix="msknb-ids-") as tmp:
        t = Path(tmp)
        (t / "images").mkdir()
        for f in files:
            os.symlink(f.resolve(), t / "images" / f.name)
        if masks_dir is not None:
            (t / "masks").mkdir()
            for m in sorted(masks_dir.iterdir()):
                if m.stem in wanted:
                    os.symlink(m.resolve(), t / "masks" / m.name)
        if (root / "manifest.csv").is_file():
            os.symlink((root / "manifest.csv").resolve(), t / "manifest.csv")
        ds = load_folder(t, image_size=image_size, crop_fov=crop_fov, allow_missing_masks=True)
    ds.paths = [images_dir / Path(f).name for f in ds.paths]  # the links are gone: point at the originals
    if hasattr(ds, "root"):
        ds.root = root
    return ds


def closest_pairs_figure(synthetic: np.ndarray, train: np.ndarray, neighbours: Neighbours,
                         synthetic_ids: Sequence[str] | None = None, k: int = 6,
                         threshold: float | None = None):
    """Matplotlib figure of the ``k`` synthetic images closest to a training image
    (top row) above their nearest training image (bottom row), titled with ids and
    similarity; pairs above ``threshold`` (e.g. the baseline's 99th percentile) in red."""
    import matplotlib.pyplot as plt

    s, t = _images(synthetic, "synthetic"), _images(train, "train")
    sids = [str(i) for i in (synthetic_ids if synthetic_ids is not None else range(len(s)))]
    order = np.argsort(-neighbours.similarity)[:max(1, min(k, len(s)))]
    fig, axes = plt.subplots(2, len(order), figsize=(2.0 * len(order), 4.4), squeeze=False)
    for col, i in enumerate(order):
        sim = neighbours.similarity[i]
        colour = "red" if threshold is not None and sim > threshold else "black"
        axes[0, col].imshow(s[i], cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(f"{sids[i]}\n{neighbours.metric} {sim:.3f}", fontsize=7, color=colour)
        axes[1, col].imshow(t[neighbours.index[i]], cmap="gray", vmin=0, vmax=1)
        axes[1, col].set_title(f"train {neighbours.ids[i]}", fontsize=7)
        for ax in axes[:, col]:
            ax.axis("off")
    fig.suptitle("Closest synthetic / training pairs (top: generated, bottom: nearest training image)", fontsize=9)
    fig.tight_layout()
    return fig


def similarity_histogram_figure(synthetic_similarity: np.ndarray, baseline_similarity: np.ndarray,
                                metric: str = "ncc", thresholds: dict[str, float] | None = None):
    """Matplotlib histogram of nearest-training similarities, synthetic vs real baseline,
    with the baseline percentile thresholds as vertical lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    both = np.concatenate([np.ravel(synthetic_similarity), np.ravel(baseline_similarity)])
    bins = np.linspace(both.min(), both.max() + 1e-9, 30)
    ax.hist(baseline_similarity, bins=bins, alpha=0.6, density=True, label=f"real test -> train (n={len(baseline_similarity)})")
    ax.hist(synthetic_similarity, bins=bins, alpha=0.6, density=True, label=f"synthetic -> train (n={len(synthetic_similarity)})")
    for key, t in (thresholds or {}).items():
        ax.axvline(t, color="k", ls="--", lw=0.8)
        ax.text(t, ax.get_ylim()[1] * 0.9, key, fontsize=7)
    ax.set_xlabel(f"similarity to nearest training image ({metric})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def metric_distribution_figure(values: dict[str, np.ndarray], metric: str, title: str | None = None):
    """Matplotlib figure: one histogram per label of per-image values of ``metric``
    (e.g. {"synthetic vs real": (n,), "real vs real": (n,)}), with the means as lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items() if v is not None and len(v)}
    if arrays:
        both = np.concatenate(list(arrays.values()))
        bins = np.linspace(both.min(), both.max() + 1e-9, 25)
        for label, v in arrays.items():
            patches = ax.hist(v, bins=bins, alpha=0.55, label=f"{label} (n={len(v)}, mean {v.mean():.3g})")[2]
            ax.axvline(v.mean(), color=patches[0].get_facecolor(), lw=1.5)
        ax.legend(fontsize=8)
    ax.set_xlabel(metric)
    ax.set_ylabel("images")
    ax.set_title(title or f"Per-image {metric}", fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ PCA ----------------
def pca_project(real_feats: np.ndarray, synth_feats: np.ndarray | None, n_components: int = 2,
                standardize: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA (sklearn) fitted on real and synthetic features together.

    ``standardize``: each feature scaled to zero mean, unit variance over the union first
    (the paper "normalised" the features before PCA); constant features stay 0.
    (N, F), (M, F) -> real (N, k), synthetic (M, k), explained variance ratio (k,).
    ``synth_feats`` may be None/empty (then fitted on real only, synthetic (0, k)).
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    r = np.asarray(real_feats, dtype=np.float64)
    s = np.zeros((0, r.shape[1])) if synth_feats is None or len(synth_feats) == 0 else np.asarray(synth_feats, np.float64)
    both = np.concatenate([r, s])
    k = int(min(n_components, both.shape[0], both.shape[1]))
    if k < 1 or r.ndim != 2:
        raise MsknbError(f"cannot run PCA on features of shape {r.shape}", "real_feats")
    if standardize:
        both = StandardScaler().fit_transform(both)
    pca = PCA(n_components=k, svd_solver="full").fit(both)
    proj = pca.transform(both)
    if k < n_components:
        proj = np.pad(proj, ((0, 0), (0, n_components - k)))
    ratio = np.pad(pca.explained_variance_ratio_, (0, n_components - k))
    return proj[:len(r)], proj[len(r):], ratio


def pca_figure(real_feats: np.ndarray, synth_feats: np.ndarray | None, real_ids: Sequence[str],
               synth_ids: Sequence[str] | None = None, title: str = "PCA of bottleneck features",
               standardize: bool = True):
    """Plotly scatter of the first two principal components (:func:`pca_project`) of
    real (N, F) vs synthetic (M, F) features; hover shows each image's id."""
    import plotly.graph_objects as go

    pr, ps, ratio = pca_project(real_feats, synth_feats, 2, standardize)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=pr[:, 0], y=pr[:, 1], mode="markers", name=f"real (n={len(pr)})",
                             text=list(map(str, real_ids)), hovertemplate="%{text}<extra>real</extra>",
                             marker={"size": 7, "opacity": 0.7}))
    if len(ps):
        fig.add_trace(go.Scatter(x=ps[:, 0], y=ps[:, 1], mode="markers", name=f"synthetic (n={len(ps)})",
                                 text=list(map(str, synth_ids if synth_ids is not None else range(len(ps)))),
                                 hovertemplate="%{text}<extra>synthetic</extra>",
                                 marker={"size": 7, "opacity": 0.7, "symbol": "x"}))
    fig.update_layout(title=title, xaxis_title=f"PC1 ({100 * ratio[0]:.1f} % var.)",
                      yaxis_title=f"PC2 ({100 * ratio[1]:.1f} % var.)", width=640, height=460)
    return fig
