"""A mask as a probability map: every form a user's mask comes in (bool, {0, 1}, {0, 255},
a probability map, with a leading or trailing singleton channel) as (H, W) float64 in [0, 1]."""
from __future__ import annotations

from typing import Any

import numpy as np

from msknb.errors import ThicknessError


def as_probability(mask: Any) -> np.ndarray:
    """(H, W) float64 in [0, 1] from bool / {0,1} / {0,255} / probability input
    ((1, H, W) and (H, W, C) are taken as (H, W))."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    elif m.ndim == 3 and m.shape[-1] in (1, 3, 4):
        m = m[..., 0]
    if m.ndim != 2 or min(m.shape) < 2:
        raise ThicknessError(f"mask must be a 2-D (H, W) array; got shape {tuple(np.shape(mask))}", "mask")
    if m.dtype == bool:
        return m.astype(np.float64)
    if not (np.issubdtype(m.dtype, np.number)):
        raise ThicknessError(f"mask must be numeric or boolean; got dtype {m.dtype}", "mask")
    p = np.nan_to_num(m.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    top = p.max() if p.size else 0.0
    if top > 1.0:  # 0/255 (or 0/65535) masks
        p = p / (255.0 if top <= 255.0 else top)
    return np.clip(p, 0.0, 1.0)
