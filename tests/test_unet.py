"""The annotated-diffusion U-Net: shapes, weight standardisation, parameter counts."""
from __future__ import annotations

import pytest
import torch

from msknb.errors import ConfigError
from msknb.ddpm.unet import (CPU_CHECKPOINT_ELEMENTS, Attention, DiffusionUNet, Downsample, LinearAttention,
                        ResnetBlock, SinusoidalPositionEmbeddings, Upsample, WeightStandardizedConv2d,
                        count_parameters, frozen_weights, standardize_weight)


@pytest.mark.parametrize("cfg,size,batch", [
    (dict(dim=8, dim_mults=(1, 2), channels=1), 16, 2),
    (dict(dim=8, dim_mults=(1, 2), channels=2), 24, 1),
    (dict(dim=8, dim_mults=(1, 2, 4), channels=1, out_channels=2), 32, 2),
    (dict(dim=16, dim_mults=(1, 2, 2, 4), channels=2, resnet_groups=4, init_dim=8), 16, 3),
])
def test_output_shape(cfg, size, batch):
    torch.manual_seed(0)
    model = DiffusionUNet(**cfg)
    x = torch.randn(batch, cfg["channels"], size, size)
    t = torch.randint(0, 300, (batch,))
    with torch.no_grad():
        y = model(x, t)
    out = cfg.get("out_channels") or cfg["channels"]
    assert y.shape == (batch, out, size, size)
    assert torch.isfinite(y).all()


def test_non_square_and_bad_sizes():
    model = DiffusionUNet(dim=8, dim_mults=(1, 2, 4), channels=1)
    with torch.no_grad():
        assert model(torch.randn(1, 1, 16, 32), torch.tensor([5])).shape == (1, 1, 16, 32)
        with pytest.raises(ConfigError, match="divisible by 4"):
            model(torch.randn(1, 1, 18, 18), torch.tensor([5]))
        with pytest.raises(ConfigError, match="expected input"):
            model(torch.randn(1, 2, 16, 16), torch.tensor([5]))
    with pytest.raises(ConfigError, match="resnet_groups|groups"):
        DiffusionUNet(dim=12, dim_mults=(1, 2), resnet_groups=8)


def test_weight_standardization_zero_mean_unit_var():
    torch.manual_seed(0)
    conv = WeightStandardizedConv2d(3, 5, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(7.0).add_(3.0)  # far from standardised on purpose
        w = conv.standardized_weight()
    flat = w.reshape(5, -1)
    assert torch.allclose(flat.mean(dim=1), torch.zeros(5), atol=1e-5)
    assert torch.allclose(flat.var(dim=1, unbiased=False), torch.ones(5), atol=1e-3)
    # the widely copied "(w - mean) / rsqrt(var + eps)" would give variance var**2, not 1
    raw = conv.weight.reshape(5, -1)
    wrong = (raw - raw.mean(1, keepdim=True)) / torch.rsqrt(raw.var(1, unbiased=False, keepdim=True) + 1e-5)
    assert not torch.allclose(wrong.var(dim=1, unbiased=False), torch.ones(5), atol=1e-1)
    # forward uses the standardised kernel
    x = torch.randn(2, 3, 8, 8)
    ref = torch.nn.functional.conv2d(x, standardize_weight(conv.weight), conv.bias, padding=1)
    assert torch.allclose(conv(x), ref, atol=1e-5)


def test_blocks_shapes():
    x = torch.randn(2, 16, 8, 8)
    emb = SinusoidalPositionEmbeddings(16)(torch.tensor([0, 299]))
    assert emb.shape == (2, 16) and torch.allclose(emb[0, :8], torch.zeros(8))  # sin(0) = 0
    assert ResnetBlock(16, 32, time_emb_dim=64)(x, torch.randn(2, 64)).shape == (2, 32, 8, 8)
    assert LinearAttention(16)(x).shape == x.shape
    assert Attention(16)(x).shape == x.shape
    assert Downsample(16, 32)(x).shape == (2, 32, 4, 4)
    assert Upsample(16, 8)(x).shape == (2, 8, 16, 16)


def test_parameter_counts(capsys):
    counts = {}
    for name, cfg in {"smoke": dict(dim=8, dim_mults=(1, 2), channels=2),
                      "quick": dict(dim=16, dim_mults=(1, 2, 4, 8), channels=2),
                      "paper": dict(dim=64, dim_mults=(1, 2, 4, 8), channels=1)}.items():
        counts[name] = count_parameters(DiffusionUNet(**cfg))
    with capsys.disabled():
        print("\nDiffusionUNet parameters:", {k: f"{v / 1e6:.2f}M" for k, v in counts.items()})
    assert counts["smoke"] < counts["quick"] < counts["paper"]
    assert 30e6 < counts["paper"] < 40e6  # annotated-diffusion U-Net at dim 64: ~35.7M


def _attention_reference(attn: LinearAttention, x: torch.Tensor) -> torch.Tensor:
    """The annotated-diffusion linear attention as first written: one qkv conv, chunked."""
    b, _, h, w = x.shape
    q, k, v = (p.reshape(b, attn.heads, -1, h * w) for p in attn.to_qkv(x).chunk(3, dim=1))
    q = q.softmax(dim=-2) * attn.scale
    k = k.softmax(dim=-1)
    context = torch.einsum("bhdn,bhen->bhde", k, v / (h * w))
    return attn.to_out(torch.einsum("bhde,bhdn->bhen", context, q).reshape(b, -1, h, w))


def test_linear_attention_matches_the_reference():
    torch.manual_seed(0)
    attn = LinearAttention(8)
    for size in (8, 6):      # H W a power of two (exact) and not (float rounding)
        x = torch.randn(3, 8, size, size)
        with torch.no_grad():
            assert torch.allclose(attn(x), _attention_reference(attn, x), atol=1e-6)


def test_frozen_weights_same_output_restored_and_not_in_training():
    torch.manual_seed(0)
    model = DiffusionUNet(dim=8, dim_mults=(1, 2), channels=2).eval()
    x, t = torch.randn(2, 2, 16, 16), torch.tensor([3, 40])
    with torch.no_grad():
        ref = model(x, t)
        with frozen_weights(model):
            assert all(m._frozen is not None for m in model.modules() if isinstance(m, WeightStandardizedConv2d))
            assert torch.equal(model(x, t), ref)
        assert all(m._frozen is None for m in model.modules() if isinstance(m, WeightStandardizedConv2d))
    # with gradients the current weights are standardised, never the frozen kernel
    with frozen_weights(model):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
        y = model(x, t)
        y.abs().mean().backward()
    with torch.no_grad():
        assert torch.allclose(y, model(x, t))
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def _loss_and_grads(model: DiffusionUNet, x: torch.Tensor, t: torch.Tensor):
    model.zero_grad(set_to_none=True)
    loss = (model(x, t) - x).abs().mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def test_recomputed_blocks_give_the_same_loss_and_gradients():
    """Issue 29: a CPU training step of the paper's 256-px U-Net held over 8 GB; recomputing each
    block in the backward pass (torch.utils.checkpoint) must not change what is learnt."""
    torch.manual_seed(0)
    model = DiffusionUNet(dim=8, dim_mults=(1, 2, 4), channels=2)
    x, t = torch.randn(3, 2, 16, 16), torch.tensor([3, 150, 299])
    model.checkpointing = False
    loss_a, grads_a = _loss_and_grads(model, x, t)
    model.checkpointing = True
    loss_b, grads_b = _loss_and_grads(model, x, t)
    assert torch.equal(loss_a, loss_b)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_blocks_recomputed_only_for_large_cpu_training_forwards():
    paper = DiffusionUNet(dim=64, dim_mults=(1, 2, 4, 8))           # the paper: 256 px, batch 4
    quick = DiffusionUNet(dim=16, dim_mults=(1, 2, 4, 8), channels=2)  # quick: 64 px, batch 16
    big, small = torch.empty(4, 1, 256, 256), torch.empty(16, 2, 64, 64)
    assert 4 * 256 * 256 * 64 >= CPU_CHECKPOINT_ELEMENTS > 16 * 64 * 64 * 16
    assert paper.checkpoints(big) and not quick.checkpoints(small)
    with torch.no_grad():                                             # sampling: nothing to store
        assert not paper.checkpoints(big)
    paper.checkpointing = False
    assert not paper.checkpoints(big)
    quick.checkpointing = True
    assert quick.checkpoints(small)
