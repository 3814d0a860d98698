"""Sampling a trained DDPM: ancestral DDPM, DDIM or DPM-Solver++(2M), in batches, seeded.

* :func:`sample_images` runs the reverse process of ``msknb.ddpm.diffusion`` on a network
  (made an eps-denoiser by ``D.make_denoiser`` for its prediction objective): ancestral
  DDPM (T network calls) or DDIM (``steps`` calls, Song et al. 2021) and returns images
  (n, C, H, W) in [0, 1]; in joint mode channel 1 is the generated aponeurosis mask.
* ``start_mean`` starts the chain from the forward marginal of a mean image,
  N(sqrt(abar_T) * mean, 1 - abar_T), instead of N(0, I): the fix for the brightness bias of
  a schedule whose x_T still holds signal (notebook 04).
* ``masks`` (N, H, W) {0, 1}: a mask-conditioned network (``condition='mask'``) draws one
  image per mask (``guidance`` w: classifier-free guidance, w = 1 plain conditional).
* :func:`time_samplers` measures DDPM-T vs DDIM-k wall time on the same model.
Writing the samples to disk is :mod:`msknb.ddpm.export`.
"""
from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from msknb.ddpm import diffusion as D
from msknb.ddpm.dpm_solver import dpm_solver_2m_sample_loop
from msknb.ddpm.unet import frozen_weights
from msknb.errors import ConfigError, DataError
from msknb.io import from_model, to_model

METHODS = ("ddpm", "ddim", "dpm++2m")


def _check_args(method: str, n: int, batch_size: int, schedule: D.Schedule, steps: int,
                spacing: str = "leading") -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown sampling method {method!r}; choose one of {', '.join(METHODS)}", "method")
    if int(n) < 1:
        raise ConfigError(f"n must be >= 1, got {n}", "n")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}", "batch_size")
    if method != "ddpm":
        D.ddim_timesteps(schedule.timesteps, steps, spacing)  # validates steps and spacing


def _start(schedule: D.Schedule, shape, gen: torch.Generator, device, start_mean) -> torch.Tensor | None:
    """x_T: None (the loop draws N(0, I)), or sqrt(abar_T) * mean + sqrt(1 - abar_T) * z with the
    same z the loop would have drawn."""
    if start_mean is None:
        return None
    z = torch.randn(tuple(shape), generator=gen).to(device)
    mean = to_model(np.asarray(start_mean, dtype=np.float32)).reshape(1, *shape[1:]).to(device)
    ab = float(schedule.alphas_cumprod[-1])
    return math.sqrt(ab) * mean + math.sqrt(1.0 - ab) * z


def check_masks(masks, size: int, condition: str | None) -> torch.Tensor | None:
    """Conditioning masks (N, H, W) {0, 1} (or > 0.5) -> condition tensor (N, 1, H, W) in
    [-1, 1] (CPU float32); None without masks. DataError naming 'masks' when the shape is not
    (N, size, size) or values are not finite; ConfigError when masks and model do not agree."""
    if masks is None:
        if condition is not None:
            raise ConfigError(f"the model is conditioned on {condition!r}: pass masks (N, H, W)", "masks")
        return None
    if condition == "mask+lowres":
        raise ConfigError("this model is the super-resolution stage of a cascade: it needs the low-res image too "
                          "(msknb.ddpm.cascade.sample_cascade)", "masks")
    if condition != "mask":
        raise ConfigError("masks given but the model is not mask-conditioned (config.condition is None)", "masks")
    m = np.asarray(masks, dtype=np.float32)
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 3 or m.shape[0] < 1 or m.shape[1:] != (size, size):
        raise DataError(f"masks must be (N, {size}, {size}) to match the model's image size, got {m.shape}", "masks")
    if not np.isfinite(m).all():
        raise DataError("masks contain NaN or inf", "masks")
    return torch.from_numpy((m > 0.5).astype(np.float32) * 2.0 - 1.0)[:, None]


def _conditions(model, size: int, n: int | None, masks, condition) -> tuple[torch.Tensor | None, int | None]:
    """``(condition tensor (N, K, H, W) or None, n)``: ``condition`` as given, else from ``masks``
    (:func:`check_masks`); with a condition, n is its N (an n that differs raises ConfigError)."""
    cond = condition.float().cpu() if condition is not None else check_masks(masks, size,
                                                                             getattr(model, "condition", None))
    if cond is None:
        return None, n
    if n is not None and int(n) != cond.shape[0]:
        raise ConfigError(f"n = {n} but {cond.shape[0]} masks were given (one image per mask)", "n")
    return cond, cond.shape[0]


def _loop(method, denoise, sched, shape, gen, one_bar, clip_x0, device, x_T, steps, eta,
          spacing="leading") -> torch.Tensor:
    if method == "ddpm":
        return D.ddpm_sample_loop(denoise, sched, shape, generator=gen, progress=one_bar, clip_x0=clip_x0,
                                  device=device, x_T=x_T)
    if method == "dpm++2m":
        return dpm_solver_2m_sample_loop(denoise, sched, shape, steps=steps, generator=gen, progress=one_bar,
                                         clip_x0=clip_x0, device=device, x_T=x_T, spacing=spacing)
    return D.ddim_sample_loop(denoise, sched, shape, steps=steps, eta=eta, generator=gen, progress=one_bar,
                              clip_x0=clip_x0, device=device, x_T=x_T, spacing=spacing)


@torch.inference_mode()
def sample_images(model: torch.nn.Module, schedule: D.Schedule, n: int | None, method: str = "ddpm", steps: int = 50,
                  eta: float = 0.0, seed: int = 0, batch_size: int = 16, progress: bool = True,
                  image_size: int | None = None, clip_x0: bool = True, prediction: str | None = None,
                  start_mean: np.ndarray | None = None, masks: np.ndarray | None = None,
                  guidance: float = 1.0, spacing: str | None = None, condition: torch.Tensor | None = None,
                  guidance_interval: tuple[float, float] | None = None, guidance_rescale: float = 0.0) -> np.ndarray:
    """Generate ``n`` samples with the (EMA) network ``model``.

    ``method`` 'ddpm' (ancestral, T network calls), 'ddim' (``steps`` calls, ``eta`` = 0 deterministic)
    or 'dpm++2m' (``steps`` calls, second order: :mod:`msknb.ddpm.dpm_solver`); their ``spacing`` "leading" /
    "trailing" (starts at t = T-1), None = trailing for a zero-terminal-SNR schedule, else leading. ``image_size`` defaults
    to ``model.image_size`` else 64 px; ``prediction`` (eps | x0 | v) to ``model.prediction`` else 'eps'. ``clip_x0`` (default) clips the estimate x̂_0 to [-1, 1] at every step, as
    Ho et al.'s released code and diffusers' ``clip_sample=True`` do (the annotated-diffusion
    sampler and notebook 02's oracle chains do not): at high noise x̂_0 divides by a small
    sqrt(abar), so a small error in the predicted noise becomes a large one in x̂_0; clipping
    keeps it in the range of real images. ``start_mean`` (C, H, W) or (H, W) in [0, 1]: start from the
    forward marginal of that image instead of N(0, I). Seeded: the same seed gives the same
    images (CPU). ``masks`` (N, H, W) {0, 1}, for a mask-conditioned model (``model.condition
    == 'mask'``) only: one image per mask (``n`` None or N), each drawn for its mask;
    ``guidance`` w (1 = plain conditional; needs a model trained with cond_dropout > 0),
    ``guidance_interval``, ``guidance_rescale``: :class:`msknb.ddpm.guidance.Guidance`. ``condition`` (N, K, H, W) in
    [-1, 1]: the condition channels themselves, in place of ``masks`` (the super-resolution
    stage of a cascade, :func:`msknb.ddpm.cascade.sample_cascade`).

    Returns float32 (n, C, H, W) in [0, 1] (C = model.channels; joint mode: channel 1 is
    the mask, still continuous -- binarise with ``> 0.5``).
    """
    size = int(image_size or getattr(model, "image_size", None) or 64)
    cond_all, n = _conditions(model, size, n, masks, condition)
    spacing = spacing or ("trailing" if schedule.zero_terminal_snr else "leading")
    _check_args(method, n, batch_size, schedule, steps, spacing)
    device = next(model.parameters()).device
    channels = int(getattr(model, "out_channels", getattr(model, "channels", 1)))
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(int(seed))
    sched = schedule.to(device)
    prediction = prediction or getattr(model, "prediction", "eps")
    out = []
    n_batches = math.ceil(n / batch_size)
    bar = tqdm(total=n, desc=f"{method.upper()} samples", unit="img") if progress and n_batches > 1 else None
    try:
        with frozen_weights(model):    # weight standardisation once per call, not once per step
            for b in range(n_batches):
                m = min(batch_size, n - b * batch_size)
                shape = (m, channels, size, size)
                x_T = _start(sched, shape, gen, device, start_mean)
                cond = None if cond_all is None else cond_all[b * batch_size:b * batch_size + m].to(device)
                denoise = D.make_denoiser(model, prediction, sched, condition=cond, guidance=guidance,
                                          guidance_interval=guidance_interval, guidance_rescale=guidance_rescale)
                x = _loop(method, denoise, sched, shape, gen, progress and n_batches == 1, clip_x0, device, x_T,
                          steps, eta, spacing)
                out.append(from_model(x.clamp(-1, 1)))
                if bar is not None:
                    bar.update(m)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return np.concatenate(out, axis=0).astype(np.float32)


def time_samplers(model: torch.nn.Module, schedule: D.Schedule, n: int = 4, ddim_steps: Sequence[int] | int = 50,
                  seed: int = 0, progress: bool = False, include_ddpm: bool = True,
                  return_images: bool = False) -> dict[str, Any]:
    """Wall time (seconds) of sampling ``n`` images in one batch with DDPM (T steps) and
    DDIM with each of ``ddim_steps``, same model, same starting seed.

    Returns ``{"ddpm_<T>": s, "ddim_<k>": s, ...}`` (+ ``"images": {name: (n, C, H, W)}``
    with ``return_images``)."""
    steps_list = [ddim_steps] if isinstance(ddim_steps, int) else list(ddim_steps)
    times: dict[str, Any] = {}
    images = {}
    runs = ([("ddpm", schedule.timesteps)] if include_ddpm else []) + [("ddim", k) for k in steps_list]
    for method, k in runs:
        t0 = time.perf_counter()
        x = sample_images(model, schedule, n, method=method, steps=k, seed=seed, batch_size=n, progress=progress)
        name = f"{method}_{k}"
        times[name] = time.perf_counter() - t0
        images[name] = x
    if return_images:
        times["images"] = images
    return times
