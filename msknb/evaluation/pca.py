"""PCA of (bottleneck) features of real and synthetic images (the paper's Figure 7)."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from msknb.errors import MsknbError


def pca_project(real_feats: np.ndarray, synth_feats: np.ndarray | None, n_components: int = 2,
                standardize: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA (sklearn) fitted on real and synthetic features together.

    ``standardize``: each feature scaled to zero mean, unit variance over the union first
    (the paper "normalised" the features before PCA); constant features stay 0.
    (N, F), (M, F) -> real (N, k), synthetic (M, k), explained variance ratio (k,).
    ``synth_feats`` may be None/empty (then fitted on real only, synthetic (0, k)).
    """
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


#: |offset| in real SDs below which the sets overlap on a PC, and from which they are offset
OVERLAP_SD = 0.5
OFFSET_SD = 1.0
#: synthetic SD / real SD below which the synthetic set is narrower than the real one on a PC
NARROW_RATIO = 0.7


def pca_offsets(real_proj: np.ndarray, synth_proj: np.ndarray) -> list[dict[str, float]]:
    """Per principal component: ``offset_sd`` = (synthetic mean - real mean) / real SD and
    ``spread_ratio`` = synthetic SD / real SD, from projections (N, k) and (M, k); [] when
    either set has fewer than 2 points."""
    r, s = np.asarray(real_proj, dtype=np.float64), np.asarray(synth_proj, dtype=np.float64)
    if r.ndim != 2 or s.ndim != 2 or len(r) < 2 or len(s) < 2:
        return []
    out = []
    for k in range(r.shape[1]):
        sd = r[:, k].std(ddof=1)
        if not sd > 0:
            continue
        out.append({"pc": k + 1, "offset_sd": float((s[:, k].mean() - r[:, k].mean()) / sd),
                    "spread_ratio": float(s[:, k].std(ddof=1) / sd)})
    return out


def _word(offset: float) -> str:
    a = abs(offset)
    return "overlap" if a < OVERLAP_SD else "partly shifted" if a < OFFSET_SD else "offset"


def read_pca(offsets: list[dict[str, float]], explained: Any = None) -> str:
    """One sentence from :func:`pca_offsets` (and the explained variance ratio per PC)."""
    if not offsets:
        return "PCA: no synthetic set (or fewer than 2 images on a side): nothing to compare."
    ev = list(explained) if explained is not None else []
    parts = []
    for o in offsets:
        share = f" ({100 * ev[o['pc'] - 1]:.0f} % of variance)" if len(ev) >= o["pc"] else ""
        parts.append(f"PC{o['pc']}{share} {o['offset_sd']:+.2f} SD, spread {o['spread_ratio']:.2f}x "
                     f"({_word(o['offset_sd'])})")
    worst = max(offsets, key=lambda o: abs(o["offset_sd"]))
    if abs(worst["offset_sd"]) >= OFFSET_SD:
        tail = f"the features tell synthetic from real along PC{worst['pc']}"
    elif abs(worst["offset_sd"]) >= OVERLAP_SD:
        tail = f"the sets overlap but are shifted along PC{worst['pc']}"
    else:
        tail = "the sets overlap on the first components"
    narrow = [f"PC{o['pc']}" for o in offsets if o["spread_ratio"] < NARROW_RATIO]
    if narrow:
        tail += f"; the synthetic set is narrower than the real one on {', '.join(narrow)} (less variety)"
    return ("Synthetic minus real mean, in real SDs: " + "; ".join(parts) + f": {tail}.")
