r"""The diffusion maths of DDPM (Ho et al. 2020) and DDIM (Song et al. 2021), written out by hand.

This module is what notebooks ``01_forward_diffusion`` and ``02_reverse_diffusion`` teach;
``tests/test_diffusion.py`` checks every formula against Hugging Face ``diffusers``
(``DDPMScheduler`` / ``DDIMScheduler``) to float32 precision.

Notation (Katakis et al. 2023, Eq. 1–3; Ho et al. 2020)
--------------------------------------------------------
* timesteps are ``t = 0 … T-1`` (0-based, as in diffusers); the code's t is Ho et al.'s
  t + 1: ``alphas_cumprod[t]`` is Ho's :math:`\bar\alpha_{t+1}`, ``q_sample(x0, t)`` Ho's
  x_{t+1}; sampling starts from noise fed at t = T-1 (Ho's x_T) and the step at t = 0 returns
  x_0. ``x_0`` is a clean image
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
* prediction objectives (:data:`PREDICTIONS`): the network may output the noise ``eps``
  (Ho et al., the paper), the clean image ``x0``, or the velocity
  :math:`v = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0` (Salimans & Ho 2022);
  :func:`prediction_target` is its training target, :func:`to_eps_x0` turns its output into
  (eps, x0), :func:`make_denoiser` wraps a network for the samplers.

The noise schedules live in :mod:`msknb.ddpm.schedules` and are re-exported here.

Everything is batched and device-agnostic: results live on the device (and in the dtype) of
the input tensors, whatever device the :class:`Schedule` is on.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from msknb.ddpm.schedules import (SCHEDULE_KINDS, Schedule, make_schedule,  # noqa: F401 (re-exported)
                                  rescale_zero_terminal_snr, snr_db)
from msknb.ddpm.guidance import Guidance, with_condition  # noqa: F401 (re-exported)
from msknb.errors import ConfigError

PREDICTIONS = ("eps", "x0", "v")
"""What the network predicts: the noise, the clean image, or the velocity (Salimans & Ho 2022)."""

DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``denoise_fn(x_t, t) -> eps``: ``x_t`` (B, C, H, W) float, ``t`` (B,) int64 → eps like ``x_t``."""


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


def p_mean_variance(schedule: Schedule, eps: torch.Tensor, x_t: torch.Tensor, t, clip_x0: bool = False,
                    x0_pred: torch.Tensor | None = None) -> PMeanVar:
    r"""The reverse Gaussian :math:`p_\theta(x_{t-1}|x_t) = \mathcal N(\mu_\theta, \tilde\beta_t I)` (Eq. 3)
    for a predicted noise ``eps`` (B, C, H, W):

    :math:`\hat x_0 = ` :func:`predict_x0` (clamped to [-1, 1] if ``clip_x0``), then
    :math:`\mu_\theta = \tilde\mu_t(\hat x_0, x_t)` from :func:`posterior_mean_variance`.
    ``x0_pred`` (like x_t) replaces that estimate when the network predicted x_0 itself
    (:func:`to_eps_x0`; needed where ᾱ_t = 0). Returns :class:`PMeanVar` ``(mean, variance, log_variance, x0_pred)``.
    """
    if x0_pred is None:
        x0_pred = predict_x0(schedule, x_t, t, eps)
    if clip_x0:
        x0_pred = x0_pred.clamp(-1.0, 1.0)
    mean, var, logvar = posterior_mean_variance(schedule, x0_pred, x_t, t)
    return PMeanVar(mean, var, logvar, x0_pred)


def ddpm_step(schedule: Schedule, eps: torch.Tensor, x_t: torch.Tensor, t, noise: torch.Tensor | None = None,
              generator: torch.Generator | None = None, clip_x0: bool = False,
              return_x0: bool = False, x0_pred: torch.Tensor | None = None):
    r"""One ancestral DDPM step x_t → x_{t−1} (Ho et al. Alg. 2):

    .. math:: x_{t-1} = \mu_\theta(x_t, t) + \sqrt{\tilde\beta_t}\,z,\qquad z\sim\mathcal N(0, I),
              \ z = 0 \text{ at } t = 0

    (variance β̃_t = diffusers' ``variance_type="fixed_small"``). ``eps`` = ε_θ(x_t, t) like x_t;
    ``t`` int or (B,); ``noise`` z like x_t (drawn with ``generator`` when None); ``x0_pred``
    see :func:`p_mean_variance`. Returns x_{t−1}, or ``(x_{t−1}, x0_pred)`` with ``return_x0``.
    """
    t = _tvec(t, x_t)
    out = p_mean_variance(schedule, eps, x_t, t, clip_x0=clip_x0, x0_pred=x0_pred)
    if noise is None:
        noise = _randn_like(x_t, generator)
    nonzero = (t > 0).to(x_t.dtype).reshape(-1, *((1,) * (x_t.dim() - 1)))
    x_prev = out.mean + nonzero * out.variance.sqrt() * noise
    return (x_prev, out.x0_pred) if return_x0 else x_prev


DDIM_SPACINGS = ("leading", "trailing")
"""How DDIM picks its timesteps (diffusers' ``DDIMScheduler(timestep_spacing=...)``)."""


def ddim_timesteps(timesteps: int, steps: int, spacing: str = "leading") -> list[int]:
    """The ``steps`` timesteps a DDIM sampler visits, from high to low (diffusers' spacings).

    ``"leading"`` (default): ``[k·r for k = steps−1 … 0]``, ``r = timesteps // steps`` (T = 300,
    50 steps → 294, 288, …, 6, 0): it ends at t = 0 but never visits t = T−1, so the first
    step starts from pure noise yet tells the network a smaller t (here 294). ``"trailing"``
    (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed"):
    ``round(arange(T, 0, −T/steps)) − 1`` (T = 300, 50 steps → 299, 293, …, 11, 5): it starts at
    t = T−1 and leaves out the last few small t. Raises ConfigError unless 1 <= steps <= timesteps
    and ``spacing`` is one of :data:`DDIM_SPACINGS`."""
    if not (1 <= int(steps) <= int(timesteps)):
        raise ConfigError(f"DDIM steps must be between 1 and timesteps={timesteps}, got {steps}", "steps")
    if spacing not in DDIM_SPACINGS:
        raise ConfigError(f"unknown DDIM spacing {spacing!r}; choose one of {', '.join(DDIM_SPACINGS)}", "spacing")
    if spacing == "trailing":
        ratio_f = int(timesteps) / int(steps)
        return [int(round(int(timesteps) - k * ratio_f)) - 1 for k in range(int(steps))]
    ratio = int(timesteps) // int(steps)
    return [k * ratio for k in range(int(steps) - 1, -1, -1)]


def ddim_step(schedule: Schedule, eps: torch.Tensor, x_t: torch.Tensor, t, t_prev, eta: float = 0.0,
              noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
              clip_x0: bool = False, return_x0: bool = False, x0_pred: torch.Tensor | None = None):
    r"""One DDIM step x_t → x_{t_prev} (Song et al. 2021, Eq. 12), skipping steps when t_prev < t−1:

    .. math:: x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}-\sigma^2}\,\varepsilon_\theta
              + \sigma z,\qquad
              \sigma = \eta\sqrt{\frac{1-\bar\alpha_{t'}}{1-\bar\alpha_t}\Bigl(1-\frac{\bar\alpha_t}{\bar\alpha_{t'}}\Bigr)}

    with :math:`\bar\alpha_{t'} = 1` for t_prev < 0 (the last step). eta = 0 is deterministic;
    eta = 1 with t_prev = t−1 is DDPM. ``t``/``t_prev`` int or (B,); ``x0_pred`` see
    :func:`p_mean_variance`. Returns x_{t_prev} (or ``(x_{t_prev}, x0_pred)`` with ``return_x0``).
    Matches ``DDIMScheduler.step``.
    """
    t = _tvec(t, x_t)
    t_prev = _tvec(t_prev, x_t)
    ac_t = _coef(schedule.alphas_cumprod, t, x_t)
    ac_full_prev = _coef(schedule.alphas_cumprod, t_prev.clamp(min=0), x_t)
    ac_prev = torch.where((t_prev >= 0).reshape(ac_t.shape), ac_full_prev, torch.ones_like(ac_full_prev))
    if x0_pred is None:
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
# Prediction objectives: what the network outputs
# --------------------------------------------------------------------------------------
def check_prediction(prediction: str) -> str:
    """``prediction`` if it is one of :data:`PREDICTIONS`, else ConfigError naming it."""
    if prediction not in PREDICTIONS:
        raise ConfigError(f"unknown prediction objective {prediction!r}; choose one of {', '.join(PREDICTIONS)}",
                          "prediction")
    return prediction


def prediction_target(schedule: Schedule, x0: torch.Tensor, noise: torch.Tensor, t, prediction: str = "eps"
                      ) -> torch.Tensor:
    r"""What a network trained with ``prediction`` should output for x_t = q_sample(x0, t, noise):
    ``"eps"`` the noise, ``"x0"`` the clean image, ``"v"`` the velocity
    :math:`v = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0` (Salimans & Ho 2022;
    diffusers' ``get_velocity``). ``x0``, ``noise`` (B, C, H, W); ``t`` int or (B,). Returns like x0."""
    check_prediction(prediction)
    if prediction == "eps":
        return noise
    if prediction == "x0":
        return x0
    t = _tvec(t, x0)
    return _coef(schedule.sqrt_alphas_cumprod, t, x0) * noise - _coef(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * x0


def to_eps_x0(schedule: Schedule, x_t: torch.Tensor, t, model_output: torch.Tensor, prediction: str = "eps"
              ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Turn a network's output into ``(eps, x0)``, both like ``x_t`` (B, C, H, W).

    eps: x0 by :func:`predict_x0`; x0: eps by :func:`predict_eps`; v:
    :math:`x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,v`,
    :math:`\varepsilon = \sqrt{1-\bar\alpha_t}\,x_t + \sqrt{\bar\alpha_t}\,v`. Where ᾱ_t = 0
    (zero terminal SNR) only x0 and v give a finite x0."""
    check_prediction(prediction)
    if prediction == "eps":
        return model_output, predict_x0(schedule, x_t, t, model_output)
    if prediction == "x0":
        return predict_eps(schedule, x_t, t, model_output), model_output
    t = _tvec(t, x_t)
    a, s = _coef(schedule.sqrt_alphas_cumprod, t, x_t), _coef(schedule.sqrt_one_minus_alphas_cumprod, t, x_t)
    return s * x_t + a * model_output, a * x_t - s * model_output


class Denoiser:
    """A network as the samplers want it: ``denoiser(x_t, t) -> eps`` (a :data:`DenoiseFn`),
    and ``denoiser.eps_x0(x_t, t) -> (eps, x0)``. Made by :func:`make_denoiser`."""

    def __init__(self, model: Callable, prediction: str = "eps", schedule: Schedule | None = None,
                 condition: torch.Tensor | None = None, guidance: float | Guidance = 1.0,
                 guidance_interval: tuple[float, float] | None = None, guidance_rescale: float = 0.0):
        self.model, self.prediction, self.schedule = model, check_prediction(prediction), schedule
        self.condition = condition
        self.guide = guidance if isinstance(guidance, Guidance) else Guidance(guidance, guidance_interval,
                                                                              guidance_rescale)
        if self.guide.interval is not None and schedule is None:
            raise ConfigError("guidance_interval needs the schedule to know the number of steps", "schedule")
        if schedule is None and prediction != "eps":
            raise ConfigError(f"prediction {prediction!r} needs the schedule to turn outputs into eps", "schedule")
        if prediction == "eps" and schedule is not None and schedule.zero_terminal_snr:
            raise ConfigError("eps-prediction cannot recover x0 where the terminal SNR is zero; "
                              "use prediction 'v' or 'x0' with a zero-terminal-SNR schedule", "prediction")

    def _net(self, x_t: torch.Tensor, t: torch.Tensor, condition) -> torch.Tensor:
        params = getattr(self.model, "parameters", None)
        device = next(iter(params()), x_t).device if params is not None else x_t.device
        x_in = with_condition(x_t.to(device), condition)
        return self.model(x_in, t.to(device)).float().to(x_t.device)

    def _output(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self._net(x_t, t, self.condition)
        if self.condition is None:
            return out
        guided = self.guide.guided_steps(_tvec(t, out), self.schedule.timesteps if self.schedule else 1)
        if not bool(guided.any()):
            return out
        return self.guide.combine(out, self._net(x_t, t, torch.zeros_like(self.condition)), guided, self.condition)

    def eps_x0(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return to_eps_x0(self.schedule, x_t, t, self._output(x_t, t), self.prediction)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.prediction == "eps":
            return self._output(x_t, t)
        return self.eps_x0(x_t, t)[0]


def make_denoiser(model: Callable, prediction: str = "eps", schedule: Schedule | None = None,
                  condition: torch.Tensor | None = None, guidance: float | Guidance = 1.0,
                  guidance_interval: tuple[float, float] | None = None, guidance_rescale: float = 0.0) -> Denoiser:
    """Wrap ``model(x_t, t) -> output`` (a network trained with ``prediction``; ``t`` (B,) int64
    passed as is, inputs moved to the model's device, output float32 on x_t's device) as the
    eps-denoiser the samplers take. ``schedule`` is needed for x0 and v. ``condition``
    (B, K, H, W): appended to x_t by :func:`with_condition`; ``guidance`` w != 1 applies
    classifier-free guidance, output = out(null) + w (out(condition) - out(null)), only where
    ``guidance_interval`` (lo, hi) has lo <= t / (T - 1) <= hi (None = every step; one network call
    elsewhere), rescaled by ``guidance_rescale`` phi (0 = off): :class:`msknb.ddpm.guidance.Guidance`
    (or a ``Guidance`` itself as ``guidance``, e.g. one with a ``region``)."""
    return Denoiser(model, prediction, schedule, condition, guidance, guidance_interval, guidance_rescale)


def eps_and_x0(denoise_fn: DenoiseFn, x_t: torch.Tensor, t: torch.Tensor):
    """``(eps, x0 or None)``: x0 straight from the network when it predicts x0 or v (exact where
    ᾱ_t = 0), else None (the step computes it from eps, as before)."""
    if getattr(denoise_fn, "prediction", "eps") == "eps":
        return denoise_fn(x_t, t), None
    return denoise_fn.eps_x0(x_t, t)


def min_snr_weights(schedule: Schedule, t, prediction: str = "eps", gamma: float = 5.0) -> torch.Tensor:
    r"""Min-SNR-γ loss weights (Hang et al. 2023), shape (B,) float32, for timesteps ``t`` (B,):
    the x0-loss weight :math:`\min(\mathrm{SNR}_t, \gamma)` expressed for the network's target,
    i.e. divided by SNR for ``eps`` (= min(1, γ/SNR); 1 where SNR = 0) and by SNR + 1 for ``v``
    (as diffusers' training scripts)."""
    check_prediction(prediction)
    t = torch.as_tensor(t, dtype=torch.long)
    snr = schedule.snr.to(t.device)[t].float()
    if prediction == "eps":
        return (gamma / snr).clamp(max=1.0)
    clipped = snr.clamp(max=gamma)
    return clipped if prediction == "x0" else clipped / (snr + 1.0)


# --------------------------------------------------------------------------------------
# Sampling loops
# --------------------------------------------------------------------------------------
def init_noise(schedule: Schedule, shape, generator, device) -> torch.Tensor:
    if device is None:
        device = generator.device if generator is not None else schedule.device
    x = torch.randn(tuple(shape), generator=generator,
                    device=generator.device if generator is not None else device)
    return x.to(device)


def progress_bar(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    return tqdm(iterable, desc=desc, leave=False)


@torch.no_grad()
def ddpm_sample_loop(denoise_fn: DenoiseFn, schedule: Schedule, shape: Sequence[int],
                     generator: torch.Generator | None = None, progress: bool = True,
                     return_trajectory: bool = False, trajectory_every: int = 1,
                     clip_x0: bool = False, device=None, x_T: torch.Tensor | None = None):
    r"""Ancestral DDPM sampling: x_T ~ N(0, I), then :func:`ddpm_step` for t = T−1 … 0.

    ``denoise_fn(x_t, t_batch) -> eps`` with x_t of ``shape`` (B, C, H, W) and t_batch (B,)
    int64 (a :func:`make_denoiser` result also hands over its x0 for x0-/v-prediction).
    ``device`` defaults to the generator's (else the schedule's); ``x_T`` overrides the
    starting noise. Returns x_0 (``shape``, roughly in [-1, 1]); with ``return_trajectory``,
    ``(x_0, trajectory)`` where trajectory is a list of ``(t, x_t, x0_pred)`` (CPU tensors),
    one per ``trajectory_every`` steps plus t = 0 — mind the memory (T × 2 × batch).
    """
    x = init_noise(schedule, shape, generator, device) if x_T is None else x_T.clone()
    traj = []
    T = schedule.timesteps
    for t in progress_bar(range(T - 1, -1, -1), progress, "DDPM sampling"):
        tb = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps, x0_net = eps_and_x0(denoise_fn, x, tb)
        x_new, x0_pred = ddpm_step(schedule, eps, x, tb, generator=generator, clip_x0=clip_x0, return_x0=True,
                                   x0_pred=x0_net)
        if return_trajectory and (t % max(1, trajectory_every) == 0 or t == T - 1):
            traj.append((t, x.detach().cpu(), x0_pred.detach().cpu()))
        x = x_new
    return (x, traj) if return_trajectory else x


@torch.no_grad()
def ddim_sample_loop(denoise_fn: DenoiseFn, schedule: Schedule, shape: Sequence[int], steps: int = 50,
                     eta: float = 0.0, generator: torch.Generator | None = None, progress: bool = True,
                     return_trajectory: bool = False, clip_x0: bool = False, device=None,
                     x_T: torch.Tensor | None = None, spacing: str = "leading"):
    r"""DDIM sampling with ``steps`` steps over :func:`ddim_timesteps` (``spacing`` "leading" or
    "trailing"; eta = 0: deterministic, a fixed x_T always gives the same x_0). Each step goes
    to the next visited timestep (−1 after the last: ᾱ = 1), which is diffusers'
    ``t − T // steps`` whenever ``steps`` divides T. Arguments and return value as
    :func:`ddpm_sample_loop`; the trajectory has one ``(t, x_t, x0_pred)`` per step.
    """
    x = init_noise(schedule, shape, generator, device) if x_T is None else x_T.clone()
    ts = ddim_timesteps(schedule.timesteps, steps, spacing)
    traj = []
    for i, t in enumerate(progress_bar(ts, progress, "DDIM sampling")):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        tb = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps, x0_net = eps_and_x0(denoise_fn, x, tb)
        x_new, x0_pred = ddim_step(schedule, eps, x, tb, t_prev, eta=eta, generator=generator,
                                   clip_x0=clip_x0, return_x0=True, x0_pred=x0_net)
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


_LOSSES = {"l1": F.l1_loss, "l2": F.mse_loss, "mse": F.mse_loss, "huber": F.smooth_l1_loss}


def diffusion_loss(denoise_fn: DenoiseFn, schedule: Schedule, x0: torch.Tensor, t=None,
                   noise: torch.Tensor | None = None, loss: str = "l1",
                   generator: torch.Generator | None = None, prediction: str = "eps",
                   min_snr_gamma: float | None = None, pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    r"""The DDPM training loss :math:`\mathbb E\,\ell(\text{target} - f_\theta(x_t, t))`, t uniform, no
    weights: "l2"/"mse" is Ho et al.'s simplified objective :math:`L_\text{simple}` (squared L2);
    "l1" (default) is the paper's choice, the absolute error; or "huber". x0 (B, C, H, W), t
    uniform in [0, T) when None. ``denoise_fn(x_t, t)`` is the raw network output and the target is
    :func:`prediction_target` (the noise for ``"eps"``, the paper's objective). With
    ``min_snr_gamma`` each sample's loss is weighted by :func:`min_snr_weights`, with
    ``pixel_weights`` (B, 1, H, W) each pixel's. Returns a scalar tensor."""
    if loss not in _LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; choose l1, l2 or huber", "loss")
    if t is None:
        t = torch.randint(0, schedule.timesteps, (x0.shape[0],), generator=generator,
                          device=generator.device if generator is not None else "cpu").to(x0.device)
    t = _tvec(t, x0)
    if noise is None:
        noise = _randn_like(x0, generator)
    pred = denoise_fn(q_sample(schedule, x0, t, noise), t)
    target = prediction_target(schedule, x0, noise, t, prediction)
    if min_snr_gamma is None and pixel_weights is None:
        return _LOSSES[loss](pred, target)
    per_pixel = _LOSSES[loss](pred, target, reduction="none") * (1.0 if pixel_weights is None else pixel_weights)
    per_sample = per_pixel.flatten(1).mean(1)
    if min_snr_gamma is None:
        return per_sample.mean()
    return (per_sample * min_snr_weights(schedule, t, prediction, min_snr_gamma).to(per_sample)).mean()
