"""PCA of (bottleneck) features of real and synthetic images (the paper's Figure 7)."""
from __future__ import annotations

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
