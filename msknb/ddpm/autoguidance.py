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


#: what the pair outputs for the null mask of classifier-free guidance: the good model's own
#: unconditional output, the weak model's, or the autoguided one
NULL_BRANCHES = ("good", "weak", "guided")


class AutoGuided(nn.Module):
    """``good`` and ``bad`` (networks x (B, C + K, H, W), t (B,) -> (B, C, H, W), the same
    prediction target) as one network: ``bad(x, t) + weight * (good(x, t) - bad(x, t))`` for an
    input with a mask. For the all-zero null mask of classifier-free guidance, ``null`` says what
    the pair outputs: "good" (default) the good model's own unconditional output, so guidance on
    top pushes the autoguided output away from it; "weak" the weak model's (classifier-free
    guidance then pushes away from a weaker unconditional model too); "guided" the same formula."""

    def __init__(self, good: nn.Module, bad: nn.Module, weight: float, null: str = "good"):
        super().__init__()
        if not float(weight) >= 1.0:
            raise ConfigError(f"the autoguidance weight must be >= 1 (1 = the good model alone); got {weight}",
                              "autoguidance")
        if null not in NULL_BRANCHES:
            raise ConfigError(f"null must be one of {NULL_BRANCHES}; got {null!r}", "autoguidance")
        self.good, self.bad, self.weight, self.null = good, bad, float(weight), null
        for name in MODEL_ATTRIBUTES:
            if hasattr(good, name):
                setattr(self, name, getattr(good, name))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        conditional = self.conditional(x)
        if self.null == "weak" and not bool(conditional.any()):
            return self.bad(x, t)
        out = self.good(x, t)
        guided = conditional if self.null == "good" else torch.ones_like(conditional)
        if self.null == "weak" and not bool(conditional.all()):
            out[~conditional] = self.bad(x[~conditional], t[~conditional])
        if self.weight == 1.0 or not bool(guided.any()):
            return out
        bad = self.bad(x[guided], t[guided])
        out[guided] = bad + self.weight * (out[guided] - bad)
        return out

    def conditional(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the inputs that carry a mask (not the all-zero null mask of classifier-free
        guidance); all True for an unconditional model."""
        channels = int(getattr(self, "out_channels", getattr(self, "channels", 1)))   # the data channels
        if x.shape[1] <= channels:
            return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        return x[:, channels:].flatten(1).abs().amax(dim=1) > 0


def load_autoguided(good_path: str | Path, bad_path: str | Path, weight: float, null: str = "good"):
    """``(AutoGuided model, schedule, good config)`` from two checkpoints trained for the same
    task (same schedule, prediction, size and condition; ``null``: :class:`AutoGuided`);
    ConfigError naming both files when they differ."""
    good, schedule, config = load_model(good_path)
    bad, _, bad_config = load_model(bad_path)
    diff = [f"{k}: {getattr(config, k)!r} vs {getattr(bad_config, k)!r}" for k in SHARED_FIELDS
            if getattr(config, k) != getattr(bad_config, k)]
    if diff:
        raise ConfigError(f"{bad_path} cannot guide {good_path}: the two models were trained for different "
                          f"tasks ({'; '.join(diff)})", "autoguidance")
    return AutoGuided(good, bad, weight, null), schedule, config
