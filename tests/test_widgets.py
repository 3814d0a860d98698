"""msknb.ddpm.widgets: the diffusion figures and explorers build, and the explorers react."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from msknb.ddpm import diffusion as D
from msknb.ddpm import widgets as W

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def image():
    yy, xx = np.mgrid[0:16, 0:16]
    return ((np.sin(xx / 3.0) + 1) / 2 * (yy > 4)).astype(np.float32)  # (16, 16) in [0, 1]


@pytest.fixture(scope="module")
def sched():
    return D.make_schedule("linear", 50)


def test_conversions(image):
    x = W.to_model_space(image)
    assert x.shape == (1, 1, 16, 16) and x.min() >= -1 and x.max() <= 1
    np.testing.assert_allclose(W.to_display(x), image, atol=1e-6)


def test_static_figures(image, sched):
    import matplotlib.pyplot as plt

    for fig in (W.forward_figure(image, sched, 25), W.noising_grid(image, sched, [0, 10, 49]),
                W.posterior_figure(image, sched, 10)):
        assert W.fig_to_png(fig)[:4] == b"\x89PNG"
    x0 = W.to_model_space(image)
    _, traj = D.ddim_sample_loop(D.oracle_denoiser(sched, x0), sched, x0.shape, steps=5, progress=False,
                                 return_trajectory=True)
    fig = W.trajectory_grid(traj, n=4, title="x")
    assert len(fig.axes) == 8
    plt.close("all")
    assert len(W.schedules_figure(50).data) == 2 * len(D.SCHEDULE_KINDS)


def test_forward_explorer_redraws(image):
    box = W.forward_explorer(image, timesteps=50, t=5, timestep_options=(20, 50))
    t_slider, kind, T = box.children[0].children
    assert t_slider.description == "t" and T.description == "T"
    first = box.children[1].value
    t_slider.value = 40
    assert box.children[1].value != first
    T.value = 20
    assert t_slider.max == 19 and t_slider.value == round(40 / 49 * 19)
    kind.value = "cosine"
    assert box.children[1].value


def test_reverse_stepper_reaches_x0(image, sched):
    x0 = W.to_model_space(image)
    box = W.reverse_stepper(x0, sched, seed=0)
    assert box.state["t"] == 49
    box.step()
    assert box.state["t"] == 48
    box.children[0].children[1].value = 100  # steps per click
    box.step()
    assert box.state["t"] == -1
    torch.testing.assert_close(box.state["x_t"], x0, rtol=1e-4, atol=1e-4)
    box.reset()
    assert box.state["t"] == 49


def test_image_browser_redraws_on_slider():
    import numpy as np

    from msknb.viz import image_browser

    images = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    masks = (images > 0.8).astype(np.uint8)
    box = image_browser(images, masks, ids=["a", "b", "c"], spacing_mm=np.full((3, 2), np.nan))
    slider, checkbox = box.children[0].children
    out = box.children[1]
    assert slider.description == "image" and slider.max == 2 and checkbox.value
    slider.value = 2
    checkbox.value = False
    assert out is box.children[1]
