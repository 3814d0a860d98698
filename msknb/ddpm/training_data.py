"""The array a DDPM trains on: images (and, in joint mode, aponeurosis masks) as (N, C, H, W)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from msknb.data.split_file import split_ids
from msknb.ddpm.config import TrainConfig
from msknb.errors import ConfigError, DataError
from msknb.io import to_model


def images_to_array(images: np.ndarray, masks: np.ndarray | None = None, joint: bool = False) -> np.ndarray:
    """Stack an :class:`~msknb.data.UltrasoundSet`'s ``images`` (N, H, W) [0, 1] and, in
    joint mode (or mask-conditioned mode: the same array), ``masks`` (N, H, W) {0, 1} into
    the training array (N, C, H, W) float32."""
    imgs = np.asarray(images, dtype=np.float32)[:, None]
    if not joint:
        return imgs
    if masks is None:
        raise DataError("joint image+mask training needs masks, but the data set has none", "masks")
    m = (np.asarray(masks) > 0).astype(np.float32)[:, None]
    return np.concatenate([imgs, m], axis=1)


def check_training_data(data, config: TrainConfig) -> torch.Tensor:
    """(N, C, H, W) [0, 1] (array or tensor) -> float32 tensor in [-1, 1] (CPU), after checking
    shape, channels, size (px) and range against ``config``; DataError/ConfigError otherwise."""
    arr = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if arr.ndim != 4:
        raise DataError(f"training data must be an array (N, C, H, W), got shape {arr.shape}", "data")
    n, c, h, w = arr.shape
    if n < 1:
        raise DataError("training data is empty", "data")
    if c != config.data_channels:
        what = " + 1 (the mask the model is conditioned on)" if config.condition else ""
        raise ConfigError(f"data has {c} channel(s) but config.channels = {config.channels}{what}", "channels")
    if h != config.image_size or w != config.image_size:
        raise ConfigError(f"data is {h}x{w} px but config.image_size = {config.image_size}", "image_size")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise DataError("training data contains NaN or inf", "data")
    if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise DataError(f"training data must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]", "data")
    return to_model(np.ascontiguousarray(arr))


def split_indices(split_file: str | Path, ids: Sequence[str], part: str = "train") -> list[int]:
    """Indices into ``ids`` of the ``part`` ('train' | 'val' | 'test') ids of a split JSON
    (``msknb/checkpoints/dltrack_split.json``: ``{"train": [id, ...], "val": ..., "test": ...}``).
    SplitError (a DataError) naming the file when it is unreadable or lacks ``part``; DataError
    when none of its ids is in ``ids``."""
    path = Path(split_file)
    wanted = set(split_ids(path, part))
    idx = [i for i, x in enumerate(ids) if x in wanted]
    if not idx:
        raise DataError(f"none of the {len(wanted)} {part!r} ids is in the data set", path)
    return idx
