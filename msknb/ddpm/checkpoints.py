"""DDPM checkpoints: reading, checking, exporting, finding.

Two formats, both plain tensors and types that load with ``torch.load(weights_only=True)``:

* ``msknb-ddpm`` (the training state, ``<out>/checkpoint.pt``): model, EMA, optimiser, AMP
  scaler, every RNG state, step, losses (one per step), config, seconds, images/s;
* ``msknb-ddpm-ema`` (:func:`export_ema`, for sampling and shipping): EMA weights (fp16),
  config, step, losses.

Both carry ``training_ids`` / ``training_ids_sha256``: the real images the weights saw
(``msknb.ddpm.provenance``; None = unknown, e.g. files from before the record existed).

A checkpoint's ``config`` says what its weights mean (``prediction``, schedule); files from
before the prediction objectives existed read as eps-prediction.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from msknb.artifacts import DDPM_CHECKPOINT, ddpm_checkpoint, find_ddpm_checkpoint
from msknb.ddpm import diffusion as D
from msknb.ddpm.guidance import Guidance
from msknb.ddpm.mask_prior import fit_mask_prior
from msknb.ddpm.provenance import record, training_ids
from msknb.ddpm.config import ARCH_FIELDS, MEANING_FIELDS, RESUMABLE_CHANGES, TrainConfig, build_model, schedule_of
from msknb.ddpm.unet import DiffusionUNet
from msknb.errors import CheckpointError, ConfigError
from msknb.io import atomic_path, sha256_file
from msknb.paths import CHECKPOINTS_DIR

CHECKPOINT_NAME = DDPM_CHECKPOINT
#: the guidance settings a conditional export may store (:func:`set_guidance`)
GUIDANCE_KEYS = ("guidance", "guidance_interval", "guidance_rescale", "guidance_region", "guidance_coarse")
FORMAT_FULL = "msknb-ddpm"
FORMAT_EMA = "msknb-ddpm-ema"
#: samplers in words (msknb.ddpm.sample.METHODS)
SAMPLER_LABELS = {"ddim": "DDIM", "ddpm": "DDPM", "dpm++2m": "DPM-Solver++(2M)"}
SHIPPED_DDPM = "ddpm_dltrack_64.pt"
#: the shipped mask-conditioned generator (``python -m msknb sample --masks ...`` without --model)
SHIPPED_COND_DDPM = "ddpm_cond_dltrack_64.pt"
#: the default of `msknb sample`: the mask-conditioned generator at the paper's 256 px (folded, msknb.ddpm.fold)
SHIPPED_SAMPLE_DDPM = "ddpm_cond_dltrack_256.pt"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an msknb DDPM checkpoint (full training state or EMA-only export) with
    ``torch.load(weights_only=True)``; ``"config_obj"`` holds its :class:`TrainConfig`.
    Raises :class:`CheckpointError` naming the file when it is missing, unreadable, unsafe
    (pickled objects) or not an msknb DDPM checkpoint."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError("checkpoint file not found", p)
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds (UnpicklingError, RuntimeError, EOFError...)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"cannot read checkpoint ({type(e).__name__}: {msg[:200]})", p) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") not in (FORMAT_FULL, FORMAT_EMA):
        raise CheckpointError(f"not an msknb DDPM checkpoint (expected format {FORMAT_FULL!r} or {FORMAT_EMA!r})", p)
    try:
        ckpt["config_obj"] = TrainConfig.from_dict(ckpt["config"])
    except (KeyError, TypeError, ConfigError) as e:
        raise CheckpointError(f"checkpoint has an invalid config ({e})", p) from e
    return ckpt


def mismatches(saved: dict[str, Any], current: dict[str, Any], keys) -> list[str]:
    """``"key: checkpoint A vs now B"`` for each of ``keys`` whose values differ (tuples = lists)."""
    out = []
    for k in keys:
        a, b = saved.get(k), current.get(k)
        if isinstance(a, tuple):
            a = list(a)
        if isinstance(b, tuple):
            b = list(b)
        if a != b:
            out.append(f"{k}: checkpoint {a!r} vs now {b!r}")
    return out


def check_pretrained(path: str | Path, config: TrainConfig) -> tuple[bool, str]:
    """Whether the checkpoint at ``path`` can initialise a model for ``config`` (same
    architecture, schedule and prediction objective): ``(True, "")`` or ``(False, reason)``."""
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        return False, str(e)
    fields = ARCH_FIELDS + MEANING_FIELDS
    if config.mask_injection and not ckpt["config_obj"].mask_injection:   # the new layers start at zero
        fields = tuple(f for f in fields if f != "mask_injection")
    diff = mismatches(ckpt["config_obj"].to_dict(), config.to_dict(), fields)
    return (not diff), "; ".join(diff)


def init_mismatch(state: dict[str, Any], init_from: str | Path | None) -> str:
    """'' when a run saved as ``state`` may be resumed by a call that names ``init_from``
    (none named, or the run was initialised from a file with the same SHA-256), else why
    not: e.g. the shipped checkpoint was updated since the run started from it."""
    if init_from is None:
        return ""
    now = sha256_file(init_from)
    saved = state.get("started_from_sha256")
    if saved == now:
        return ""
    was = Path(state["started_from"]).name if state.get("started_from") else "random weights"
    return (f"started_from: checkpoint initialised from {was} (sha256 {(saved or 'unknown')[:12]}) "
            f"vs now {Path(init_from).name} (sha256 {now[:12]})")


def resume_mismatches(state: dict[str, Any], config: TrainConfig, init_from: str | Path | None = None,
                      n_images: int | None = None) -> list[str]:
    """Why a training state cannot be resumed with ``config`` (and ``init_from``, and
    ``n_images`` training images); [] when it can."""
    current = config.to_dict()
    diff = mismatches(state["config_obj"].to_dict(), current, [k for k in current if k not in RESUMABLE_CHANGES])
    if n_images is not None and int(state.get("n_images", n_images)) != n_images:
        diff.append(f"n_images: checkpoint {state['n_images']} vs now {n_images}")
    init_diff = init_mismatch(state, init_from)
    return diff + ([init_diff] if init_diff else [])


def resume_mismatch(ckpt_path: Path, config: TrainConfig, init_from: str | Path | None = None) -> str:
    """'' when ``ckpt_path`` is absent or resumable with ``config`` (and ``init_from``, see
    :func:`init_mismatch`), else the reason."""
    if not ckpt_path.is_file():
        return ""
    try:
        ck = load_checkpoint(ckpt_path)
    except CheckpointError as e:
        return str(e)
    if ck["format"] != FORMAT_FULL:
        return "holds EMA weights only"
    return "; ".join(resume_mismatches(ck, config, init_from))


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """``torch.save(state)`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def state_dict_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached, contiguous weights of ``model`` (unwrapped from DDP)."""
    m = model.module if hasattr(model, "module") else model
    return {k: v.detach().contiguous() for k, v in m.state_dict().items()}


def float_weights(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` with floating tensors as float32 (an fp16 export back to training precision)."""
    return {k: (v.float() if v.is_floating_point() else v) for k, v in weights.items()}


def ema_only_state(ckpt: dict[str, Any], half: bool = True) -> dict[str, Any]:
    """The EMA-only state (format ``msknb-ddpm-ema``) of a training state ``ckpt``:
    ``{"format", "config", "ema" (fp16 when ``half``), "step", "losses", "seconds",
    "training_ids", "training_ids_sha256", ...}``, loadable with :func:`load_model`."""
    ema = ckpt["ema"]
    if half:
        ema = {k: (v.half() if v.is_floating_point() else v) for k, v in ema.items()}
    return {"format": FORMAT_EMA, "version": 1, "config": ckpt["config"], "ema": ema,
            "step": int(ckpt["step"]), "losses": ckpt["losses"], "seconds": float(ckpt.get("seconds", 0.0)),
            "n_images": int(ckpt.get("n_images", 0)), "started_from": ckpt.get("started_from"),
            "dtype": "float16" if half else "float32", **record(training_ids(ckpt))}


def export_ema(checkpoint: str | Path, out_path: str | Path, half: bool = True,
               extra: dict[str, Any] | None = None) -> Path:
    """Write :func:`ema_only_state` of the training checkpoint file ``checkpoint`` (for
    sampling / shipping) to ``out_path``, with ``extra`` keys added. Returns ``out_path``."""
    state = ema_only_state(load_checkpoint(checkpoint), half)
    if extra:
        state.update(extra)
    return save_checkpoint(Path(out_path), state)


def average_snapshots(paths, out_path: str | Path, half: bool = True, extra: dict[str, Any] | None = None) -> Path:
    """Write the mean of the EMA weights of ``paths`` (snapshots of one run: the same network and
    training ids) as one EMA-only file: a longer weight average taken after the fact (the idea of
    Karras et al. 2024's post-hoc EMA, here a plain mean of snapshots). Step, seconds and ids come
    from the last file; ``averaged_steps`` lists each file's step. CheckpointError naming the file
    that does not match the first."""
    paths = [Path(x) for x in paths]
    if not paths:
        raise ConfigError("average_snapshots needs at least one snapshot", "paths")
    first = load_checkpoint(paths[0])
    total, steps, last = float_weights(first["ema"]), [int(first["step"])], first
    for path in paths[1:]:
        last = load_checkpoint(path)
        diff = mismatches(first["config"], last["config"], ARCH_FIELDS + MEANING_FIELDS)
        if diff or training_ids(last) != training_ids(first):
            raise CheckpointError(f"not a snapshot of the same run as {paths[0]} ({'; '.join(diff) or 'training ids'})",
                                  path)
        weights = float_weights(last["ema"])
        total = {k: v + weights[k] if v.is_floating_point() else v for k, v in total.items()}
        steps.append(int(last["step"]))
    mean = {k: v / len(paths) if v.is_floating_point() else v for k, v in total.items()}
    state = ema_only_state({**last, "ema": mean}, half)
    state.update(averaged_steps=steps, **(extra or {}))
    return save_checkpoint(Path(out_path), state)


def load_model(path: str | Path, map_location: str | torch.device = "cpu"
               ) -> tuple[DiffusionUNet, D.Schedule, TrainConfig]:
    """``(ema_model, schedule, config)`` from a checkpoint (training state or EMA-only),
    loaded weights-only; the model is float32, in eval mode, on ``map_location``, with
    ``model.prediction`` / ``model.image_size`` from the config.
    Raises :class:`CheckpointError` naming the file on any problem."""
    ckpt = load_checkpoint(path, map_location="cpu")
    config = ckpt["config_obj"]
    model = build_model(config)
    try:
        model.load_state_dict(float_weights(ckpt["ema"]))
    except RuntimeError as e:
        raise CheckpointError(f"weights do not fit the architecture in the checkpoint's config ({str(e)[:300]})",
                              path) from e
    model.to(map_location).eval().requires_grad_(False)
    return model, schedule_of(config), config


def pretrained_path(name: str | Path | None) -> Path | None:
    """Path of a shipped checkpoint (a name in ``msknb/checkpoints``, or any path);
    None when ``name`` is None or the file does not exist."""
    if not name:
        return None
    p = Path(name)
    for cand in (p, CHECKPOINTS_DIR / p):
        if cand.is_file():
            return cand
    return None


def find_checkpoint(out_dir: str | Path | None, pretrained: str | None = SHIPPED_DDPM) -> tuple[Path | None, str]:
    """The checkpoint notebook 04 samples from, and a sentence saying which and why:
    notebook 03's (``msknb.artifacts.find_ddpm_checkpoint``: ``out_dir/ddpm/checkpoint.pt``,
    else the first per-group one), else the shipped ``msknb/checkpoints/<pretrained>``
    (default ``ddpm_dltrack_64.pt``), else ``(None, reason)``."""
    if out_dir is not None:
        own = find_ddpm_checkpoint(out_dir)
        if own is not None and own == ddpm_checkpoint(out_dir):
            return own, f"using the model trained by 03_train_ddpm: {own}"
        if own is not None:
            return own, f"using the model trained by 03_train_ddpm for group {own.parent.name}"
    shipped = pretrained_path(pretrained or SHIPPED_DDPM)
    if shipped is not None:
        return shipped, (f"no checkpoint from 03_train_ddpm in {out_dir}; falling back to the shipped "
                         f"checkpoint {shipped.name}")
    return None, f"no checkpoint from 03_train_ddpm in {out_dir} and no shipped checkpoint"


def checkpoint_extras(path: str | Path) -> dict[str, Any]:
    """What a conditional export may carry besides weights: ``{"mask_prior": dict or None,
    "mean_image": (H, W) float32 numpy in [0, 1] or None, "guidance": float,
    "guidance_interval": (lo, hi) or None, "guidance_rescale": float, "guidance_region": int or
    None, "guidance_coarse": float or None}`` (None for files without them; the guidance settings
    are the ones chosen for the file on validation masks, written by :func:`set_guidance`;
    guidance 1.0 = plain conditional, interval None = every step, rescale 0 = off, region None =
    the whole image, coarse None = every scale)."""
    ckpt = load_checkpoint(path)
    mean = ckpt.get("mean_image")
    stored = Guidance(ckpt.get("guidance", 1.0), ckpt.get("guidance_interval"), ckpt.get("guidance_rescale", 0.0),
                      ckpt.get("guidance_region"), ckpt.get("guidance_coarse"))
    return {"mask_prior": ckpt.get("mask_prior"),
            "mean_image": None if mean is None else mean.float().numpy(), **_all_keys(stored)}


def _all_keys(setting: Guidance) -> dict[str, Any]:
    """Every one of :data:`GUIDANCE_KEYS` for ``setting`` (None where it is not set)."""
    return {"guidance": setting.w, "guidance_interval": setting.interval, "guidance_rescale": setting.rescale,
            "guidance_region": None if setting.region is None else int(setting.region),
            "guidance_coarse": setting.coarse}


def guidance_settings(path: str | Path, guidance: float | None = None) -> dict[str, Any]:
    """The guidance settings ``{"guidance", "guidance_interval", "guidance_rescale",
    "guidance_region", "guidance_coarse"}`` as stored in ``path`` by :func:`set_guidance`, or,
    when ``guidance`` is given, that scale at every step, unrescaled, over the whole image and
    every scale."""
    if guidance is not None:
        return _all_keys(Guidance(guidance))
    extras = checkpoint_extras(path)
    return {k: extras[k] for k in GUIDANCE_KEYS}


def stored_guidance(path: str | Path, guidance: float | None = None) -> Guidance:
    """:func:`guidance_settings` as the :class:`~msknb.ddpm.guidance.Guidance` samplers apply."""
    g = guidance_settings(path, guidance)
    return Guidance(g["guidance"], g["guidance_interval"], g["guidance_rescale"], g["guidance_region"],
                    g["guidance_coarse"])


def guidance_label(settings: dict[str, Any]) -> str:
    """``"w 2, t/T 0.2-0.8, rescale 0.7"``: a guidance setting (:func:`guidance_settings`, or a
    screen's sampler record, which may add a DDIM ``eta``, the ``method`` and ``steps``, named
    when not DDIM-25, and the weaker model of ``autoguidance``) in words."""
    lo_hi = settings.get("guidance_interval")
    parts = [f"w {settings.get('guidance', 1.0):g}", "every step" if not lo_hi else f"t/T {lo_hi[0]:g}-{lo_hi[1]:g}"]
    if settings.get("guidance_rescale"):
        parts.append(f"rescale {settings['guidance_rescale']:g}")
    if settings.get("guidance_region") is not None:
        parts.append(f"within {settings['guidance_region']} px of the mask")
    if settings.get("guidance_coarse") is not None:
        parts.append(f"structure coarser than {settings['guidance_coarse']:g} px only")
    if settings.get("eta"):
        parts.append(f"eta {settings['eta']:g}")
    ag = settings.get("autoguidance")
    if ag:
        parts.append(f"autoguided w {ag['weight']:g} by a width-{ag.get('bad_dim')} model at step {ag.get('bad_step')}"
                     + {"weak": " (its null output too)", "guided": " (null output autoguided)"}.get(ag.get("null"), ""))
    method = settings.get("method") or "ddim"
    if method != "ddim" or settings.get("steps") not in (None, 25):
        parts.append(f"{SAMPLER_LABELS.get(method, method)}-{settings.get('steps', 25)}")
    return ", ".join(parts)


def guidance_record(path: str | Path, guidance: float | None = None) -> dict[str, Any]:
    """:func:`guidance_settings` as a generator record writes them: ``{"guidance": w}``, plus
    ``guidance_interval``, ``guidance_rescale``, ``guidance_region`` and ``guidance_coarse`` only
    where they are set."""
    return _set_keys(stored_guidance(path, guidance))


def _set_keys(setting: Guidance) -> dict[str, Any]:
    """``{"guidance": w}``, plus ``guidance_interval`` (a list), ``guidance_rescale``,
    ``guidance_region`` and ``guidance_coarse`` where ``setting`` sets them: how files and
    records store a setting."""
    out: dict[str, Any] = {"guidance": setting.w}
    if setting.interval is not None:
        out["guidance_interval"] = list(setting.interval)
    if setting.rescale:
        out["guidance_rescale"] = setting.rescale
    if setting.region is not None:
        out["guidance_region"] = int(setting.region)
    if setting.coarse is not None:
        out["guidance_coarse"] = float(setting.coarse)
    return out


def set_guidance(path: str | Path, guidance: float, chosen_by: str,
                 interval: tuple[float, float] | None = None, rescale: float = 0.0, region: int | None = None,
                 coarse: float | None = None) -> Path:
    """Store the classifier-free guidance scale ``guidance`` (>= 1) that samplers use by
    default for the mask-conditioned checkpoint ``path``, with ``chosen_by`` (the
    benchmark and data it was chosen on), the ``interval`` (lo, hi) of t / (T - 1) where it
    applies (None = every step), the guidance ``rescale`` phi (0 = off), the ``region`` (px
    from the mask; None = the whole image) and the ``coarse`` sigma (px; None = every scale);
    weights untouched. Rewritten atomically."""
    if not float(guidance) >= 1.0:
        raise ConfigError(f"guidance must be >= 1 (1 = plain conditional), got {guidance}", "guidance")
    ckpt = load_checkpoint(path)
    if ckpt["config_obj"].condition is None:
        raise CheckpointError("not a mask-conditioned model: guidance needs one", path)
    setting = Guidance(guidance, interval, rescale, region, coarse)
    state = {k: v for k, v in ckpt.items() if k not in ("config_obj",) + GUIDANCE_KEYS[1:]}
    state.update(**_set_keys(setting), guidance_chosen_by=str(chosen_by))
    return save_checkpoint(Path(path), state)


def conditioning_extras(images, masks) -> dict[str, Any]:
    """The extras :func:`export_ema` stores with a mask-conditioned model, from its training
    data: ``mask_prior`` (:func:`msknb.ddpm.mask_prior.fit_mask_prior` of ``masks`` (N, H, W))
    and ``mean_image`` (the mean of ``images`` (N, H, W) in [0, 1], float32 tensor), so
    ``msknb sample --masks prior`` needs no data folder."""
    mean = torch.as_tensor(np.asarray(images, dtype=np.float32).mean(0))
    return {"mask_prior": fit_mask_prior(np.asarray(masks)), "mean_image": mean}
