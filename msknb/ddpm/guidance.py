"""The condition channels and classifier-free guidance as the samplers apply it (Ho & Salimans
2022): the scale w, the part of the chain where it acts (Kynkäänniemi et al. 2024), guidance
rescale (Lin et al. 2024) and the part of the image where it acts (within r px of the mask).

:func:`with_condition` appends the condition (the mask; 0 = the null mask) to the network input.

``Guidance(w, interval, rescale)`` turns the network's conditional output c and null-mask
output u (both (B, C, H, W)) into u + w (c - u) at the guided steps (and pixels), c elsewhere. Lesson: notebook
04 (the guidance lab) and 07 (the settings screened for the shipped generator).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from msknb.errors import ConfigError


def with_condition(x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
    """The network input: ``x`` (B, C, H, W) with the ``condition`` channels (B, K, H, W) (e.g.
    the aponeurosis mask in [-1, 1]; 0 = the null mask of classifier-free guidance) appended;
    ``x`` itself when ``condition`` is None. Used by training and sampling alike."""
    if condition is None:
        return x
    return torch.cat([x, condition.to(device=x.device, dtype=x.dtype)], dim=1)


def check_guidance_interval(interval) -> tuple[float, float] | None:
    """``interval`` as a (lo, hi) float pair with 0 <= lo <= hi <= 1 (fractions of T - 1), or
    None; ConfigError otherwise."""
    if interval is None:
        return None
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise ConfigError(f"guidance_interval must be two numbers (lo, hi) in [0, 1]; got {interval!r}",
                          "guidance_interval") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise ConfigError(f"guidance_interval must satisfy 0 <= lo <= hi <= 1 (fractions of the "
                          f"diffusion steps); got ({lo}, {hi})", "guidance_interval")
    return lo, hi


def rescaled_guidance(guided: torch.Tensor, conditional: torch.Tensor, phi: float) -> torch.Tensor:
    """Guidance rescale (Lin et al. 2024, sec. 3.4): the guided output (B, C, H, W) scaled to the
    per-image standard deviation of the plain ``conditional`` output, mixed back with weight
    ``phi`` (0 = the guided output as is). Large w inflates the output's spread, which with a
    zero-terminal-SNR schedule over-exposes the image; rescaling undoes the inflation."""
    if phi == 0.0:
        return guided
    dims = tuple(range(1, guided.dim()))
    rescaled = guided * (conditional.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
    return phi * rescaled + (1.0 - phi) * guided


@dataclass(frozen=True)
class Guidance:
    """Scale ``w`` (1 = plain conditional), ``interval`` (lo, hi): guide only where
    lo <= t / (T - 1) <= hi (None = every step), ``rescale`` phi in [0, 1] (0 = off),
    ``region`` r (px): guide only within r px of the mask (plain conditional elsewhere; None =
    the whole image)."""

    w: float = 1.0
    interval: tuple[float, float] | None = None
    rescale: float = 0.0
    region: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "w", float(self.w))
        object.__setattr__(self, "interval", check_guidance_interval(self.interval))
        if not 0.0 <= float(self.rescale) <= 1.0:
            raise ConfigError(f"guidance_rescale must be in [0, 1] (0 = off); got {self.rescale}", "guidance_rescale")
        object.__setattr__(self, "rescale", float(self.rescale))
        if self.region is not None and not int(self.region) >= 0:
            raise ConfigError(f"guidance_region must be a distance in px >= 0; got {self.region}", "guidance_region")

    def guided_steps(self, t: torch.Tensor, timesteps: int) -> torch.Tensor:
        """(B,) bool for the timesteps ``t`` (B,) of a chain of ``timesteps``: where w applies."""
        if self.w == 1.0:
            return torch.zeros_like(t, dtype=torch.bool)
        if self.interval is None:
            return torch.ones_like(t, dtype=torch.bool)
        frac = t.double() / max(int(timesteps) - 1, 1)
        return (frac >= self.interval[0]) & (frac <= self.interval[1])

    def combine(self, conditional: torch.Tensor, null: torch.Tensor, guided: torch.Tensor,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """u + w (c - u) on the ``guided`` (B,) items, c on the others (linear in the output,
        hence in eps), then :func:`rescaled_guidance`; with a ``region``, w only within it of
        the mask (``condition`` (B, K, H, W), channel 0 the mask in [-1, 1])."""
        w = torch.where(guided, self.w, 1.0).to(conditional.dtype).view(-1, *([1] * (conditional.dim() - 1)))
        if self.region is not None and condition is not None:
            w = 1.0 + (w - 1.0) * near_mask(condition[:, :1], int(self.region)).to(conditional.dtype)
        return rescaled_guidance(null + w * (conditional - null), conditional, self.rescale)


def near_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, 1, H, W) bool: the pixels within ``radius`` px (square neighbourhood) of the mask
    (B, 1, H, W) in [-1, 1] (foreground > 0)."""
    fg = (mask > 0).float()
    if radius == 0:
        return fg > 0
    return torch.nn.functional.max_pool2d(fg, 2 * radius + 1, stride=1, padding=radius) > 0
