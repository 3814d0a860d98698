"""The mask entering at every U-Net resolution: zero-initialised, loadable from a model without it,
trainable alone (``freeze_base``)."""
from __future__ import annotations

import pytest
import torch

from msknb.ddpm.config import TrainConfig, build_model
from msknb.ddpm.train import train_ddpm
from msknb.errors import CheckpointError, ConfigError
from test_conditioning import COND, cond_data


def test_injection_layers_start_at_zero_and_change_nothing():
    base = TrainConfig(**{**COND, "image_size": 32, "fold": 2})
    torch.manual_seed(0)
    plain, injected = build_model(base), build_model(TrainConfig(**{**base.to_dict(), "mask_injection": True}))
    missing, unexpected = injected.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all("mask_inject." in k for k in missing) and not unexpected
    x, t = torch.randn(2, 2, 32, 32), torch.tensor([3, 15])
    assert torch.equal(plain(x, t), injected(x, t))
    assert injected.net.condition_channels == 4 and len(injected.net.mask_inject) == 3   # 2 levels + middle
    assert injected.net.arch()["condition_channels"] == 4
    for conv in injected.net.mask_inject:   # trained layers act on the bands only
        torch.nn.init.normal_(conv.weight)
    no_bands = torch.cat([x[:, :1], -torch.ones_like(x[:, 1:])], dim=1)   # background only
    null = torch.cat([x[:, :1], torch.zeros_like(x[:, 1:])], dim=1)       # the null mask of guidance
    for y in (no_bands, null):
        assert torch.equal(plain(y, t), injected(y, t))
    assert not torch.equal(plain(x, t), injected(x, t))


def test_injection_needs_a_condition_and_freezing_needs_injection():
    for condition in (None, "mask+lowres"):
        with pytest.raises(ConfigError, match="mask_injection"):
            TrainConfig(**{**COND, "condition": condition, "lowres_size": 8, "mask_injection": True})
    with pytest.raises(ConfigError, match="freeze_base"):
        TrainConfig(**{**COND, "freeze_base": True})


def test_freeze_base_trains_only_the_injection_layers_from_a_model_without_them(tmp_path):
    cfg = {**COND, "sample_every": None, "epochs": 1}
    first = train_ddpm(cond_data(8, 16), TrainConfig(**cfg), tmp_path / "plain", progress=False)
    tuned_cfg = TrainConfig(**{**cfg, "mask_injection": True, "freeze_base": True, "lr": 1e-2})
    tuned = train_ddpm(cond_data(8, 16), tuned_cfg, tmp_path / "tuned", progress=False,
                       init_from=first.checkpoint_path)
    before = torch.load(first.checkpoint_path, weights_only=False)["ema"]   # what init_from starts from
    after = torch.load(tuned.checkpoint_path, weights_only=False)["model"]
    for k, v in after.items():
        if "mask_inject." in k:
            continue
        assert torch.equal(v.float(), before[k].float()), k
    assert any(after[k].abs().sum() > 0 for k in after if "mask_inject." in k and k.endswith("weight"))
    with pytest.raises(CheckpointError):   # a network without the layers cannot start from one with them
        train_ddpm(cond_data(8, 16), TrainConfig(**cfg), tmp_path / "back", progress=False,
                   init_from=tuned.checkpoint_path)
