r"""Noise schedules of a diffusion process: beta_t and every per-timestep constant derived from it.

``make_schedule(kind, T)`` builds a :class:`Schedule` ('linear' as in Ho et al. 2020 and the
paper, 'cosine' (Nichol & Dhariwal 2021), 'quadratic', 'sigmoid'), optionally rescaled to
**zero terminal SNR** (Lin et al. 2024): with the paper's linear schedule and T = 300,
:math:`\sqrt{\bar\alpha_{T-1}} \approx 0.22` of the image is still in x_T, while sampling starts
from pure noise; the rescaling makes :math:`\bar\alpha_{T-1} = 0` exactly.
Checked against diffusers' ``DDPMScheduler`` in ``tests/test_diffusion.py``.
Re-exported by :mod:`msknb.ddpm.diffusion` (and ``msknb.diffusion``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from msknb.errors import ConfigError

SCHEDULE_KINDS = ("linear", "cosine", "quadratic", "sigmoid")


# --------------------------------------------------------------------------------------
# Noise schedules
# --------------------------------------------------------------------------------------
@dataclass
class Schedule:
    r"""All per-timestep constants of a diffusion process; every tensor is float32, shape (T,).

    * ``betas`` :math:`\beta_t`; ``alphas`` :math:`\alpha_t = 1-\beta_t`
    * ``alphas_cumprod`` :math:`\bar\alpha_t`; ``alphas_cumprod_prev`` :math:`\bar\alpha_{t-1}`
      (with :math:`\bar\alpha_{-1} = 1`)
    * ``sqrt_alphas_cumprod`` :math:`\sqrt{\bar\alpha_t}`, ``sqrt_one_minus_alphas_cumprod``
      :math:`\sqrt{1-\bar\alpha_t}` (signal and noise amplitudes of Eq. 2)
    * ``posterior_variance`` :math:`\tilde\beta_t = \beta_t(1-\bar\alpha_{t-1})/(1-\bar\alpha_t)`
      (0 at t = 0), ``posterior_log_variance_clipped`` = log β̃ with β̃_0 replaced by β̃_1
    * ``posterior_mean_coef1`` :math:`\beta_t\sqrt{\bar\alpha_{t-1}}/(1-\bar\alpha_t)` (× x_0),
      ``posterior_mean_coef2`` :math:`\sqrt{\alpha_t}(1-\bar\alpha_{t-1})/(1-\bar\alpha_t)` (× x_t)
    * ``snr`` signal-to-noise ratio :math:`\bar\alpha_t/(1-\bar\alpha_t)` (unitless power ratio)
    * ``zero_terminal_snr``: the betas were rescaled so that :math:`\bar\alpha_{T-1} = 0`
      (:func:`rescale_zero_terminal_snr`)

    ``timesteps`` is T, ``kind`` the schedule name. ``.to(device)`` returns a moved copy.
    """

    kind: str
    timesteps: int
    betas: torch.Tensor
    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_log_variance_clipped: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor
    snr: torch.Tensor
    zero_terminal_snr: bool = False

    def to(self, device) -> "Schedule":
        """A copy with every tensor on ``device``."""
        values = {}
        for f in fields(self):
            v = getattr(self, f.name)
            values[f.name] = v.to(device) if isinstance(v, torch.Tensor) else v
        return Schedule(**values)

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def __len__(self) -> int:
        return self.timesteps


def _betas_float64(kind: str, timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """β_t for ``kind`` in float64, shape (T,)."""
    T = timesteps
    if kind == "linear":
        # Ho et al. 2020: β from 1e-4 to 0.02, linearly. Like diffusers (and the "annotated
        # diffusion" code the paper uses), the end points are taken as given for any T
        # (they are NOT rescaled by 1000/T as in Improved DDPM).
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    if kind == "quadratic":
        # linear in sqrt(β) (diffusers' "scaled_linear" / annotated-diffusion "quadratic")
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float64) ** 2
    if kind == "sigmoid":
        # GeoDiff sigmoid schedule (diffusers' "sigmoid")
        s = torch.sigmoid(torch.linspace(-6.0, 6.0, T, dtype=torch.float64))
        return s * (beta_end - beta_start) + beta_start
    if kind == "cosine":
        # Nichol & Dhariwal 2021: ᾱ(τ) = cos²((τ + s)/(1 + s) · π/2), s = 0.008, τ = t/T;
        # β_t = 1 − ᾱ((t+1)/T)/ᾱ(t/T), clipped at 0.999 (diffusers' "squaredcos_cap_v2").
        s = 0.008

        def abar(tau: float) -> float:
            return math.cos((tau + s) / (1 + s) * math.pi / 2) ** 2

        return torch.tensor([min(1 - abar((i + 1) / T) / abar(i / T), 0.999) for i in range(T)],
                            dtype=torch.float64)
    raise ConfigError(f"unknown noise schedule {kind!r}; choose one of {', '.join(SCHEDULE_KINDS)}", "schedule")


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    r"""Rescale ``betas`` (T,) to zero terminal SNR (Lin et al. 2024, Algorithm 1): shift and
    scale :math:`\sqrt{\bar\alpha_t}` so that it keeps its first value and reaches exactly 0 at
    t = T-1, then recover the betas (the last one becomes 1). Same as diffusers'
    ``rescale_betas_zero_snr=True``. Returns betas of the input's dtype, shape (T,)."""
    abar_sqrt = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = abar_sqrt[0].clone(), abar_sqrt[-1].clone()
    abar_sqrt = (abar_sqrt - last) * first / (first - last)
    abar = abar_sqrt ** 2
    alphas = torch.cat([abar[0:1], abar[1:] / abar[:-1]])
    return 1.0 - alphas


def make_schedule(kind: str = "linear", timesteps: int = 300, device=None,
                  beta_start: float = 1e-4, beta_end: float = 0.02, zero_terminal_snr: bool = False) -> Schedule:
    r"""Build a :class:`Schedule` of ``kind`` ('linear', 'cosine', 'quadratic', 'sigmoid') with
    ``timesteps`` = T steps (the paper uses linear, T = 300); ``zero_terminal_snr`` rescales
    the betas with :func:`rescale_zero_terminal_snr` (x_T is then pure noise; train such a
    model with v- or x0-prediction: eps-prediction cannot recover x_0 from pure noise).

    All constants are computed in float64 and cast to float32 at the end (diffusers computes
    the cumulative product in float32; the two agree to ~1e-6 relative).
    ``beta_start``/``beta_end`` are used by linear, quadratic and sigmoid.
    Raises :class:`~msknb.errors.ConfigError` for an unknown kind, T < 2, or β out of (0, 1).
    """
    if not isinstance(kind, str) or kind not in SCHEDULE_KINDS:
        raise ConfigError(f"unknown noise schedule {kind!r}; choose one of {', '.join(SCHEDULE_KINDS)}", "schedule")
    try:
        T = int(timesteps)
    except (TypeError, ValueError):
        raise ConfigError(f"timesteps must be an integer >= 2, got {timesteps!r}", "timesteps") from None
    if T != timesteps or T < 2:
        raise ConfigError(f"timesteps must be an integer >= 2, got {timesteps!r}", "timesteps")
    if not (0 < beta_start < 1 and 0 < beta_end < 1):
        raise ConfigError(f"beta_start/beta_end must lie in (0, 1), got {beta_start}, {beta_end}", "beta_start")

    betas = _betas_float64(kind, T, float(beta_start), float(beta_end))
    if zero_terminal_snr:
        betas = rescale_zero_terminal_snr(betas)
    alphas = 1.0 - betas
    ac = torch.cumprod(alphas, dim=0)
    ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    # β̃_0 = 0, so its log is -inf; clip it to β̃_1 as in Ho et al.'s code
    post_logvar = torch.log(torch.cat([post_var[1:2], post_var[1:]]))
    values = dict(
        betas=betas,
        alphas=alphas,
        alphas_cumprod=ac,
        alphas_cumprod_prev=ac_prev,
        sqrt_alphas_cumprod=ac.sqrt(),
        sqrt_one_minus_alphas_cumprod=(1.0 - ac).sqrt(),
        posterior_variance=post_var,
        posterior_log_variance_clipped=post_logvar,
        posterior_mean_coef1=betas * ac_prev.sqrt() / (1.0 - ac),
        posterior_mean_coef2=alphas.sqrt() * (1.0 - ac_prev) / (1.0 - ac),
        snr=ac / (1.0 - ac),
    )
    values = {k: v.to(dtype=torch.float32, device=device) for k, v in values.items()}
    return Schedule(kind=kind, timesteps=T, **values, zero_terminal_snr=bool(zero_terminal_snr))


def snr_db(schedule: Schedule, t=None) -> torch.Tensor:
    r"""SNR(t) = ᾱ_t/(1−ᾱ_t) in decibels, :math:`10\log_{10}\mathrm{SNR}`; shape (T,) or like ``t``
    (-inf where ᾱ_t = 0, the last step of a zero-terminal-SNR schedule)."""
    snr = schedule.snr if t is None else schedule.snr[torch.as_tensor(t, device=schedule.device)]
    return 10.0 * torch.log10(snr)
