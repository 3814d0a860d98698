"""The paper profile (GPU, 256²) builds valid models: one forward pass on CPU per network,
so a GPU user does not discover a shape error after the data has loaded."""
from __future__ import annotations

import torch

from msknb.profiles import settings
from msknb.segmentation.model import build_segmenter
from msknb.ddpm.config import build_model, config_from_settings
from msknb.ddpm.unet import count_parameters


def test_paper_ddpm_unet_at_256():
    s = settings("ddpm", "paper")
    cfg = config_from_settings(s)
    assert (cfg.image_size, cfg.timesteps, cfg.loss, cfg.batch_size, cfg.epochs) == (256, 300, "l1", 4, 300)
    model = build_model(cfg).eval()
    print(f"paper DDPM U-Net: {count_parameters(model):,} parameters")
    with torch.no_grad():
        eps = model(torch.zeros(1, cfg.channels, 256, 256), torch.tensor([299]))
    assert eps.shape == (1, cfg.channels, 256, 256)


def test_paper_attention_unet_at_256():
    s = settings("segment", "paper")
    assert (s["image_size"], s["batch_size"], s["epochs"]) == (256, 8, 300)
    model = build_segmenter(s["channels"]).eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 1, 256, 256))
    assert logits.shape == (1, 1, 256, 256)
