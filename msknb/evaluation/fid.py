"""The standard FID: torchmetrics' ``FrechetInceptionDistance`` with the FID Inception.

The network is torch-fidelity's ``FeatureExtractorInceptionV3`` (the TF Inception of
2015-12-05 that the FID of Heusel et al. 2017 and most papers use; torchmetrics'
default), 2048-d pool features. Its weights file
``weights-inception-2015-12-05-6726825d.pth`` is fetched on first use, SHA-256-checked
and cached by :func:`msknb.evaluation.weights.fetch_weights`; offline that raises
:class:`~msknb.evaluation.weights.WeightsUnavailableError` naming the file, its URL and
the folder.

Inputs: grey images (N, H, W) in [0, 1] -> 8-bit, copied to 3 channels; the network
resizes to 299 x 299 itself (TF-compatible bilinear) and scales to [-1, 1], exactly as
for published FIDs. On a few hundred images FID is dominated by its sample-size bias,
so :func:`fid_with_baseline` reports it beside a real-vs-real FID at the same ``n``.

Tests (no weights, no network) pass a small random stand-in module
(:func:`random_stand_in`) through the same torchmetrics code path.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from tqdm.auto import tqdm

from msknb.errors import MsknbError
from msknb.evaluation.weights import FID_INCEPTION, fetch_weights
from msknb.io import to_uint8

#: torchmetrics' FID feature layer of the Inception (2048-d average pool)
FID_FEATURES = 2048


@dataclass
class Fid:
    """A loaded FID metric: ``metric`` (torchmetrics ``FrechetInceptionDistance``,
    real statistics kept across :meth:`~torchmetrics.Metric.reset`), ``standard``
    (True: the FID Inception, comparable to published FIDs), ``note`` (say it beside every
    number), ``weights`` (the weights file or None)."""
    metric: FrechetInceptionDistance
    standard: bool
    note: str
    weights: str | None


def load_standard_fid(folder: str | Path | None = None, **fetch_kwargs: Any) -> Fid:
    """The FID of the literature: torchmetrics ``FrechetInceptionDistance(feature=2048)``
    on the fetched, checksummed torch-fidelity Inception weights.

    ``folder``: the weights cache (default ``$TORCH_HOME/hub/checkpoints``);
    ``fetch_kwargs`` go to :func:`~msknb.evaluation.weights.fetch_weights` (``timeout_s``,
    ``opener``, ``progress``). Raises :class:`~msknb.evaluation.weights.WeightsError`
    when the file is unavailable or damaged, :class:`MsknbError` when it does not load.
    """
    path = fetch_weights(FID_INCEPTION, folder, **fetch_kwargs)
    try:  # torch-fidelity unpickles the file (weights_only=False); it was SHA-256-verified just above
        metric = FrechetInceptionDistance(feature=FID_FEATURES, reset_real_features=False, normalize=False,
                                          feature_extractor_weights_path=str(path))
    except (RuntimeError, OSError, EOFError, KeyError) as e:
        raise MsknbError(f"cannot load the FID Inception weights ({e})", path) from e
    note = f"FID, torchmetrics FrechetInceptionDistance (torch-fidelity TF Inception, {FID_INCEPTION.filename})"
    return Fid(metric=metric, standard=True, note=note, weights=str(path))


class _StandIn(nn.Module):
    """uint8 (B, 3, H, W) -> float (B, ``num_features``): a small random CNN."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, num_features, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.float() / 127.5 - 1.0)


def random_stand_in(num_features: int = 16, seed: int = 0) -> Fid:
    """The same torchmetrics FID with a small randomly initialised network instead of the
    Inception (tests, machines without the weights). Its values mean nothing beyond
    "same / different" and are **not FID**."""
    torch.manual_seed(seed)
    module = _StandIn(num_features).eval()
    metric = FrechetInceptionDistance(feature=module, reset_real_features=False, normalize=False)
    return Fid(metric=metric, standard=False, note="random stand-in network — not FID, not comparable to "
                                                   "published values", weights=None)


def to_fid_input(images: np.ndarray) -> torch.Tensor:
    """Grey images (N, H, W) in [0, 1] -> uint8 tensor (N, 3, H, W) (grey copied to RGB)."""
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise MsknbError(f"expected images of shape (N, H, W), got {arr.shape}", "images")
    return torch.from_numpy(to_uint8(arr)).unsqueeze(1).repeat(1, 3, 1, 1)


def _update(fid: Fid, images: np.ndarray, real: bool, batch_size: int, desc: str) -> None:
    with torch.inference_mode():
        for i in tqdm(range(0, len(images), batch_size), desc=desc, leave=False):
            fid.metric.update(to_fid_input(images[i:i + batch_size]), real=real)


def fid_between(fid: Fid, query: np.ndarray, reference: np.ndarray, batch_size: int = 16) -> float:
    """FID of ``query`` (N, H, W) against ``reference`` (M, H', W'), both in [0, 1], N, M >= 2."""
    if len(query) < 2 or len(reference) < 2:
        raise MsknbError(f"FID needs at least 2 images per set, got {len(query)} and {len(reference)}", "images")
    _reset_all(fid)
    _update(fid, reference, True, batch_size, "FID reference")
    _update(fid, query, False, batch_size, "FID query")
    return float(fid.metric.compute())


def _reset_all(fid: Fid) -> None:
    """Forget the real statistics too (``reset_real_features`` is False between queries)."""
    fid.metric.reset_real_features = True
    fid.metric.reset()
    fid.metric.reset_real_features = False


def fid_with_baseline(fid: Fid, real_a: np.ndarray, real_b: np.ndarray, synthetic: np.ndarray | None, seed: int = 0,
                      batch_size: int = 16) -> dict[str, Any]:
    """FID of synthetic vs real beside real vs real at the same ``n``.

    ``real_a`` (Na, H, W), ``real_b`` (Nb, H, W): two disjoint halves of the real test
    images (split by near-duplicate cluster); ``synthetic`` (Ns, H, W) or None. As in
    :func:`msknb.evaluation.features.distances_with_baseline` (same seeded draws), n =
    min(Na, Ns) images are drawn from ``real_a`` and from ``synthetic``, and both are
    compared with the *same* reference ``real_b`` (its statistics computed once).
    Returns {"n", "n_reference", "synthetic_vs_real": {"frechet"} | None,
    "real_vs_real": {"frechet"}, "note", "standard", "weights"}.
    """
    if len(real_a) < 2 or len(real_b) < 2 or (synthetic is not None and 0 < len(synthetic) < 2):
        raise MsknbError("FID needs at least 2 images in each set", "images")
    sy = None if synthetic is None or len(synthetic) == 0 else synthetic
    rng = np.random.default_rng(seed)
    n = len(real_a) if sy is None else min(len(real_a), len(sy))
    queries = {"real_vs_real": real_a[np.sort(rng.choice(len(real_a), n, replace=False))]}
    if sy is not None:
        queries = {"synthetic_vs_real": sy[np.sort(rng.choice(len(sy), n, replace=False))], **queries}
    _reset_all(fid)
    _update(fid, real_b, True, batch_size, "FID reference (real B)")
    out: dict[str, Any] = {"n": n, "n_reference": len(real_b), "synthetic_vs_real": None}
    for key, images in queries.items():
        fid.metric.reset()  # keeps the reference statistics
        _update(fid, images, False, batch_size, f"FID {key}")
        out[key] = {"frechet": float(fid.metric.compute())}
    return {**out, "note": fid.note, "standard": fid.standard, "weights": fid.weights}
