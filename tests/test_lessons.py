"""The practitioner lessons (issue 15, item 4): the sharpness measure, the raw-vs-EMA
loading, the conclusions computed from numbers, and the memorisation-size benchmark at toy size."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from msknb.ddpm.checkpoints import export_ema
from msknb.ddpm.config import TrainConfig
from msknb.ddpm.lessons import figures as LF
from msknb.ddpm.lessons import measures as L
from msknb.ddpm.train import train_ddpm
from msknb.errors import DataError, MsknbError

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


def test_sharpness_of_a_constant_is_zero_and_of_a_ramp_its_slope():
    flat = np.full((2, 8, 8), 0.3)
    ramp = np.tile(np.arange(9) / 8.0, (9, 1))[None]          # +1/8 grey level per px along x
    assert L.sharpness(flat) == pytest.approx([0.0, 0.0])
    assert L.sharpness(ramp)[0] == pytest.approx(1 / 8)
    assert L.sharpness(ramp.transpose(0, 2, 1))[0] == pytest.approx(1 / 8)


def test_sharpness_drops_with_blur_and_reads_the_image_channel():
    rng = np.random.default_rng(0)
    x = rng.random((3, 32, 32))
    blurred = (x + np.roll(x, 1, 1) + np.roll(x, 1, 2) + np.roll(x, (1, 1), (1, 2))) / 4
    assert (L.sharpness(blurred) < 0.7 * L.sharpness(x)).all()
    two = np.stack([x, np.zeros_like(x)], axis=1)              # (N, 2, H, W): channel 1 = mask
    assert L.sharpness(two) == pytest.approx(L.sharpness(x.astype(np.float32)), rel=1e-5)


@pytest.mark.parametrize("shape", [(8,), (2, 8), (2, 1, 8), (2, 3, 8, 8)])
def test_sharpness_rejects_other_shapes(shape):
    with pytest.raises(DataError):
        L.sharpness(np.zeros(shape))


def _blur(x):
    return (x + np.roll(x, 1, -1) + np.roll(x, 1, -2) + np.roll(x, (1, 1), (-1, -2))) / 4


def test_contrast_free_sharpness_ignores_contrast_and_a_flat_image_is_nan():
    rng = np.random.default_rng(0)
    x = 0.3 + 0.1 * rng.random((3, 16, 16))
    stretched = 0.3 + 2 * (x - 0.3)                        # the same texture at twice the contrast
    assert L.sharpness(stretched) == pytest.approx(2 * L.sharpness(x))
    assert L.contrast_free_sharpness(stretched) == pytest.approx(L.contrast_free_sharpness(x))
    assert np.isnan(L.contrast_free_sharpness(np.full((1, 8, 8), 0.5))[0])


def test_ddim_blur_reading_pairs_images_by_noise_and_reads_the_ci():
    rng = np.random.default_rng(1)
    real = rng.random((6, 16, 16))
    sharp = rng.random((8, 16, 16))
    samples = {"ddim_5": _blur(_blur(sharp)), "ddim_10": _blur(sharp), "ddim_25": sharp, "ddpm_100": sharp[:1]}
    table = L.sharpness_by_sampler(samples, real)
    assert table["real_n"] == 6 and len(table["samplers"]["ddim_5"]["ratios"]) == 8
    cmp = L.ddim_steps_comparison(table)
    assert (cmp["fewest"], cmp["most"], cmp["n"], cmp["sharper"], cmp["rising_every_step"]) == ("ddim_5", "ddim_25", 8, 8, 8)
    assert cmp["significant"] and cmp["ci_low"] > 0
    text = L.ddim_blur_conclusion(table)
    assert text.index("DDIM-5") < text.index("DDIM-10") < text.index("DDPM-100")
    assert f"DDPM-100 {100 * table['samplers']['ddpm_100']['ratio_to_real']:.0f} % (one image: one example)" in text
    assert f"DDIM-5 {100 * table['samplers']['ddim_5']['ratio_to_real']:.0f} ±" in text
    assert "rising with every added DDIM step in 8 of 8" in text and "DDIM-5 is measurably blurrier than DDIM-25" in text
    assert "rises with every added DDIM step --" not in text
    LF.sampler_sharpness_figure(samples, table, n=2)


def test_ddim_blur_reading_says_no_measurable_difference_and_one_example():
    rng = np.random.default_rng(2)
    real = rng.random((6, 16, 16))
    a, b = rng.random((8, 16, 16)), rng.random((8, 16, 16))
    text = L.ddim_blur_conclusion(L.sharpness_by_sampler({"ddim_5": a, "ddim_25": b}, real))
    assert "The CI contains 0: no measurable difference" in text and "rising with every" not in text
    one = L.ddim_blur_conclusion(L.sharpness_by_sampler({"ddim_5": a[:1], "ddim_25": b[:1]}, real))
    assert "on one image: one example, not a trend" in one and "CI" not in one


def test_ddim_blur_reading_explains_extra_sharpness_by_contrast():
    rng = np.random.default_rng(3)
    texture = rng.random((8, 16, 16))
    real = 0.2 + 0.1 * texture
    bright = 0.4 + 0.3 * texture[::-1]                     # same kind of texture, three times the contrast
    table = L.sharpness_by_sampler({"ddim_5": bright, "ddim_10": bright}, real)
    text = L.ddim_blur_conclusion(table)
    assert "more than one real SD above the real mean" in text
    assert "inside the real spread. So the extra sharpness in grey levels comes with the samples' higher contrast" in text
    noisy = L.ddim_blur_conclusion(L.sharpness_by_sampler({"ddim_5": 0.2 + 0.1 * rng.random((8, 16, 16)) + 0.0 * texture,
                                                          "ddim_10": 0.2 + 0.1 * rng.random((8, 16, 16))},
                                                         0.2 + 0.1 * _blur(_blur(texture))))
    assert "above the real spread even without contrast" in noisy


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ema")
    data = np.random.default_rng(0).random((4, 1, 16, 16)).astype(np.float32)
    cfg = TrainConfig(image_size=16, channels=1, dim=8, dim_mults=(1, 2), timesteps=20, batch_size=4, epochs=3,
                      ema_start=0)
    return train_ddpm(data, cfg, tmp / "run", progress=False).checkpoint_path, data[:, 0]


def test_raw_and_ema_weights_of_a_training_checkpoint(tiny_checkpoint, tmp_path):
    path, real = tiny_checkpoint
    raw, ema, schedule, config, note = L.load_raw_and_ema(path)
    assert raw is not None and "raw and EMA weights after 3 steps" in note
    assert schedule.timesteps == 20 and ema.image_size == 16
    assert L.weight_distance(ema, ema) == 0.0 and L.weight_distance(raw, ema) > 0
    x = np.random.default_rng(2).random((2, 1, 16, 16)).astype(np.float32)
    comparison = L.ema_comparison(x, x[::-1], real)
    assert comparison["raw"]["hist_l1"] == pytest.approx(comparison["ema"]["hist_l1"])
    text = L.ema_conclusion(comparison, L.weight_distance(raw, ema), 3, config.ema_decay)
    assert "After 3 steps" in text and f"{comparison['raw']['hist_l1']:.3f}" in text
    LF.raw_vs_ema_figure(x, x[::-1], comparison)
    none, ema2, _, _, note2 = L.load_raw_and_ema(export_ema(path, tmp_path / "ema.pt"))
    assert none is None and "EMA weights only" in note2
    assert L.weight_distance(ema2, ema) < 1e-3                 # the fp16 export of the same weights


def test_read_memorisation_size_missing_and_garbled(tmp_path):
    from msknb.errors import StoredResultError

    with pytest.raises(StoredResultError, match="none.json.*bench_memorisation_size.py"):
        L.read_memorisation_size(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": [{"fraction": 0.1}]}))
    with pytest.raises(MsknbError, match="bad.json"):
        L.read_memorisation_size(bad)


@pytest.mark.timeout(300)
def test_bench_memorisation_size_runs_at_toy_size(tmp_path):
    import bench_memorisation_size as B

    ids = sorted(p.stem for p in (REPO / "data_samples" / "phantoms" / "images").iterdir())
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ids[:16], "test": ids[16:]}))
    out = tmp_path / "mem.json"
    torch.manual_seed(0)
    rc = B.main(["--data", str(REPO / "data_samples" / "phantoms"), "--split", str(split), "--fractions", "0.5", "1",
                 "--image-size", "16", "--dim", "8", "--mults", "1", "2", "--timesteps", "20", "--steps", "2",
                 "--batch", "4", "--n-samples", "4", "--ddim-steps", "2", "--out", str(out)])
    assert rc == 0
    report = L.read_memorisation_size(out)
    assert [r["n_train"] for r in report["runs"]] == [8, 16]
    assert all(r["steps"] == 2 and r["n_synthetic"] == 4 for r in report["runs"])
    assert "bench_memorisation_size.py" in report["command"] and report["machine"]
    text = L.memorisation_size_conclusion(report)
    assert "8 images" in text and "16 images" in text and "2 optimiser steps" in text
    LF.memorisation_size_figure(report)


def _screening(dice: dict[str, float]) -> dict:
    row = lambda d: {"samplers": {"ddim50+mean": {"mean_grey": 0.21, "real_mean_grey": 0.22, "hist_l1": 0.3,  # noqa: E731
                                                  "skewness": 1.0, "alignment": {"dice_mean": d}}},
                     "real_64": {"alignment": {"dice_mean": 0.73}}}
    return {"steps": 800, "n": 32, "objectives": {k: row(v) for k, v in dice.items()}}


def test_read_objective_screening_missing_garbled_and_its_conclusion(tmp_path):
    from msknb.ddpm.lessons import objectives as O
    from msknb.errors import StoredResultError

    with pytest.raises(StoredResultError, match="bench_objectives.py"):
        O.read_objective_screening(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"steps": 800, "objectives": {"eps": {"samplers": {}}}}))
    with pytest.raises(StoredResultError, match="unreadable objective screening") as e:
        O.read_objective_screening(bad)
    assert str(bad) in str(e.value)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_screening({"eps": 0.70, "eps+minsnr5": 0.76, "v+zsnr": 0.74})))
    report = O.read_objective_screening(good)
    text = O.objective_screening_conclusion(report)
    assert "800 steps" in text and "eps: alignment Dice 0.700" in text
    assert "largest alignment gap is 0.060 (eps+minsnr5 over eps)" in text and "Best" not in text
    assert "one example, not a measured difference" in text
    fig = LF.objective_screening_figure(report)
    assert len(fig.axes) == 3 and [p.get_height() for p in fig.axes[0].patches] == [0.70, 0.76, 0.74]


def test_min_snr_weights_figure_draws_each_prediction():
    from msknb.ddpm import diffusion as D

    fig = LF.min_snr_weights_figure(D.make_schedule("linear", 50), gamma=5.0)
    assert [line.get_label() for line in fig.axes[1].get_lines()] == [f"{p}-prediction" for p in D.PREDICTIONS]
