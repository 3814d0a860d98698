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


# ---------------------------------------------------------------- prediction objectives ----------
def _oracle_model(s, x0, prediction):
    """A "network" that outputs the exact target of ``prediction`` for the known x0."""
    def model(x_t, t):
        return D.prediction_target(s, x0, D.predict_eps(s, x_t, t, x0), t, prediction)

    return model


@pytest.mark.parametrize("kind,T", CASES)
def test_v_target_matches_diffusers_get_velocity(kind, T):
    s = D.make_schedule(kind, T)
    x0, noise = _x(7)
    t = torch.tensor([0, T // 2, T - 1])
    torch.testing.assert_close(D.prediction_target(s, x0, noise, t, "v"), _ddpm(kind, T).get_velocity(x0, noise, t),
                               rtol=1e-5, atol=1e-5)
    assert D.prediction_target(s, x0, noise, t, "eps") is noise and D.prediction_target(s, x0, noise, t, "x0") is x0


@pytest.mark.parametrize("prediction", D.PREDICTIONS)
def test_to_eps_x0_inverts_the_target(prediction):
    s = D.make_schedule("cosine", 300)
    x0, noise = _x(8)
    t = torch.tensor([1, 150, 298])
    xt = D.q_sample(s, x0, t, noise)
    eps, x0_hat = D.to_eps_x0(s, xt, t, D.prediction_target(s, x0, noise, t, prediction), prediction)
    torch.testing.assert_close(eps, noise, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(x0_hat, x0, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("prediction", D.PREDICTIONS)
@pytest.mark.parametrize("zero_terminal_snr", [False, True])
def test_oracle_chain_recovers_x0_for_each_objective(prediction, zero_terminal_snr):
    s = D.make_schedule("linear", 300, zero_terminal_snr=zero_terminal_snr)
    x0, _ = _x(9, (2, 1, 16, 16))
    if zero_terminal_snr and prediction == "eps":  # ill-posed: x_T holds nothing of x0
        with pytest.raises(ConfigError, match="eps-prediction"):
            D.make_denoiser(_oracle_model(s, x0, prediction), prediction, s)
        return
    denoiser = D.make_denoiser(_oracle_model(s, x0, prediction), prediction, s)
    g = torch.Generator().manual_seed(0)
    out = D.ddpm_sample_loop(denoiser, s, x0.shape, generator=g, progress=False)
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=2e-4)
    out = D.ddim_sample_loop(denoiser, s, x0.shape, steps=20, generator=g, progress=False)
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=2e-4)


def test_make_denoiser_errors_and_eps_passthrough():
    s = D.make_schedule("linear", 50)
    with pytest.raises(ConfigError, match="prediction"):
        D.make_denoiser(lambda x, t: x, "score", s)
    with pytest.raises(ConfigError, match="schedule"):
        D.make_denoiser(lambda x, t: x, "v")
    x, _ = _x(10)
    t = torch.full((3,), 10)
    torch.testing.assert_close(D.make_denoiser(lambda a, b: 0.5 * a)(x, t), 0.5 * x)


# ---------------------------------------------------------------- zero terminal SNR, Min-SNR ----------
@pytest.mark.parametrize("kind,T", CASES)
def test_zero_terminal_snr_matches_diffusers(kind, T):
    s = D.make_schedule(kind, T, zero_terminal_snr=True)
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=KINDS[kind], beta_start=1e-4, beta_end=0.02,
                                  rescale_betas_zero_snr=True)
    torch.testing.assert_close(s.betas, ref.betas, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(s.alphas_cumprod, ref.alphas_cumprod, rtol=1e-4, atol=1e-6)
    assert s.alphas_cumprod[-1] == 0 and s.snr[-1] == 0 and s.betas[-1] == 1 and s.zero_terminal_snr
    plain = D.make_schedule(kind, T)
    assert float(s.sqrt_alphas_cumprod[0]) == pytest.approx(float(plain.sqrt_alphas_cumprod[0]), rel=1e-6)
    assert not plain.zero_terminal_snr and plain.alphas_cumprod[-1] > 0


def test_min_snr_weights():
    s = D.make_schedule("linear", 300, zero_terminal_snr=True)
    t = torch.arange(300)
    snr = s.snr.double()
    gamma = 5.0
    w = {p: D.min_snr_weights(s, t, p, gamma).double() for p in D.PREDICTIONS}
    clipped = snr.clamp(max=gamma)
    torch.testing.assert_close(w["x0"], clipped.float().double())
    torch.testing.assert_close(w["v"], (clipped / (snr + 1)), rtol=1e-5, atol=1e-7)
    ok = snr > 0
    torch.testing.assert_close(w["eps"][ok], (clipped / snr)[ok], rtol=1e-5, atol=1e-7)
    assert w["eps"][-1] == 1 and w["x0"][-1] == 0 and w["v"][-1] == 0  # SNR = 0 at the last step
    assert torch.all(w["eps"] <= 1) and w["eps"][0] < 0.01  # low-noise steps are down-weighted
    # the weights all equal the x0-loss weight min(SNR, gamma) once the target's scale is undone:
    # |eps error|^2 = SNR |x0 error|^2, |v error|^2 = (SNR + 1) |x0 error|^2
    torch.testing.assert_close((w["eps"] * snr)[ok], w["x0"][ok], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(w["v"] * (snr + 1), w["x0"], rtol=1e-4, atol=1e-6)


def test_weighted_loss_is_the_weighted_mean_of_per_sample_losses():
    s = D.make_schedule("linear", 100)
    x0, noise = _x(11)
    t = torch.tensor([2, 50, 99])
    fn = lambda x, tt: 0.3 * x  # noqa: E731
    for prediction in D.PREDICTIONS:
        got = D.diffusion_loss(fn, s, x0, t=t, noise=noise, loss="l2", prediction=prediction, min_snr_gamma=5.0)
        target = D.prediction_target(s, x0, noise, t, prediction)
        per = ((fn(D.q_sample(s, x0, t, noise), t) - target) ** 2).flatten(1).mean(1)
        torch.testing.assert_close(got, (per * D.min_snr_weights(s, t, prediction, 5.0)).mean())
    plain = D.diffusion_loss(fn, s, x0, t=t, noise=noise, loss="l1")
    torch.testing.assert_close(plain, (fn(D.q_sample(s, x0, t, noise), t) - noise).abs().mean())
