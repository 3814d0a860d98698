"""The modern view of diffusion (notebooks 02, 04) and the readings of notebooks 00, 01 and 04:
the 2-D toy's exact quantities against autograd and Monte Carlo, the guidance lab's numbers and
sentences, the forward-process readings and the data readings, each computed from numbers."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from msknb.data import describe  # noqa: E402
from msknb.data.figures import brightness_figure  # noqa: E402
from msknb.ddpm import diffusion as D  # noqa: E402
from msknb.ddpm.checkpoints import SHIPPED_COND_DDPM, pretrained_path  # noqa: E402
from msknb.ddpm.figures import schedules_static_figure  # noqa: E402
from msknb.ddpm.lessons import figures as LF  # noqa: E402
from msknb.ddpm.lessons import forward as F  # noqa: E402
from msknb.ddpm.lessons import guidance as G  # noqa: E402
from msknb.ddpm.lessons import toy2d as toy  # noqa: E402


# ------------------------------------------------------------------------------ 2-D toy (02)
def test_exact_eps_is_minus_b_times_the_score():
    mix, s = toy.default_mixture(), toy.toy_schedule()
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for t in (0, 150, 999):
        a, b = s.sqrt_alphas_cumprod[t], s.sqrt_one_minus_alphas_cumprod[t]
        score, = torch.autograd.grad(toy.log_density(mix, x, a, b).sum(), x)
        assert torch.allclose(toy.exact_eps(mix, s, x.detach(), t), -b * score, atol=1e-4)


def test_posterior_x0_matches_a_monte_carlo_estimate():
    """E[x_0 | x_t] by importance weights over many mixture draws agrees with the closed form."""
    mix = toy.default_mixture()
    x0, _ = toy.sample_mixture(mix, 200_000, seed=3)
    a, b = 0.7, 0.7 ** 0.5
    point = torch.tensor([[0.3, -0.2]])
    w = torch.softmax(-((point - a * x0) ** 2).sum(1) / (2 * b ** 2), 0)
    mc = (w[:, None] * x0).sum(0)
    assert torch.allclose(toy.posterior_x0(mix, point, a, b)[0], mc, atol=0.02)


def test_velocity_is_eps_minus_x0_of_the_posterior():
    mix = toy.default_mixture()
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
    tau = 0.4
    x0 = toy.posterior_x0(mix, x, 1 - tau, tau)
    eps = (x - (1 - tau) * x0) / tau
    assert torch.allclose(toy.exact_velocity(mix, x, tau), eps - x0, atol=1e-6)


def test_exact_samplers_land_on_the_blobs_and_agree():
    """DDIM with the exact eps and Euler flow matching with the exact velocity: the same ODE in
    other coordinates, so from the same noise they end at nearly the same points, on the blobs."""
    mix, s = toy.default_mixture(), toy.toy_schedule()
    model = toy.ToyDenoiser(s.timesteps).eval()          # untrained: only the exact samplers are judged
    out = toy.toy_samples(mix, s, model, n=300, steps=50, seed=0)
    assert set(out) == {"DDPM, learned", "DDIM, learned", "DDIM, exact", "flow matching, exact"}
    for name in ("DDIM, exact", "flow matching, exact"):
        land = toy.landing(mix, out[name])
        assert land["within_3sd"] > 0.95
        assert np.allclose(land["share"], mix.weights.numpy(), atol=0.08)
    assert toy.ode_gap(out, mix) < 0.5
    text = toy.landing_reading({k: toy.landing(mix, v) for k, v in out.items()}, mix.weights.tolist(),
                               toy.ode_gap(out, mix))
    assert "practically the same points" in text and "0.50, 0.30, 0.20" in text


def test_a_short_training_brings_the_learned_eps_towards_the_exact_one():
    mix, s = toy.default_mixture(), toy.toy_schedule()
    untrained = toy.eps_error(mix, s, toy.ToyDenoiser(s.timesteps).eval(), [300], n=500)
    model, losses = toy.train_toy(mix, s, steps=300, seed=0)
    trained = toy.eps_error(mix, s, model, [300], n=500)
    assert trained[300] < 0.5 * untrained[300]
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    assert torch.get_num_threads() >= 1
    text = toy.field_reading({20: 0.3, 300: 0.05})
    assert "5 % (rms, relative) at t = 300" in text and "30 % at t = 20" in text
    fig = LF.toy_field_figure(mix, s, model, [20, 300], trained)
    assert len(fig.axes) == 4
    data = toy.sample_mixture(mix, 50)[0]
    assert len(LF.toy_samples_figure(data, {"a": data}, None).axes) == 2


# ------------------------------------------------------------------------- guidance lab (04)
def _table(contrast_by_w, grey=0.2):
    masks = np.zeros((len(next(iter(contrast_by_w.values()))), 16, 16), np.uint8)
    masks[:, 4:6, :] = 1
    masks[:, 11:13, :] = 1
    images, rng = {}, np.random.default_rng(0)
    speckle = grey + 0.05 * rng.standard_normal((16, 16))      # the same background for every image
    for w, contrasts in contrast_by_w.items():
        imgs = np.repeat(speckle[None], len(contrasts), 0).astype(np.float32)
        for i, c in enumerate(contrasts):
            imgs[i][masks[i] == 1] += 0.05 * c
        images[w] = imgs
    return G.guidance_table(images, masks), masks, images


def test_guidance_table_and_reading_follow_the_numbers():
    table, masks, images = _table({0.0: [0, 0, 0], 1.0: [1, 1, 1], 4.0: [2, 3, 2]})
    c = {w: table["by_w"][w]["contrast"]["mean"] for w in table["scales"]}
    assert c[0.0] < c[1.0] < c[4.0] and table["n"] == 3
    text = G.guidance_reading(table)
    assert "higher at w = 4 than at w = 0 in 3 of 3 images" in text and "a consistent rise" in text
    mixed, _, _ = _table({0.0: [1, 2, 0], 4.0: [2, 1, 1]})
    assert "no consistent change" in G.guidance_reading(mixed)
    with_real = G.guidance_table(images, masks, real_images=images[1.0])
    assert "closest to the real images' at w = 1" in G.guidance_reading(with_real)
    assert "and than at w = 1 in 3 of 3" in text
    one, _, _ = _table({0.0: [0], 4.0: [2]})
    assert "One image: an example, not a trend." in G.guidance_reading(one)
    fig = LF.guidance_figure(masks, images, table, rows=2)
    assert len(fig.axes) == 2 * 4 + 2


@pytest.mark.skipif(pretrained_path(SHIPPED_COND_DDPM) is None, reason="no shipped conditional generator")
def test_guidance_sweep_draws_every_scale_from_the_same_noise():
    masks = np.zeros((1, 64, 64), np.uint8)
    masks[:, 10:13, 5:60] = 1
    masks[:, 45:48, 5:60] = 1
    out = G.guidance_sweep(pretrained_path(SHIPPED_COND_DDPM), masks, scales=(0.0, 1.0), steps=2, seed=0)
    assert set(out) == {0.0, 1.0} and out[0.0].shape == (1, 64, 64)
    assert 0 <= out[1.0].min() and out[1.0].max() <= 1 and not np.allclose(out[0.0], out[1.0])


# ------------------------------------------------------------------- forward readings (01, 04)
def test_start_mean_reading_counts_training_draws_as_bright_as_the_start():
    s = D.make_schedule("linear", 300)
    dark = np.full((5, 64, 64), 0.2)
    r = F.start_mean_reading(dark, s)
    assert r["median"] == pytest.approx(0.2193 * (2 * 0.2 - 1), rel=1e-3)
    assert r["noise_sd"] == pytest.approx((1 - 0.0481) ** 0.5 / 64, rel=1e-2)
    assert r["share_at_or_above_0"] < 1e-6
    assert "brighter than practically every" in F.start_reading(r)
    bright = np.concatenate([dark, np.full((5, 64, 64), 0.47)])     # x_T mean -0.013, 1 sd below 0
    r2 = F.start_mean_reading(bright, s)
    assert 0.01 < r2["share_at_or_above_0"] < 0.2
    assert "not brighter than all of them" in F.start_reading(r2)
    assert "within the range" in F.start_reading(F.start_mean_reading(np.full((2, 8, 8), 0.6), s))


def test_contrast_survival_buries_the_smaller_contrast_first():
    s = D.make_schedule("linear", 300)
    rng = np.random.default_rng(0)
    img = 0.2 + 0.02 * rng.standard_normal((64, 64))
    mask = np.zeros((64, 64), np.uint8)
    mask[20:23] = 1
    img[20:23] += 0.3
    c = F.contrast_survival(img, mask, s)
    assert c["aponeurosis"] == pytest.approx(0.6, abs=0.05)
    assert c["t_speckle"] < c["t_aponeurosis"]
    text = F.contrast_reading(c, 300)
    assert f"t = {c['t_aponeurosis']}" in text and "Every pixel is scaled alike" in text
    assert "no mask" in F.contrast_reading(F.contrast_survival(img, None, s), 300)


def test_schedule_reading_and_its_static_figure():
    schedules = {k: D.make_schedule(k, 300) for k in ("linear", "cosine")}
    text = F.schedule_reading(schedules)
    assert "up to t = 249 of 0..299" in text and "SNR -13 dB" in text
    fig = schedules_static_figure(300, ("linear", "cosine"))
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 3      # two schedules + the 0 dB line


# ------------------------------------------------------------------------- data readings (00)
def test_brightness_reading_says_one_group_cannot_compare_scanners():
    images = np.stack([np.full((4, 4), v) for v in np.linspace(0.1, 0.4, 20)])
    one = describe.brightness_by_group(images, ["all"] * 20)
    text = describe.brightness_reading(one)
    assert "one group" in text and "cannot compare" in text and f"{one['all']['median']:.2f}" in text
    two = describe.brightness_by_group(images, ["a"] * 10 + ["b"] * 10)
    text2 = describe.brightness_reading(two)
    assert "darkest group by median is a" in text2 and "brightest b" in text2
    assert len(brightness_figure(images, ["a"] * 10 + ["b"] * 10).axes) == 2


def test_clusters_nest_in_subjects_and_the_reading_counts_them():
    clusters = [0, 0, 1, 2, 3, 4]
    subjects = ["dup-0", "dup-0", "dup-0", "dup-1", "dup-1", "dup-2"]      # 1 and 2 joined, 3 and 4 joined
    d = describe.clusters_vs_subjects(clusters, subjects)
    assert d == {"n_clusters": 5, "n_subjects": 3, "subjects_joining": 2, "clusters_joined": 4, "clusters_split": 0}
    text = describe.clusters_reading(d, subjects_are_clusters=True)
    assert "joins 4 of the 5 clusters into 2 larger groups, which leaves 3 groups" in text
    split = describe.clusters_vs_subjects([0, 0], ["s1", "s2"])
    assert split["clusters_split"] == 1 and "divided between groups" in describe.clusters_reading(split, False)
    assert "exactly" in describe.clusters_reading(describe.clusters_vs_subjects([0, 1], ["a", "b"]), False)
