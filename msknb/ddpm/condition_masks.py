"""Masks to condition a mask-conditioned DDPM on (``TrainConfig.condition = 'mask'``).

Three sources, all giving (N, size, size) uint8 {0, 1}:

* :func:`augmented_masks`: real training masks, geometrically augmented (rotation and zoom
  of ``msknb.masks.augment``, plus left-right flips; no up-down flips: the
  superficial aponeurosis stays on top);
* :func:`read_condition_masks`: a folder of mask files (a DL_Track folder's ``masks/``, or
  PNG/TIFF/DICOM masks), resized to the model's size; a bad file is named with its problem
  and left out, the rest go on;
* the parametric generator :func:`msknb.ddpm.mask_prior.sample_masks`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from msknb.errors import DataError
from msknb.masks.augment import augment_pair
from msknb.data.readers import read_raw
from msknb.data.mask_files import expand_mask_paths, is_dicom, read_mask

#: geometric augmentation of conditioning masks (msknb.masks.augment parameters)
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


#: the smallest mask side (px) worth conditioning on, and the most elongated aspect ratio
MIN_MASK_SIDE_PX = 32
MAX_ASPECT = 4.0
#: a binary mask has (almost) no grey pixels: more than this share between 10 % and 90 % of white is not a mask
MAX_GREY_SHARE = 0.02


def mask_problem(raw: np.ndarray) -> str | None:
    """Why the raw pixels of a mask file (H, W) or (H, W, C) cannot condition a generator, in
    the user's words, or None: too small, too elongated, not binary (grey levels: an image
    rather than a mask), or empty."""
    a = np.asarray(raw)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].max(axis=-1)
    if a.ndim != 2:
        return f"a mask must be a 2-D (H, W) image, got shape {a.shape}"
    h, w = a.shape
    if min(h, w) < MIN_MASK_SIDE_PX:
        return f"the mask is {w} x {h} px: too small (at least {MIN_MASK_SIDE_PX} px a side)"
    if max(h, w) / min(h, w) > MAX_ASPECT:
        return f"the mask is {w} x {h} px: more elongated than 1:{MAX_ASPECT:g}, not a scan's mask"
    top = float(a.max()) if a.size else 0.0
    if a.dtype.kind != "b" and top > 1:
        grey = float(((a > 0.1 * top) & (a < 0.9 * top)).mean())
        if grey > MAX_GREY_SHARE:
            return (f"not a binary mask: {100 * grey:.0f} % of its pixels are grey (between black and white); "
                    "is this an image rather than its mask?")
    if top <= 0:
        return "the mask is empty (no aponeurosis pixel)"
    return None


def read_condition_masks(folder: str | Path, size: int) -> tuple[np.ndarray, list[str], list[str]]:
    """``(masks (N, size, size) uint8 {0, 1}, ids, errors)`` from a folder of mask files (its
    ``masks/`` when it has one; ids = file stems). Every file is read before the caller
    generates anything; a file that is unreadable, too small, too elongated, not binary or
    empty (also after resizing) is left out with one line in ``errors`` naming it and the
    problem, and the rest go on. DataError naming the folder when no mask is usable."""
    files = expand_mask_paths([folder])
    masks, ids, errors = [], [], []
    for f in files:
        try:
            problem = mask_problem(read_raw(f)) if not is_dicom(f) else None
            if problem:
                raise DataError(problem, f)
            m = read_mask(f)[0]
            if m.ndim == 3 and m.shape[-1] in (3, 4):
                m = m[..., 0]
            if m.ndim != 2:
                raise DataError(f"a mask must be a 2-D (H, W) image, got shape {m.shape}", f)
            r = resize_mask(m, size)
            if not r.any():
                raise DataError("mask is empty (no aponeurosis pixel) at the model's size", f)
        except DataError as e:
            errors.append(str(e))
            continue
        except Exception as e:  # noqa: BLE001 - any decoder failure is one bad file, not the batch
            errors.append(f"{f}: cannot read mask ({type(e).__name__}: {e})")
            continue
        masks.append(r)
        ids.append(f.stem)
    if not masks:
        raise DataError(f"no usable mask among {len(files)} file(s): " + "; ".join(errors), folder)
    return np.stack(masks), ids, errors
