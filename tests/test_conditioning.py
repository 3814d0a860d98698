"""Mask-conditioned DDPM (issue 13, item 3): training, sampling, guidance, checkpoints, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from msknb.ddpm import diffusion as D
from msknb.ddpm.checkpoints import checkpoint_extras, load_checkpoint, load_model
from msknb.ddpm.condition_masks import augmented_masks, read_condition_masks
from msknb.ddpm.config import TrainConfig
from msknb.ddpm.export import write_synthetic_set
from msknb.ddpm.guidance import rescaled_guidance
from msknb.ddpm.mask_prior import sample_masks
from msknb.ddpm.sample import sample_images
from msknb.ddpm.train import split_condition, train_ddpm
from msknb.errors import ConfigError, DataError

COND = dict(image_size=16, channels=1, dim=8, dim_mults=(1, 2), timesteps=20, batch_size=4, epochs=2,
            condition="mask", cond_dropout=0.25, lr=1e-3, sample_every=4)
PRIOR = {"params": ["depth_sup", "separation", "thick_sup", "thick_deep", "tilt_sup", "tilt_deep", "curv_sup",
                    "curv_deep", "start_sup", "start_deep", "end_sup", "end_deep", "gap_sup", "gap_deep"],
         "mean": [0.15, 0.5, 0.06, 0.07, 0.05, 0.1, 0.05, 0.0, 0.02, 0.02, 0.98, 0.98, 0.0, 0.05],
         "std": [0.03, 0.06, 0.01, 0.01, 0.04, 0.05, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02, 0.0, 0.05],
         "lo": [0.08, 0.35, 0.04, 0.04, -0.1, -0.1, -0.1, -0.15, 0.0, 0.0, 0.9, 0.9, 0.0, 0.0],
         "hi": [0.25, 0.65, 0.09, 0.1, 0.15, 0.25, 0.2, 0.15, 0.08, 0.08, 1.0, 1.0, 0.0, 0.2]}


def cond_data(n: int = 8, size: int = 16) -> np.ndarray:
    """(n, 2, size, size): a noisy image brighter on its mask, and the mask."""
    rng = np.random.default_rng(0)
    masks = sample_masks(PRIOR, n, size, seed=1).astype(np.float32)
    imgs = np.clip(0.2 + 0.6 * masks + 0.1 * rng.standard_normal(masks.shape), 0, 1).astype(np.float32)
    return np.stack([imgs, masks], axis=1)


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cond")
    return train_ddpm(cond_data(), TrainConfig(**COND), out, progress=False), out


def test_config_condition_validation_and_old_checkpoints():
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{**COND, "condition": "label"})
    assert e.value.path == "condition"
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{**COND, "channels": 2})
    assert e.value.path == "channels"
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{**COND, "cond_dropout": 1.0})
    assert e.value.path == "cond_dropout"
    old = TrainConfig(**{k: v for k, v in COND.items() if k not in ("condition", "cond_dropout")}).to_dict()
    del old["condition"], old["cond_dropout"]
    assert TrainConfig.from_dict(old).condition is None
    with pytest.raises(ConfigError, match="channel"):  # image only, where image + mask is needed
        train_ddpm(cond_data()[:, :1], TrainConfig(**COND), None, progress=False)


def test_split_condition_drops_to_the_null_mask():
    cfg = TrainConfig(**COND)
    x = torch.ones(4, 2, 16, 16)
    x0, cond = split_condition(x, cfg, torch.tensor([0.1, 0.5, 0.2, 0.9]))
    assert x0.shape == (4, 1, 16, 16) and cond.shape == (4, 1, 16, 16)
    assert cond[[0, 2]].abs().max() == 0 and (cond[[1, 3]] == 1).all()
    assert D.with_condition(x0, cond).shape == (4, 2, 16, 16) and D.with_condition(x0, None) is x0


def test_conditional_model_trains_and_samples_one_image_per_mask(cond_run):
    res, out = cond_run
    assert res.steps == 4 and np.isfinite(res.losses).all() and len(res.preview_paths) == 1
    model, schedule, config = load_model(res.checkpoint_path)
    assert config.condition == "mask" and model.condition == "mask" and model.out_channels == 1
    masks = sample_masks(PRIOR, 3, 16, seed=5)
    a = sample_images(model, schedule, None, method="ddim", steps=5, seed=2, masks=masks, batch_size=2,
                      progress=False)
    b = sample_images(model, schedule, 3, method="ddim", steps=5, seed=2, masks=masks, batch_size=2,
                      progress=False)
    assert a.shape == (3, 1, 16, 16) and np.isfinite(a).all() and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, b)  # seeded
    c = sample_images(model, schedule, None, method="ddpm", seed=3, masks=masks, progress=False)
    assert c.shape == (3, 1, 16, 16) and not np.array_equal(a, c)


def test_guidance_one_is_the_plain_conditional_output(cond_run):
    model = cond_run[0].ema
    schedule = cond_run[0].schedule
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([3, 15])
    cond = torch.from_numpy(sample_masks(PRIOR, 2, 16, seed=0)[:, None].astype(np.float32)) * 2 - 1
    plain = D.make_denoiser(model, "eps", schedule, condition=cond)(x, t)
    with torch.no_grad():
        raw = model(torch.cat([x, cond], 1), t)
    torch.testing.assert_close(plain, raw)
    torch.testing.assert_close(D.make_denoiser(model, "eps", schedule, condition=cond, guidance=1.0)(x, t), plain)
    guided = D.make_denoiser(model, "eps", schedule, condition=cond, guidance=3.0)(x, t)
    with torch.no_grad():
        null = model(torch.cat([x, torch.zeros_like(cond)], 1), t)
    torch.testing.assert_close(guided, null + 3.0 * (raw - null))


def test_guidance_interval_guides_only_inside_it(cond_run):
    model, schedule = cond_run[0].ema, cond_run[0].schedule
    T = schedule.timesteps
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    cond = torch.from_numpy(sample_masks(PRIOR, 2, 16, seed=1)[:, None].astype(np.float32)) * 2 - 1
    t = torch.tensor([0, T - 1])                          # one step at each end of the chain
    everywhere = D.make_denoiser(model, "eps", schedule, condition=cond, guidance=3.0)(x, t)
    plain = D.make_denoiser(model, "eps", schedule, condition=cond)(x, t)
    full = D.make_denoiser(model, "eps", schedule, condition=cond, guidance=3.0, guidance_interval=(0, 1))(x, t)
    torch.testing.assert_close(full, everywhere)
    high = D.make_denoiser(model, "eps", schedule, condition=cond, guidance=3.0, guidance_interval=(0.5, 1))(x, t)
    torch.testing.assert_close(high[0], plain[0])         # t = 0 lies outside: w = 1
    torch.testing.assert_close(high[1], everywhere[1])    # t = T - 1 lies inside: w = 3
    for bad in [(0.8, 0.2), (-0.1, 1), (0, 2), "high"]:
        with pytest.raises(ConfigError, match="guidance_interval"):
            D.make_denoiser(model, "eps", schedule, condition=cond, guidance=3.0, guidance_interval=bad)


def test_guidance_rescale_matches_diffusers():
    diffusers_sd = pytest.importorskip("diffusers.guiders.guider_utils")
    g = torch.Generator().manual_seed(0)
    guided, cond = 3 * torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 1, 8, 8, generator=g)
    for phi in (0.0, 0.7, 1.0):
        torch.testing.assert_close(rescaled_guidance(guided, cond, phi),
                                   diffusers_sd.rescale_noise_cfg(guided, cond, guidance_rescale=phi))
    with pytest.raises(ConfigError, match="guidance_rescale"):
        D.make_denoiser(lambda x, t: x, "eps", None, guidance=2.0, guidance_rescale=1.5)


def test_mask_errors_are_named(cond_run):
    model, schedule = cond_run[0].ema, cond_run[0].schedule
    with pytest.raises(DataError, match=r"\(N, 16, 16\)") as e:
        sample_images(model, schedule, None, masks=np.zeros((2, 32, 32)), progress=False)
    assert e.value.path == "masks"
    with pytest.raises(ConfigError, match="pass masks"):
        sample_images(model, schedule, 2, progress=False)
    with pytest.raises(ConfigError, match="one image per mask"):
        sample_images(model, schedule, 5, masks=np.zeros((2, 16, 16)), progress=False)


def test_augmented_masks_keep_the_bands(tmp_path):
    masks = sample_masks(PRIOR, 4, 32, seed=0)
    aug = augmented_masks(masks, 6, seed=1)
    assert aug.shape == (6, 32, 32) and aug.dtype == np.uint8 and set(np.unique(aug)) <= {0, 1}
    np.testing.assert_array_equal(aug, augmented_masks(masks, 6, seed=1))
    assert all(abs(int(a.sum()) - int(masks.sum(axis=(1, 2)).mean())) < 0.5 * masks.sum(axis=(1, 2)).mean()
               for a in aug)


def test_read_condition_masks_names_a_bad_file(tmp_path):
    write_synthetic_set(cond_data(3, 32), tmp_path / "set")
    masks, ids, errors = read_condition_masks(tmp_path / "set", 16)
    assert masks.shape == (3, 16, 16) and ids == ["syn_00001", "syn_00002", "syn_00003"] and errors == []
    folder = tmp_path / "set" / "masks"
    (folder / "syn_00004.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "syn_00005.png")                 # wrong size
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder / "syn_00006.png")               # empty
    grey = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    Image.fromarray(grey).save(folder / "syn_00007.png")                                       # an image, not a mask
    masks, ids, errors = read_condition_masks(tmp_path / "set", 16)
    assert ids == ["syn_00001", "syn_00002", "syn_00003"] and len(errors) == 4
    for name, words in [("syn_00004", "unreadable"), ("syn_00005", "too small"), ("syn_00006", "empty"),
                        ("syn_00007", "not a binary mask")]:
        assert any(name in e and words in e for e in errors), (name, errors)
    for f in folder.glob("syn_0000[123].png"):
        f.unlink()
    with pytest.raises(DataError, match="no usable mask"):
        read_condition_masks(tmp_path / "set", 16)


def test_cli_train_conditional_and_sample_for_masks(tmp_path, capsys):
    from msknb.cli import main
    from msknb.data import load_folder

    write_synthetic_set(cond_data(6, 64), tmp_path / "data", group="all")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["syn_all_00001", "syn_all_00002", "syn_all_00003", "syn_all_00004"],
                                 "val": [], "test": ["syn_all_00005", "syn_all_00006"]}))
    model = tmp_path / "cond.pt"
    assert main(["train", "--data", str(tmp_path / "data"), "--profile", "smoke", "--out", str(tmp_path / "run"),
                 "--max-steps", "1", "--condition", "mask", "--cond-dropout", "0.1", "--split", str(split),
                 "--export", str(model), "--quiet"]) == 0
    ck = load_checkpoint(model)
    assert ck["config_obj"].condition == "mask" and ck["n_images"] == 4
    assert ck["training_ids"] == ["syn_all_00001", "syn_all_00002", "syn_all_00003", "syn_all_00004"]
    assert checkpoint_extras(model)["mask_prior"]["n_masks"] >= 2
    out = tmp_path / "syn"
    assert main(["sample", "--model", str(model), "--masks", str(tmp_path / "data"), "--steps", "3",
                 "--out", str(out), "--quiet"]) == 0
    ds = load_folder(out, crop_fov=False)
    assert len(ds) == 6 and ds.masks is not None
    record = json.loads((out / "generator.json").read_text())
    assert record["mode"] == "mask" and record["sampler"] == "ddim-3" and record["training_ids"] == ck["training_ids"]
    np.testing.assert_array_equal(ds.masks, load_folder(tmp_path / "data", image_size=32).masks)
    before = sorted(p.read_bytes() for p in (out / "images").glob("*.png"))
    bad = tmp_path / "bad"
    (bad / "masks").mkdir(parents=True)
    (bad / "masks" / "broken.png").write_bytes(b"nope")
    assert main(["sample", "--model", str(model), "--masks", str(bad), "--steps", "3", "--out", str(out),
                 "--quiet"]) == 2
    assert sorted(p.read_bytes() for p in (out / "images").glob("*.png")) == before  # nothing lost
    # one bad file among good ones: named, left out, the rest written, exit status 2
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for k, m in enumerate(ds.masks[:2]):
        Image.fromarray((m * 255).astype(np.uint8)).save(mixed / f"good{k}.png")
    (mixed / "broken.png").write_bytes(b"nope")
    assert main(["sample", "--model", str(model), "--masks", str(mixed), "--steps", "3",
                 "--out", str(tmp_path / "mixed_out"), "--quiet"]) == 2
    assert "broken.png" in capsys.readouterr().err
    assert len(list((tmp_path / "mixed_out" / "images").glob("*.png"))) == 2
    assert main(["sample", "--model", str(model), "--masks", "prior", "--n", "3", "--steps", "3",
                 "--out", str(tmp_path / "prior"), "--quiet"]) == 0
    assert len(load_folder(tmp_path / "prior", crop_fov=False)) == 3
    # no --masks with a mask-conditioned model: the masks come from the prior first, then the images
    assert main(["sample", "--model", str(model), "--n", "2", "--steps", "3", "--out", str(tmp_path / "plain"),
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "plain" / "generator.json").read_text())["mode"] == "mask"


def test_bench_conditional_runs_end_to_end(tmp_path, cond_run):
    import sys

    from msknb.ddpm.checkpoints import conditioning_extras, export_ema
    from msknb.data import load_folder
    from msknb.paths import CHECKPOINTS_DIR, PHANTOM_SAMPLES_DIR, REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import bench_conditional

    ds = load_folder(PHANTOM_SAMPLES_DIR, image_size=16)
    ckpt = export_ema(cond_run[0].checkpoint_path, tmp_path / "cond.pt",
                      extra=conditioning_extras(ds.images, sample_masks(PRIOR, 4, 16, seed=0)))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ds.ids[:20], "val": ds.ids[20:], "test": []}))
    out = tmp_path / "c.json"
    assert bench_conditional.main(["--checkpoint", str(ckpt), "--segmenter", str(CHECKPOINTS_DIR
                                   / "segmenter_dltrack_128.pt"), "--data", str(PHANTOM_SAMPLES_DIR),
                                   "--split", str(split), "--n", "3", "--steps", "4", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["n"] == 3 and set(r["samplers"]) == {"ddim50", "ddim50+mean"}
    assert 0 <= r["samplers"]["ddim50+mean"]["alignment"]["dice_mean"] <= 1
    assert r["real_vs_real"]["hist_l1"] >= 0 and "stored_guidance" not in r
    assert checkpoint_extras(ckpt)["guidance"] == 1.0
    args = ["--checkpoint", str(ckpt), "--segmenter", str(CHECKPOINTS_DIR / "segmenter_dltrack_128.pt"), "--data",
            str(PHANTOM_SAMPLES_DIR), "--split", str(split), "--n", "3", "--steps", "2", "--out", str(out),
            "--settings", "ddim50+mean+w1.5"]
    with pytest.raises(SystemExit):  # only a measured setting can be stored
        bench_conditional.main(args + ["--store-guidance", "ddim50+mean+w2"])
    assert bench_conditional.main(args + ["--store-guidance", "ddim50+mean+w1.5"]) == 0
    r = json.loads(out.read_text())
    assert r["stored_guidance"]["guidance"] == 1.5 and "alignment Dice" in r["stored_guidance"]["chosen_by"]
    assert checkpoint_extras(ckpt)["guidance"] == 1.5


def test_stored_guidance_is_the_default_of_draw_conditional(tmp_path, cond_run):
    from msknb.ddpm.checkpoints import export_ema, set_guidance
    from msknb.ddpm.synthetic_set import draw_conditional

    ckpt = export_ema(cond_run[0].checkpoint_path, tmp_path / "cond.pt")
    before = load_checkpoint(ckpt)["ema"]
    masks = sample_masks(PRIOR, 2, 16, seed=3)
    plain, _ = draw_conditional(ckpt, masks, steps=3, seed=1, progress=False)
    set_guidance(ckpt, 2.0, "a test")
    ck = load_checkpoint(ckpt)
    assert ck["guidance"] == 2.0 and ck["guidance_chosen_by"] == "a test"
    assert all(torch.equal(before[k], ck["ema"][k]) for k in before)   # weights untouched
    stored, _ = draw_conditional(ckpt, masks, steps=3, seed=1, progress=False)
    explicit, _ = draw_conditional(ckpt, masks, steps=3, seed=1, progress=False, guidance=2.0)
    np.testing.assert_array_equal(stored, explicit)
    assert not np.array_equal(stored, plain)
    np.testing.assert_array_equal(draw_conditional(ckpt, masks, steps=3, seed=1, progress=False, guidance=1.0)[0],
                                  plain)
    with pytest.raises(ConfigError, match="guidance must be >= 1"):
        set_guidance(ckpt, 0.5, "no")
    # a stored region: draw_conditional guides only near the mask, and the record says so
    from msknb.ddpm.checkpoints import guidance_record
    from msknb.ddpm.guidance import Guidance
    set_guidance(ckpt, 2.0, "near the mask", interval=(0.2, 0.8), region=2)
    assert checkpoint_extras(ckpt)["guidance_region"] == 2
    assert guidance_record(ckpt) == {"guidance": 2.0, "guidance_interval": [0.2, 0.8], "guidance_region": 2}
    model, schedule, _ = load_model(ckpt)
    near = sample_images(model, schedule, None, method="ddim", steps=3, seed=1, masks=masks, progress=False,
                         guidance=Guidance(2.0, (0.2, 0.8), region=2))
    np.testing.assert_array_equal(draw_conditional(ckpt, masks, steps=3, seed=1, progress=False, noise_start=True)[0][:, :1],
                                  near)
    set_guidance(ckpt, 2.0, "everywhere again")
    assert checkpoint_extras(ckpt)["guidance_region"] is None
    from msknb.errors import CheckpointError
    from msknb.paths import CHECKPOINTS_DIR

    joint = tmp_path / "joint.pt"
    joint.write_bytes((CHECKPOINTS_DIR / "ddpm_dltrack_64.pt").read_bytes())
    with pytest.raises(CheckpointError, match="not a mask-conditioned model"):
        set_guidance(joint, 2.0, "no")


def test_reference_set_is_drawn_in_timed_chunks_and_resumed(cond_run, tmp_path):
    from msknb.ddpm.checkpoints import export_ema
    from msknb.evaluation.reference import synthetic as RS
    ckpt = export_ema(cond_run[0].checkpoint_path, tmp_path / "gen.pt")
    masks = cond_data(3)[:, 1]
    first = RS.draw_reference_set(masks, ["a", "b", "c"], 16, folder=tmp_path / "set", checkpoint=ckpt, steps=3,
                                  guidance=1.0, progress=False)
    assert first["images"].shape == (3, 16, 16) and first["record"]["draw_chunks_timed"] == "1 of 1"
    assert first["record"]["draw_cpu_seconds"] > 0
    again = RS.draw_reference_set(masks, ["a", "b", "c"], 16, folder=tmp_path / "set", checkpoint=ckpt, steps=3,
                                  guidance=1.0, progress=False)
    assert np.array_equal(first["images"], again["images"])             # read back, not drawn again
    RS.draw_reference_set(masks, ["a", "b", "c"], 16, folder=tmp_path / "set", checkpoint=ckpt, steps=4,
                          guidance=1.0, progress=False)
    assert len(list(tmp_path.glob("set*"))) == 2                          # the other settings' set moved aside


def test_region_guidance_guides_only_near_the_mask():
    from msknb.ddpm.diffusion import make_denoiser
    from msknb.ddpm.guidance import Guidance, near_mask

    mask = -torch.ones(1, 1, 16, 16)
    mask[..., 5:7, :] = 1.0                          # a band on rows 5-6
    near = near_mask(mask, 2)
    assert near[0, 0, 3:9].all() and not near[0, 0, :3].any() and not near[0, 0, 9:].any()
    net = lambda x, t: x[:, 1:].abs()                # 1 where the mask is given, 0 for the null mask
    guide = Guidance(3.0, region=2)
    out = make_denoiser(net, "eps", condition=mask, guidance=guide)(torch.zeros(1, 1, 16, 16), torch.tensor([5]))
    assert torch.allclose(out[0, 0, 3:9], torch.full((6, 16), 3.0)) and torch.allclose(out[0, 0, 9:], torch.ones(7, 16))
    everywhere = make_denoiser(net, "eps", condition=mask, guidance=3.0)(torch.zeros(1, 1, 16, 16), torch.tensor([5]))
    assert torch.allclose(everywhere, torch.full((1, 1, 16, 16), 3.0))
    with pytest.raises(ConfigError, match="guidance_region"):
        Guidance(2.0, region=-1)


def test_coarse_guidance_guides_the_layout_and_leaves_the_speckle_plain(tmp_path, cond_run):
    from msknb.ddpm.checkpoints import export_ema, guidance_label, guidance_record, set_guidance, stored_guidance
    from msknb.ddpm.guidance import Guidance, coarse_part

    g = torch.Generator().manual_seed(0)
    null = torch.randn(2, 1, 32, 32, generator=g)
    layout = torch.linspace(0, 1, 32).view(1, 1, 32, 1).expand(2, 1, 32, 32)   # a smooth change
    speckle = torch.randn(2, 1, 32, 32, generator=g)
    cond = null + layout + speckle
    guided = torch.ones(2, dtype=torch.bool)
    out = Guidance(3.0, coarse=2.0).combine(cond, null, guided)
    assert torch.allclose(out, cond + 2.0 * coarse_part(cond - null, 2.0))
    # the smooth part of c - u is guided as without `coarse`, the pixel noise barely
    assert torch.allclose(coarse_part(layout, 2.0)[..., 6:-6, :], layout[..., 6:-6, :], atol=1e-5)
    assert coarse_part(speckle, 2.0).std() < 0.25 * speckle.std()
    shift = torch.full_like(cond, 0.5)                                      # a constant: every scale is coarse
    assert torch.allclose(Guidance(3.0, coarse=2.0).combine(null + shift, null, guided),
                          Guidance(3.0).combine(null + shift, null, guided), atol=1e-5)
    with pytest.raises(ConfigError, match="guidance_coarse"):
        Guidance(2.0, coarse=0)
    ckpt = export_ema(cond_run[0].checkpoint_path, tmp_path / "cond.pt")
    set_guidance(ckpt, 2.0, "coarse", interval=(0.2, 0.8), coarse=2)
    assert guidance_record(ckpt) == {"guidance": 2.0, "guidance_interval": [0.2, 0.8], "guidance_coarse": 2.0}
    assert stored_guidance(ckpt) == Guidance(2.0, (0.2, 0.8), coarse=2.0)
    assert "structure coarser than 2 px only" in guidance_label(guidance_record(ckpt))


def test_mask_loss_weight_weighs_the_pixels_near_the_mask_and_keeps_the_loss_scale():
    from msknb.ddpm.train import mask_loss_weights

    mask = -torch.ones(2, 1, 32, 32)
    mask[0, :, 10:12] = 1.0
    w = mask_loss_weights(mask, 4.0)
    assert torch.allclose(w.mean(dim=(1, 2, 3)), torch.ones(2))
    assert w[0, 0, 11, 0] == pytest.approx(4 * w[0, 0, 30, 0]) and torch.allclose(w[1], torch.ones(1, 32, 32))
    with pytest.raises(ConfigError, match="mask_loss_weight"):
        TrainConfig(**{**COND, "mask_loss_weight": 0.5})
    with pytest.raises(ConfigError, match="mask_loss_weight"):
        TrainConfig(**{**COND, "condition": None, "mask_loss_weight": 2.0})
    run = train_ddpm(cond_data(8, 16), TrainConfig(**{**COND, "mask_loss_weight": 4.0, "sample_every": None}), None,
                     progress=False)
    assert run.steps > 0 and all(np.isfinite(run.losses))
