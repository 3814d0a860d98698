"""DDIM timestep spacing ("leading" / "trailing") against diffusers' DDIMScheduler."""
import pytest
import torch

from msknb.ddpm import diffusion as D
from msknb.errors import ConfigError

# (T, steps) where diffusers returns exactly `steps` timesteps (for some T/steps its float
# arange adds a stray -1, e.g. T = 300, 7 steps, trailing)
CASES = [(300, 50), (1000, 3), (37, 5), (300, 1), (10, 10), (1000, 999), (300, 30)]


def test_trailing_formula_and_first_step():
    ts = D.ddim_timesteps(300, 50, "trailing")
    assert ts[:3] == [299, 293, 287] and ts[-1] == 5 and len(ts) == 50
    assert D.ddim_timesteps(300, 50) == D.ddim_timesteps(300, 50, "leading")
    assert 299 not in D.ddim_timesteps(300, 50, "leading")
    with pytest.raises(ConfigError):
        D.ddim_timesteps(300, 50, "linspace")


@pytest.mark.parametrize("spacing", D.DDIM_SPACINGS)
def test_spacing_matches_diffusers(spacing):
    diffusers = pytest.importorskip("diffusers")
    for T, k in CASES:
        sched = diffusers.DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
        sched.set_timesteps(k)
        assert D.ddim_timesteps(T, k, spacing) == sched.timesteps.tolist(), (T, k)


def test_trailing_loop_matches_diffusers_ddim():
    diffusers = pytest.importorskip("diffusers")
    T, k = 100, 10
    sched = D.make_schedule("linear", T)
    ref = diffusers.DDIMScheduler(num_train_timesteps=T, beta_schedule="linear", clip_sample=False,
                                  timestep_spacing="trailing", set_alpha_to_one=True)
    ref.betas = sched.betas.clone()
    ref.alphas_cumprod = sched.alphas_cumprod.clone()
    ref.set_timesteps(k)
    fake = lambda x, t: 0.1 * x  # noqa: E731 - any deterministic "network"
    x_T = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    ours = D.ddim_sample_loop(fake, sched, x_T.shape, steps=k, progress=False, x_T=x_T, spacing="trailing")
    x = x_T.clone()
    for t in ref.timesteps:
        x = ref.step(fake(x, t), t, x, eta=0.0).prev_sample
    assert torch.allclose(ours, x, atol=1e-5)


def test_a_zero_terminal_snr_model_samples_with_trailing_spacing_by_default():
    """Its x_T is pure noise, so DDIM must start at t = T-1: the default spacing is then "trailing"."""
    import torch

    from msknb.ddpm import diffusion as D
    from msknb.ddpm.sample import sample_images

    seen = []

    class Net(torch.nn.Module):
        image_size, prediction, condition, channels = 8, "v", None, 1

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, t):
            seen.append(int(t.reshape(-1)[0]))
            return torch.zeros_like(x)

    sched = D.make_schedule("linear", 20, zero_terminal_snr=True)
    sample_images(Net(), sched, 1, method="ddim", steps=4, progress=False)
    assert seen[0] == 19
