"""The cascade (msknb.ddpm.cascade): a super-resolution stage trains on the low-res image it
derives from each training image, and sample_cascade runs base then stage, one image per mask."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from msknb.ddpm.cascade import lowres_of, sample_cascade
from msknb.ddpm.checkpoints import export_ema
from msknb.ddpm.config import TrainConfig
from msknb.ddpm.sample import sample_images
from msknb.ddpm.train import split_condition, train_ddpm
from msknb.errors import ConfigError
from test_conditioning import COND, cond_data

STAGE = {**COND, "image_size": 32, "condition": "mask+lowres", "lowres_size": 16, "cond_dropout": 0.0, "fold": 2,
         "sample_every": None}


def test_lowres_condition_is_the_shrunk_image_with_the_mask():
    x = torch.rand(2, 2, 32, 32) * 2 - 1
    cfg = TrainConfig(**STAGE)
    x0, cond = split_condition(x, cfg)
    assert cond.shape == (2, 2, 32, 32) and torch.equal(cond[:, :1], x[:, 1:])
    assert torch.allclose(cond[:, 1:], lowres_of(x[:, :1], 16))
    assert cfg.data_channels == 2 and cfg.input_channels == 3
    with pytest.raises(ConfigError, match="lowres_size"):
        TrainConfig(**{**STAGE, "lowres_size": 32})


def test_cascade_trains_and_draws_one_image_per_mask(tmp_path):
    base = train_ddpm(cond_data(8, 16), TrainConfig(**{**COND, "sample_every": None}), tmp_path / "base",
                      progress=False)
    stage = train_ddpm(cond_data(8, 32), TrainConfig(**STAGE), tmp_path / "stage", progress=False)
    export_ema(base.checkpoint_path, tmp_path / "base.pt")
    export_ema(stage.checkpoint_path, tmp_path / "stage.pt")
    masks = cond_data(3, 32)[:, 1]
    out = sample_cascade(tmp_path / "base.pt", tmp_path / "stage.pt", masks, steps=3, seed=0)
    assert out.shape == (3, 32, 32) and np.isfinite(out).all() and 0 <= out.min() <= out.max() <= 1
    again = sample_cascade(tmp_path / "base.pt", tmp_path / "stage.pt", masks, steps=3, seed=0)
    assert np.array_equal(out, again)
    from msknb.ddpm.checkpoints import load_model
    model, schedule, _ = load_model(tmp_path / "stage.pt")
    with pytest.raises(ConfigError, match="cascade"):
        sample_images(model, schedule, None, method="ddim", steps=3, masks=masks)
    with pytest.raises(ConfigError, match="super-resolution"):
        sample_cascade(tmp_path / "base.pt", tmp_path / "base.pt", masks[:, :16, :16])
