"""DPM-Solver++(2M) (msknb.ddpm.dpm_solver) against diffusers' DPMSolverMultistepScheduler."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from msknb.ddpm import diffusion as D
from msknb.ddpm.checkpoints import guidance_label
from msknb.ddpm.dpm_solver import dpm_solver_2m_sample_loop
from msknb.ddpm.sample import sample_images
from msknb.ddpm.synthetic_set import sampler_name
from msknb.ddpm.unet import DiffusionUNet
from msknb.errors import ConfigError

T = 300


def _fake_net(prediction: str):
    """A smooth stand-in for a trained network: output depends on x_t and t."""
    w = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.1
    return lambda x, t: torch.tanh(0.7 * x + w) * (t.float() / T).reshape(-1, 1, 1, 1)


def _diffusers_run(prediction: str, steps: int, x_T: torch.Tensor, net) -> torch.Tensor:
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=T, beta_schedule="linear", beta_start=1e-4, beta_end=0.02, algorithm_type="dpmsolver++",
        solver_order=2, timestep_spacing="trailing", final_sigmas_type="zero",
        prediction_type={"eps": "epsilon", "v": "v_prediction"}[prediction])
    sched.set_timesteps(steps)
    x = x_T.clone()
    for t in sched.timesteps:
        x = sched.step(net(x, torch.full((x.shape[0],), int(t))), t, x).prev_sample
    return x


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # diffusers on numpy 2
@pytest.mark.parametrize("prediction,steps", [("eps", 20), ("v", 25), ("eps", 10)])
def test_matches_diffusers_dpm_solver_multistep(prediction, steps):
    schedule = D.make_schedule("linear", T)
    net = _fake_net(prediction)
    x_T = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    denoise = D.make_denoiser(net, prediction, schedule)
    ours = dpm_solver_2m_sample_loop(denoise, schedule, x_T.shape, steps=steps, x_T=x_T, progress=False)
    theirs = _diffusers_run(prediction, steps, x_T, net)
    assert torch.allclose(ours, theirs, atol=1e-4), float((ours - theirs).abs().max())
    assert D.ddim_timesteps(T, steps, "trailing")[0] == T - 1


def test_an_oracle_chain_ends_at_its_image_even_from_zero_terminal_snr():
    schedule = D.make_schedule("linear", T, zero_terminal_snr=True)
    x0 = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    oracle = D.make_denoiser(lambda x, t: D.prediction_target(schedule, x0, D.predict_eps(schedule, x, t, x0), t, "v"),
                             "v", schedule)
    x = dpm_solver_2m_sample_loop(oracle, schedule, x0.shape, steps=12, progress=False,
                                  generator=torch.Generator().manual_seed(3))
    assert torch.isfinite(x).all() and torch.allclose(x, x0, atol=1e-4)


def test_sample_images_takes_the_solver_and_names_it():
    model = DiffusionUNet(dim=8, dim_mults=(1, 2), channels=1)
    schedule = D.make_schedule("linear", 50)
    a = sample_images(model, schedule, 2, method="dpm++2m", steps=5, image_size=16, seed=4, progress=False)
    b = sample_images(model, schedule, 2, method="dpm++2m", steps=5, image_size=16, seed=4, progress=False)
    assert a.shape == (2, 1, 16, 16) and np.array_equal(a, b)
    with pytest.raises(ConfigError, match="dpm\\+\\+2m"):
        sample_images(model, schedule, 2, method="euler", steps=5, image_size=16, progress=False)
    assert sampler_name("dpm++2m", 25, 300) == "dpm++2m-25" and sampler_name("ddpm", 25, 300) == "ddpm-300"
    assert guidance_label({"guidance": 2, "method": "dpm++2m", "steps": 25}) == "w 2, every step, DPM-Solver++(2M)-25"
    assert guidance_label({"guidance": 2, "method": "ddim", "steps": 50}) == "w 2, every step, DDIM-50"
