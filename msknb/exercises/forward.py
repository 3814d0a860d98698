r"""Exercises of notebook ``01_forward_diffusion``: the forward process, written by the student.

Each ``check_<name>(student_fn)`` runs the student's function on the fixed inputs of
:func:`msknb.exercises.check.fixed_case` (linear schedule, T = 300, t = 120, x0 (3, 1, 4, 4)),
compares with :mod:`msknb.ddpm.diffusion`, prints the verdict and returns a
:class:`~msknb.exercises.check.CheckResult`.

=========================  ====================================================  =======================
exercise                   the student writes                                     reference
=========================  ====================================================  =======================
forward_step               x_t = √(1−β_t) x_{t−1} + √β_t ε  (Eq. 1)                ``D.q_step``
alphas_cumprod_and_snr     ᾱ_t = Π_{s≤t}(1−β_s), SNR = ᾱ/(1−ᾱ)                    ``Schedule`` fields
closed_form_sample         x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε  (Eq. 2)                   ``D.q_sample``
residual_signal            √ᾱ_{T−1}: how much of x_0 is left in x_T               ``sqrt_alphas_cumprod``
=========================  ====================================================  =======================
"""
from __future__ import annotations

from typing import Callable

import torch

from msknb.ddpm import diffusion as D
from msknb.exercises.check import CheckResult, Mistake, Part, fixed_case, run_check, show

OFF_BY_ONE = "off by one in t: index the schedule with t itself (0-based: sched.betas[t])."


def check_forward_step(student_fn: Callable) -> CheckResult:
    """``forward_step(x_prev, t, sched, noise) -> x_t`` (Eq. 1), x_prev (B, C, H, W), t an int."""
    c = fixed_case()
    b = c.sched.betas
    x, n, t = c.x0, c.noise, c.t
    mistakes = [
        Mistake((1 - b[t]) * x + b[t] * n, "missing square roots: β_t is a variance; x_{t-1} is "
                "scaled by √(1−β_t) and the noise by the standard deviation √β_t."),
        Mistake((1 - b[t]).sqrt() * x + b[t] * n, "missing square root on the noise: multiply ε by "
                "√β_t (its standard deviation), not by β_t (its variance)."),
        Mistake((1 - b[t]) * x + b[t].sqrt() * n, "missing square root on the image: x_{t-1} is "
                "scaled by √(1−β_t)."),
        Mistake(b[t].sqrt() * x + (1 - b[t]).sqrt() * n, "used β instead of α: the image gets "
                "√α_t = √(1−β_t), the noise gets √β_t."),
        Mistake((1 - b[t]).sqrt() * x - b[t].sqrt() * n, "wrong sign: Eq. 1 adds the noise, "
                "+√β_t ε."),
        Mistake(x + b[t].sqrt() * n, "the image must also shrink by √(1−β_t), else the variance "
                "grows past 1 instead of staying at 1."),
        Mistake(D.q_sample(c.sched, x, t, n), "that is the closed form (Eq. 2, with ᾱ_t); one "
                "step uses β_t alone."),
        Mistake(D.q_step(c.sched, x, t - 1, n), OFF_BY_ONE),
        Mistake(D.q_step(c.sched, x, t + 1, n), OFF_BY_ONE),
    ]
    return show(run_check("forward_step", student_fn, (x.clone(), t, c.sched, n.clone()),
                          D.q_step(c.sched, x, t, n), mistakes,
                          hint="β_t is sched.betas[t]; Eq. 1 scales x_{t−1} by √(1−β_t) and the noise by √β_t (torch: .sqrt())."))


def check_alphas_cumprod_and_snr(student_fn: Callable) -> CheckResult:
    """``alphas_cumprod_and_snr(betas) -> (alphas_cumprod, snr)``, betas (T,) → two (T,) tensors."""
    s = fixed_case().sched
    ac, b = s.alphas_cumprod, s.betas
    prod_b = torch.cumprod(b, 0)
    shifted = s.alphas_cumprod_prev
    mistakes = [
        Mistake((prod_b, prod_b / (1 - prod_b)), "used β instead of α: ᾱ_t is the product of "
                "α_s = 1 − β_s."),
        Mistake((shifted, shifted / (1 - shifted)), "off by one in t: ᾱ_t includes s = t, so "
                "ᾱ_0 = 1 − β_0 (not 1)."),
        Mistake((1 - b, (1 - b) / b), "ᾱ_t is the cumulative product (torch.cumprod) of the α's, "
                "not α_t itself."),
        Mistake((ac, (1 - ac) / ac), "SNR upside down: signal power ᾱ_t over noise power 1 − ᾱ_t."),
        Mistake((ac, (ac / (1 - ac)).sqrt()), "an extra square root: √(ᾱ/(1−ᾱ)) is an "
                "amplitude ratio; the SNR is a power ratio."),
        Mistake((ac, D.snr_db(s)), "you returned decibels; return the plain ratio (D.snr_db converts)."),
    ]
    return show(run_check("alphas_cumprod_and_snr", student_fn, (b.clone(),), (ac, s.snr), mistakes,
                          hint="α = 1 − β; ᾱ_t is the running product torch.cumprod(α, 0); SNR = ᾱ/(1−ᾱ).",
                          parts=[Part("alphas_cumprod"), Part("snr", rtol=2e-3)]))


def check_closed_form_sample(student_fn: Callable) -> CheckResult:
    """``closed_form_sample(x0, t, sched, noise) -> x_t`` (Eq. 2), x0 (B, C, H, W), t an int."""
    c = fixed_case()
    s, x, n, t = c.sched, c.x0, c.noise, c.t
    ac, a, b = s.alphas_cumprod, s.alphas, s.betas
    mistakes = [
        Mistake(ac[t] * x + (1 - ac[t]) * n, "missing square roots: x_0 is scaled by √ᾱ_t and the "
                "noise by √(1−ᾱ_t) (a standard deviation, not a variance)."),
        Mistake(ac[t] * x + (1 - ac[t]).sqrt() * n, "missing square root on the image: √ᾱ_t · x_0."),
        Mistake(ac[t].sqrt() * x + (1 - ac[t]) * n, "missing square root on the noise: √(1−ᾱ_t) · ε."),
        Mistake((1 - ac[t]).sqrt() * x + ac[t].sqrt() * n, "swapped: the image gets √ᾱ_t, the noise "
                "√(1−ᾱ_t)."),
        Mistake(a[t].sqrt() * x + (1 - a[t]).sqrt() * n, "used α_t (one step) instead of ᾱ_t (the "
                "product of all steps up to t): sched.alphas_cumprod[t]."),
        Mistake(b[t].sqrt() * x + (1 - b[t]).sqrt() * n, "used β instead of ᾱ: the image gets "
                "√ᾱ_t = sched.alphas_cumprod[t].sqrt()."),
        Mistake(D.q_sample(s, x, t - 1, n), "off by one in t: use sched.alphas_cumprod[t]."),
        Mistake(D.q_sample(s, x, t + 1, n), "off by one in t: use sched.alphas_cumprod[t]."),
    ]
    return show(run_check("closed_form_sample", student_fn, (x.clone(), t, s, n.clone()),
                          D.q_sample(s, x, t, n), mistakes,
                          hint="ᾱ_t is sched.alphas_cumprod[t]; Eq. 2 scales x_0 by √ᾱ_t and the noise by √(1−ᾱ_t)."))


def check_residual_signal(student_fn: Callable) -> CheckResult:
    """``residual_signal(betas) -> float``: √ᾱ_{T−1}, the share of x_0's amplitude left in x_T.
    Checked on the paper's schedule (linear, T = 300), where it is 0.22."""
    s = fixed_case().sched
    ac = s.alphas_cumprod
    mistakes = [
        Mistake(ac[-1], "missing square root: ᾱ is the signal's power; its amplitude (what "
                "multiplies x_0 in Eq. 2) is √ᾱ."),
        Mistake(ac[0].sqrt(), "that is the first step (t = 0); the residual signal is at the last "
                "step t = T − 1 (alphas_cumprod[-1])."),
        Mistake((1 - ac[-1]).sqrt(), "that is the noise amplitude √(1−ᾱ); the signal's is √ᾱ."),
        Mistake(ac[-2].sqrt(), "off by one in t: the last step is t = T − 1, index -1."),
    ]
    return show(run_check("residual_signal", student_fn, (s.betas.clone(),), s.sqrt_alphas_cumprod[-1],
                          mistakes, hint="ᾱ_{T−1} is the last element of torch.cumprod(1 - betas, 0); the answer is its square root."))
