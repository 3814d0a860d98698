r"""Exercises of notebook ``03_train_ddpm``: what the network is trained on.

=====================  ==================================================================  ===========================
exercise               the student writes                                                   reference
=====================  ==================================================================  ===========================
diffusion_loss         mean |ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)| for one batch (L1, paper)   ``D.diffusion_loss``
eps_x0_from_v          ε and x_0 from a v-prediction (Salimans & Ho 2022)                   ``D.to_eps_x0``  
=====================  ==================================================================  ===========================
"""
from __future__ import annotations

from typing import Callable

import torch

from msknb.ddpm import diffusion as D
from msknb.exercises.check import CheckResult, Mistake, Part, Raised, fixed_case, run_check, show

#: the timesteps of the loss check's batch of 3 images (one per image)
LOSS_T = (10, 120, 250)


def toy_network(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed stand-in for ε_θ: (B, C, H, W) float and (B,) int64 → like x_t. Deterministic, so
    every mistake in the loss gives its own number."""
    return 0.5 * x_t + 0.01 * t.to(x_t.dtype).reshape(-1, *((1,) * (x_t.dim() - 1)))


#: sched.alphas_cumprod[t] with t a (B,) vector has shape (B,): it lines up with the LAST axis of x0
MISSING_VIEW = ("A missing .view: sched.alphas_cumprod[t] with t of shape (B,) has shape (B,), and "
                "PyTorch lines it up with the LAST axis of x0 (B, C, H, W), the width, not the batch. "
                "Reshape it to one number per image: sched.alphas_cumprod[t].view(-1, 1, 1, 1).")


def check_diffusion_loss(student_fn: Callable) -> CheckResult:
    """``diffusion_loss(model, x0, t, noise, sched) -> scalar``: the L1 training loss of one batch,
    x0 (B, C, H, W), t (B,) int64 (one timestep per image), ``model(x_t, t)`` predicts ε."""
    c = fixed_case()
    s, x0, n = c.sched, c.x0, c.noise
    t = torch.tensor(LOSS_T)
    xt = D.q_sample(s, x0, t, n)
    pred = toy_network(xt, t)
    l1 = torch.nn.functional.l1_loss
    mistakes = [
        Mistake(torch.nn.functional.mse_loss(pred, n), "you used the squared error; the paper trains "
                "with the L1 loss: the mean of |ε − ε_θ|."),
        Mistake(l1(pred, x0), "the network predicts the noise ε: compare its output with `noise`, "
                "not with x_0."),
        Mistake(l1(toy_network(x0, t), n), "feed the network the noisy x_t (Eq. 2), not the clean x_0."),
        Mistake(l1(toy_network(n, t), n), "feed the network the noisy x_t (Eq. 2), not the noise alone."),
        Mistake((pred - n).abs().sum(), "you summed over the batch and pixels; take the mean."),
        Mistake((pred - n).abs().sum((1, 2, 3)).mean(), "you summed over the pixels of each image "
                "(16 here: the answer is 16 times too big) and averaged over the batch; take the mean over "
                "the pixels too, e.g. (model(x_t, t) − noise).abs().mean()."),
        Mistake((pred - n).abs().mean((1, 2, 3)).sum(), "you summed the per-image losses over the "
                "batch (3 images: 3 times too big); take the mean over the batch too."),
        Mistake(l1(toy_network(D.q_sample(s, x0, t[0].item(), n), t), n), "every image has its own "
                "t: index the schedule with the whole vector t, not t[0]."),
    ]
    return show(run_check("diffusion_loss", student_fn, (toy_network, x0.clone(), t.clone(), n.clone(), s),
                          D.diffusion_loss(toy_network, s, x0, t=t, noise=n, loss="l1"), mistakes,
                          hint="x_t from Eq. 2 with ᾱ_t = sched.alphas_cumprod[t].view(-1, 1, 1, 1) (one per "
                               "image, shaped to broadcast); the loss is the mean of |model(x_t, t) − noise|.",
                          raised=[Raised(RuntimeError, "must match the size", MISSING_VIEW)]))


def check_eps_x0_from_v(student_fn: Callable) -> CheckResult:
    """``eps_x0_from_v(x_t, t, sched, v) -> (eps, x0)`` for a v-prediction ``v`` like x_t, t an int."""
    c = fixed_case()
    s, t = c.sched, c.t
    xt = D.q_sample(s, c.x0, t, c.noise)
    v = s.sqrt_alphas_cumprod[t] * c.noise - s.sqrt_one_minus_alphas_cumprod[t] * c.x0 + 0.1 * c.z
    eps, x0 = D.to_eps_x0(s, xt, t, v, prediction="v")
    ac = s.alphas_cumprod[t]
    mistakes = [
        Mistake((x0, eps), "the two outputs are swapped: return (eps, x0)."),
        Mistake(((1 - ac) * xt + ac * v, ac * xt - (1 - ac) * v), "missing square roots: the weights "
                "are √ᾱ_t and √(1−ᾱ_t)."),
        Mistake(((1 - ac).sqrt() * xt - ac.sqrt() * v, ac.sqrt() * xt + (1 - ac).sqrt() * v),
                "wrong sign of the v terms: v = √ᾱ ε − √(1−ᾱ) x_0, so x_0 = √ᾱ x_t − √(1−ᾱ) v and "
                "ε = √(1−ᾱ) x_t + √ᾱ v."),
        Mistake(((ac).sqrt() * xt + (1 - ac).sqrt() * v, (1 - ac).sqrt() * xt - ac.sqrt() * v),
                "swapped √ᾱ_t and √(1−ᾱ_t) in both formulas."),
        Mistake((eps, ac.sqrt() * xt + (1 - ac).sqrt() * v), "wrong sign in x0 (your eps is right): "
                "v = √ᾱ ε − √(1−ᾱ) x_0 has x_0 with a minus, so x_0 = √ᾱ x_t − √(1−ᾱ) v."),
        Mistake(((1 - ac).sqrt() * xt - ac.sqrt() * v, x0), "wrong sign in eps (your x0 is right): "
                "ε = √(1−ᾱ) x_t + √ᾱ v."),
    ]
    return show(run_check("eps_x0_from_v", student_fn, (xt.clone(), t, s, v.clone()), (eps, x0), mistakes,
                          hint="with a = √ᾱ_t and b = √(1−ᾱ_t): x_t = a x_0 + b ε and v = a ε − b x_0; "
                               "solve these two equations for ε and x_0 (a² + b² = 1).",
                          parts=[Part("eps"), Part("x0")]))
