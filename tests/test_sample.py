"""Sampling and export: shapes, determinism, the DL_Track layout read back by load_folder,
DICOM without identifiers, the sample CLI."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from msknb.ddpm import diffusion as D
from msknb.errors import ConfigError
from msknb.ddpm.sample import export_png, sample_images, split_channels, time_samplers, write_synthetic_set
from msknb.ddpm.train import TrainConfig, build_model, train_ddpm


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
