r"""Exercises of notebook ``04_sampling``: DDIM by hand.

==================  ===============================================================  ======================
exercise            the student writes                                                reference
==================  ===============================================================  ======================
ddim_step           x_{t'} = √ᾱ_{t'} x̂_0 + √(1−ᾱ_{t'}) ε_θ  (η = 0, ᾱ_{−1} = 1)       ``D.ddim_step``
ddim_timesteps      the k timesteps DDIM visits, high to low, ending at 0             ``D.ddim_timesteps``
ddim_sample         find the bug: a DDIM loop that uses ᾱ_{t−1} for the target step   ``_ddim_loop``
==================  ===============================================================  ======================
"""
from __future__ import annotations

from typing import Callable

import torch

from msknb.ddpm import diffusion as D
from msknb.exercises.check import CheckResult, Mistake, fixed_case, run_check, show, where

#: (t, t_prev) of the two DDIM checks: a jump of 20 steps, then the last step to "t = −1"
DDIM_STEPS = ((120, 100), (10, -1))


def _ddim(s: D.Schedule, xt, eps, ac_t, ac_prev, sqrt=True, noise_coef=None, x0_sign=-1.0):
    """The DDIM update written out, with switches that reproduce typical mistakes."""
    root = torch.sqrt if sqrt else (lambda v: v)
    x0 = (xt + x0_sign * root(1 - ac_t) * eps) / root(ac_t)
    coef = root(1 - ac_prev) if noise_coef is None else noise_coef
    return root(ac_prev) * x0 + coef * eps


def _ddim_mistakes(s: D.Schedule, xt, t: int, t_prev: int, eps) -> list[Mistake]:
    ac = s.alphas_cumprod
    ac_prev = ac[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    return [
        Mistake(_ddim(s, xt, eps, ac[t], ac[t_prev]), "you used "
                "alphas_cumprod[t_prev] = alphas_cumprod[-1], which Python reads as the LAST element; "
                "for t_prev < 0 use ᾱ = 1 (the clean image)."),
        Mistake(_ddim(s, xt, eps, ac[t], ac_prev, sqrt=False), "missing square roots: √ᾱ and √(1−ᾱ)."),
        Mistake(_ddim(s, xt, eps, ac[t], ac_prev, noise_coef=(1 - ac[t]).sqrt()), "the noise part "
                "must be rescaled for the target step: √(1−ᾱ_{t'}), not √(1−ᾱ_t)."),
        Mistake(_ddim(s, xt, eps, s.alphas[t], s.alphas[t_prev] if t_prev >= 0 else torch.tensor(1.0)),
                "used α (one step) instead of ᾱ (the cumulative product, sched.alphas_cumprod)."),
        Mistake(_ddim(s, xt, eps, ac[t], ac_prev, x0_sign=1.0), "wrong sign in x̂_0: "
                "x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t subtracts the predicted noise."),
        Mistake(D.predict_x0(s, xt, t, eps), "you returned x̂_0; the step returns x_{t'} = √ᾱ_{t'} x̂_0 "
                "+ √(1−ᾱ_{t'}) ε."),
    ]


def check_ddim_step(student_fn: Callable) -> CheckResult:
    """``ddim_step(x_t, t, t_prev, sched, eps) -> x_prev`` (η = 0), checked for t = 120 → 100 and for
    the last step 10 → −1 (ᾱ_{−1} = 1)."""
    c = fixed_case()
    s = c.sched
    eps = c.noise + 0.1 * c.z
    result = None
    for t, t_prev in DDIM_STEPS:
        xt = D.q_sample(s, c.x0, t, c.noise)
        result = run_check("ddim_step", student_fn, (xt.clone(), t, t_prev, s, eps.clone()),
                           D.ddim_step(s, eps, xt, t, t_prev), _ddim_mistakes(s, xt, t, t_prev, eps),
                           hint="ᾱ_{t'} is sched.alphas_cumprod[t_prev], or 1 when t_prev < 0; x̂_0 as in "
                                "predict_x0; then x_{t'} = √ᾱ_{t'} x̂_0 + √(1−ᾱ_{t'}) ε.")
        if not result.ok:
            break
    return show(where(result, "at the last step (t_prev = -1)") if t_prev < 0 else result)


def check_ddim_timesteps(student_fn: Callable) -> CheckResult:
    """``ddim_timesteps(T, steps) -> list of int``: checked for T = 300, steps = 50 (294, 288, …, 0)."""
    T, k = 300, 50
    r = T // k
    mistakes = [
        Mistake(list(range(T - 1, -1, -r)), "off by one: start at (steps − 1)·r so that the last "
                "visited timestep is t = 0, the step that removes the last noise."),
        Mistake(list(range(0, T, r)), "wrong order: the sampler goes from high t (noise) to low t."),
        Mistake(list(range(T, -1, -r))[:k], "off by one: t runs from 0 to T − 1, so t = T does not exist."),
        Mistake([int(round(v)) for v in torch.linspace(T - 1, 0, k).tolist()], "evenly spaced from "
                "T − 1 to 0 ('linspace' spacing) is a valid choice too, but this package uses "
                "'leading' spacing: multiples of r = T // steps."),
    ]
    return show(run_check("ddim_timesteps", student_fn, (T, k), D.ddim_timesteps(T, k), mistakes,
                          hint="r = T // steps; the list is (steps − 1)·r, (steps − 2)·r, …, r, 0."))


def toy_eps(x: torch.Tensor, t: int) -> torch.Tensor:
    """A fixed stand-in for a trained noise predictor (deterministic, depends on x and t)."""
    return 0.3 * x + 0.01 * (t % 7) - 0.02


def _ddim_loop(eps_fn: Callable, x: torch.Tensor, sched: D.Schedule, steps: int, prev: str = "right") -> torch.Tensor:
    """DDIM (η = 0, leading spacing) written out as in notebook 04's find-the-bug exercise.
    ``prev``: "right" (ᾱ of the previous VISITED step t − r, 1 after t = 0), "t-1" (the bug:
    the DDPM step's t − 1), "negative" (t − r without the t = 0 case: Python's negative index),
    "eps_at_prev" (the network asked at t − r as well)."""
    r = sched.timesteps // steps
    for t in range(sched.timesteps - r, -1, -r):
        eps = eps_fn(x, t - r if prev == "eps_at_prev" and t > 0 else t)
        abar = sched.alphas_cumprod[t]
        if prev == "t-1":
            abar_prev = sched.alphas_cumprod[t - 1] if t > 0 else torch.tensor(1.0)
        elif prev == "negative":
            abar_prev = sched.alphas_cumprod[t - r]
        else:
            abar_prev = sched.alphas_cumprod[t - r] if t > 0 else torch.tensor(1.0)
        x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
        x = abar_prev.sqrt() * x0 + (1 - abar_prev).sqrt() * eps
    return x


def check_ddim_sample(student_fn: Callable) -> CheckResult:
    """``ddim_sample(eps_fn, x_T, sched, steps) -> x_0``: the notebook's DDIM loop with its bug
    fixed (ᾱ of the previous visited step, t − r, not t − 1). Checked with :func:`toy_eps`, the
    kit's assumed schedule (T = 300) and 10 steps, against :func:`_ddim_loop`."""
    case = fixed_case()
    s, steps = case.sched, 10
    args = (toy_eps, case.noise.clone(), s, steps)
    want = _ddim_loop(toy_eps, case.noise.clone(), s, steps)
    mistakes = [
        Mistake(_ddim_loop(toy_eps, case.noise.clone(), s, steps, "t-1"), "the bug is still there: ᾱ_{t−1} "
                "is the DDPM step's previous timestep, but DDIM jumps r = T // steps timesteps at once, so the "
                "step lands on t − r and needs ᾱ_{t−r}. With t − 1 each step removes almost no noise."),
        Mistake(_ddim_loop(toy_eps, case.noise.clone(), s, steps, "negative"), "almost: at t = 0 your t − r is "
                "negative, and alphas_cumprod[t − r] is then Python's element from the END (ᾱ near 0, pure "
                "noise). After the last step ᾱ is 1: keep the `if t > 0 else torch.tensor(1.0)`."),
        Mistake(_ddim_loop(toy_eps, case.noise.clone(), s, steps, "eps_at_prev"), "the network must be asked at "
                "the timestep of the x it sees, t; only ᾱ of the target step uses t − r."),
    ]
    return show(run_check("ddim_sample", student_fn, args, want, mistakes,
                          hint="the previous visited timestep is t − r (r = T // steps); ᾱ of that step, and 1 "
                               "after the step at t = 0."))
