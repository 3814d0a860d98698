"""The paper's denoiser: the "annotated diffusion" U-Net, in small named blocks.

Katakis et al. 2023 use the U-Net of *The Annotated Diffusion Model* (Rogge & Rasul,
after Ho et al. 2020 and lucidrains' ``denoising-diffusion-pytorch``): residual blocks
with GroupNorm, SiLU and a sinusoidal time embedding that scales and shifts the
features, weight-standardised convolutions, linear attention at every resolution and
full attention in the bottleneck. Given a noisy image ``x_t`` (B, C, H, W) and the
timestep ``t`` (B,), it predicts the noise ``eps`` that was added (B, C, H, W).

Shapes below use B = batch, C = channels, H/W = height/width in px, D = feature
channels. ``H`` and ``W`` must be divisible by ``2 ** (len(dim_mults) - 1)``.

Only torch is needed (no einops): the rearrangements are written out with
``reshape``/``permute`` so each step can be read.

Memory on a CPU: a training step (gradients on) stores every block's activations for the
backward pass. From :data:`CPU_CHECKPOINT_ELEMENTS` on, a CPU forward keeps only each block's
input and runs the block again in the backward pass (``torch.utils.checkpoint``): the same
loss and gradients for much less memory.
Sampling (no gradients) and GPUs are unchanged; ``DiffusionUNet.checkpointing`` forces it
on (True) or off (False).
"""
from __future__ import annotations

import contextlib
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from msknb.errors import ConfigError

__all__ = [
    "WeightStandardizedConv2d",
    "SinusoidalPositionEmbeddings",
    "Block",
    "ResnetBlock",
    "LinearAttention",
    "Attention",
    "PreNorm",
    "Residual",
    "Downsample",
    "Upsample",
    "DiffusionUNet",
    "count_parameters",
    "standardize_weight",
    "frozen_weights",
    "CPU_CHECKPOINT_ELEMENTS",
]

#: batch x H x W x init_dim of a CPU training forward from which each block is recomputed in
#: the backward pass (:meth:`DiffusionUNet.checkpoints`): the paper's 256 px, D = 64, batch 4
#: (16.8 M) is above it, the quick profile (64 px, D = 16, batch 16: 1 M) below. Measured memory
#: and time: the README's "Trying the paper profile on a CPU".
CPU_CHECKPOINT_ELEMENTS = 4 * 2 ** 20


def standardize_weight(weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Weight standardisation (Qiao et al. 2019): per output channel, subtract the mean
    and divide by the standard deviation of the weights.

    ``weight`` (D_out, D_in, k, k) -> same shape, each ``[o]`` slice with mean 0 and
    (biased) variance ``var / (var + eps)`` ~= 1.

    Note: the much-copied annotated-diffusion code writes
    ``(w - mean) / (var + eps).rsqrt()``, which *multiplies* by the standard deviation
    instead of dividing by it; here it is ``(w - mean) * rsqrt(var + eps)``.
    """
    dims = tuple(range(1, weight.ndim))
    mean = weight.mean(dim=dims, keepdim=True)
    var = weight.var(dim=dims, keepdim=True, unbiased=False)
    return (weight - mean) * torch.rsqrt(var + eps)


class WeightStandardizedConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose kernel is standardised (zero mean, unit variance per output
    channel) on every forward pass; works well together with GroupNorm.

    x (B, D_in, H, W) -> (B, D_out, H', W') as ``nn.Conv2d``.

    Inside :func:`frozen_weights` (sampling: the weights do not change) the standardised
    kernel is computed once instead of on every call; without gradients only, so training
    always standardises the current weights.
    """

    _frozen: torch.Tensor | None = None

    def standardized_weight(self) -> torch.Tensor:
        """The kernel actually used: (D_out, D_in/groups, k, k)."""
        eps = 1e-5 if self.weight.dtype == torch.float32 else 1e-3
        return standardize_weight(self.weight, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self._frozen if self._frozen is not None and not torch.is_grad_enabled() else self.standardized_weight()
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


@contextlib.contextmanager
def frozen_weights(model: nn.Module):
    """Within the block, every :class:`WeightStandardizedConv2d` of ``model`` reuses its
    standardised kernel, computed once on entry, for forward passes without gradients: the
    same numbers as standardising on every call (it is the same computation), without the
    per-call cost (a third of a batch-1 forward of the shipped 64-px U-Net on a CPU).
    The weights must not change inside the block (sampling only)."""
    convs = [m for m in model.modules() if isinstance(m, WeightStandardizedConv2d)]
    before = [m._frozen for m in convs]
    with torch.no_grad():
        for m in convs:
            m._frozen = m.standardized_weight()
    try:
        yield model
    finally:
        for m, f in zip(convs, before):
            m._frozen = f


class SinusoidalPositionEmbeddings(nn.Module):
    """Transformer-style embedding of the timestep.

    t (B,) integer or float steps -> (B, dim): ``[sin(t * f_k), cos(t * f_k)]`` with
    frequencies ``f_k = 10000 ** (-k / (dim/2 - 1))``, k = 0 .. dim/2 - 1.
    """

    def __init__(self, dim: int):
        super().__init__()
        if dim < 4 or dim % 2:
            raise ConfigError(f"time embedding size must be an even number >= 4, got {dim}", "dim")
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        scale = math.log(10000) / (half - 1)
        freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -scale)
        args = t.float()[:, None] * freqs[None, :]
        return torch.cat((args.sin(), args.cos()), dim=-1)


class Block(nn.Module):
    """WS-conv 3x3 -> GroupNorm -> (optional scale/shift from the time embedding) -> SiLU.

    x (B, D_in, H, W) -> (B, D_out, H, W); ``scale_shift`` = two (B, D_out, 1, 1) tensors.
    """

    def __init__(self, dim: int, dim_out: int, groups: int = 8):
        super().__init__()
        if dim_out % groups:
            raise ConfigError(f"GroupNorm groups ({groups}) must divide the channel count ({dim_out})",
                              "resnet_groups")
        self.proj = WeightStandardizedConv2d(dim, dim_out, 3, padding=1)
        self.norm = nn.GroupNorm(groups, dim_out)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = self.norm(self.proj(x))
        if scale_shift is not None:
            scale, shift = scale_shift
            x = x * (scale + 1) + shift
        return self.act(x)


class ResnetBlock(nn.Module):
    """Two :class:`Block` s with a residual connection (He et al. 2016); the time
    embedding (B, time_emb_dim) is mapped by SiLU+Linear to a per-channel scale and shift
    applied in the first block.

    x (B, D_in, H, W), t_emb (B, time_emb_dim) or None -> (B, D_out, H, W).
    """

    def __init__(self, dim: int, dim_out: int, *, time_emb_dim: int | None = None, groups: int = 8):
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_emb_dim, dim_out * 2)) if time_emb_dim else None
        self.block1 = Block(dim, dim_out, groups=groups)
        self.block2 = Block(dim_out, dim_out, groups=groups)
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor | None = None) -> torch.Tensor:
        scale_shift = None
        if self.mlp is not None and t_emb is not None:
            emb = self.mlp(t_emb)[:, :, None, None]  # (B, 2 D_out, 1, 1)
            scale_shift = emb.chunk(2, dim=1)
        h = self.block1(x, scale_shift=scale_shift)
        h = self.block2(h)
        return h + self.res_conv(x)


def _split_heads(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, ...]:
    """(B, 3 * heads * d, H, W) -> three (B, heads, d, H*W)."""
    b, c, h, w = qkv.shape
    return tuple(part.reshape(b, heads, -1, h * w) for part in qkv.chunk(3, dim=1))


def _qkv_heads(to_qkv: nn.Conv2d, x: torch.Tensor, heads: int) -> tuple[torch.Tensor, ...]:
    """q, k, v = :func:`_split_heads` (``to_qkv(x)``), each (B, heads, d, H*W), computed as
    three 1x1 convolutions with the thirds of ``to_qkv``'s kernel: the same numbers, but each
    part is contiguous, so the softmaxes that follow need no copy (for B > 1 the chunks of
    one (B, 3 * heads * d, H, W) output are not; the copies were ~10 % of a batch-16 forward)."""
    b, _, h, w = x.shape
    return tuple(F.conv2d(x, part).reshape(b, heads, -1, h * w) for part in to_qkv.weight.chunk(3, dim=0))


class Attention(nn.Module):
    """Full multi-head self-attention over all H*W positions (cost O((H W)^2));
    used in the bottleneck only.

    x (B, D, H, W) -> (B, D, H, W).
    """

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.scale = dim_head ** -0.5
        self.heads = heads
        hidden = dim_head * heads
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = _qkv_heads(self.to_qkv, x, self.heads)          # (B, heads, d, N)
        q = q * self.scale
        sim = torch.einsum("bhdi,bhdj->bhij", q, k)               # (B, heads, N, N)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        attn = sim.softmax(dim=-1)
        out = torch.einsum("bhij,bhdj->bhid", attn, v)             # (B, heads, N, d)
        out = out.permute(0, 1, 3, 2).reshape(b, -1, h, w)         # (B, heads*d, H, W)
        return self.to_out(out)


class LinearAttention(nn.Module):
    """Linear attention (Shen et al. 2018; Katharopoulos et al. 2020): softmax over the
    feature axis for queries and over positions for keys, so the cost is O(H W) and
    it can be used at every resolution.

    x (B, D, H, W) -> (B, D, H, W).
    """

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.scale = dim_head ** -0.5
        self.heads = heads
        hidden = dim_head * heads
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden, dim, 1), nn.GroupNorm(1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = _qkv_heads(self.to_qkv, x, self.heads)          # (B, heads, d, N)
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        # the 1 / (H W) of the values, applied to the (d, d) context instead of the (d, N)
        # values: the same numbers when H W is a power of two, one pass over N less
        context = torch.einsum("bhdn,bhen->bhde", k, v) / (h * w)  # (B, heads, d, d)
        out = torch.einsum("bhde,bhdn->bhen", context, q)         # (B, heads, d, N)
        return self.to_out(out.reshape(b, -1, h, w))


class PreNorm(nn.Module):
    """GroupNorm(1, D) (layer norm over C, H, W) before ``fn``. (B, D, H, W) -> fn's output."""

    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.fn = fn
        self.norm = nn.GroupNorm(1, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class Residual(nn.Module):
    """``x + fn(x)``; shape unchanged."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(x)


class Downsample(nn.Module):
    """Halve H and W without losing pixels: space-to-depth (each 2x2 patch becomes 4
    channels) then a 1x1 conv. (B, D_in, H, W) -> (B, D_out, H/2, W/2)."""

    def __init__(self, dim: int, dim_out: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(dim * 4, dim_out or dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pixel_unshuffle(x, 2))


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour upsampling then a 3x3 conv.
    (B, D_in, H, W) -> (B, D_out, 2H, 2W)."""

    def __init__(self, dim: int, dim_out: int | None = None):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2d(dim, dim_out or dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


class DiffusionUNet(nn.Module):
    """The noise-prediction U-Net eps_theta(x_t, t).

    Parameters
    ----------
    dim : base feature width D (64 in the paper's setting).
    dim_mults : width multipliers per resolution level; the image is halved
        ``len(dim_mults) - 1`` times, so H and W must be divisible by
        ``2 ** (len(dim_mults) - 1)``.
    channels : input channels C (1 = B-mode image, 2 = image + aponeurosis mask).
    out_channels : output channels (default ``channels``: predicted noise).
    resnet_groups : GroupNorm groups in the residual blocks (must divide every width).
    init_dim : width after the first 1x1 conv (default ``dim``).
    condition_channels : K >= 1 makes the last K input channels (a mask in [-1, 1]) enter again
        at every resolution: their positive part (1 on the bands, 0 on the background and for the
        null mask), area-averaged to the level's grid, goes through a 3x3 conv without bias into
        the features before the level's first block and before the middle block (``mask_inject``,
        zero-initialised, so a network with them starts as one without; without a bias they can
        change the features only near the bands, not the whole image's level).
        0 = the condition enters only with the input.

    ``forward(x, t)``: x (B, C, H, W) float in about [-1, 1]; t (B,) long timesteps
    -> (B, out_channels, H, W).
    """

    def __init__(self, dim: int = 64, dim_mults: Sequence[int] = (1, 2, 4, 8), channels: int = 1,
                 out_channels: int | None = None, resnet_groups: int = 8, init_dim: int | None = None,
                 condition_channels: int = 0):
        super().__init__()
        dim_mults = tuple(int(m) for m in dim_mults)
        if dim < 1 or not dim_mults or any(m < 1 for m in dim_mults):
            raise ConfigError(f"dim ({dim}) and dim_mults ({dim_mults}) must be positive", "dim_mults")
        if channels < 1 or not 0 <= condition_channels < channels:
            raise ConfigError(f"channels ({channels}) must be >= 1 and condition_channels ({condition_channels}) "
                              f"in [0, channels)", "channels")
        self.channels = channels
        self.condition_channels = condition_channels
        self.out_channels = out_channels or channels
        self.dim = dim
        self.dim_mults = dim_mults
        init_dim = init_dim or dim
        self.init_dim = init_dim
        self.resnet_groups = resnet_groups
        self.downsample_factor = 2 ** (len(dim_mults) - 1)

        self.init_conv = nn.Conv2d(channels, init_dim, 1)
        dims = [init_dim, *(dim * m for m in dim_mults)]
        in_out = list(zip(dims[:-1], dims[1:]))
        time_dim = dim * 4
        self.time_mlp = nn.Sequential(
            SinusoidalPositionEmbeddings(dim), nn.Linear(dim, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim))

        def resnet(a: int, b: int) -> ResnetBlock:
            return ResnetBlock(a, b, time_emb_dim=time_dim, groups=resnet_groups)

        self.downs = nn.ModuleList()
        for i, (d_in, d_out) in enumerate(in_out):
            last = i == len(in_out) - 1
            self.downs.append(nn.ModuleList([
                resnet(d_in, d_in),
                resnet(d_in, d_in),
                Residual(PreNorm(d_in, LinearAttention(d_in))),
                Downsample(d_in, d_out) if not last else nn.Conv2d(d_in, d_out, 3, padding=1),
            ]))
        mid = dims[-1]
        self.mid_block1 = resnet(mid, mid)
        self.mid_attn = Residual(PreNorm(mid, Attention(mid)))
        self.mid_block2 = resnet(mid, mid)

        self.ups = nn.ModuleList()
        for i, (d_in, d_out) in enumerate(reversed(in_out)):
            last = i == len(in_out) - 1
            self.ups.append(nn.ModuleList([
                resnet(d_out + d_in, d_out),
                resnet(d_out + d_in, d_out),
                Residual(PreNorm(d_out, LinearAttention(d_out))),
                Upsample(d_out, d_in) if not last else nn.Conv2d(d_out, d_in, 3, padding=1),
            ]))
        self.mask_inject = nn.ModuleList(
            [zero_conv(condition_channels, d) for d, _ in in_out] + [zero_conv(condition_channels, mid)]
            if condition_channels else [])
        self.final_res_block = resnet(init_dim * 2, dim)
        self.final_conv = nn.Conv2d(dim, self.out_channels, 1)
        #: recompute blocks in the backward pass: None = on a CPU above CPU_CHECKPOINT_ELEMENTS
        self.checkpointing: bool | None = None

    def checkpoints(self, x: torch.Tensor) -> bool:
        """Whether a forward of ``x`` stores only block inputs (recomputing each block in the
        backward pass): with gradients only; ``checkpointing`` when set, else on a CPU when
        batch x H x W x init_dim >= :data:`CPU_CHECKPOINT_ELEMENTS`."""
        if not torch.is_grad_enabled():
            return False
        if self.checkpointing is not None:
            return bool(self.checkpointing)
        b, _, h, w = x.shape
        return x.device.type == "cpu" and b * h * w * self.init_dim >= CPU_CHECKPOINT_ELEMENTS

    def arch(self) -> dict:
        """The constructor arguments (plain types), e.g. to store in a checkpoint."""
        return {"dim": self.dim, "dim_mults": list(self.dim_mults), "channels": self.channels,
                "out_channels": self.out_channels, "resnet_groups": self.resnet_groups, "init_dim": self.init_dim,
                "condition_channels": self.condition_channels}

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ConfigError(f"expected input (B, {self.channels}, H, W), got {tuple(x.shape)}", "x")
        f = self.downsample_factor
        if x.shape[-1] % f or x.shape[-2] % f:
            raise ConfigError(f"image size {tuple(x.shape[-2:])} must be divisible by {f} "
                              f"(2 ** (len(dim_mults) - 1))", "image_size")
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        run = _recompute if self.checkpoints(x) else _call   # run(block, *inputs) = block(*inputs)
        cond = x[:, self.channels - self.condition_channels:]   # (B, K, H, W), K = condition_channels
        x = self.init_conv(x)                  # (B, init_dim, H, W)
        r = x.clone()
        t_emb = self.time_mlp(t)               # (B, 4 D)
        skips = []
        for level, (block1, block2, attn, down) in enumerate(self.downs):
            x = self._inject(x, cond, level)
            x = run(block1, x, t_emb)
            skips.append(x)
            x = run(attn, run(block2, x, t_emb))
            skips.append(x)
            x = down(x)
        x = self._inject(x, cond, len(self.downs))
        x = run(self.mid_block2, run(self.mid_attn, run(self.mid_block1, x, t_emb)), t_emb)
        for block1, block2, attn, up in self.ups:
            x = run(block1, torch.cat((x, skips.pop()), dim=1), t_emb)
            x = run(block2, torch.cat((x, skips.pop()), dim=1), t_emb)
            x = up(run(attn, x))
        x = run(self.final_res_block, torch.cat((x, r), dim=1), t_emb)
        return self.final_conv(x)              # (B, out_channels, H, W)


    def _inject(self, x: torch.Tensor, cond: torch.Tensor, level: int) -> torch.Tensor:
        """``x`` plus ``mask_inject[level]`` of the mask's bands averaged to x's grid (x unchanged without)."""
        if not self.condition_channels:
            return x
        return x + self.mask_inject[level](F.adaptive_avg_pool2d(F.relu(cond), x.shape[-2:]))


def zero_conv(c_in: int, c_out: int) -> nn.Conv2d:
    """A 3x3 conv without bias whose weights start at zero (its output is 0 until trained)."""
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    nn.init.zeros_(conv.weight)
    return conv


def _call(block: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    return block(*inputs)


def _recompute(block: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """``block(*inputs)`` storing only the inputs; the block runs again in the backward pass."""
    return checkpoint(block, *inputs, use_reentrant=False)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
