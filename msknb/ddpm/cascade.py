"""A cascade: a small base model draws the image at low resolution, a super-resolution
diffusion model draws the full-size image given that low-res image (Ho et al. 2021,
"Cascaded diffusion models for high fidelity image generation").

The super-resolution stage is an ordinary mask-conditioned model whose condition has one
more channel (``TrainConfig.condition = "mask+lowres"``): the image shrunk to
``lowres_size`` px and blown up again (:func:`lowres_of`). While training, the low-res image
is the real one with Gaussian noise of a random SD in [0, ``lowres_noise``] added
(*noise conditioning augmentation*): at sampling time it comes from the base model, whose
images are never exactly real ones, and the noise teaches the stage not to copy flaws.
:func:`sample_cascade` runs both stages.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from msknb.data.resize import resize_mask
from msknb.ddpm.checkpoints import load_model
from msknb.ddpm.sample import sample_images
from msknb.ddpm.synthetic_set import draw_conditional
from msknb.errors import ConfigError


def lowres_of(x0: torch.Tensor, size: int) -> torch.Tensor:
    """``x0`` (B, C, H, W) shrunk to (size, size) by area averaging and blown up again to
    (H, W) bilinearly: what a ``size`` px model can say about the image."""
    small = F.interpolate(x0, size=(size, size), mode="area")
    return F.interpolate(small, size=tuple(x0.shape[-2:]), mode="bilinear", align_corners=False)


def lowres_condition(x0: torch.Tensor, mask: torch.Tensor, size: int, sigma: torch.Tensor,
                     noise: torch.Tensor) -> torch.Tensor:
    """The super-resolution condition (B, 2, H, W): ``mask`` (B, 1, H, W) in [-1, 1] and
    ``lowres_of(x0)`` + ``sigma`` (B,) x ``noise`` (B, 1, H, W)."""
    low = lowres_of(x0, size) + sigma.reshape(-1, 1, 1, 1).to(x0) * noise.to(x0)
    return torch.cat([mask, low], dim=1)


def sample_cascade(base: str | Path, stage: str | Path, masks: np.ndarray, steps: int = 25, seed: int = 0,
                   guidance: float | None = None, sigma: float | None = None, batch_size: int = 16,
                   progress: bool = False) -> np.ndarray:
    """Images float32 (N, H, W) in [0, 1], one per mask (N, H, W) {0, 1} at the stage's size:
    ``base`` (a mask-conditioned checkpoint at ``lowres_size`` px) draws each image small
    (DDIM-``steps``, its stored guidance unless ``guidance``), then ``stage`` (condition
    "mask+lowres") draws it full size (DDIM-``steps``) given the mask and the small image
    blown up, with noise of SD ``sigma`` (default half the stage's ``lowres_noise``)."""
    model, schedule, cfg = load_model(stage)
    if cfg.condition != "mask+lowres":
        raise ConfigError(f"{Path(stage).name} is not a super-resolution stage (condition {cfg.condition!r})", "stage")
    m = np.asarray(masks)
    if m.ndim != 3 or m.shape[1:] != (cfg.image_size, cfg.image_size):
        raise ConfigError(f"masks must be (N, {cfg.image_size}, {cfg.image_size}), got {m.shape}", "masks")
    small_masks = np.stack([resize_mask(x, cfg.lowres_size) for x in m])
    small, _ = draw_conditional(base, small_masks, steps=steps, seed=seed, batch_size=batch_size,
                                progress=progress, guidance=guidance)
    x_small = torch.from_numpy(small[:, :1]) * 2 - 1
    up = F.interpolate(x_small, size=(cfg.image_size, cfg.image_size), mode="bilinear", align_corners=False)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    s = 0.5 * cfg.lowres_noise if sigma is None else float(sigma)
    low = up + s * torch.randn(up.shape, generator=gen)
    cond = torch.cat([torch.from_numpy((m > 0.5).astype(np.float32) * 2 - 1)[:, None], low], dim=1)
    out = sample_images(model, schedule, None, method="ddim", steps=steps, seed=seed, batch_size=batch_size,
                        progress=progress, condition=cond)
    return out[:, 0]
