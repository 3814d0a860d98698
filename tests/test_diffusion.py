"""msknb.ddpm.diffusion checked against Hugging Face diffusers (DDPMScheduler / DDIMScheduler)."""
from __future__ import annotations

import pytest
import torch

from msknb.ddpm import diffusion as D
from msknb.errors import ConfigError

diffusers = pytest.importorskip("diffusers")

KINDS = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
CASES = [(k, T) for k in KINDS for T in (300, 1000)]


def _ddpm(kind, T):
    return diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=KINDS[kind], clip_sample=False,
                                   variance_type="fixed_small", beta_start=1e-4, beta_end=0.02)


def _ddim(kind, T):
    return diffusers.DDIMScheduler(num_train_timesteps=T, beta_schedule=KINDS[kind], clip_sample=False,
                                   beta_start=1e-4, beta_end=0.02, set_alpha_to_one=True, steps_offset=0)


def _x(seed=0, shape=(3, 1, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 2 - 1, torch.randn(shape, generator=g)


@pytest.mark.parametrize("kind,T", CASES)
def test_schedule_matches_diffusers(kind, T):
    s = D.make_schedule(kind, T)
    ref = _ddpm(kind, T)
    assert s.betas.dtype == torch.float32 and s.betas.shape == (T,)
    torch.testing.assert_close(s.betas, ref.betas, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(s.alphas_cumprod, ref.alphas_cumprod, rtol=2e-5, atol=1e-7)
    var = torch.stack([ref._get_variance(t) for t in range(T)])
    # diffusers re-derives beta_t = 1 - abar_t/abar_{t-1} in float32, which loses ~1e-4 relative
    # precision where beta is small; msknb works in float64, so it is the closer of the two to
    # the float64 truth:
    torch.testing.assert_close(s.posterior_variance[1:], var[1:], rtol=1e-3, atol=1e-7)
    b64 = ref.betas.double()
    ac64 = torch.cumprod(1 - b64, 0)
    truth = (b64 * (1 - torch.cat([torch.ones(1, dtype=torch.float64), ac64[:-1]])) / (1 - ac64))[1:]
    err_msknb = ((s.posterior_variance[1:].double() - truth).abs() / truth).max()
    err_diffusers = ((var[1:].double() - truth).abs() / truth).max()
    assert err_msknb <= err_diffusers + 1e-7 and err_msknb < 1e-5
    assert s.posterior_variance[0] == 0
    ac64 = s.alphas_cumprod.double()  # 1 - abar cancels badly in float32 near t = 0
    torch.testing.assert_close(s.snr.double(), ac64 / (1 - ac64), rtol=1e-3, atol=0)
    assert torch.all(s.alphas_cumprod[1:] < s.alphas_cumprod[:-1])


@pytest.mark.parametrize("kind,T", CASES)
def test_q_sample_matches_add_noise(kind, T):
    s = D.make_schedule(kind, T)
    x0, noise = _x()
    t = torch.tensor([0, T // 2, T - 1])
    torch.testing.assert_close(D.q_sample(s, x0, t, noise), _ddpm(kind, T).add_noise(x0, noise, t),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,T", CASES)
def test_ddpm_step_matches_diffusers(kind, T):
    s = D.make_schedule(kind, T)
    ref = _ddpm(kind, T)
    x_t, eps = _x(1)
    for t in (T - 1, T // 2, 1, 0):
        g = torch.Generator().manual_seed(7)
        want = ref.step(eps, t, x_t, generator=g).prev_sample
        g = torch.Generator().manual_seed(7)
        z = torch.randn(x_t.shape, generator=g)  # the draw diffusers made
        got = D.ddpm_step(s, eps, x_t, t, noise=z)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
        # the same with the generator passed straight through
        got_g = D.ddpm_step(s, eps, x_t, t, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(got_g, want, rtol=1e-4, atol=1e-4)
    # t = 0 adds no noise: the mean
    mean = D.p_mean_variance(s, eps, x_t, 0).mean
    torch.testing.assert_close(D.ddpm_step(s, eps, x_t, 0, noise=torch.ones_like(x_t)), mean)


@pytest.mark.parametrize("kind,T", CASES)
def test_ddim_step_matches_diffusers(kind, T):
    s = D.make_schedule(kind, T)
    ref = _ddim(kind, T)
    ref.set_timesteps(50)
    ts = D.ddim_timesteps(T, 50)
    assert ts == ref.timesteps.tolist()
    x, eps = _x(2)
    for i, t in enumerate(ts):
        want = ref.step(eps, t, x, eta=0.0).prev_sample
        t_prev = ts[i + 1] if i + 1 < len(ts) else t - T // 50
        got = D.ddim_step(s, eps, x, t, t_prev, eta=0.0)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
        if i in (0, 25):  # stochastic DDIM with explicit noise
            z = torch.randn(x.shape, generator=torch.Generator().manual_seed(i))
            want = ref.step(eps, t, x, eta=0.7, variance_noise=z).prev_sample
            torch.testing.assert_close(D.ddim_step(s, eps, x, t, t_prev, eta=0.7, noise=z), want,
                                       rtol=1e-4, atol=1e-4)


def test_posterior_matches_q_step_composition():
    """q(x_{t-1}|x_t,x0) mean from the closed form equals the coefficients of Eq. 7 (Ho et al.)."""
    s = D.make_schedule("linear", 300)
    x0, x_t = _x(3)
    t = torch.tensor([1, 100, 299])
    mean, var, logvar = D.posterior_mean_variance(s, x0, x_t, t)
    b64 = s.betas.double()  # reference in float64 (1 - abar cancels in float32 near t = 0)
    ac = torch.cumprod(1 - b64, 0)
    ab, ab_prev, b = ac[t], ac[t - 1], b64[t]
    want = (ab_prev.sqrt() * b / (1 - ab)).view(-1, 1, 1, 1) * x0.double() + \
           ((1 - b).sqrt() * (1 - ab_prev) / (1 - ab)).view(-1, 1, 1, 1) * x_t.double()
    torch.testing.assert_close(mean.double(), want, rtol=1e-5, atol=1e-6)
    assert var.shape == (3, 1, 1, 1)
    torch.testing.assert_close(logvar.exp(), var)


def test_forward_chain_statistics_match_closed_form():
    """Chaining q_step t times has the mean/std that q_sample predicts."""
    s = D.make_schedule("linear", 300)
    g = torch.Generator().manual_seed(0)
    x = torch.full((20000, 1), 0.5)
    for t in range(150):
        x = D.q_step(s, x, t, generator=g)
    assert abs(x.mean().item() - 0.5 * s.sqrt_alphas_cumprod[149].item()) < 0.02
    assert abs(x.std().item() - s.sqrt_one_minus_alphas_cumprod[149].item()) < 0.02


def test_predict_roundtrip_and_extract():
    s = D.make_schedule("cosine", 300)
    x0, noise = _x(4)
    t = torch.tensor([0, 150, 299])
    xt = D.q_sample(s, x0, t, noise)
    torch.testing.assert_close(D.predict_eps(s, xt, t, x0), noise, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(D.predict_x0(s, xt, t, noise), x0, rtol=1e-3, atol=1e-3)
    assert D.extract(s.betas, t, xt.shape).shape == (3, 1, 1, 1)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_oracle_reverse_chain_recovers_x0(kind):
    s = D.make_schedule(kind, 300)
    x0, _ = _x(5, (2, 1, 16, 16))
    g = torch.Generator().manual_seed(0)
    out, traj = D.ddpm_sample_loop(D.oracle_denoiser(s, x0), s, x0.shape, generator=g, progress=False,
                                   return_trajectory=True, trajectory_every=50)
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=1e-4)
    assert [t for t, _, _ in traj][:2] == [299, 250] and traj[-1][0] == 0
    out = D.ddim_sample_loop(D.oracle_denoiser(s, x0), s, x0.shape, steps=20, generator=g, progress=False)
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=1e-4)


def test_ddim_deterministic_and_loss():
    s = D.make_schedule("linear", 100)
    fn = lambda x, t: 0.1 * x  # noqa: E731
    a = D.ddim_sample_loop(fn, s, (1, 1, 4, 4), steps=10, generator=torch.Generator().manual_seed(1), progress=False)
    b = D.ddim_sample_loop(fn, s, (1, 1, 4, 4), steps=10, generator=torch.Generator().manual_seed(1), progress=False)
    torch.testing.assert_close(a, b)
    x0, _ = _x(6)
    loss = D.diffusion_loss(lambda x, t: torch.zeros_like(x), s, x0, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and 0.5 < loss.item() < 1.1  # E|N(0,1)| ≈ 0.80


@pytest.mark.parametrize("kind", ["quadratic", "sigmoid"])
def test_other_schedules_monotone(kind):
    s = D.make_schedule(kind, 300)
    ac = s.alphas_cumprod
    assert torch.all(ac[1:] < ac[:-1]) and 0 < ac[-1] < ac[0] < 1
    assert torch.all((s.betas > 0) & (s.betas < 1))


def test_errors():
    with pytest.raises(ConfigError, match="schedule"):
        D.make_schedule("exponential", 300)
    with pytest.raises(ConfigError, match="timesteps"):
        D.make_schedule("linear", 1)
    with pytest.raises(ConfigError):
        D.ddim_timesteps(300, 0)
    with pytest.raises(ConfigError):
        D.ddim_timesteps(10, 11)


def test_schedule_to_and_snr_db():
    s = D.make_schedule("linear", 300).to("cpu")
    db = D.snr_db(s)
    assert db.shape == (300,) and db[0] > 30 and db[-1] < -10  # linear 1e-4..0.02, T=300: abar_T ~ 0.05, not pure noise
    assert torch.isclose(D.snr_db(s, 10), db[10])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_follows_inputs():
    s = D.make_schedule("linear", 300)  # on CPU
    x0, noise = _x()
    xt = D.q_sample(s, x0.cuda(), torch.tensor([1, 2, 3]).cuda(), noise.cuda())
    assert xt.is_cuda
    torch.testing.assert_close(xt.cpu(), D.q_sample(s, x0, torch.tensor([1, 2, 3]), noise))
    out = D.ddim_sample_loop(D.oracle_denoiser(s, x0.cuda()), s.to("cuda"), x0.shape, steps=10,
                             progress=False, device="cuda")
    assert out.is_cuda
    torch.testing.assert_close(out.cpu(), x0, rtol=1e-4, atol=1e-4)
