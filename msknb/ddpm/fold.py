"""Folding: a 256 px diffusion model at the cost of a 64 px one.

``FoldedUNet`` wraps a :class:`~msknb.ddpm.unet.DiffusionUNet`: it rearranges each p x p
block of pixels into p² channels (``pixel_unshuffle``, space-to-depth; Luhman & Luhman 2022,
"patch size" p), runs the U-Net on the (H/p, W/p) grid, and puts the output pixels back
(``pixel_shuffle``). The rearrangement is lossless, so speckle stays exactly representable,
and the diffusion itself (noise, schedule, loss) still happens on the full-size image:
only the network sees the folded grid. With p = 4 a 256 x 256 image becomes 64 x 64 x 16.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from msknb.errors import ConfigError


class FoldedUNet(nn.Module):
    """``forward(x, t)``: x (B, C, H, W) with H, W divisible by ``fold`` -> (B, C_out, H, W),
    computed by ``net`` on (B, C·p², H/p, W/p). ``net`` must take ``C·p²`` channels and
    return ``C_out·p²``."""

    def __init__(self, net: nn.Module, fold: int):
        super().__init__()
        if int(fold) < 2:
            raise ConfigError(f"fold must be >= 2 to fold anything, got {fold}", "fold")
        self.net = net
        self.fold = int(fold)
        self.channels = net.channels // self.fold ** 2
        self.out_channels = net.out_channels // self.fold ** 2

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        p = self.fold
        if x.ndim != 4 or x.shape[-1] % p or x.shape[-2] % p:
            raise ConfigError(f"image size {tuple(x.shape[-2:])} must be divisible by fold = {p}", "image_size")
        return F.pixel_shuffle(self.net(F.pixel_unshuffle(x, p), t), p)

    def arch(self) -> dict:
        """The wrapped network's constructor arguments plus ``fold``."""
        return {**self.net.arch(), "fold": self.fold}
