"""Sampling and export: shapes, determinism, the DL_Track layout read back by load_folder,
DICOM without identifiers, the sample CLI."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from msknb.ddpm import diffusion as D
from msknb.errors import ConfigError
from msknb.ddpm.config import TrainConfig, build_model
from msknb.ddpm.export import export_png, split_channels, write_synthetic_set
from msknb.ddpm.sample import sample_images, time_samplers
from msknb.ddpm.train import train_ddpm


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    cfg = TrainConfig(image_size=16, channels=2, dim=8, dim_mults=(1, 2), timesteps=50)
    return build_model(cfg).eval(), D.make_schedule("linear", 50)


def test_sample_shapes_range_and_determinism(tiny_model):
    model, schedule = tiny_model
    a = sample_images(model, schedule, 3, method="ddim", steps=5, seed=1, batch_size=2, progress=False)
    b = sample_images(model, schedule, 3, method="ddim", steps=5, seed=1, batch_size=2, progress=False)
    assert a.shape == (3, 2, 16, 16) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, b)
    c = sample_images(model, schedule, 2, method="ddpm", seed=2, progress=False)
    assert c.shape == (2, 2, 16, 16) and np.isfinite(c).all()
    with pytest.raises(ConfigError):
        sample_images(model, schedule, 2, method="euler", progress=False)
    with pytest.raises(ConfigError):
        sample_images(model, schedule, 2, method="ddim", steps=500, progress=False)
    t = time_samplers(model, schedule, n=1, ddim_steps=[5], progress=False)
    assert set(t) == {"ddpm_50", "ddim_5"} and all(v > 0 for v in t.values())
    # DDIM (eta = 0) draws noise only for the start: the batch size does not change the images
    d = sample_images(model, schedule, 4, method="ddim", steps=5, seed=1, batch_size=1, progress=False)
    e = sample_images(model, schedule, 4, method="ddim", steps=5, seed=1, batch_size=4, progress=False)
    assert np.allclose(d, e, atol=1e-5) and np.allclose(d[:3], a, atol=1e-5)


def test_synthetic_set_roundtrip(tmp_path):
    from msknb.data.loading import load_folder
    from msknb.data.dicom import assert_no_phi, read_dicom

    rng = np.random.default_rng(0)
    x = rng.random((4, 2, 32, 32)).astype(np.float32)
    info = write_synthetic_set(x, tmp_path / "syn", spacing_mm=(0.1, 0.12), group="TA")
    assert info["n"] == 4 and info["masks"] == 4 and info["dicom"] == 4
    rows = list(csv.DictReader(open(tmp_path / "syn" / "manifest.csv")))
    assert list(rows[0]) == ["id", "width", "height", "group", "subject", "spacing_row_mm", "spacing_col_mm"]
    ds = load_folder(tmp_path / "syn", crop_fov=False)
    imgs, masks = split_channels(x)
    assert len(ds) == 4 and ds.groups == ["TA"] * 4
    assert np.abs(ds.images - imgs).max() <= 0.5 / 255 + 1e-6
    assert np.array_equal(ds.masks, masks)
    assert np.allclose(ds.spacing_mm, [[0.1, 0.12]] * 4)
    dcm = read_dicom(sorted((tmp_path / "syn" / "dicom").glob("*.dcm"))[0])
    assert np.allclose(dcm.spacing_mm, (0.1, 0.12))
    import pydicom

    assert_no_phi(pydicom.dcmread(sorted((tmp_path / "syn" / "dicom").glob("*.dcm"))[0]))
    # unknown spacing: no DICOM, empty spacing, still readable; masks are 0/255
    info = write_synthetic_set(x[:, :1], tmp_path / "syn2", spacing_mm=(np.nan, np.nan))
    assert info["dicom"] == 0 and info["masks"] == 0
    assert np.isnan(load_folder(tmp_path / "syn2", crop_fov=False).spacing_mm).all()
    from PIL import Image

    export_png(x, tmp_path / "png", prefix="p")
    assert set(np.unique(np.asarray(Image.open(tmp_path / "png" / "masks" / "p_00001.png")))) <= {0, 255}


def test_sample_cli(tmp_path):
    from msknb.cli import main
    from msknb.data.loading import load_folder

    rng = np.random.default_rng(0)
    data = rng.random((4, 2, 16, 16)).astype(np.float32)
    cfg = TrainConfig(image_size=16, channels=2, dim=8, dim_mults=(1, 2), timesteps=20, batch_size=4, epochs=1)
    res = train_ddpm(data, cfg, tmp_path / "run", progress=False)
    status = main(["sample", "--model", str(res.checkpoint_path), "--n", "3", "--method", "ddim", "--steps", "5",
                   "--out", str(tmp_path / "out"), "--spacing", "0.2", "--quiet"])
    assert status == 0
    ds = load_folder(tmp_path / "out", crop_fov=False)
    assert len(ds) == 3 and ds.masks is not None and np.allclose(ds.spacing_mm, 0.2)
    assert main(["sample", "--model", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("prediction,zero_terminal_snr,gamma", [("eps", False, None), ("x0", False, 5.0),
                                                                 ("v", True, 5.0)])
def test_each_objective_trains_and_samples(tmp_path, prediction, zero_terminal_snr, gamma):
    """A tiny model trained a few steps with each objective: finite losses, a checkpoint that
    remembers the objective, finite samples from both samplers (from the checkpoint too)."""
    from msknb.ddpm.checkpoints import load_model

    rng = np.random.default_rng(0)
    data = rng.random((8, 1, 16, 16)).astype(np.float32)
    cfg = TrainConfig(image_size=16, channels=1, dim=8, dim_mults=(1, 2), timesteps=20, batch_size=4, epochs=2,
                      lr=1e-3, prediction=prediction, zero_terminal_snr=zero_terminal_snr, min_snr_gamma=gamma)
    res = train_ddpm(data, cfg, tmp_path / prediction, progress=False)
    assert res.steps == 4 and np.isfinite(res.losses).all()
    model, schedule, config = load_model(res.checkpoint_path)
    assert config.prediction == prediction and model.prediction == prediction
    assert schedule.zero_terminal_snr == zero_terminal_snr
    for method in ("ddpm", "ddim"):
        x = sample_images(model, schedule, 2, method=method, steps=5, seed=0, progress=False)
        assert x.shape == (2, 1, 16, 16) and np.isfinite(x).all()


def test_start_mean_shifts_the_chain_start(tiny_model):
    from msknb.ddpm.sample import _start

    model, schedule = tiny_model
    shape = (2, 2, 16, 16)
    z = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    mean = np.stack([np.full((16, 16), 0.75, np.float32), np.zeros((16, 16), np.float32)])  # (C, H, W)
    x_T = _start(schedule, shape, torch.Generator().manual_seed(3), "cpu", mean)
    ab = float(schedule.alphas_cumprod[-1])
    want = ab ** 0.5 * torch.tensor([0.5, -1.0]).view(1, 2, 1, 1) + (1 - ab) ** 0.5 * z
    torch.testing.assert_close(x_T, want)  # N(sqrt(abar_T) mean, 1 - abar_T), same z as N(0, I) would use
    a = sample_images(model, schedule, 2, method="ddim", steps=5, seed=3, progress=False)
    b = sample_images(model, schedule, 2, method="ddim", steps=5, seed=3, progress=False, start_mean=mean)
    assert a.shape == b.shape and not np.allclose(a, b)
