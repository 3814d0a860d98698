"""Drawing a synthetic set from a generator checkpoint and recording where it came from.

Shared by notebook 04 and ``msknb sample``:

* :func:`training_condition_masks`: the masks a mask-conditioned generator draws the set
  for: real *training* masks of the experiment split (never test masks: their shapes would
  leak into the Gen experiments), resized, augmented copies when more are needed;
* :func:`draw_conditional`: one image per mask from a mask-conditioned checkpoint, starting
  from the checkpoint's mean image when it stores one (``start_mean``, the brightness fix);
  returns image + mask channels, ready for ``msknb.ddpm.export.write_synthetic_set``;
* :func:`generator_record`: the ``synthetic/generator.json`` record
  (``msknb.artifacts.write_generator_record``) of a checkpoint: its file name and the ids it
  was trained on (``msknb.ddpm.provenance``), mode, sampler and size of the set.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb.ddpm.autoguidance import load_autoguided
from msknb.ddpm.checkpoints import checkpoint_extras, guidance_record, load_model, stored_guidance
from msknb.data.label_qa import unflagged
from msknb.ddpm.condition_masks import augmented_masks, resize_mask
from msknb.ddpm.provenance import training_ids
from msknb.io import ids_sha256
from msknb.ddpm.sample import sample_images
from msknb.errors import DataError


def training_condition_masks(masks: np.ndarray, ids: Sequence[str], n: int, size: int, seed: int = 0
                             ) -> tuple[np.ndarray, list[str]]:
    """``(masks (n, size, size) uint8 {0, 1}, source ids)`` for a conditional synthetic set
    from training masks (N, H, W) {0, 1} with their ``ids``: ``n`` <= N distinct masks
    chosen at random (seeded), or all N plus ``n - N`` geometrically augmented copies
    (``msknb.ddpm.condition_masks.augmented_masks``; their source ids are not tracked:
    ``"augmented"``). Empty masks are skipped."""
    m = np.stack([resize_mask(x, size) for x in np.asarray(masks)]) if len(masks) else np.zeros((0, size, size))
    keep = [i for i in range(len(m)) if m[i].any()]
    if not keep or int(n) < 1:
        raise DataError(f"need n >= 1 and at least one non-empty training mask (n={n}, {len(keep)} masks)", "masks")
    rng = np.random.default_rng(int(seed))
    if int(n) <= len(keep):
        pick = sorted(rng.choice(keep, size=int(n), replace=False).tolist())
        return m[pick].astype(np.uint8), [str(ids[i]) for i in pick]
    extra = augmented_masks(m[keep], int(n) - len(keep), seed=seed)
    return np.concatenate([m[keep], extra]).astype(np.uint8), [str(ids[i]) for i in keep] + ["augmented"] * len(extra)


def draw_conditional(checkpoint: str | Path, masks: np.ndarray, method: str = "ddim", steps: int = 25,
                     seed: int = 0, batch_size: int = 16, progress: bool = True, guidance: float | None = None,
                     noise_start: bool = False, eta: float = 0.0, autoguide=None) -> tuple[np.ndarray, float]:
    """``(x (N, 2, H, W) float32 in [0, 1], seconds)``: one image per mask (N, H, W) {0, 1} of
    the mask-conditioned ``checkpoint`` (channel 0), the mask itself as channel 1 (the label
    is exact by construction). Starts from the checkpoint's ``mean_image`` when it stores one,
    unless ``noise_start``. ``guidance``: classifier-free guidance scale at every step; None = the
    guidance settings stored in the checkpoint (``msknb.ddpm.checkpoints.stored_guidance``:
    scale, interval, rescale, region; plain conditional when none). ``autoguide`` (weaker checkpoint, w):
    guide with it (:mod:`msknb.ddpm.autoguidance`). ``seconds``: wall time of sampling."""
    model, schedule, _ = load_autoguided(checkpoint, autoguide[0], autoguide[1]) if autoguide else load_model(checkpoint)
    start_mean = None if noise_start else checkpoint_extras(checkpoint)["mean_image"]
    t0 = time.perf_counter()
    x = sample_images(model, schedule, None, method=method, steps=steps, eta=eta, seed=seed,
                      batch_size=batch_size, progress=progress, masks=masks, start_mean=start_mean,
                      guidance=stored_guidance(checkpoint, guidance))
    seconds = time.perf_counter() - t0
    return np.concatenate([x, np.asarray(masks, dtype=np.float32)[:, None]], axis=1), seconds


def sampler_name(method: str, steps: int, timesteps: int) -> str:
    """``"ddim-25"``, ``"dpm++2m-25"`` or ``"ddpm-300"``: the sampler and its number of network calls."""
    return f"ddpm-{int(timesteps)}" if method == "ddpm" else f"{method}-{int(steps)}"


def generator_record(checkpoint: str | Path, mode: str, sampler: str, n: int, **extra: Any) -> dict[str, Any]:
    """The record ``msknb.artifacts.write_generator_record`` writes for a set of ``n`` images
    drawn from ``checkpoint`` (``mode`` "joint" | "mask" | "image", ``sampler`` e.g.
    "ddim-25"): ``checkpoint`` (file name), ``training_ids`` (None = unknown),
    ``training_ids_sha256``, plus ``extra`` (e.g. ``condition_mask_ids``)."""
    ids = training_ids(checkpoint)
    return {"checkpoint": Path(checkpoint).name, "training_ids": ids,
            "training_ids_sha256": None if ids is None else ids_sha256(ids), "mode": mode, "sampler": sampler,
            "n": int(n), **extra}


def conditional_set(checkpoint: str | Path, train_ds, n: int, steps: int = 25, seed: int = 0,
                    progress: bool = True, batch_size: int = 16, guidance: float | None = None) -> dict[str, Any]:
    """Notebook 04's synthetic set from a mask-conditioned ``checkpoint``: ``n`` images drawn
    (DDIM-``steps``, ``batch_size`` images at a time: the same images, up to float rounding,
    for any batch size, as DDIM with eta = 0 draws noise only for the start and torch draws
    the same numbers in one batch or several when H W is a multiple of 16) for training masks of ``train_ds`` (an
    ``UltrasoundSet`` holding only the experiment split's train part, with masks) at the
    checkpoint's size, with classifier-free guidance ``guidance`` (None = the scale stored in the
    checkpoint). Masks of pairs that label QA flags (:mod:`msknb.data.label_qa`) are
    left out (listed in the record).
    Returns ``{"images": (n, 2, H, W) [0, 1] (channel 1 = the mask), "seconds",
    "record": generator_record(...) with condition_mask_ids}``."""
    if getattr(train_ds, "masks", None) is None:
        raise DataError("a conditional synthetic set needs the training masks; this data set has none", "masks")
    size = load_model(checkpoint)[2].image_size
    ok, flagged = unflagged(train_ds)                        # masks off the bands would teach wrong pairs
    ok = ok if len(ok) else np.arange(len(train_ds.ids))
    masks, mask_ids = training_condition_masks(train_ds.masks[ok], [train_ds.ids[i] for i in ok], n, size, seed=seed)
    x, seconds = draw_conditional(checkpoint, masks, steps=steps, seed=seed, progress=progress, batch_size=batch_size,
                                  guidance=guidance)
    rec = generator_record(checkpoint, "mask", sampler_name("ddim", steps, 0), len(x), condition_mask_ids=mask_ids,
                           label_qa_flagged_masks_left_out=flagged, **guidance_record(checkpoint, guidance))
    return {"images": x, "seconds": seconds, "record": rec}
