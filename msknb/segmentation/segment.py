"""Aponeurosis segmentation with an Attention-UNet (paper section "Aponeurosis
segmentation"; Oktay et al. 2018 attention gates, MONAI's ``AttentionUnet``).

One output channel: superficial and deep aponeuroses are one foreground class, as in
the masks. Images go into the network in [-1, 1] (``x = 2 * image - 1``); masks are
{0, 1}. All shapes are (N, H, W) arrays of pixels at the training resolution unless
stated otherwise.

Loss: the *generalised* (weighted) Dice loss of Sudre et al. 2017, MONAI
``GeneralizedDiceLoss(w_type="square")``, on the two classes background / aponeurosis
(probabilities ``1 - sigmoid(logit)`` and ``sigmoid(logit)``): each class is weighted
by 1 / (its pixel count in the batch)^2, so the thin aponeuroses (~4 % of the pixels)
weigh as much as the background (``config["loss"] = "generalized_dice"``, the paper
profile). ``"generalized_dice_bce"`` adds binary cross-entropy (weight 1) to it: on
short CPU budgets (smoke/quick profiles) it converges several times faster (measured:
test Dice 0.76 vs 0.69 after 10 epochs at 64 px, lr 3e-3, no augmentation). ``"dice"`` / ``"dice_bce"`` are plain
soft Dice on the foreground (MONAI ``DiceLoss`` / ``DiceCELoss``, sigmoid).
Optimiser Adam, step-wise learning-rate decay (``StepLR``: ×``lr_gamma`` every
``lr_step`` epochs), batch 8, model selection on the validation Dice (the best epoch's
weights are kept). Augmentation: :mod:`msknb.segmentation.augment`.

Experiment grid (paper Tables 4 and 6): Real / Gen / Real+Gen and fractions of the
real training split with and without the synthetic set, all evaluated on the same
real test split.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from msknb.errors import CheckpointError, ConfigError, DataError, MsknbError, TrainingError
from msknb.io import ensure_dir, save_with, write_json_atomic
from msknb.paper import PAPER_EXPERIMENTS, PAPER_SOURCE, PAPER_TABLE4, PAPER_TABLE6  # noqa: F401 (re-exported)

#: training settings used when a key is missing from ``config`` (profile "segment" topic)
DEFAULT_CONFIG: dict[str, Any] = {
    "image_size": 128, "channels": (16, 32, 64, 128), "strides": None, "epochs": 10,
    "batch_size": 8, "lr": 1e-3, "lr_step": None, "lr_gamma": 0.5, "loss": "generalized_dice",
    "augment": True, "augment_params": None, "min_samples_per_epoch": None, "threshold": 0.5,
    "fractions": (0.4, 0.2, 0.4), "crop_fov": True, "max_seconds": None,
}
METRICS = ("precision", "recall", "dice", "iou")
CHECKPOINT_FORMAT = "msknb-segmenter-v1"


def full_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """``DEFAULT_CONFIG`` updated by ``config`` (e.g. ``profiles.settings("segment", p)``)."""
    cfg = dict(DEFAULT_CONFIG)
    cfg.update({k: v for k, v in (config or {}).items() if v is not None or k not in cfg})
    cfg["channels"] = tuple(int(c) for c in cfg["channels"])
    if len(cfg["channels"]) < 2:
        raise ConfigError("channels needs at least 2 levels", "channels")
    if cfg["strides"] is None:
        cfg["strides"] = (2,) * (len(cfg["channels"]) - 1)
    cfg["strides"] = tuple(int(s) for s in cfg["strides"])
    if len(cfg["strides"]) != len(cfg["channels"]) - 1:
        raise ConfigError(f"strides needs {len(cfg['channels']) - 1} entries (one per down-sampling)", "strides")
    for key in ("epochs", "batch_size"):
        if int(cfg[key]) < 1:
            raise ConfigError(f"{key} must be >= 1, got {cfg[key]}", key)
    if cfg["lr_step"] is None:
        cfg["lr_step"] = max(1, int(math.ceil(int(cfg["epochs"]) / 3)))
    if cfg["loss"] not in ("generalized_dice", "generalized_dice_bce", "dice", "dice_bce"):
        raise ConfigError(f"unknown loss {cfg['loss']!r}; use 'generalized_dice' or 'dice'", "loss")
    return cfg


# ----------------------------------------------------------------------------- model
def build_segmenter(channels: Sequence[int] = (16, 32, 64, 128), strides: Sequence[int] | None = None,
                    dropout: float = 0.0) -> torch.nn.Module:
    """MONAI ``AttentionUnet`` (2-D, 1 input channel, 1 output logit channel).

    ``channels``: features per level, e.g. (16, 32, 64, 128); ``strides``: down-sampling
    per level (default 2 each). Input (B, 1, H, W) with H, W divisible by prod(strides).
    """
    from monai.networks.nets import AttentionUnet

    channels = tuple(int(c) for c in channels)
    strides = tuple(int(s) for s in (strides or (2,) * (len(channels) - 1)))
    return AttentionUnet(spatial_dims=2, in_channels=1, out_channels=1, channels=channels,
                         strides=strides, dropout=dropout)


def _deepest_block(model: torch.nn.Module) -> torch.nn.Module:
    """The bottleneck ``ConvBlock`` of a MONAI AttentionUnet (innermost ``submodule``)."""
    from monai.networks.nets.attentionunet import AttentionLayer

    node = model.model[1] if hasattr(model, "model") else None
    if not isinstance(node, AttentionLayer):
        raise ConfigError("bottleneck_features needs a MONAI AttentionUnet", "model")
    while True:
        sub = node.submodule
        if isinstance(sub, torch.nn.Sequential) and len(sub) > 1 and isinstance(sub[1], AttentionLayer):
            node = sub[1]
        else:
            return sub


def _to_model_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W) or (N, 1, H, W) in [0, 1] → float tensor (N, 1, H, W) in [-1, 1]."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise DataError(f"images must be (N, H, W) or (N, 1, H, W), got {tuple(x.shape)}", "images")
    return 2.0 * x - 1.0


@torch.no_grad()
def bottleneck_features(model: torch.nn.Module, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Global-average-pooled bottleneck features of a trained Attention-UNet.

    ``images`` (N, H, W) or (N, 1, H, W) in [0, 1]. Returns float32 (N, F) with F the
    deepest channel count (for the evaluation notebook's PCA / FID). A forward hook on
    the bottleneck block captures its output; the rest of the forward pass runs as usual.
    """
    block = _deepest_block(model)
    captured: list[torch.Tensor] = []
    handle = block.register_forward_hook(lambda _m, _i, out: captured.append(out.mean(dim=(2, 3))))
    was_training = model.training
    model.eval()
    try:
        x = _to_model_input(images)
        for s in range(0, len(x), batch_size):
            model(x[s:s + batch_size])
    finally:
        handle.remove()
        model.train(was_training)
    if not captured:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(captured).cpu().numpy().astype(np.float32)


def make_loss(kind: str = "generalized_dice"):
    """Loss on logits (B, 1, H, W) and masks (B, 1, H, W); see the module docstring."""
    from monai.losses import DiceLoss, GeneralizedDiceLoss

    if kind == "dice":
        return DiceLoss(sigmoid=True, batch=True)
    if kind == "dice_bce":
        from monai.losses import DiceCELoss
        return DiceCELoss(sigmoid=True, batch=True)
    gdl = GeneralizedDiceLoss(include_background=True, softmax=False, w_type="square", batch=True)

    bce_weight = 1.0 if kind == "generalized_dice_bce" else 0.0

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        probs = torch.cat([1 - p, p], dim=1)
        t = target.float()
        value = gdl(probs, torch.cat([1 - t, t], dim=1))
        if bce_weight:
            value = value + bce_weight * torch.nn.functional.binary_cross_entropy_with_logits(logits, t)
        return value

    return loss


# --------------------------------------------------------------------------- metrics
def segmentation_metrics(pred: np.ndarray, true: np.ndarray) -> list[dict[str, float]]:
    """Per-image precision, recall, Dice and IoU of binary masks ``pred`` / ``true``
    (N, H, W) or (H, W); nonzero = aponeurosis.

    Empty handling: when both masks are empty every metric is 1 (perfect agreement);
    when only one is empty, Dice = IoU = 0, precision is 1 if nothing was predicted
    (no false positives) else 0, and recall is 1 if there was nothing to find else 0.
    """
    p = np.asarray(pred) > 0
    t = np.asarray(true) > 0
    if p.shape != t.shape:
        raise DataError(f"predicted masks {p.shape} and true masks {t.shape} differ in shape", "masks")
    if p.ndim == 2:
        p, t = p[None], t[None]
    out = []
    for pi, ti in zip(p, t):
        tp = float(np.logical_and(pi, ti).sum())
        fp = float(np.logical_and(pi, ~ti).sum())
        fn = float(np.logical_and(~pi, ti).sum())
        npred, ntrue = tp + fp, tp + fn
        out.append({
            "precision": tp / npred if npred else 1.0,
            "recall": tp / ntrue if ntrue else 1.0,
            "dice": 2 * tp / (npred + ntrue) if (npred + ntrue) else 1.0,
            "iou": tp / (tp + fp + fn) if (tp + fp + fn) else 1.0,
        })
    return out


def summarise(per_image: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """``{metric: {"mean", "std"}}`` over images (population std; NaN when empty)."""
    out = {}
    for m in METRICS:
        v = np.array([d[m] for d in per_image], dtype=np.float64)
        out[m] = {"mean": float(v.mean()) if v.size else float("nan"),
                  "std": float(v.std()) if v.size else float("nan")}
    return out


# ------------------------------------------------------------------------- inference
@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray, threshold: float = 0.5,
            batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities float32 (N, H, W) in [0, 1] and binary masks uint8 (N, H, W) in
    {0, 1} (probability > ``threshold``) for ``images`` (N, H, W) in [0, 1]."""
    was_training = model.training
    model.eval()
    try:
        x = _to_model_input(images)
        probs = [torch.sigmoid(model(x[s:s + batch_size]))[:, 0] for s in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    pr = torch.cat(probs).numpy().astype(np.float32) if probs else np.zeros((0,) + tuple(x.shape[2:]), np.float32)
    return pr, (pr > threshold).astype(np.uint8)


def _mean_dice(model, images, masks, threshold, batch_size=16) -> float:
    _, pred = predict(model, images, threshold, batch_size)
    return float(np.mean([d["dice"] for d in segmentation_metrics(pred, masks)]))


# -------------------------------------------------------------------------- training
@dataclasses.dataclass
class SegTrainResult:
    """Outcome of :func:`train_segmenter`: the model holds the best epoch's weights."""
    model: torch.nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    best_val_dice: float
    seconds: float
    config: dict[str, Any] = dataclasses.field(default_factory=dict)


def _check_pairs(images, masks, what: str) -> tuple[np.ndarray, np.ndarray]:
    im = np.asarray(images, dtype=np.float32)
    if masks is None:
        raise DataError(f"{what} images have no masks", what)
    mk = (np.asarray(masks) > 0).astype(np.float32)
    if im.ndim != 3 or im.shape != mk.shape:
        raise DataError(f"{what} images {im.shape} and masks {mk.shape} must both be (N, H, W)", what)
    return im, mk


def _json_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Config with tuples → lists, only plain types (safe for weights-only loading)."""
    def conv(v):
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        if isinstance(v, (np.integer, np.floating)):
            return v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        return str(v)
    return conv(cfg)


def save_segmenter(model: torch.nn.Module, config: dict[str, Any], path: str | Path,
                   meta: dict[str, Any] | None = None) -> Path:
    """Write ``{"format", "state_dict", "config", "meta"}`` atomically to ``path``
    (plain types and tensors only: loads with ``torch.load(weights_only=True)``)."""
    payload = {"format": CHECKPOINT_FORMAT,
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
               "config": _json_config(config), "meta": _json_config(meta or {})}
    return save_with(path, lambda tmp: torch.save(payload, tmp))


def load_segmenter(path: str | Path) -> torch.nn.Module:
    """Load a checkpoint written by :func:`save_segmenter` (weights-only unpickling).

    Returns the model in eval mode with its training config as ``model.msknb_config``
    and the saved ``meta`` as ``model.msknb_meta``. Raises :class:`CheckpointError` for
    a missing/unreadable/garbage file or weights of a different architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("segmentation checkpoint not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CheckpointError(f"not a readable checkpoint ({type(e).__name__})", path) from e
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"not an msknb segmentation checkpoint (expected format {CHECKPOINT_FORMAT})", path)
    try:
        cfg = full_config(payload["config"])
        model = build_segmenter(cfg["channels"], cfg["strides"])
        model.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, ConfigError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"weights do not fit the Attention-UNet of its config ({first[:200]})", path) from e
    model.eval()
    model.msknb_config = cfg
    model.msknb_meta = payload.get("meta", {})
    return model


def train_segmenter(train_images: np.ndarray, train_masks: np.ndarray, val_images: np.ndarray | None,
                    val_masks: np.ndarray | None, config: dict[str, Any] | None = None,
                    out_path: str | Path | None = None, seed: int = 0, progress: bool = True,
                    desc: str = "segmenter") -> SegTrainResult:
    """Train an Attention-UNet on ``train_images`` (N, H, W) in [0, 1] and ``train_masks``
    (N, H, W) {0, 1}; keep the weights of the epoch with the best mean validation Dice
    (last epoch when there is no validation set).

    ``config`` keys (see ``DEFAULT_CONFIG``): channels, strides, epochs, batch_size, lr,
    lr_step, lr_gamma, loss, augment, augment_params, min_samples_per_epoch (None = one
    pass over the training set per epoch, as in the paper; an int K = each epoch draws
    max(N, K) samples, reshuffling after each pass, so that with few epochs a small
    training set still gets enough updates), threshold.
    Deterministic on CPU for a given ``seed``. Writes a checkpoint to ``out_path`` if given.
    """
    from tqdm.auto import tqdm

    from msknb.segmentation.augment import augment_batch

    cfg = full_config(config)
    xi, xm = _check_pairs(train_images, train_masks, "train")
    if len(xi) == 0:
        raise DataError("the training set is empty", "train")
    has_val = val_images is not None and len(val_images) > 0
    if has_val:
        vi, vm = _check_pairs(val_images, val_masks, "val")
    div = int(np.prod(cfg["strides"]))
    if xi.shape[1] % div or xi.shape[2] % div:
        raise ConfigError(f"image size {xi.shape[1:]} must be divisible by {div} (product of strides)", "image_size")

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_segmenter(cfg["channels"], cfg["strides"])
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=int(cfg["lr_step"]), gamma=float(cfg["lr_gamma"]))
    loss_fn = make_loss(cfg["loss"])
    x_all = torch.from_numpy(xi)[:, None]
    m_all = torch.from_numpy(xm)[:, None]
    n, bs = len(x_all), int(cfg["batch_size"])
    per_epoch = max(n, int(cfg["min_samples_per_epoch"] or 0))

    history: list[dict[str, float]] = []
    best = (-1.0, 0, None)
    t0 = time.perf_counter()
    bar = tqdm(range(1, int(cfg["epochs"]) + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.cat([torch.randperm(n, generator=gen) for _ in range(-(-per_epoch // n))])[:per_epoch]
        losses = []
        for s in range(0, per_epoch, bs):
            idx = order[s:s + bs]
            xb, mb = x_all[idx], m_all[idx]
            if cfg["augment"]:
                xb, mb = augment_batch(xb, mb, gen, cfg["augment_params"])
            logits = model(2.0 * xb - 1.0)
            loss = loss_fn(logits, mb)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss became {loss.item()} at epoch {epoch}; lower lr", "lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
        lr = opt.param_groups[0]["lr"]
        sched.step()
        val = _mean_dice(model, vi, vm, cfg["threshold"]) if has_val else float("nan")
        score = val if has_val else float(epoch)
        if score > best[0]:
            best = (score, epoch, copy.deepcopy(model.state_dict()))
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_dice": val, "lr": lr,
                        "seconds": time.perf_counter() - t0})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", val_dice=f"{val:.3f}")
        if cfg.get("max_seconds") and time.perf_counter() - t0 > float(cfg["max_seconds"]):
            break  # time budget spent: keep the best epoch so far
    model.load_state_dict(best[2])
    model.eval()
    seconds = time.perf_counter() - t0
    best_val = best[0] if has_val else float("nan")
    result = SegTrainResult(model, history, best[1], best_val, seconds, cfg)
    if out_path is not None:
        save_segmenter(model, cfg, out_path, meta={"best_epoch": best[1], "best_val_dice": best_val,
                                                   "seconds": seconds, "seed": seed, "n_train": n,
                                                   "history": history})
    return result


# ----------------------------------------------------------------- splits and grid
def parse_experiment(name: str) -> dict[str, Any]:
    """``"Real"`` → real train split; ``"Gen"`` → synthetic only; ``"Real+Gen"``;
    ``"30%"`` → 30 % of the real train split (whole subjects/clusters); ``"30%+Gen"``.
    Returns ``{"name", "fraction" (0..1, 0 for Gen), "gen" (bool)}``."""
    text = str(name).strip()
    base, plus, rest = text.partition("+")
    gen = bool(plus)
    if gen and rest.strip().lower() != "gen":
        raise ConfigError(f"unknown experiment {name!r}; use Real, Gen, Real+Gen, N% or N%+Gen", "experiments")
    base = base.strip()
    if base.lower() == "gen" and not gen:
        return {"name": text, "fraction": 0.0, "gen": True}
    if base.lower() == "real":
        return {"name": text, "fraction": 1.0, "gen": gen}
    if base.endswith("%"):
        try:
            pct = float(base[:-1])
        except ValueError:
            pct = -1.0
        if 0 < pct <= 100:
            return {"name": text, "fraction": pct / 100.0, "gen": gen}
    raise ConfigError(f"unknown experiment {name!r}; use Real, Gen, Real+Gen, N% or N%+Gen (0 < N <= 100)",
                      "experiments")


def experiment_list(value: str | Iterable[str] | None, default: Iterable[str] = PAPER_EXPERIMENTS) -> list[str]:
    """Experiment names from a list, a comma-separated string (``"Real,10%,10%+Gen"``) or a
    JSON list string (as ``papermill -p experiments '["Real", "Gen"]'`` passes it);
    ``None`` → ``default``. Each name is checked with :func:`parse_experiment`."""
    import json

    if value is None:
        names = list(default)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                names = [str(v) for v in json.loads(text)]
            except ValueError as e:
                raise ConfigError(f"experiments is not a JSON list: {text!r}", "experiments") from e
        else:
            names = [v.strip() for v in text.split(",") if v.strip()]
    else:
        names = [str(v) for v in value]
    for n in names:
        parse_experiment(n)
    if not names:
        raise ConfigError("no experiments given", "experiments")
    return names


def experiment_dir_name(name: str) -> str:
    """Folder name of an experiment: ``"50%+Gen"`` → ``"50pct+Gen"``."""
    return str(name).strip().replace("%", "pct").replace("/", "_").replace(" ", "")


def fraction_subset(train_idx: np.ndarray, subjects: Sequence[str], fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of about ``fraction`` of ``train_idx``, taking whole subjects (or
    near-duplicate clusters) in a seeded random order until the count reaches
    round(fraction * N) (at least one subject). Nested: for one seed, the 10 % subset is
    inside the 30 % one, which is inside the 50 % one. Sorted int64."""
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if fraction >= 1.0 or len(train_idx) == 0:
        return np.sort(train_idx)
    subj = np.asarray([str(subjects[i]) for i in train_idx], dtype=object)
    uniq = sorted(set(subj.tolist()))
    order = np.random.default_rng(seed).permutation(len(uniq))
    target = max(1, int(round(fraction * len(train_idx))))
    picked: list[int] = []
    for k in order:
        picked.extend(train_idx[subj == uniq[k]].tolist())
        if len(picked) >= target:
            break
    return np.array(sorted(picked), dtype=np.int64)


def make_split(ds, fractions=(0.4, 0.2, 0.4), seed: int = 0) -> dict[str, Any]:
    """Train/val/test split of ``ds`` by subject (near-duplicate cluster when subjects
    are unknown), stratified by ``ds.groups``, with leak statistics.

    Returns ``{"train","val","test"}`` index arrays plus ``"near_copies_test_in_train"``
    and ``"near_copies_val_in_train"`` (images with a near copy, Pearson r > 0.95 at
    64 px, on the other side: 0 means no leak), ``"sizes"`` and ``"clusters"`` (cluster
    statistics of ``ds.subjects``)."""
    from msknb.data import splits

    sp = splits.split_dataset(ds, fractions, seed=seed)
    _, labels = np.unique(np.asarray(ds.subjects, dtype=object).astype(str), return_inverse=True)
    out: dict[str, Any] = {k: sp[k] for k in splits.SPLIT_NAMES}
    out["near_copies_test_in_train"] = splits.cross_split_near_copies(ds.images, sp, a="test", b="train")
    out["near_copies_val_in_train"] = splits.cross_split_near_copies(ds.images, sp, a="val", b="train")
    out["sizes"] = {k: int(len(sp[k])) for k in splits.SPLIT_NAMES}
    out["clusters"] = splits.cluster_stats(labels)
    return out


def _resize_set(images: np.ndarray, masks: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    from msknb.data.loading import resize_image, resize_mask

    if images.shape[1:] == (size, size):
        return images, masks
    im = np.stack([resize_image(x, size) for x in images]) if len(images) else np.zeros((0, size, size), np.float32)
    mk = None if masks is None else (np.stack([resize_mask(m, size) for m in masks]) if len(masks)
                                     else np.zeros((0, size, size), np.uint8))
    return im, mk


def load_synthetic(out_dir: str | Path, image_size: int | None = None):
    """The synthetic set written by notebook 04 in ``<out_dir>/synthetic`` (DL_Track
    layout) as an ``UltrasoundSet``, or ``None`` when there is none. Synthetic images
    are not cropped (they are already field-of-view images)."""
    from msknb.data.loading import load_folder

    root = Path(out_dir) / "synthetic"
    if not (root / "images").is_dir() or not any((root / "images").iterdir()):
        return None
    return load_folder(root, image_size=image_size, crop_fov=False, allow_missing_masks=False)


def _write_mask_png(path: Path, mask: np.ndarray) -> Path:
    from PIL import Image

    arr = (np.asarray(mask) > 0).astype(np.uint8) * 255
    return save_with(path, lambda tmp: Image.fromarray(arr, mode="L").save(tmp, format="PNG"))


def load_predictions(out_dir: str | Path, experiment: str, ids: Sequence[str]) -> np.ndarray:
    """Predicted test masks uint8 (N, H, W) {0, 1} of ``experiment`` written by
    :func:`run_experiment_grid`, in the order of ``ids``."""
    from msknb.data.loading import load_mask

    folder = Path(out_dir) / "segmentation" / experiment_dir_name(experiment) / "pred_masks"
    return np.stack([load_mask(folder / f"{i}.png") for i in ids])


def run_experiment_grid(real_ds, synthetic_ds=None, experiments: Iterable[str] = PAPER_EXPERIMENTS,
                        config: dict[str, Any] | None = None, out_dir: str | Path | None = None,
                        seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Train one Attention-UNet per experiment and evaluate all on the same real test split.

    ``real_ds``: ``UltrasoundSet`` with masks; ``synthetic_ds``: synthetic set or None.
    Val/test are fixed (40/20/40 split by subject / near-duplicate cluster, seeded);
    "Gen" trains on the synthetic set only, "x%" on that fraction of the real train split
    (whole subjects), "+Gen" adds the synthetic set. Synthetic masks: the set's own
    masks (joint image+mask generation) when it has them, else pseudo-labels predicted by
    the "Real" model (trained first, even when not listed). Without a synthetic set the
    Gen experiments are skipped (listed in ``"skipped"``).

    Writes ``<out_dir>/segmentation/split.json``, ``<exp>/model.pt`` and
    ``<exp>/pred_masks/<id>.png`` (binary 0/255, test split, training resolution);
    ``<exp>`` is :func:`experiment_dir_name` (``%`` → ``pct``). Returns the JSON-friendly
    results dict described in the module docs (``experiments``, ``near_copies_test_in_train``,
    ``synthetic_mask_source``, ``split``, ``skipped``, ``notes``).
    """
    cfg = full_config(config)
    if real_ds.masks is None:
        raise DataError("the real data set has no masks; segmentation needs expert masks", real_ds.root)
    specs = [parse_experiment(e) for e in experiments]
    if not specs:
        raise ConfigError("no experiments given", "experiments")
    size = int(cfg["image_size"])
    images, masks = _resize_set(real_ds.images, real_ds.masks, size)
    cfg["image_size"] = size
    base = Path(out_dir) / "segmentation" if out_dir is not None else None
    notes: list[str] = []

    split = make_split(real_ds, cfg["fractions"], seed=seed)
    tr, va, te = split["train"], split["val"], split["test"]
    if len(te) == 0 or len(tr) == 0:
        raise DataError(f"too few images ({len(real_ds)}) for a train/val/test split", real_ds.root)
    subsets = {s["name"]: fraction_subset(tr, real_ds.subjects, s["fraction"], seed) for s in specs if s["fraction"] > 0}

    syn_x = syn_m = None
    source = None
    skipped: dict[str, str] = {}
    if synthetic_ds is not None and len(synthetic_ds) > 0:
        syn_x, syn_m = _resize_set(synthetic_ds.images, synthetic_ds.masks, size)
        source = "joint generation" if syn_m is not None else "pseudo-labels from Real model"
    else:
        for s in specs:
            if s["gen"]:
                skipped[s["name"]] = "no synthetic set (run notebook 04 first)"
        if skipped:
            notes.append(f"no synthetic set: skipped {', '.join(skipped)}")
    run_specs = [s for s in specs if s["name"] not in skipped]
    if source == "pseudo-labels from Real model" and any(s["gen"] for s in run_specs):
        real_first = [s for s in run_specs if s["name"] == "Real"] or [parse_experiment("Real")]
        run_specs = real_first + [s for s in run_specs if s["name"] != "Real"]
        if not any(s["name"] == "Real" for s in specs):
            notes.append("'Real' trained as well: its predictions are the synthetic images' pseudo-labels")

    if base is not None:
        ensure_dir(base)
        id_list = lambda idx: [real_ds.ids[i] for i in idx]  # noqa: E731
        write_json_atomic(base / "split.json", {
            "seed": seed, "fractions": list(cfg["fractions"]), "train": id_list(tr), "val": id_list(va),
            "test": id_list(te), "subsets": {k: id_list(v) for k, v in subsets.items()},
            "near_copies_test_in_train": split["near_copies_test_in_train"],
            "near_copies_val_in_train": split["near_copies_val_in_train"], "clusters": split["clusters"]})

    results: dict[str, Any] = {}
    for spec in run_specs:
        name = spec["name"]
        parts_x, parts_m = [], []
        n_real = n_gen = 0
        if spec["fraction"] > 0:
            idx = subsets.get(name)
            if idx is None:  # "Real" added for pseudo-labels
                idx = fraction_subset(tr, real_ds.subjects, spec["fraction"], seed)
            parts_x.append(images[idx]); parts_m.append(masks[idx]); n_real = len(idx)
        if spec["gen"]:
            parts_x.append(syn_x); parts_m.append(syn_m); n_gen = len(syn_x)
        exp_dir = None if base is None else base / experiment_dir_name(name)
        res = train_segmenter(np.concatenate(parts_x), np.concatenate(parts_m), images[va], masks[va], cfg,
                              out_path=None if exp_dir is None else exp_dir / "model.pt", seed=seed,
                              progress=progress, desc=name)
        _, pred = predict(res.model, images[te], cfg["threshold"])
        per = segmentation_metrics(pred, masks[te])
        if exp_dir is not None:
            for k, i in enumerate(te):
                _write_mask_png(exp_dir / "pred_masks" / f"{real_ds.ids[i]}.png", pred[k])
        row: dict[str, Any] = summarise(per)
        row.update({"n_train_real": n_real, "n_train_gen": n_gen, "n_test": int(len(te)),
                    "best_epoch": res.best_epoch, "best_val_dice": res.best_val_dice,
                    "seconds": round(res.seconds, 2), "dir": experiment_dir_name(name),
                    "test_dice_per_image": [round(d["dice"], 4) for d in per],
                    "history": res.history})
        results[name] = row
        if name == "Real" and source == "pseudo-labels from Real model":
            _, syn_m = predict(res.model, syn_x, cfg["threshold"])
    return {"experiments": results, "near_copies_test_in_train": int(split["near_copies_test_in_train"]),
            "near_copies_val_in_train": int(split["near_copies_val_in_train"]),
            "synthetic_mask_source": source, "n_synthetic": 0 if syn_x is None else int(len(syn_x)),
            "split": {**split["sizes"], "seed": seed, "by": "subject / near-duplicate cluster",
                      "clusters": split["clusters"],
                      "subsets": {k: int(len(v)) for k, v in subsets.items()}},
            "test_ids": [real_ds.ids[i] for i in te], "skipped": skipped, "notes": notes,
            "config": _json_config(cfg)}


# ------------------------------------------------------------------------------ CLI
def _collect_inputs(items: Sequence[str]) -> list[Path]:
    from msknb.data.loading import ALL_EXTS

    files: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in ALL_EXTS
                           and not q.name.startswith("."))
            if not found:
                raise DataError("no image files in this folder", p)
            files.extend(found)
        else:
            files.append(p)
    return files


def predict_file(model: torch.nn.Module, path: str | Path, threshold: float | None = None) -> np.ndarray:
    """Binary mask uint8 (H, W) {0, 1} at the original size of the image file ``path``.

    The image is cropped to its field of view (when the model was trained on cropped
    images), resized to the model's training size, segmented, and the probability map
    is resized back (bilinear) into the crop box before thresholding."""
    from msknb.data import loading as data

    cfg = getattr(model, "msknb_config", DEFAULT_CONFIG)
    thr = float(cfg.get("threshold", 0.5) if threshold is None else threshold)
    size = int(cfg.get("image_size", 128))
    img = data.load_image(path)
    y0, y1, x0, x1 = data.crop_fov(img) if cfg.get("crop_fov", True) else (0, img.shape[0], 0, img.shape[1])
    crop = img[y0:y1, x0:x1]
    prob, _ = predict(model, data.resize_image(crop, size)[None], thr)
    t = torch.from_numpy(prob)[None]
    back = torch.nn.functional.interpolate(t, size=crop.shape, mode="bilinear", align_corners=False)[0, 0].numpy()
    out = np.zeros(img.shape, dtype=np.uint8)
    out[y0:y1, x0:x1] = back > thr
    return out


def _cmd_predict(args) -> int:
    import sys

    model = load_segmenter(args.model)
    files = _collect_inputs(args.images)
    out = ensure_dir(args.out)
    failed: list[str] = []
    written = 0
    for f in files:
        try:
            if not f.is_file():
                raise DataError("image file not found", f)
            mask = predict_file(model, f, args.threshold)
            _write_mask_png(out / f"{f.stem}.png", mask)
            written += 1
        except MsknbError as e:
            failed.append(str(e))
            print(f"msknb segment predict: error: {e}", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 - an unreadable image must not stop the others
            msg = f"{f}: cannot segment ({type(e).__name__}: {e})"
            failed.append(msg)
            print(f"msknb segment predict: error: {msg}", file=sys.stderr)
    print(f"wrote {written} mask(s) to {out}")
    if failed:
        raise DataError(f"{len(failed)} of {len(files)} image(s) failed: " + "; ".join(failed), args.out)
    return 0


def _cmd_train(args) -> int:
    from msknb.data import loading as data
    from msknb.profiles import settings

    cfg = settings("segment", args.profile, epochs=args.epochs, image_size=args.image_size)
    ds = data.load_folder(args.data, image_size=int(cfg["image_size"]), crop_fov=not args.no_crop,
                          max_images=cfg.get("max_images"), seed=args.seed)
    if ds.masks is None:
        raise DataError("the data folder has no masks/ (training needs expert masks)", args.data)
    cfg["crop_fov"] = not args.no_crop
    split = make_split(ds, cfg.get("fractions", (0.4, 0.2, 0.4)), seed=args.seed)
    tr, va, te = split["train"], split["val"], split["test"]
    res = train_segmenter(ds.images[tr], ds.masks[tr], ds.images[va], ds.masks[va], cfg, out_path=args.out,
                          seed=args.seed, progress=True)
    _, pred = predict(res.model, ds.images[te], cfg.get("threshold", 0.5))
    s = summarise(segmentation_metrics(pred, ds.masks[te]))
    print(f"train/val/test {len(tr)}/{len(va)}/{len(te)} (near copies test-in-train: "
          f"{split['near_copies_test_in_train']}); best epoch {res.best_epoch}, val Dice {res.best_val_dice:.3f}; "
          f"test Dice {s['dice']['mean']:.3f} ± {s['dice']['std']:.3f}, IoU {s['iou']['mean']:.3f}; "
          f"{res.seconds:.0f} s; saved {args.out}")
    return 0


def register_cli(subparsers) -> None:
    """``msknb segment train ...`` and ``msknb segment predict ...``."""
    p = subparsers.add_parser("segment", help="aponeurosis segmentation (Attention-UNet)",
                              description="Train an Attention-UNet aponeurosis segmenter or apply one.")
    sub = p.add_subparsers(dest="segment_command", metavar="ACTION")
    t = sub.add_parser("train", help="train on a data folder (40/20/40 split by subject/cluster)")
    t.add_argument("--data", required=True, help="data folder (DL_Track layout: images/, masks/)")
    t.add_argument("--profile", default="quick", help="smoke | quick | paper (default quick)")
    t.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--image-size", type=int, default=None, dest="image_size", help="px (square)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-crop", action="store_true", help="do not crop screen captures to the field of view")
    t.set_defaults(func=_cmd_train)
    q = sub.add_parser("predict", help="write binary masks (0/255 PNG, original size) for images")
    q.add_argument("--model", required=True, help="checkpoint written by 'segment train' or notebook 05")
    q.add_argument("images", nargs="+", help="image files and/or folders of images")
    q.add_argument("--out", required=True, help="output folder for <image name>.png masks")
    q.add_argument("--threshold", type=float, default=None, help="probability threshold (default: the model's)")
    q.set_defaults(func=_cmd_predict)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])


# ---------------------------------------------------------------- notebook displays
def _pm(stat: dict[str, float] | None) -> str:
    if not stat or not np.isfinite(stat.get("mean", np.nan)):
        return "–"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def table4_markdown(results: dict[str, Any]) -> str:
    """Markdown table: our Real / Gen / Real+Gen precision, recall, Dice, IoU (mean ± std
    over test images) next to the paper's Table 4 (``PAPER_TABLE4``)."""
    rows = ["| experiment | precision | recall | Dice | IoU | paper P / R / DSC / IoU |",
            "|---|---|---|---|---|---|"]
    exps = results.get("experiments", {})
    for name in ("Real", "Gen", "Real+Gen"):
        r = exps.get(name)
        paper = PAPER_TABLE4[name]
        ref = " / ".join(f"{paper[m]:.2f}" for m in METRICS)
        if r is None:
            why = "skipped" if name in results.get("skipped", {}) else "not run"
            rows.append(f"| {name} | {why} | – | – | – | {ref} |")
            continue
        rows.append(f"| {name} | " + " | ".join(_pm(r[m]) for m in METRICS) + f" | {ref} |")
    return "\n".join(rows)


def table6_markdown(results: dict[str, Any]) -> str:
    """Markdown table: Dice and IoU of the data-fraction experiments (with / without the
    synthetic set) next to the paper's Table 6 (``PAPER_TABLE6``)."""
    exps = results.get("experiments", {})
    names = [n for n in exps if parse_experiment(n)["fraction"] not in (0.0, 1.0)]
    names += [n for n in PAPER_TABLE6 if n not in names and n in results.get("skipped", {})]
    if not names:
        return "(no data-fraction experiments in this run; add e.g. \"10%\" and \"10%+Gen\" to `experiments`)"
    rows = ["| experiment | real train images | synthetic | Dice | IoU | paper DSC / IoU |", "|---|---|---|---|---|---|"]
    for name in names:
        r = exps.get(name)
        paper = PAPER_TABLE6.get(name)
        ref = f"{paper['dice']:.3f} / {paper['iou']:.3f}" if paper else "–"
        if r is None:
            rows.append(f"| {name} | – | – | skipped | skipped | {ref} |")
        else:
            rows.append(f"| {name} | {r['n_train_real']} | {r['n_train_gen']} | {_pm(r['dice'])} | {_pm(r['iou'])} | {ref} |")
    return "\n".join(rows)


def dice_bar_figure(results: dict[str, Any], metric: str = "dice"):
    """plotly bar chart of ``metric`` (mean, error bar = std over test images) per
    experiment, with the paper's value (Tables 4 and 6) as a diamond where it has one."""
    import plotly.graph_objects as go

    exps = results.get("experiments", {})
    names = list(exps)
    paper = {**PAPER_TABLE4, **PAPER_TABLE6}
    fig = go.Figure()
    fig.add_bar(x=names, y=[exps[n][metric]["mean"] for n in names], name="this run (test images)",
                error_y=dict(type="data", array=[exps[n][metric]["std"] for n in names]),
                hovertext=[f"{exps[n]['n_train_real']} real + {exps[n]['n_train_gen']} synthetic train images"
                           for n in names])
    ref = [(n, paper[n][metric]) for n in names if n in paper and metric in paper[n]]
    if ref:
        fig.add_scatter(x=[n for n, _ in ref], y=[v for _, v in ref], mode="markers", name="paper",
                        marker=dict(symbol="diamond", size=11, color="black"))
    fig.update_layout(title=f"{metric} per experiment (mean ± std over {results.get('split', {}).get('test', '?')} "
                            f"real test images)", yaxis=dict(title=metric, range=[0, 1]),
                      template="plotly_white", height=400, width=750)
    return fig


def prediction_figure(images: np.ndarray, true_masks: np.ndarray, predictions: dict[str, np.ndarray],
                      titles: Sequence[str] | None = None, size: float = 1.9):
    """Paper Fig. 9 analogue (matplotlib): one row per image: the image, the expert mask,
    then each experiment's predicted mask (overlaid in red, Dice in the title).

    ``images`` (N, H, W) in [0, 1]; ``true_masks`` (N, H, W); ``predictions``
    ``{experiment: masks (N, H, W)}``."""
    import matplotlib.pyplot as plt

    from msknb.viz import overlay_mask

    n, cols = len(images), 2 + len(predictions)
    fig, axes = plt.subplots(n, cols, figsize=(size * cols, size * n), squeeze=False)
    for i in range(n):
        panels = [("image" if titles is None else str(titles[i]), images[i], None),
                  ("expert mask", images[i], true_masks[i])]
        for name, pred in predictions.items():
            d = segmentation_metrics(pred[i], true_masks[i])[0]["dice"]
            panels.append((f"{name}\nDice {d:.2f}", images[i], pred[i]))
        for ax, (title, img, m) in zip(axes[i], panels):
            ax.imshow(overlay_mask(img, m) if m is not None else img, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig


def learning_curves_figure(results: dict[str, Any]):
    """matplotlib figure: training loss and validation Dice per epoch, one line per experiment."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, r in results.get("experiments", {}).items():
        h = r.get("history", [])
        ep = [x["epoch"] for x in h]
        a.plot(ep, [x["loss"] for x in h], marker=".", label=name)
        b.plot(ep, [x["val_dice"] for x in h], marker=".", label=name)
        if r.get("best_epoch"):
            b.scatter([r["best_epoch"]], [r["best_val_dice"]], s=40, facecolors="none", edgecolors="k")
    a.set(xlabel="epoch", ylabel="training loss", title="training loss")
    b.set(xlabel="epoch", ylabel="Dice", title="validation Dice (circle: kept epoch)")
    b.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
