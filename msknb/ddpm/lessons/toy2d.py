"""A 2-D toy where every quantity is exact (notebook 02, "The modern view of diffusion").

The data are points in the plane drawn from a mixture of K isotropic Gaussians
N(mu_k, s^2 I) with weights w_k. Noised as x_t = a x_0 + b eps (a = sqrt(abar_t),
b = sqrt(1 - abar_t) for DDPM; a = 1 - tau, b = tau for flow matching), the noisy
marginal is again a mixture, N(a mu_k, (a^2 s^2 + b^2) I), so the best denoiser
E[x_0 | x_t], the best noise prediction and the velocity all have a closed form. A small
network trained for a few seconds is compared with them.

* :class:`Mixture`, :func:`default_mixture`, :func:`sample_mixture` -- the data;
* :func:`posterior_x0`, :func:`exact_eps`, :func:`exact_denoiser`, :func:`exact_velocity`,
  :func:`log_density` -- the exact quantities (Tweedie: eps* = (x - a E[x_0|x]) / b);
* :class:`ToyDenoiser`, :func:`train_toy`, :func:`learned_denoiser` -- the learned eps_theta,
  trained with Ho et al.'s L_simple (squared error);
* :func:`eps_error` -- how far the learned eps is from the exact one, per t;
* :func:`flow_sample` -- Euler steps of the flow-matching ODE dx/dtau = v(x, tau);
* :func:`toy_samples`, :func:`landing`, :func:`ode_gap` -- four samplers from the same noise,
  where their points land, and how far DDIM and flow matching end apart;
* :func:`field_reading`, :func:`landing_reading` -- sentences computed from those numbers.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from msknb.ddpm import diffusion as D


@dataclass(frozen=True)
class Mixture:
    """``means`` (K, 2), ``std`` s of every component (isotropic), ``weights`` (K,) summing to 1."""

    means: torch.Tensor
    std: float
    weights: torch.Tensor


def default_mixture() -> Mixture:
    """Three blobs of std 0.2 at unequal weights (0.5, 0.3, 0.2): far enough apart that a
    sample between them is plainly wrong, within the N(0, I) start's reach."""
    means = torch.tensor([[-1.2, -0.6], [1.2, -0.6], [0.0, 1.0]])
    return Mixture(means, 0.2, torch.tensor([0.5, 0.3, 0.2]))


def sample_mixture(mix: Mixture, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x (n, 2) float32, component (n,) int64)``: ``n`` points of ``mix``, seeded."""
    g = torch.Generator().manual_seed(int(seed))
    k = torch.multinomial(mix.weights, int(n), replacement=True, generator=g)
    return mix.means[k] + mix.std * torch.randn(int(n), 2, generator=g), k


def _log_resp(mix: Mixture, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """(log w_k N(x; a mu_k, var I) for each k (N, K), var (N, 1))."""
    var = a ** 2 * mix.std ** 2 + b ** 2                                 # (N, 1)
    d2 = ((x[:, None, :] - a[:, :, None] * mix.means[None]) ** 2).sum(-1)  # (N, K)
    return mix.weights.log()[None] - d2 / (2 * var) - torch.log(2 * math.pi * var), var


def _ab(a, b, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (x.shape[0], 1)
    return (torch.as_tensor(a, dtype=x.dtype).reshape(-1, 1).expand(shape),
            torch.as_tensor(b, dtype=x.dtype).reshape(-1, 1).expand(shape))


def posterior_x0(mix: Mixture, x: torch.Tensor, a, b) -> torch.Tensor:
    """E[x_0 | x_t = x] (N, 2) for x_t = a x_0 + b eps (``a``, ``b`` floats or (N,)): each
    component's posterior mean mu_k + a s^2 / (a^2 s^2 + b^2) (x - a mu_k), weighted by
    the component's responsibility for x."""
    a, b = _ab(a, b, x)
    logp, var = _log_resp(mix, x, a, b)
    r = torch.softmax(logp, dim=1)                                       # (N, K)
    m = mix.means[None] + (a * mix.std ** 2 / var)[:, :, None] * (x[:, None, :] - a[:, :, None] * mix.means[None])
    return (r[:, :, None] * m).sum(1)


def log_density(mix: Mixture, x: torch.Tensor, a, b) -> torch.Tensor:
    """log p(x_t = x) (N,) of the noisy marginal, a mixture of N(a mu_k, (a^2 s^2 + b^2) I)."""
    a, b = _ab(a, b, x)
    return torch.logsumexp(_log_resp(mix, x, a, b)[0], dim=1)


def exact_eps(mix: Mixture, schedule: D.Schedule, x: torch.Tensor, t) -> torch.Tensor:
    """The best noise prediction eps*(x, t) = E[eps | x_t = x] = (x - a E[x_0|x]) / b, (N, 2);
    ``t`` int or (N,) (code index, 0-based). Equals -b times the score of p_t."""
    t = torch.as_tensor(t, dtype=torch.long).expand(x.shape[0])
    a, b = schedule.sqrt_alphas_cumprod[t].to(x.dtype), schedule.sqrt_one_minus_alphas_cumprod[t].to(x.dtype)
    return (x - a[:, None] * posterior_x0(mix, x, a, b)) / b[:, None]


def exact_denoiser(mix: Mixture, schedule: D.Schedule) -> Callable:
    """``eps(x_t, t_batch)``: :func:`exact_eps` in the form the samplers of
    :mod:`msknb.ddpm.diffusion` take (a perfect network for this data)."""
    return lambda x, t: exact_eps(mix, schedule, x, t)


def exact_velocity(mix: Mixture, x: torch.Tensor, tau: float) -> torch.Tensor:
    """The flow-matching velocity v*(x, tau) = E[eps - x_0 | x_tau = x] (N, 2) on the path
    x_tau = (1 - tau) x_0 + tau eps (tau in (0, 1]; tau = 1 is pure noise)."""
    x0 = posterior_x0(mix, x, 1.0 - tau, tau)
    return (x - (1.0 - tau) * x0) / tau - x0


def flow_sample(velocity: Callable, x1: torch.Tensor, steps: int = 50) -> torch.Tensor:
    """Euler steps of dx/dtau = v(x, tau) from tau = 1 (``x1`` (N, 2), pure noise) to tau = 0:
    x <- x - (1/steps) v(x, tau). ``velocity(x, tau)`` returns (N, 2)."""
    x, h = x1.clone(), 1.0 / int(steps)
    for i in range(int(steps), 0, -1):
        x = x - h * velocity(x, i * h)
    return x


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, then restore the count: a network this small
    spends more time synchronising threads than computing (on 2 busy cores, 200 training steps
    took 19 s on 2 threads and 1.2 s on 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def toy_schedule() -> D.Schedule:
    """Ho et al.'s linear schedule with T = 1000: it leaves sqrt(abar) = 0.006 of the data at
    the last step, so sampling from N(0, I) starts where training ended (notebook 01)."""
    return D.make_schedule("linear", 1000)


class ToyDenoiser(nn.Module):
    """eps_theta(x_t, t) for 2-D points: an MLP on (x, sin/cos features of t/T), 3 hidden
    layers of ``width``. Input x (N, 2), t (N,) int; output (N, 2)."""

    def __init__(self, timesteps: int, width: int = 128, n_freq: int = 4):
        super().__init__()
        self.timesteps = int(timesteps)
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(n_freq, dtype=torch.float32))
        self.net = nn.Sequential(nn.Linear(2 + 2 * n_freq, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        s = (t.float() / self.timesteps)[:, None] * self.freqs[None]
        return self.net(torch.cat([x, s.sin(), s.cos()], dim=1))


def train_toy(mix: Mixture, schedule: D.Schedule, steps: int = 2000, batch: int = 256, lr: float = 2e-3,
              seed: int = 0) -> tuple[ToyDenoiser, list[float]]:
    """A :class:`ToyDenoiser` trained for ``steps`` Adam steps on fresh mixture samples with
    L_simple = mean ||eps - eps_theta(x_t, t)||^2 (uniform t). Returns (model in eval mode,
    losses per step). A few seconds on a CPU at the defaults."""
    torch.manual_seed(int(seed))
    model = ToyDenoiser(schedule.timesteps)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(int(seed) + 1)
    losses = []
    with one_thread():
        for step in range(int(steps)):
            x0, _ = sample_mixture(mix, batch, seed=int(seed) * 100_003 + step)
            t = torch.randint(0, schedule.timesteps, (batch,), generator=g)
            noise = torch.randn(batch, 2, generator=g)
            loss = ((model(D.q_sample(schedule, x0, t, noise), t) - noise) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return model.eval(), losses


def learned_denoiser(model: ToyDenoiser) -> Callable:
    """``eps(x_t, t_batch)`` of the trained toy network, without gradients."""
    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), one_thread():
            return model(x, t)
    return eps


def eps_error(mix: Mixture, schedule: D.Schedule, model: ToyDenoiser, ts: Sequence[int], n: int = 2000,
              seed: int = 1) -> dict[int, float]:
    """For each t in ``ts``: rms(eps_theta - eps*) / rms(eps*) over ``n`` points x_t drawn from
    the noisy marginal (0 = the learned network is the exact one)."""
    out = {}
    for t in ts:
        x0, _ = sample_mixture(mix, n, seed=seed + int(t))
        xt = D.q_sample(schedule, x0, int(t), generator=torch.Generator().manual_seed(seed))
        exact = exact_eps(mix, schedule, xt, int(t))
        learned = learned_denoiser(model)(xt, torch.full((n,), int(t)))
        out[int(t)] = float((learned - exact).pow(2).mean().sqrt() / exact.pow(2).mean().sqrt())
    return out


def landing(mix: Mixture, x: torch.Tensor) -> dict[str, object]:
    """Where samples ``x`` (N, 2) land: ``share`` per component (nearest mean; compare with
    the weights), ``within_3sd`` (share within 3 s of their nearest mean) and
    ``median_sd`` (median distance to the nearest mean, in units of s)."""
    d = torch.cdist(x, mix.means)
    near, k = d.min(dim=1)
    share = torch.bincount(k, minlength=len(mix.means)).float() / len(x)
    return {"share": [round(float(v), 3) for v in share], "within_3sd": float((near < 3 * mix.std).float().mean()),
            "median_sd": float(near.median() / mix.std)}


def field_reading(errors: dict[int, float]) -> str:
    """A sentence from :func:`eps_error` ({t: relative rms error}): where the learned eps is
    closest to the exact one and where it is furthest."""
    worst, best = max(errors, key=errors.get), min(errors, key=errors.get)
    return (f"The learned ε differs from the exact one by {100 * errors[best]:.0f} % (rms, relative) at t = {best} "
            f"and by {100 * errors[worst]:.0f} % at t = {worst}, where it is least accurate.")


def landing_reading(landed: dict[str, dict], weights: Sequence[float], ode_gap_sd: float | None = None) -> str:
    """Sentences from :func:`landing` per sampler (``landed``: {name: landing}) against the
    mixture ``weights``, and the mean distance between the DDIM and the flow-matching end
    points of the same noise (``ode_gap_sd``, :func:`ode_gap`, in units of the blob sd)."""
    w = ", ".join(f"{v:.2f}" for v in weights)
    parts = [f"{name}: {100 * r['within_3sd']:.0f} % within 3 sd of a blob, shares "
             f"{', '.join(f'{v:.2f}' for v in r['share'])}" for name, r in landed.items()]
    text = f"Where the samples land (the blobs' weights are {w}): " + "; ".join(parts) + "."
    if ode_gap_sd is not None:
        same = "practically the same points" if ode_gap_sd < 0.5 else "different points"
        text += (f" From the same starting noise, DDIM and the flow-matching Euler sampler (both with the exact "
                 f"field) end {ode_gap_sd:.2f} blob sd apart on average: {same}.")
    return text


def toy_samples(mix: Mixture, schedule: D.Schedule, model: ToyDenoiser, n: int = 500, steps: int = 50,
                seed: int = 0) -> dict[str, torch.Tensor]:
    """Samples (n, 2) of four samplers from the same starting noise N(0, I) (seeded):
    ``"DDPM, learned"`` (T ancestral steps with eps_theta), ``"DDIM, learned"`` and
    ``"DDIM, exact"`` (``steps`` deterministic steps, trailing spacing: the first at t = T-1)
    and ``"flow matching, exact"`` (``steps`` Euler steps of the exact velocity)."""
    z = torch.randn(int(n), 2, generator=torch.Generator().manual_seed(int(seed)))
    learned, exact = learned_denoiser(model), exact_denoiser(mix, schedule)
    with one_thread():
        out = {"DDPM, learned": D.ddpm_sample_loop(learned, schedule, z.shape, x_T=z, progress=False,
                                                   generator=torch.Generator().manual_seed(int(seed) + 1))}
        for name, fn in (("DDIM, learned", learned), ("DDIM, exact", exact)):
            out[name] = D.ddim_sample_loop(fn, schedule, z.shape, steps=steps, x_T=z, progress=False,
                                           spacing="trailing")
        out["flow matching, exact"] = flow_sample(lambda x, tau: exact_velocity(mix, x, tau), z, steps)
    return out


def ode_gap(samples: dict[str, torch.Tensor], mix: Mixture) -> float:
    """Mean distance between the ``"DDIM, exact"`` and ``"flow matching, exact"`` end points
    of the same starting noise, in units of the blob std s."""
    return float((samples["DDIM, exact"] - samples["flow matching, exact"]).norm(dim=1).mean() / mix.std)
