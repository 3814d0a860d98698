r"""The diffusion maths of DDPM (Ho et al. 2020) and DDIM (Song et al. 2021), written out by hand.

This module is what notebooks ``01_forward_diffusion`` and ``02_reverse_diffusion`` teach;
``tests/test_diffusion.py`` checks every formula against Hugging Face ``diffusers``
(``DDPMScheduler`` / ``DDIMScheduler``) to float32 precision.

Notation (Katakis et al. 2023, Eq. 1–3; Ho et al. 2020)
--------------------------------------------------------
* timesteps are ``t = 0 … T-1`` (0-based, as in diffusers); ``x_0`` is a clean image
  scaled to [-1, 1] (``x = 2 * image - 1``), shape ``(B, C, H, W)`` (any ``(B, ...)`` works).
* noise schedule :math:`\beta_t`, :math:`\alpha_t = 1-\beta_t`,
  :math:`\bar\alpha_t = \prod_{s\le t}\alpha_s`.
* forward step (Eq. 1): :math:`q(x_t|x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I)`
* closed form (Eq. 2): :math:`q(x_t|x_0) = \mathcal N(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I)`,
  i.e. :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`,
  :math:`\varepsilon\sim\mathcal N(0, I)`.
* reverse (Eq. 3): :math:`p_\theta(x_{t-1}|x_t) = \mathcal N(\mu_\theta(x_t,t),\ \Sigma_\theta(x_t,t))`,
  with :math:`\Sigma = \tilde\beta_t I` here ("fixed_small" in diffusers) and
  :math:`\mu_\theta` the mean of the true posterior :math:`q(x_{t-1}|x_t,x_0)` evaluated at the
  network's guess :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta)/\sqrt{\bar\alpha_t}`.

Everything is batched and device-agnostic: results live on the device (and in the dtype) of
the input tensors, whatever device the :class:`Schedule` is on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable, NamedTuple, Sequence

import torch

from msknb.errors import ConfigError

SCHEDULE_KINDS = ("linear", "cosine", "quadratic", "sigmoid")

DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``denoise_fn(x_t, t) -> eps``: ``x_t`` (B, C, H, W) float, ``t`` (B,) int64 → eps like ``x_t``."""


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


def make_schedule(kind: str = "linear", timesteps: int = 300, device=None,
                  beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    r"""Build a :class:`Schedule` of ``kind`` ('linear', 'cosine', 'quadratic', 'sigmoid') with
    ``timesteps`` = T steps (the paper uses linear, T = 300).

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
    return Schedule(kind=kind, timesteps=T, **values)


def snr_db(schedule: Schedule, t=None) -> torch.Tensor:
    r"""SNR(t) = ᾱ_t/(1−ᾱ_t) in decibels, :math:`10\log_{10}\mathrm{SNR}`; shape (T,) or like ``t``."""
    snr = schedule.snr if t is None else schedule.snr[torch.as_tensor(t, device=schedule.device)]
    return 10.0 * torch.log10(snr)


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------
def extract(a: torch.Tensor, t: torch.Tensor, x_shape: Sequence[int]) -> torch.Tensor:
    """Gather ``a[t]`` for a batch of timesteps and reshape for broadcasting.

    ``a`` (T,), ``t`` (B,) int64 (or an int) → (B, 1, 1, …) with ``len(x_shape)`` dims,
    on ``t``'s device.
    """
    t = torch.as_tensor(t, dtype=torch.long)
    if t.dim() == 0:
        t = t.expand(int(x_shape[0]))
    out = a.to(t.device)[t]
    return out.reshape(t.shape[0], *((1,) * (len(x_shape) - 1)))


def _tvec(t, x: torch.Tensor) -> torch.Tensor:
    """``t`` as an int64 tensor of shape (B,) on ``x``'s device (an int is broadcast)."""
    t = torch.as_tensor(t, dtype=torch.long, device=x.device)
    if t.dim() == 0:
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must be an int or a (B,) tensor with B = {x.shape[0]}, got shape {tuple(t.shape)}")
    return t


def _coef(a: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``a[t]`` shaped (B, 1, …) on x's device and in x's dtype."""
    return extract(a, t, x.shape).to(dtype=x.dtype)


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise like ``x``; drawn with ``generator`` on its own device, then moved."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)


# --------------------------------------------------------------------------------------
# Forward process q
# --------------------------------------------------------------------------------------
def q_sample(schedule: Schedule, x0: torch.Tensor, t, noise: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Sample the closed form :math:`q(x_t|x_0)` (Eq. 2), jumping straight from x_0 to step t:

    .. math:: x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\qquad
              \varepsilon\sim\mathcal N(0, I)

    ``x0`` (B, C, H, W) in [-1, 1]; ``t`` int or (B,) int64; ``noise`` like x0 (drawn with
    ``generator`` when None). Returns x_t like x0. Same as ``DDPMScheduler.add_noise``.
    """
    t = _tvec(t, x0)
    if noise is None:
        noise = _randn_like(x0, generator)
    return _coef(schedule.sqrt_alphas_cumprod, t, x0) * x0 + _coef(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * noise


def q_step(schedule: Schedule, x_prev: torch.Tensor, t, noise: torch.Tensor | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    r"""One forward step :math:`q(x_t|x_{t-1})` (Eq. 1):

    .. math:: x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon

    ``x_prev`` = x_{t−1} (B, C, H, W) (for t = 0 this is the clean image); ``t`` int or (B,).
    Applying it for t = 0, 1, …, t gives the same distribution as :func:`q_sample` at t.
    """
    t = _tvec(t, x_prev)
    if noise is None:
        noise = _randn_like(x_prev, generator)
    return _coef(schedule.alphas, t, x_prev).sqrt() * x_prev + _coef(schedule.betas, t, x_prev).sqrt() * noise


def posterior_mean_variance(schedule: Schedule, x0: torch.Tensor, x_t: torch.Tensor, t):
    r"""Mean, variance and clipped log-variance of the forward posterior :math:`q(x_{t-1}|x_t, x_0)`:

    .. math:: \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0
              + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t,\qquad
              \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t

    ``x0``, ``x_t`` (B, C, H, W); ``t`` int or (B,). Returns ``(mean, variance, log_variance)``:
    mean like x_t, variance and log_variance (B, 1, 1, 1).
    """
    t = _tvec(t, x_t)
    mean = _coef(schedule.posterior_mean_coef1, t, x_t) * x0 + _coef(schedule.posterior_mean_coef2, t, x_t) * x_t
    return mean, _coef(schedule.posterior_variance, t, x_t), _coef(schedule.posterior_log_variance_clipped, t, x_t)


def predict_x0(schedule: Schedule, x_t: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
    r"""Invert Eq. 2 for x_0 given the noise: :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon)/\sqrt{\bar\alpha_t}`."""
    t = _tvec(t, x_t)
    return (x_t - _coef(schedule.sqrt_one_minus_alphas_cumprod, t, x_t) * eps) / _coef(schedule.sqrt_alphas_cumprod, t, x_t)


def predict_eps(schedule: Schedule, x_t: torch.Tensor, t, x0: torch.Tensor) -> torch.Tensor:
    r"""Invert Eq. 2 for the noise given x_0: :math:`\varepsilon = (x_t - \sqrt{\bar\alpha_t}\,x_0)/\sqrt{1-\bar\alpha_t}`."""
    t = _tvec(t, x_t)
    return (x_t - _coef(schedule.sqrt_alphas_cumprod, t, x_t) * x0) / _coef(schedule.sqrt_one_minus_alphas_cumprod, t, x_t)


# --------------------------------------------------------------------------------------
# Reverse process p_θ
# --------------------------------------------------------------------------------------
class PMeanVar(NamedTuple):
    """Output of :func:`p_mean_variance`: mean like x_t, variance/log_variance (B, 1, 1, 1), x0_pred like x_t."""

    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor
    x0_pred: torch.Tensor


def p_mean_variance(schedule: Schedule, eps: torch.Tensor, x_t: torch.Tensor, t, clip_x0: bool = False) -> PMeanVar:
    r"""The reverse Gaussian :math:`p_\theta(x_{t-1}|x_t) = \mathcal N(\mu_\theta, \tilde\beta_t I)` (Eq. 3)
    for a predicted noise ``eps`` (B, C, H, W):

    :math:`\hat x_0 = ` :func:`predict_x0` (clamped to [-1, 1] if ``clip_x0``), then
    :math:`\mu_\theta = \tilde\mu_t(\hat x_0, x_t)` from :func:`posterior_mean_variance`.
    Returns :class:`PMeanVar` ``(mean, variance, log_variance, x0_pred)``.
    """
    x0_pred = predict_x0(schedule, x_t, t, eps)
    if clip_x0:
        x0_pred = x0_pred.clamp(-1.0, 1.0)
    mean, var, logvar = posterior_mean_variance(schedule, x0_pred, x_t, t)
    return PMeanVar(mean, var, logvar, x0_pred)


def ddpm_step(schedule: Schedule, eps: torch.Tensor, x_t: torch.Tensor, t, noise: torch.Tensor | None = None,
              generator: torch.Generator | None = None, clip_x0: bool = False,
              return_x0: bool = False):
    r"""One ancestral DDPM step x_t → x_{t−1} (Ho et al. Alg. 2):

    .. math:: x_{t-1} = \mu_\theta(x_t, t) + \sqrt{\tilde\beta_t}\,z,\qquad z\sim\mathcal N(0, I),
              \ z = 0 \text{ at } t = 0

    (variance β̃_t = diffusers' ``variance_type="fixed_small"``). ``eps`` = ε_θ(x_t, t) like x_t;
    ``t`` int or (B,); ``noise`` z like x_t (drawn with ``generator`` when None).
    Returns x_{t−1}, or ``(x_{t−1}, x0_pred)`` with ``return_x0``.
    """
    t = _tvec(t, x_t)
    out = p_mean_variance(schedule, eps, x_t, t, clip_x0=clip_x0)
    if noise is None:
        noise = _randn_like(x_t, generator)
    nonzero = (t > 0).to(x_t.dtype).reshape(-1, *((1,) * (x_t.dim() - 1)))
    x_prev = out.mean + nonzero * out.variance.sqrt() * noise
    return (x_prev, out.x0_pred) if return_x0 else x_prev


def ddim_timesteps(timesteps: int, steps: int) -> list[int]:
    """The ``steps`` timesteps a DDIM sampler visits, from high to low, with diffusers' "leading"
    spacing: ``[k·r for k = steps−1 … 0]``, ``r = timesteps // steps`` (e.g. T = 300, 50 steps →
    294, 288, …, 6, 0). Raises ConfigError unless 1 <= steps <= timesteps."""
    if not (1 <= int(steps) <= int(timesteps)):
        raise ConfigError(f"DDIM steps must be between 1 and timesteps={timesteps}, got {steps}", "steps")
    ratio = int(timesteps) // int(steps)
    return [k * ratio for k in range(int(steps) - 1, -1, -1)]


def ddim_step(schedule: Schedule, eps: torch.Tensor, x_t: torch.Tensor, t, t_prev, eta: float = 0.0,
              noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
              clip_x0: bool = False, return_x0: bool = False):
    r"""One DDIM step x_t → x_{t_prev} (Song et al. 2021, Eq. 12), skipping steps when t_prev < t−1:

    .. math:: x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}-\sigma^2}\,\varepsilon_\theta
              + \sigma z,\qquad
              \sigma = \eta\sqrt{\frac{1-\bar\alpha_{t'}}{1-\bar\alpha_t}\Bigl(1-\frac{\bar\alpha_t}{\bar\alpha_{t'}}\Bigr)}

    with :math:`\bar\alpha_{t'} = 1` for t_prev < 0 (the last step). eta = 0 is deterministic;
    eta = 1 with t_prev = t−1 is DDPM. ``t``/``t_prev`` int or (B,). Returns x_{t_prev}
    (or ``(x_{t_prev}, x0_pred)`` with ``return_x0``). Matches ``DDIMScheduler.step``.
    """
    t = _tvec(t, x_t)
    t_prev = _tvec(t_prev, x_t)
    ac_t = _coef(schedule.alphas_cumprod, t, x_t)
    ac_full_prev = _coef(schedule.alphas_cumprod, t_prev.clamp(min=0), x_t)
    ac_prev = torch.where((t_prev >= 0).reshape(ac_t.shape), ac_full_prev, torch.ones_like(ac_full_prev))
    x0_pred = (x_t - (1 - ac_t).sqrt() * eps) / ac_t.sqrt()
    if clip_x0:
        x0_pred = x0_pred.clamp(-1.0, 1.0)
        eps = (x_t - ac_t.sqrt() * x0_pred) / (1 - ac_t).sqrt()
    var = (1 - ac_prev) / (1 - ac_t) * (1 - ac_t / ac_prev)
    sigma = eta * var.clamp(min=0).sqrt()
    x_prev = ac_prev.sqrt() * x0_pred + (1 - ac_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    if eta > 0:
        if noise is None:
            noise = _randn_like(x_t, generator)
        x_prev = x_prev + sigma * noise
    return (x_prev, x0_pred) if return_x0 else x_prev


# --------------------------------------------------------------------------------------
# Sampling loops
# --------------------------------------------------------------------------------------
def _init_noise(schedule: Schedule, shape, generator, device) -> torch.Tensor:
    if device is None:
        device = generator.device if generator is not None else schedule.device
    x = torch.randn(tuple(shape), generator=generator,
                    device=generator.device if generator is not None else device)
    return x.to(device)


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)


@torch.no_grad()
def ddpm_sample_loop(denoise_fn: DenoiseFn, schedule: Schedule, shape: Sequence[int],
                     generator: torch.Generator | None = None, progress: bool = True,
                     return_trajectory: bool = False, trajectory_every: int = 1,
                     clip_x0: bool = False, device=None, x_T: torch.Tensor | None = None):
    r"""Ancestral DDPM sampling: x_T ~ N(0, I), then :func:`ddpm_step` for t = T−1 … 0.

    ``denoise_fn(x_t, t_batch) -> eps`` with x_t of ``shape`` (B, C, H, W) and t_batch (B,)
    int64. ``device`` defaults to the generator's (else the schedule's); ``x_T`` overrides the
    starting noise. Returns x_0 (``shape``, roughly in [-1, 1]); with ``return_trajectory``,
    ``(x_0, trajectory)`` where trajectory is a list of ``(t, x_t, x0_pred)`` (CPU tensors),
    one per ``trajectory_every`` steps plus t = 0 — mind the memory (T × 2 × batch).
    """
    x = _init_noise(schedule, shape, generator, device) if x_T is None else x_T.clone()
    traj = []
    T = schedule.timesteps
    for t in _progress(range(T - 1, -1, -1), progress, "DDPM sampling"):
        tb = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps = denoise_fn(x, tb)
        x_new, x0_pred = ddpm_step(schedule, eps, x, tb, generator=generator, clip_x0=clip_x0, return_x0=True)
        if return_trajectory and (t % max(1, trajectory_every) == 0 or t == T - 1):
            traj.append((t, x.detach().cpu(), x0_pred.detach().cpu()))
        x = x_new
    return (x, traj) if return_trajectory else x


@torch.no_grad()
def ddim_sample_loop(denoise_fn: DenoiseFn, schedule: Schedule, shape: Sequence[int], steps: int = 50,
                     eta: float = 0.0, generator: torch.Generator | None = None, progress: bool = True,
                     return_trajectory: bool = False, clip_x0: bool = False, device=None,
                     x_T: torch.Tensor | None = None):
    r"""DDIM sampling with ``steps`` steps over :func:`ddim_timesteps` (eta = 0: deterministic,
    a fixed x_T always gives the same x_0). Arguments and return value as
    :func:`ddpm_sample_loop`; the trajectory has one ``(t, x_t, x0_pred)`` per step.
    """
    x = _init_noise(schedule, shape, generator, device) if x_T is None else x_T.clone()
    ts = ddim_timesteps(schedule.timesteps, steps)
    ratio = schedule.timesteps // steps
    traj = []
    for t in _progress(ts, progress, "DDIM sampling"):
        tb = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps = denoise_fn(x, tb)
        x_new, x0_pred = ddim_step(schedule, eps, x, tb, t - ratio, eta=eta, generator=generator,
                                   clip_x0=clip_x0, return_x0=True)
        if return_trajectory:
            traj.append((t, x.detach().cpu(), x0_pred.detach().cpu()))
        x = x_new
    return (x, traj) if return_trajectory else x


def oracle_denoiser(schedule: Schedule, x0: torch.Tensor) -> DenoiseFn:
    r"""A "perfect network" for teaching: ``denoise_fn(x_t, t)`` returning the exact noise
    :math:`\varepsilon = (x_t - \sqrt{\bar\alpha_t}\,x_0)/\sqrt{1-\bar\alpha_t}` for the known ``x0``
    (B, C, H, W). Any reverse chain (DDPM or DDIM) driven by it ends at x0 (up to float error).
    """
    def denoise_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return predict_eps(schedule, x_t, t, x0.to(device=x_t.device, dtype=x_t.dtype))

    return denoise_fn


def diffusion_loss(denoise_fn: DenoiseFn, schedule: Schedule, x0: torch.Tensor, t=None,
                   noise: torch.Tensor | None = None, loss: str = "l1",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The simplified DDPM training objective :math:`\|\varepsilon - \varepsilon_\theta(x_t, t)\|`
    ("l1", as in the paper, or "l2"/"mse", or "huber") for x0 (B, C, H, W), with t uniform in
    [0, T) when None. Returns a scalar tensor."""
    if t is None:
        t = torch.randint(0, schedule.timesteps, (x0.shape[0],), generator=generator,
                          device=generator.device if generator is not None else "cpu").to(x0.device)
    t = _tvec(t, x0)
    if noise is None:
        noise = _randn_like(x0, generator)
    pred = denoise_fn(q_sample(schedule, x0, t, noise), t)
    if loss == "l1":
        return torch.nn.functional.l1_loss(pred, noise)
    if loss in ("l2", "mse"):
        return torch.nn.functional.mse_loss(pred, noise)
    if loss == "huber":
        return torch.nn.functional.smooth_l1_loss(pred, noise)
    raise ConfigError(f"unknown loss {loss!r}; choose l1, l2 or huber", "loss")
