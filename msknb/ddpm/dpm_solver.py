r"""DPM-Solver++(2M): a second-order sampler for the same ODE DDIM solves (Lu et al. 2022,
"DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models", Alg. 2).

DDIM takes each step as if the network's clean-image estimate x̂_0 stayed constant between
two timesteps (first order). DPM-Solver++(2M) also uses the previous step's x̂_0 to follow
how the estimate changes (a linear extrapolation in log-SNR), one network call per step as
DDIM. In log-SNR :math:`\lambda = \log(\alpha/\sigma)` with :math:`\alpha = \sqrt{\bar\alpha}`,
:math:`\sigma = \sqrt{1-\bar\alpha}` and :math:`h_i = \lambda_{t_i} - \lambda_{t_{i-1}}`:

.. math:: x_{t_i} = \frac{\sigma_{t_i}}{\sigma_{t_{i-1}}}\,x_{t_{i-1}}
          + \alpha_{t_i}\,(1 - e^{-h_i})\,D_i,\qquad
          D_i = \Bigl(1 + \frac{1}{2r_i}\Bigr)\hat x_0^{(i-1)} - \frac{1}{2r_i}\hat x_0^{(i-2)},\quad
          r_i = h_{i-1}/h_i

(D_i = x̂_0 on the first step and on the last, which lands on ᾱ = 1: diffusers'
``DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2,
final_sigmas_type="zero")``, checked in the tests). With a zero-terminal-SNR schedule the
first step starts at λ = −∞: e^{-h} = 0 there, and the step after it is first order too.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from msknb.ddpm import diffusion as D


def _alpha_sigma(schedule: D.Schedule, t: int) -> tuple[float, float]:
    """(sqrt(abar_t), sqrt(1 - abar_t)) as floats; t = -1 is the clean image (1, 0)."""
    if t < 0:
        return 1.0, 0.0
    abar = float(schedule.alphas_cumprod[t])
    return math.sqrt(abar), math.sqrt(max(0.0, 1.0 - abar))


def _log_snr(alpha: float, sigma: float) -> float:
    """lambda = log(alpha / sigma) (-inf where alpha = 0, +inf where sigma = 0)."""
    if alpha == 0.0:
        return -math.inf
    return math.inf if sigma == 0.0 else math.log(alpha / sigma)


def dpm_solver_2m_step(x_t: torch.Tensor, x0: torch.Tensor, x0_prev: torch.Tensor | None,
                       alpha_sigma_t: tuple[float, float], alpha_sigma_next: tuple[float, float],
                       h_prev: float | None) -> tuple[torch.Tensor, float]:
    """One DPM-Solver++(2M) step from t (``x_t``, estimate ``x0``) to the next timestep;
    ``x0_prev``/``h_prev``: the previous step's estimate and log-SNR step (None on the first).
    Returns ``(x_next, h)``; the step is first order when there is no previous step, when
    the previous step was infinite, or when the next timestep is the clean image."""
    (a_s, s_s), (a_t, s_t) = alpha_sigma_t, alpha_sigma_next
    h = _log_snr(a_t, s_t) - _log_snr(a_s, s_s)
    decay = 0.0 if (a_s == 0.0 or s_t == 0.0) else (a_s * s_t) / (s_s * a_t)  # e^{-h}
    d = x0
    if x0_prev is not None and h_prev is not None and math.isfinite(h_prev) and s_t > 0.0:
        c = h / (2.0 * h_prev)  # 1 / (2 r)
        d = (1.0 + c) * x0 - c * x0_prev
    return (s_t / s_s) * x_t + a_t * (1.0 - decay) * d, h


@torch.no_grad()
def dpm_solver_2m_sample_loop(denoise_fn: D.DenoiseFn, schedule: D.Schedule, shape: Sequence[int],
                              steps: int = 25, generator: torch.Generator | None = None, progress: bool = True,
                              clip_x0: bool = False, device=None, x_T: torch.Tensor | None = None,
                              spacing: str = "trailing") -> torch.Tensor:
    """DPM-Solver++(2M) sampling over the ``steps`` timesteps of :func:`D.ddim_timesteps`
    (``spacing``), deterministic (a fixed x_T always gives the same x_0). ``clip_x0`` clips
    each x̂_0 to [-1, 1] before it is used. Other arguments and the return value (x_0 of
    ``shape``) as :func:`D.ddim_sample_loop`."""
    x = D.init_noise(schedule, shape, generator, device) if x_T is None else x_T.clone()
    ts = D.ddim_timesteps(schedule.timesteps, steps, spacing)
    x0_prev, h_prev = None, None
    for i, t in enumerate(D.progress_bar(ts, progress, "DPM-Solver++(2M) sampling")):
        t_next = ts[i + 1] if i + 1 < len(ts) else -1
        tb = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps, x0 = D.eps_and_x0(denoise_fn, x, tb)
        if x0 is None:
            x0 = D.predict_x0(schedule, x, tb, eps)
        if clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
        x, h = dpm_solver_2m_step(x, x0, x0_prev, _alpha_sigma(schedule, t), _alpha_sigma(schedule, t_next), h_prev)
        x0_prev, h_prev = x0, h
    return x
