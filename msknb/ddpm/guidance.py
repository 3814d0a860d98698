"""The condition channels and classifier-free guidance as the samplers apply it (Ho & Salimans
2022): the scale w, the part of the chain where it acts (Kynkäänniemi et al. 2024), guidance
rescale (Lin et al. 2024), the part of the image where it acts (within r px of the mask) and the
scales it acts on (only structure coarser than a Gaussian of sigma px; cf. frequency-decoupled
guidance, Sadat et al. 2025).

:func:`with_condition` appends the condition (the mask; 0 = the null mask) to the network input.

``Guidance(w, interval, rescale)`` turns the network's conditional output c and null-mask
output u (both (B, C, H, W)) into u + w (c - u) at the guided steps (and pixels), c elsewhere. Lesson: notebook
04 (the guidance lab) and 07 (the settings screened for the shipped generator).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torchvision.transforms.functional import gaussian_blur

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
    the whole image), ``coarse`` sigma (px): guide only the part of c - u that survives a
    Gaussian blur of that sigma, the layout of bands and muscle, and leave the finer detail
    (speckle) as the plain conditional model draws it (None = every scale)."""

    w: float = 1.0
    interval: tuple[float, float] | None = None
    rescale: float = 0.0
    region: int | None = None
    coarse: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "w", float(self.w))
        object.__setattr__(self, "interval", check_guidance_interval(self.interval))
        if not 0.0 <= float(self.rescale) <= 1.0:
            raise ConfigError(f"guidance_rescale must be in [0, 1] (0 = off); got {self.rescale}", "guidance_rescale")
        object.__setattr__(self, "rescale", float(self.rescale))
        if self.region is not None and not int(self.region) >= 0:
            raise ConfigError(f"guidance_region must be a distance in px >= 0; got {self.region}", "guidance_region")
        if self.coarse is not None:
            if not float(self.coarse) > 0.0:
                raise ConfigError(f"guidance_coarse must be a Gaussian sigma in px > 0; got {self.coarse}",
                                  "guidance_coarse")
            object.__setattr__(self, "coarse", float(self.coarse))

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
        """c + (w - 1) (c - u) = u + w (c - u) on the ``guided`` (B,) items, c on the others
        (linear in the output, hence in eps), then :func:`rescaled_guidance`; with a ``region``,
        w only within it of the mask (``condition`` (B, K, H, W), channel 0 the mask in [-1, 1]);
        with ``coarse``, c - u low-passed by :func:`coarse_part` first."""
        w = torch.where(guided, self.w, 1.0).to(conditional.dtype).view(-1, *([1] * (conditional.dim() - 1)))
        if self.region is not None and condition is not None:
            w = 1.0 + (w - 1.0) * near_mask(condition[:, :1], int(self.region)).to(conditional.dtype)
        if self.coarse is None:
            guided_out = null + w * (conditional - null)
        else:
            guided_out = conditional + (w - 1.0) * coarse_part(conditional - null, self.coarse)
        return rescaled_guidance(guided_out, conditional, self.rescale)


def coarse_part(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` (B, C, H, W) blurred by a Gaussian of ``sigma`` px (kernel 2 ceil(3 sigma) + 1,
    reflected at the borders): the structure coarser than about sigma px."""
    return gaussian_blur(x, kernel_size=2 * math.ceil(3 * sigma) + 1, sigma=sigma)


def near_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, 1, H, W) bool: the pixels within ``radius`` px (square neighbourhood) of the mask
    (B, 1, H, W) in [-1, 1] (foreground > 0)."""
    fg = (mask > 0).float()
    if radius == 0:
        return fg > 0
    return torch.nn.functional.max_pool2d(fg, 2 * radius + 1, stride=1, padding=radius) > 0
