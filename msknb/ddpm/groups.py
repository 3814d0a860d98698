"""One DDPM per group (muscle) of a data set, as in the paper (notebook 03)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from msknb.ddpm.checkpoints import CHECKPOINT_NAME, check_pretrained, resume_mismatch
from msknb.ddpm.config import TrainConfig, config_from_settings
from msknb.ddpm.train import TrainResult, train_ddpm
from msknb.ddpm.training_data import images_to_array
from msknb.errors import CheckpointError, DataError
from msknb.io import move_aside


def _initial_weights(pretrained, config: TrainConfig, strict: bool):
    """``pretrained`` when it fits ``config``; else None with a printed note (or
    CheckpointError when ``strict``: the user named this file)."""
    if pretrained is None:
        return None
    ok, why = check_pretrained(pretrained, config)
    if ok:
        return pretrained
    if strict:
        raise CheckpointError(f"cannot initialise from it: {why}", pretrained)
    print(f"not starting from {pretrained}: {why}; training from scratch")
    return None


def train_groups(ds, settings: dict[str, Any], out_dir: str | Path, seed: int = 0, progress: bool = True,
                 pretrained: str | Path | None = None, restart_on_mismatch: bool = False,
                 strict_pretrained: bool = False, **extra: Any) -> dict[str, TrainResult]:
    """One DDPM per group (muscle) of an :class:`~msknb.data.UltrasoundSet`, as in the paper.

    A single group trains into ``out_dir/checkpoint.pt``; several into
    ``out_dir/<group>/checkpoint.pt`` (``out_dir`` is usually ``msknb.artifacts.ddpm_dir``).
    An existing checkpoint there is resumed (a finished one returns at once); with
    ``restart_on_mismatch`` one that is unreadable or from other settings is moved aside
    (:func:`msknb.io.move_aside` prints where; it is never overwritten) and training starts anew, instead
    of raising :class:`CheckpointError`. ``pretrained`` initialises every model from that
    checkpoint when its architecture fits (else from scratch, with a printed note).
    ``settings``: ``msknb.profiles.settings("ddpm", ...)``; ``extra`` sets other TrainConfig
    fields. Each checkpoint records the ids of its group's images (and ``pretrained``'s), see
    ``msknb.ddpm.provenance``. Returns ``{group: TrainResult}``.
    """
    groups = sorted(set(ds.groups)) if getattr(ds, "groups", None) else ["all"]
    config = config_from_settings(settings, seed=seed, **extra)
    with_masks = config.channels == 2 or config.condition is not None
    if with_masks and ds.masks is None:
        raise DataError("joint image+mask or mask-conditioned training needs masks; this data set has none", "masks")
    init = _initial_weights(pretrained, config, strict_pretrained)
    results = {}
    for g in groups:
        idx = list(range(len(ds))) if len(groups) == 1 else [i for i, gi in enumerate(ds.groups) if gi == g]
        arr = images_to_array(ds.images[idx], None if ds.masks is None else ds.masks[idx],
                              joint=with_masks)
        target = Path(out_dir) if len(groups) == 1 else Path(out_dir) / g
        why = resume_mismatch(target / CHECKPOINT_NAME, config, init)
        if why and restart_on_mismatch:
            move_aside(target / CHECKPOINT_NAME, f"cannot be resumed with these settings ({why})")
        ids = [str(ds.ids[i]) for i in idx] if getattr(ds, "ids", None) is not None else None
        results[g] = train_ddpm(arr, config, target, resume=True, progress=progress, init_from=init, ids=ids)
    return results
