"""Segmentation losses (msknb.segmentation.losses): every kind is near 0 on a confident right
answer, large on a confident wrong one, and the focal variant weighs easy pixels less than BCE."""
from __future__ import annotations

import pytest
import torch

from msknb.segmentation.losses import make_loss
from msknb.segmentation.model import LOSSES


@pytest.mark.parametrize("kind", LOSSES)
def test_each_loss_rewards_the_right_mask(kind):
    target = (torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.9).float()
    loss = make_loss(kind)
    right, wrong = float(loss(target * 20 - 10, target)), float(loss(10 - target * 20, target))
    assert right < 0.01 < 0.5 < wrong


def test_focal_weighs_easy_pixels_less_than_bce():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 3:5, :] = 1
    easy = target * 6 - 3                         # every pixel right with p = 0.95
    bce, focal = make_loss("generalized_dice_bce"), make_loss("generalized_dice_focal")
    gdl = make_loss("generalized_dice")
    assert float(focal(easy, target) - gdl(easy, target)) < float(bce(easy, target) - gdl(easy, target)) / 5
