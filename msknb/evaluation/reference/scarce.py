"""The scarce-label setting of the reference experiment: synthetic pairs from the 10 % labels only.

In the paper's setting (:mod:`.synthetic`) the generator saw every train pair and draws one
image for each real train mask, so a 10 %+Gen model also learns from the other 90 % of the
labels. Here the shipped 256 px generator is fine-tuned on the pairs of one 10 % subset
(draw ``d``), and the synthetic set is conditioned only on that subset's masks (randomly
rotated, zoomed and flipped: :func:`msknb.ddpm.condition_masks.augmented_masks`), as many
images as the paper-setting set. What it still carries: the fine-tune starts from the
shipped weights, which saw all train pairs; a generator trained from scratch on about 35
pairs is not affordable here (our assumption that the fine-tune is the closer of the two
to a lab with few labels and many unlabelled scans).

Resumable: the fine-tune continues from ``<folder>/generator_d<d>/checkpoint.pt`` and is
exported to ``generator_d<d>.pt`` when its steps are done; the set is drawn in chunks by
:func:`.synthetic.draw_reference_set`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from msknb.data.folder import load_folder
from msknb.ddpm.checkpoints import (SHIPPED_SAMPLE_DDPM, conditioning_extras, export_ema,
                                    load_checkpoint)
from msknb.ddpm.condition_masks import augmented_masks
from msknb.ddpm.groups import train_groups
from msknb.evaluation.reference.synthetic import draw_reference_set
from msknb.paths import CHECKPOINTS_DIR
from msknb.profiles import settings

SCARCE_DIR = Path("outputs/reference_scarce")
#: the fine-tune of the shipped generator on one subset's pairs (Adam steps of 8 images)
FINETUNE: dict[str, Any] = {"max_steps": 300, "lr": 2e-4, "checkpoint_every": 50, "seed": 0}
#: settings copied from the shipped generator so its weights load and its training goes on unchanged
_SHIPPED_KEYS = ("dim", "dim_mults", "fold", "condition", "cond_dropout", "prediction", "zero_terminal_snr",
                 "min_snr_gamma", "hflip", "batch_size", "timesteps", "schedule", "ema_decay")


def _shipped() -> Path:
    return CHECKPOINTS_DIR / SHIPPED_SAMPLE_DDPM


def finetune_generator(data_dir: str | Path, ids: list[str], draw: int, folder: str | Path = SCARCE_DIR,
                       max_seconds: float | None = None, progress: bool = True) -> Path | None:
    """The shipped generator fine-tuned on the pairs ``ids`` (one 10 % subset, draw ``draw``):
    the exported fp16 file, or None when ``max_seconds`` ran out first (re-run to continue)."""
    out = Path(folder) / f"generator_d{draw}.pt"
    if out.is_file():
        return out
    shipped = load_checkpoint(_shipped())
    cfg = shipped["config"]
    s = settings("ddpm", "quick", image_size=int(cfg["image_size"]), epochs=10 ** 6, max_steps=FINETUNE["max_steps"])
    s["joint_mask"] = False                                    # the mask is the condition, not a generated channel
    ds = load_folder(data_dir, image_size=int(cfg["image_size"]), seed=FINETUNE["seed"])
    index = {str(i): k for k, i in enumerate(ds.ids)}
    ds = ds.subset([index[i] for i in ids])
    extra = {k: cfg[k] for k in _SHIPPED_KEYS if k in cfg}
    extra.update(lr=FINETUNE["lr"], checkpoint_every=FINETUNE["checkpoint_every"], max_seconds=max_seconds)
    result = train_groups(ds, s, Path(folder) / f"generator_d{draw}", seed=FINETUNE["seed"], progress=progress,
                          pretrained=_shipped(), strict_pretrained=True, **extra)["all"]
    if result.steps < FINETUNE["max_steps"]:
        return None
    extras = conditioning_extras(ds.images, ds.masks)
    extras.update({k: shipped[k] for k in ("guidance", "guidance_interval", "guidance_rescale") if k in shipped})
    extras.update(finetune=dict(FINETUNE), finetuned_ids=sorted(ids),
                  guidance_chosen_by="the shipped generator's guidance, not chosen again")
    return export_ema(result.checkpoint_path, out, half=True, extra=extras)


def draw_scarce_set(masks_hi: np.ndarray, mask_ids: list[str], n: int, size: int, generator: Path, draw: int,
                    folder: str | Path = SCARCE_DIR, progress: bool = True) -> dict[str, Any]:
    """``n`` synthetic pairs from ``generator`` conditioned on augmented copies of the subset's
    masks ``masks_hi`` (N, 256, 256) {0, 1}, resized to ``size`` px: the dict of
    :func:`.synthetic.draw_reference_set`, its record saying which masks it saw."""
    masks = augmented_masks(masks_hi, n, seed=draw).astype(np.float32)
    ids = [f"{mask_ids[0]}..{mask_ids[-1]} augmented #{k}" for k in range(n)]
    out = draw_reference_set(masks, ids, size, folder=Path(folder) / f"synthetic_d{draw}", checkpoint=generator,
                             progress=progress)
    out["record"].update(condition_masks=f"{n} rotated / zoomed / flipped copies of the {len(mask_ids)} masks of "
                                         f"the 10 % subset (draw {draw}) the generator was fine-tuned on",
                         condition_mask_ids=sorted(mask_ids), fine_tuned_from=SHIPPED_SAMPLE_DDPM,
                         setting="scarce labels", finetune_cpu_seconds=fine_tune_record(generator)["cpu_seconds"])
    return out


def fine_tune_record(generator: Path) -> dict[str, Any]:
    """What the fine-tuned file says about itself: its settings, the ids it was tuned on, its
    steps and training seconds (wall time on one thread, the CPU time it took)."""
    state = load_checkpoint(generator)
    return {"finetune": state.get("finetune"), "finetuned_ids": state.get("finetuned_ids"),
            "step": state.get("step"), "cpu_seconds": state.get("seconds")}

