"""Learning-rate decay for long training runs (d2l 12.11, "Learning Rate Scheduling").

A constant rate keeps the weights wandering at the end of a run; decaying it to a small
value over the last steps lets them settle. The rate here depends on the optimiser step
alone, so a run resumed from a checkpoint continues on the same curve.
"""
from __future__ import annotations

import math

#: the decay shapes a run may use (None = constant learning rate)
LR_DECAYS = (None, "cosine")


def cosine_lr(step: int, lr: float, start: int, end: int, lr_min: float = 0.0) -> float:
    """The learning rate of optimiser step ``step`` (0-based): ``lr`` until ``start``, then
    half a cosine down to ``lr_min`` at ``end``, and ``lr_min`` after it (the curve of
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` with T_max = end - start)."""
    if step <= start or end <= start:
        return lr if step <= start else lr_min
    progress = min(1.0, (step - start) / (end - start))
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * progress))
