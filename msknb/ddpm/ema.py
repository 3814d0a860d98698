"""The exponential moving average (EMA) of the weights: what a trained DDPM samples with."""
from __future__ import annotations

import torch


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, step: int, decay: float, start: int,
               warmup: bool) -> None:
    """After optimiser step ``step`` (1-based): copy ``model`` into ``ema`` until step ``start``,
    then ``ema = d * ema + (1 - d) * model`` with d = ``decay`` (with ``warmup``:
    min(decay, (1+k)/(10+k)), k = steps since ``start``). Buffers are copied. ``model`` may be
    DDP-wrapped."""
    src = model.module if hasattr(model, "module") else model
    if step <= start:
        for e, p in zip(ema.state_dict().values(), src.state_dict().values()):
            e.copy_(p)
        return
    k = step - start
    d = min(decay, (1 + k) / (10 + k)) if warmup else decay
    for e, p in zip(ema.parameters(), src.parameters()):
        e.lerp_(p.detach(), 1 - d)
    for e, p in zip(ema.buffers(), src.buffers()):
        e.copy_(p)
