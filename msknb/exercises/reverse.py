r"""Exercises of notebook ``02_reverse_diffusion``: the way back, written by the student.

Fixed inputs from :func:`msknb.exercises.check.fixed_case` (linear, T = 300, t = 120);
references from :mod:`msknb.ddpm.diffusion`.

=========================  =====================================================  ==============================
exercise                   the student writes                                      reference
=========================  =====================================================  ==============================
posterior_mean_variance    μ̃_t(x_0, x_t) and β̃_t of q(x_{t−1}|x_t, x_0)            ``D.posterior_mean_variance``
predict_x0                 x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t                          ``D.predict_x0``
ddpm_step                  x_{t−1} = μ̃_t(x̂_0, x_t) + √β̃_t z (no z at t = 0)       ``D.ddpm_step``
=========================  =====================================================  ==============================
"""
from __future__ import annotations

from typing import Callable

from msknb.ddpm import diffusion as D
from msknb.exercises.check import CheckResult, Mistake, Part, fixed_case, run_check, show, where

LAST_ELEMENT = ("at t = 0 you used alphas_cumprod[t - 1] = alphas_cumprod[-1], which Python reads "
                "as the LAST element; ᾱ_{-1} = 1: use sched.alphas_cumprod_prev[t].")


def _posterior(s: D.Schedule, x0, xt, t: int, ac_prev=None, sqrt_prev=True, sqrt_alpha=True):
    """μ̃_t and β̃_t written out, with switches that reproduce typical mistakes."""
    ac, b, a = s.alphas_cumprod[t], s.betas[t], s.alphas[t]
    acp = s.alphas_cumprod_prev[t] if ac_prev is None else ac_prev
    c1 = (acp.sqrt() if sqrt_prev else acp) * b / (1 - ac)
    c2 = (a.sqrt() if sqrt_alpha else a) * (1 - acp) / (1 - ac)
    return c1 * x0 + c2 * xt, (1 - acp) / (1 - ac) * b


#: ᾱ_t in place of ᾱ_{t−1} in the weight of x_0 only: the answer is off by ~1e-4, so say why
X0_WEIGHT_AT_T = ("the weight of x_0 uses √ᾱ_t; it is √ᾱ_{t−1} β_t/(1−ᾱ_t), with ᾱ_{t−1} = "
                  "sched.alphas_cumprod_prev[t]. The difference is tiny at t = 120 (ᾱ_{t−1} − ᾱ_t = β_t ᾱ_{t−1}, "
                  "about 1e-3 here) but it is a different formula, and it grows with β_t.")


def _x0_weight_at_t(s: D.Schedule, x0, xt, t: int):
    """μ̃_t with ᾱ_t in place of ᾱ_{t−1} in the weight of x_0 (the weight of x_t right)."""
    ac, acp, b, a = s.alphas_cumprod[t], s.alphas_cumprod_prev[t], s.betas[t], s.alphas[t]
    return ac.sqrt() * b / (1 - ac) * x0 + a.sqrt() * (1 - acp) / (1 - ac) * xt


def check_posterior_mean_variance(student_fn: Callable) -> CheckResult:
    """``posterior_mean_variance(x0, x_t, t, sched) -> (mean, variance)``: mean like x_t,
    variance a number (0-d tensor; any shape that broadcasts, e.g. (B, 1, 1, 1), is fine)."""
    c = fixed_case()
    s, t, x0 = c.sched, c.t, c.x0
    xt = D.q_sample(s, x0, t, c.noise)
    mean, var, _ = D.posterior_mean_variance(s, x0, xt, t)
    c1, c2 = s.posterior_mean_coef1[t], s.posterior_mean_coef2[t]
    mistakes = [
        Mistake((c1 * xt + c2 * x0, var), "the two weights are swapped: x_0 gets √ᾱ_{t−1} β_t/(1−ᾱ_t), "
                "x_t gets √α_t (1−ᾱ_{t−1})/(1−ᾱ_t)."),
        Mistake((_posterior(s, x0, xt, t, sqrt_prev=False)[0], var), "missing square root: the "
                "weight of x_0 has √ᾱ_{t−1}."),
        Mistake((_posterior(s, x0, xt, t, sqrt_alpha=False)[0], var), "missing square root: the "
                "weight of x_t has √α_t."),
        Mistake(_posterior(s, x0, xt, t, ac_prev=s.alphas_cumprod[t]), "off by one in t: the "
                "posterior needs ᾱ_{t−1} = sched.alphas_cumprod_prev[t] as well as ᾱ_t."),
        Mistake((_x0_weight_at_t(s, x0, xt, t), var), X0_WEIGHT_AT_T),
        Mistake((_posterior(s, x0, xt, t, ac_prev=s.alphas_cumprod[t])[0], var), "off by one in t "
                "in the mean: both weights need ᾱ_{t−1} = sched.alphas_cumprod_prev[t] (your variance is right)."),
        Mistake((mean, s.betas[t]), "the variance is β_t, the forward step's; the posterior's is "
                "β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t) · β_t, a bit smaller."),
        Mistake((mean, var.sqrt()), "you returned the standard deviation √β̃_t; return the variance β̃_t."),
    ]
    return show(run_check("posterior_mean_variance", student_fn, (x0.clone(), xt.clone(), t, s),
                          (mean, var.flatten()[0]), mistakes,
                          hint="read the two weights and β̃_t off the formula above; ᾱ_{t−1} is "
                               "sched.alphas_cumprod_prev[t], α_t is sched.alphas[t].",
                          parts=[Part("mean"), Part("variance", broadcast=True)]))


def check_predict_x0(student_fn: Callable) -> CheckResult:
    """``predict_x0(x_t, t, sched, eps) -> x0_hat`` (Eq. 2 solved for x_0), like x_t."""
    c = fixed_case()
    s, t = c.sched, c.t
    xt = D.q_sample(s, c.x0, t, c.noise)
    eps = c.noise + 0.1 * c.z  # an imperfect network's guess
    ac = s.alphas_cumprod[t]
    mistakes = [
        Mistake((xt - (1 - ac) * eps) / ac, "missing square roots: x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t."),
        Mistake((xt - (1 - ac).sqrt() * eps) / ac, "missing square root: divide by √ᾱ_t."),
        Mistake((xt + (1 - ac).sqrt() * eps) / ac.sqrt(), "wrong sign: subtract the noise, "
                "x_t − √(1−ᾱ_t) ε."),
        Mistake(((1 - ac).sqrt() * eps - xt) / ac.sqrt(), "wrong sign: you wrote √(1−ᾱ_t) ε − x_t; "
                "it is x_t − √(1−ᾱ_t) ε (the noise is taken away from x_t)."),
        Mistake((xt - (1 - ac).sqrt() * eps) * ac.sqrt(), "multiplied by √ᾱ_t; solve Eq. 2 for x_0: "
                "divide by it."),
        Mistake(xt - (1 - ac).sqrt() * eps, "forgot to divide by √ᾱ_t."),
        Mistake((xt - ac.sqrt() * eps) / (1 - ac).sqrt(), "swapped ᾱ_t and 1 − ᾱ_t: the noise carries "
                "√(1−ᾱ_t), the image √ᾱ_t."),
        Mistake(D.predict_x0(s, xt, t - 1, eps), "off by one in t: use sched.alphas_cumprod[t]."),
        Mistake(D.predict_x0(s, xt, t + 1, eps), "off by one in t: use sched.alphas_cumprod[t]."),
    ]
    return show(run_check("predict_x0", student_fn, (xt.clone(), t, s, eps.clone()),
                          D.predict_x0(s, xt, t, eps), mistakes,
                          hint="Eq. 2 says x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, with ᾱ_t = sched.alphas_cumprod[t]: solve it for x_0."))


def _ddpm_mistakes(s: D.Schedule, xt, t: int, eps, z) -> list[Mistake]:
    out = D.p_mean_variance(s, eps, xt, t)
    mean, var = out.mean, out.variance
    wrong_prev = _posterior(s, out.x0_pred, xt, t, ac_prev=s.alphas_cumprod[t - 1])
    noise = var.clamp(min=0).sqrt() * z if t > 0 else 0.0
    ac = s.alphas_cumprod[t]
    x0_sign = (xt + (1 - ac).sqrt() * eps) / ac.sqrt()
    sign_mean, _ = _posterior(s, x0_sign, xt, t)
    return [
        Mistake(_x0_weight_at_t(s, out.x0_pred, xt, t) + noise, X0_WEIGHT_AT_T),
        Mistake(sign_mean + noise, "wrong sign in x̂_0: x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t subtracts the "
                "predicted noise (check your predict_x0)."),
        Mistake(mean + s.betas[t].sqrt() * z, "σ² = β_t ('fixed_large') is Ho et al.'s other choice; "
                "this notebook uses the posterior variance β̃_t (the kit's assumption for the paper, "
                "which does not say)."),
        Mistake(mean + var * z, "missing square root: z is scaled by the standard deviation √β̃_t."),
        Mistake(mean, "no fresh noise: add √β̃_t · z (at every t > 0)."),
        Mistake(out.x0_pred, "you returned x̂_0; the step returns x_{t−1} = μ̃_t(x̂_0, x_t) + √β̃_t z."),
        Mistake(D.ddpm_step(s, eps, xt, t - 1, z), "off by one in t: use the constants at t itself."),
        Mistake(wrong_prev[0] + wrong_prev[1].clamp(min=0).sqrt() * z, LAST_ELEMENT),
        Mistake(wrong_prev[0], LAST_ELEMENT),
    ]


def check_ddpm_step(student_fn: Callable) -> CheckResult:
    """``ddpm_step(x_t, t, sched, eps, z) -> x_prev`` (Ho et al. Alg. 2), checked at t = 120
    and at the last step t = 0 (where no noise is added and ᾱ_{t−1} = 1)."""
    c = fixed_case()
    s = c.sched
    eps = c.noise + 0.1 * c.z
    result = None
    for t in (c.t, 0):
        xt = D.q_sample(s, c.x0, t, c.noise)
        result = run_check("ddpm_step", student_fn, (xt.clone(), t, s, eps.clone(), c.z.clone()),
                           D.ddpm_step(s, eps, xt, t, c.z), _ddpm_mistakes(s, xt, t, eps, c.z),
                           hint="x̂_0 from your predict_x0; mean and variance from your posterior_mean_variance("
                                "x̂_0, x_t, t, sched); add √variance · z only when t > 0.",
                           rtol=2e-3 if t == 0 else 1e-4)  # float32 1 − ᾱ_0 = β_0 is only good to ~1e-3
        if not result.ok:
            break
    return show(where(result, "at t = 0, the last step") if t == 0 else result)

