"""Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"):
the network output extrapolated away from a weaker model of the same task,

    out = out_bad + w (out_good - out_bad),

both conditioned on the same mask. Classifier-free guidance pushes away from the unconditional
output, which also pushes the image away from the data (the drawn images get smoother and more
uniform as w grows); the weaker model's errors are the same kind as the good model's, only
larger, so pushing away from them corrects the good model's own errors. The weaker model is
trained the same way with fewer weights or fewer steps (here: a width-16 U-Net, or an earlier
snapshot). w = 1 is the good model alone. Lesson: notebook 04 (the guidance lab), 07 (the screen).

:class:`AutoGuided` is a network like any other, so every sampler and classifier-free guidance
(with the null mask, left to the good model) apply to it unchanged.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from msknb.ddpm.checkpoints import load_model
from msknb.ddpm.config import MEANING_FIELDS
from msknb.errors import ConfigError

#: the attributes samplers read from a network; the guided pair takes them from the good model
MODEL_ATTRIBUTES = ("image_size", "prediction", "condition", "channels", "out_channels")
#: config fields the two models must share (what the outputs mean and what they are conditioned on)
SHARED_FIELDS = MEANING_FIELDS + ("image_size", "channels", "condition")


class AutoGuided(nn.Module):
    """``good`` and ``bad`` (networks x (B, C + K, H, W), t (B,) -> (B, C, H, W), the same
    prediction target) as one network: ``bad(x, t) + weight * (good(x, t) - bad(x, t))`` for an
    input with a mask; ``good(x, t)`` for the null mask, so that classifier-free guidance on top
    pushes the autoguided conditional output away from the good model's unconditional one."""

    def __init__(self, good: nn.Module, bad: nn.Module, weight: float):
        super().__init__()
        if not float(weight) >= 1.0:
            raise ConfigError(f"the autoguidance weight must be >= 1 (1 = the good model alone); got {weight}",
                              "autoguidance")
        self.good, self.bad, self.weight = good, bad, float(weight)
        for name in MODEL_ATTRIBUTES:
            if hasattr(good, name):
                setattr(self, name, getattr(good, name))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.good(x, t)
        conditional = self.conditional(x)
        if self.weight == 1.0 or not bool(conditional.any()):
            return out
        bad = self.bad(x[conditional], t[conditional])
        out[conditional] = bad + self.weight * (out[conditional] - bad)
        return out

    def conditional(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the inputs that carry a mask (not the all-zero null mask of classifier-free
        guidance, whose output stays the good model's own); all True for an unconditional model."""
        channels = int(getattr(self, "out_channels", getattr(self, "channels", 1)))   # the data channels
        if x.shape[1] <= channels:
            return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        return x[:, channels:].flatten(1).abs().amax(dim=1) > 0


def load_autoguided(good_path: str | Path, bad_path: str | Path, weight: float):
    """``(AutoGuided model, schedule, good config)`` from two checkpoints trained for the same
    task (same schedule, prediction, size and condition); ConfigError naming both files when
    they differ."""
    good, schedule, config = load_model(good_path)
    bad, _, bad_config = load_model(bad_path)
    diff = [f"{k}: {getattr(config, k)!r} vs {getattr(bad_config, k)!r}" for k in SHARED_FIELDS
            if getattr(config, k) != getattr(bad_config, k)]
    if diff:
        raise ConfigError(f"{bad_path} cannot guide {good_path}: the two models were trained for different "
                          f"tasks ({'; '.join(diff)})", "autoguidance")
    return AutoGuided(good, bad, weight), schedule, config
