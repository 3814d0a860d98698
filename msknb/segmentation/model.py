"""The Attention-UNet segmenter: its config, the network, its checkpoint file, and the
bottleneck features the evaluation notebook reads from it (paper section "Aponeurosis
segmentation"; Oktay et al. 2018 attention gates, MONAI's ``AttentionUnet``).

One output channel: superficial and deep aponeuroses are one foreground class, as in
the masks. Images go into the network in [-1, 1] (:func:`msknb.io.to_model`); masks are
{0, 1}. Shapes are (N, H, W) arrays of pixels at the training resolution.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from msknb.segmentation.ensemble import load_ensemble
from msknb.errors import CheckpointError, ConfigError, DataError
from msknb.io import save_with, to_model

#: training settings used when a key is missing from ``config`` (profile "segment" topic)
DEFAULT_CONFIG: dict[str, Any] = {
    "image_size": 128, "channels": (16, 32, 64, 128), "strides": None, "epochs": 10,
    "batch_size": 8, "lr": 1e-3, "lr_step": None, "lr_gamma": 0.5, "loss": "generalized_dice",
    "augment": True, "augment_params": None, "min_samples_per_epoch": None, "samples_per_epoch": None,
    "threshold": 0.5,
    "fractions": (0.4, 0.2, 0.4), "crop_fov": True, "max_seconds": None, "gen_use": "mix", "patience": None,
}
LOSSES = ("generalized_dice", "generalized_dice_bce", "generalized_dice_focal", "dice", "dice_bce")
#: how an "x+Gen" experiment uses the synthetic set (:mod:`msknb.segmentation.experiments`)
GEN_USES = ("mix", "pretrain")
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
    if cfg["loss"] not in LOSSES:
        raise ConfigError(f"unknown loss {cfg['loss']!r}; use one of {', '.join(LOSSES)}", "loss")
    if cfg["gen_use"] not in GEN_USES:
        raise ConfigError(f"unknown gen_use {cfg['gen_use']!r}; use one of {', '.join(GEN_USES)}", "gen_use")
    return cfg


def json_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Config with tuples -> lists, only plain types (safe for weights-only loading)."""
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


def build_segmenter(channels: Sequence[int] = (16, 32, 64, 128), strides: Sequence[int] | None = None,
                    dropout: float = 0.0) -> torch.nn.Module:
    """MONAI ``AttentionUnet`` (2-D, 1 input channel, 1 output logit channel).

    ``channels``: features per level, e.g. (16, 32, 64, 128); ``strides``: down-sampling
    per level (default 2 each). Input (B, 1, H, W) with H, W divisible by prod(strides).
    """
    from monai.networks.nets import AttentionUnet  # local: MONAI imports all its modules (7 s)

    channels = tuple(int(c) for c in channels)
    strides = tuple(int(s) for s in (strides or (2,) * (len(channels) - 1)))
    return AttentionUnet(spatial_dims=2, in_channels=1, out_channels=1, channels=channels,
                         strides=strides, dropout=dropout)


def model_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W) or (N, 1, H, W) in [0, 1] -> float tensor (N, 1, H, W) in [-1, 1]
    (:func:`msknb.io.to_model`); any other shape raises DataError."""
    shape = tuple(np.shape(images))
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[1] != 1):
        raise DataError(f"images must be (N, H, W) or (N, 1, H, W), got {shape}", "images")
    return to_model(images)


def _deepest_block(model: torch.nn.Module) -> torch.nn.Module:
    """The bottleneck ``ConvBlock`` of a MONAI AttentionUnet (innermost ``submodule``)."""
    from monai.networks.nets.attentionunet import AttentionLayer  # local: MONAI imports all its modules (7 s)

    node = model.model[1] if hasattr(model, "model") else None
    if not isinstance(node, AttentionLayer):
        raise ConfigError("bottleneck_features needs a MONAI AttentionUnet", "model")
    while True:
        sub = node.submodule
        if isinstance(sub, torch.nn.Sequential) and len(sub) > 1 and isinstance(sub[1], AttentionLayer):
            node = sub[1]
        else:
            return sub


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
        x = model_input(images)
        for s in range(0, len(x), batch_size):
            model(x[s:s + batch_size])
    finally:
        handle.remove()
        model.train(was_training)
    if not captured:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(captured).cpu().numpy().astype(np.float32)


def save_segmenter(model: torch.nn.Module, config: dict[str, Any], path: str | Path,
                   meta: dict[str, Any] | None = None) -> Path:
    """Write ``{"format", "state_dict", "config", "meta"}`` atomically to ``path``
    (plain types and tensors only: loads with ``torch.load(weights_only=True)``)."""
    payload = {"format": CHECKPOINT_FORMAT,
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
               "config": json_config(config), "meta": json_config(meta or {})}
    return save_with(path, lambda tmp: torch.save(payload, tmp))


def load_segmenter(path: str | Path) -> torch.nn.Module:
    """Load a checkpoint written by :func:`save_segmenter` (weights-only unpickling).

    Returns the model in eval mode with its training config as ``model.msknb_config``
    and the saved ``meta`` as ``model.msknb_meta``. A ``.json`` path is an ensemble manifest
    (:mod:`msknb.segmentation.ensemble`): the members it names, as one model. Raises
    :class:`CheckpointError` for a missing/unreadable/garbage file or weights of a different
    architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("segmentation checkpoint not found", path)
    if path.suffix.lower() == ".json":
        return load_ensemble(path, load_segmenter)
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
