"""Applying a trained segmenter: probabilities and masks at the training size
(:func:`predict`) and at the original size of any image (:func:`predict_full_size`,
:func:`predict_file`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from msknb.data import ALL_EXTS, crop_fov, load_image, resize_image
from msknb.errors import DataError
from msknb.segmentation.model import DEFAULT_CONFIG, model_input


@torch.inference_mode()
def predict(model: torch.nn.Module, images: np.ndarray, threshold: float = 0.5,
            batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities float32 (N, H, W) in [0, 1] and binary masks uint8 (N, H, W) in
    {0, 1} (probability > ``threshold``) for ``images`` (N, H, W) in [0, 1]. Runs under
    ``torch.inference_mode`` (no autograd bookkeeping)."""
    was_training = model.training
    model.eval()
    try:
        x = model_input(images)
        probs = [torch.sigmoid(model(x[s:s + batch_size]))[:, 0] for s in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    pr = torch.cat(probs).numpy().astype(np.float32) if probs else np.zeros((0,) + tuple(x.shape[2:]), np.float32)
    return pr, (pr > threshold).astype(np.uint8)


def model_threshold(model: torch.nn.Module, threshold: float | None = None) -> float:
    """``threshold``, else the one the model was trained with (0.5 by default)."""
    cfg = getattr(model, "msknb_config", DEFAULT_CONFIG)
    return float(cfg.get("threshold", 0.5) if threshold is None else threshold)


#: the smallest image side (px) the segmenter accepts: below it there are no aponeuroses to find
MIN_SIDE_PX = 32


def predict_full_size(model: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    """Probability map float32 (H, W) in [0, 1] at the size of ``image`` (H, W) in [0, 1].

    The image is cropped to its field of view (when the model was trained on cropped
    images), resized to the model's training size, segmented, and the probabilities are
    resized back (bilinear) into the crop box; outside the box they are 0. Threshold the
    map (``> model_threshold(model)``) for a mask, or measure on it directly: MT is then
    taken at the image's own resolution, with sub-pixel edges. An ensemble
    (:mod:`msknb.segmentation.ensemble`) gives the mean of its members' maps, each member
    fed the image at its own size."""
    members = getattr(model, "members", None)
    if members is not None:
        return np.mean([predict_full_size(m, image) for m in members], axis=0).astype(np.float32)
    cfg = getattr(model, "msknb_config", DEFAULT_CONFIG)
    size = int(cfg.get("image_size", 128))
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise DataError(f"an image must be 2-D (H, W), got shape {img.shape}", "image")
    if min(img.shape) < MIN_SIDE_PX:
        raise DataError(f"the image is {img.shape[1]} x {img.shape[0]} px: too small for the segmenter, which needs "
                        f"at least {MIN_SIDE_PX} x {MIN_SIDE_PX} px (it segments at {size} x {size} px; a B-mode scan "
                        "is usually a few hundred px on each side)", "image")
    y0, y1, x0, x1 = crop_fov(img) if cfg.get("crop_fov", True) else (0, img.shape[0], 0, img.shape[1])
    crop = img[y0:y1, x0:x1]
    prob, _ = predict(model, resize_image(crop, size)[None])
    t = torch.from_numpy(prob)[None]
    back = torch.nn.functional.interpolate(t, size=crop.shape, mode="bilinear", align_corners=False)[0, 0]
    out = np.zeros(img.shape, dtype=np.float32)
    out[y0:y1, x0:x1] = back.numpy()
    return out


def predict_file(model: torch.nn.Module, path: str | Path, threshold: float | None = None) -> np.ndarray:
    """Binary mask uint8 (H, W) {0, 1} at the original size of the image file ``path``
    (:func:`predict_full_size` thresholded at the model's threshold)."""
    try:
        prob = predict_full_size(model, load_image(path))
    except DataError as e:  # name the file, not the array
        raise DataError(e.problem, path) from e
    return (prob > model_threshold(model, threshold)).astype(np.uint8)


def collect_images(items: Sequence[str | Path]) -> list[Path]:
    """Image files named in ``items``, folders expanded to their image files (sorted);
    an empty folder raises DataError naming it."""
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
