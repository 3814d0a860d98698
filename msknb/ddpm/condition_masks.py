"""Masks to condition a mask-conditioned DDPM on (``TrainConfig.condition = 'mask'``).

Three sources, all giving (N, size, size) uint8 {0, 1}:

* :func:`augmented_masks`: real training masks, geometrically augmented (rotation and zoom
  of ``msknb.segmentation.augment``, plus left-right flips; no up-down flips: the
  superficial aponeurosis stays on top);
* :func:`read_condition_masks`: a folder of mask files (a DL_Track folder's ``masks/``, or
  PNG/TIFF/DICOM masks), resized to the model's size; a bad file raises DataError naming it
  before anything is generated;
* the parametric generator :func:`msknb.ddpm.mask_prior.sample_masks`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from msknb.errors import DataError
from msknb.segmentation.augment import augment_pair
from msknb.thickness.inputs import expand_mask_paths, read_mask

#: geometric augmentation of conditioning masks (msknb.segmentation.augment parameters)
MASK_AUGMENT: dict[str, Any] = {"rotation_deg": 8.0, "scale": (0.9, 1.1), "vflip_p": 0.0, "erase_p": 0.0}


def augmented_masks(masks: np.ndarray, n: int, seed: int = 0, params: dict[str, Any] | None = None
                    ) -> np.ndarray:
    """``n`` masks (n, H, W) uint8 {0, 1}: real ``masks`` (N, H, W) {0, 1} drawn at random
    (seeded), each rotated / zoomed (``MASK_AUGMENT`` updated by ``params``) and flipped
    left-right with probability 1/2."""
    m = np.asarray(masks)
    if m.ndim != 3 or len(m) < 1:
        raise DataError(f"masks must be (N, H, W) with N >= 1, got shape {m.shape}", "masks")
    g = torch.Generator().manual_seed(int(seed))
    p = {**MASK_AUGMENT, **(params or {})}
    out = []
    for _ in range(int(n)):
        i = int(torch.randint(0, len(m), (), generator=g))
        mask = torch.from_numpy((m[i] > 0).astype(np.float32))[None]
        _, aug = augment_pair(mask, mask, g, p)
        if torch.rand((), generator=g).item() < 0.5:
            aug = aug.flip(-1)
        out.append((aug[0].numpy() > 0.5).astype(np.uint8))
    return np.stack(out)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """(H, W) mask (any {0, 1} / {0, 255} / bool form) -> (size, size) uint8 {0, 1}, nearest neighbour."""
    m = (np.asarray(mask) > (127 if np.asarray(mask).max() > 1 else 0)).astype(np.uint8) * 255
    if m.shape != (size, size):
        m = np.asarray(Image.fromarray(m).resize((size, size), Image.NEAREST))
    return (m > 127).astype(np.uint8)


def read_condition_masks(folder: str | Path, size: int) -> tuple[np.ndarray, list[str]]:
    """``(masks (N, size, size) uint8 {0, 1}, ids)`` from a folder of mask files (its
    ``masks/`` when it has one; ids = file stems). Every file is read before the caller
    generates anything: an unreadable or non-2-D file raises DataError naming it; a mask
    with no foreground too (there would be nothing to condition on)."""
    files = expand_mask_paths([folder])
    masks = []
    for f in files:
        m = read_mask(f)[0]
        if m.ndim == 3 and m.shape[-1] in (3, 4):
            m = m[..., 0]
        if m.ndim != 2:
            raise DataError(f"a mask must be a 2-D (H, W) image, got shape {m.shape}", f)
        r = resize_mask(m, size)
        if not r.any():
            raise DataError("mask is empty (no aponeurosis pixel) at the model's size", f)
        masks.append(r)
    return np.stack(masks), [f.stem for f in files]
