"""Classifier-free guidance as a lab (notebook 04): the shipped mask-conditioned generator
draws the same masks from the same noise at several guidance scales w, and two numbers per
image say what w does.

With guidance the sampler uses eps = eps(null) + w (eps(mask) - eps(null)) (Ho & Salimans
2022; :class:`msknb.ddpm.diffusion.Denoiser`): w = 0 ignores the mask, w = 1 is the plain
conditional model, w > 1 pushes past it. Per image:

* ``mean_grey`` -- the mean grey level in [0, 1];
* ``contrast`` -- how well the image follows its mask: mean grey on the mask minus the mean in
  the strips just above and below it, in units of the image's std
  (:func:`msknb.data.label_qa.band_contrast`, the check notebook 00 runs on the real pairs;
  > 0: the mask sits on bright bands).

* :func:`lab_pairs` -- real training images and their masks at the generator's size;
* :func:`guidance_sweep` -- the images per w; :func:`guidance_table` -- the numbers;
* :func:`guidance_reading` -- a sentence computed from them (means, spread, per-image counts).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb.data.label_qa import band_contrast, unflagged
from msknb.data.resize import resize_image
from msknb.ddpm.condition_masks import resize_mask
from msknb.ddpm.synthetic_set import draw_conditional

#: the guidance scales of the lab
SCALES = (0.0, 1.0, 2.0, 4.0)


def lab_pairs(ds, n: int, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(images (n, size, size) float32 [0, 1], masks (n, size, size) uint8, ids)``: the first
    ``n`` pairs of ``ds`` (an ``UltrasoundSet`` with masks, e.g. the experiment split's train
    part) that label QA does not flag, resized to the generator's ``size`` px."""
    ok = unflagged(ds)[0][: int(n)]
    images = np.stack([resize_image(ds.images[i], size) for i in ok]).astype(np.float32)
    masks = np.stack([resize_mask(ds.masks[i], size) for i in ok]).astype(np.uint8)
    return images, masks, [ds.ids[i] for i in ok]


def guidance_sweep(checkpoint: str | Path, masks: np.ndarray, scales: Sequence[float] = SCALES, steps: int = 10,
                   seed: int = 0, batch_size: int = 16) -> dict[float, np.ndarray]:
    """``{w: images (N, H, W) float32 in [0, 1]}``: one image per mask (N, H, W) {0, 1} of the
    mask-conditioned ``checkpoint`` at each guidance scale w, DDIM-``steps`` from the same
    noise (same ``seed``). w != 1 costs two network calls per step, w = 1 one."""
    return {float(w): draw_conditional(checkpoint, masks, steps=steps, seed=seed, batch_size=batch_size,
                                       progress=False, guidance=float(w))[0][:, 0] for w in scales}


def _stats(values: np.ndarray) -> dict[str, Any]:
    return {"mean": float(np.nanmean(values)), "sd": float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0,
            "values": [float(v) for v in values]}


def guidance_table(images_by_w: dict[float, np.ndarray], masks: np.ndarray,
                   real_images: np.ndarray | None = None) -> dict[str, Any]:
    """Per w: ``mean_grey`` and ``contrast`` (each ``{"mean", "sd" (over images), "values"}``);
    ``real`` the same for the real images of these masks (when given); ``n`` images."""
    def row(imgs: np.ndarray) -> dict[str, Any]:
        return {"mean_grey": _stats(imgs.reshape(len(imgs), -1).mean(1)),
                "contrast": _stats(np.array([band_contrast(i, m) for i, m in zip(imgs, masks)]))}
    out = {"n": int(len(masks)), "scales": sorted(images_by_w), "by_w": {w: row(v) for w, v in images_by_w.items()}}
    out["real"] = None if real_images is None else row(np.asarray(real_images))
    return out


def _rises(table: dict[str, Any], key: str, w_from: float, w_to: float) -> int:
    """In how many images ``key`` is higher at ``w_to`` than at ``w_from``."""
    a, b = (np.array(table["by_w"][w][key]["values"]) for w in (w_from, w_to))
    return int((b > a).sum())


def _cells(table: dict[str, Any], key: str) -> str:
    return ", ".join(f"{table['by_w'][w][key]['mean']:.2f} ± {table['by_w'][w][key]['sd']:.2f}" for w in table["scales"])


def guidance_reading(table: dict[str, Any]) -> str:
    """Sentences computed from :func:`guidance_table`: each number's mean ± sd per w; in how many
    of the n images the contrast rises from the smallest to the largest w (and from w = 1, when
    swept); which w comes closest to the real images' contrast; the mean grey level likewise."""
    ws, n = table["scales"], table["n"]
    lo, hi = ws[0], ws[-1]
    real = table.get("real")
    up_c, up_g = _rises(table, "contrast", lo, hi), _rises(table, "mean_grey", lo, hi)
    text = (f"Over {n} masks, same noise, w = {', '.join(f'{w:g}' for w in ws)}: mask contrast {_cells(table, 'contrast')}"
            + ("" if real is None else f" (the real images of these masks: {real['contrast']['mean']:.2f})")
            + f"; higher at w = {hi:g} than at w = {lo:g} in {up_c} of {n} images")
    if 1.0 in ws and hi > 1.0:
        text += f", and than at w = 1 in {_rises(table, 'contrast', 1.0, hi)} of {n}"
    if real is not None:
        near = min(ws, key=lambda w: abs(table["by_w"][w]["contrast"]["mean"] - real["contrast"]["mean"]))
        text += f"; closest to the real images' at w = {near:g}"
    text += (f". Mean grey {_cells(table, 'mean_grey')}" + ("" if real is None else f" (real: {real['mean_grey']['mean']:.2f})")
             + f"; higher at w = {hi:g} in {up_g} of {n}. ")
    if n < 2:
        return text + "One image: an example, not a trend."
    verdict = "a consistent rise" if up_c == n else "a consistent fall" if up_c == 0 else "no consistent change"
    return text + (f"For the contrast that is {verdict} across these {n} images; with this few images, read it as "
                   f"what guidance can do, not as a measured size of the effect.")
