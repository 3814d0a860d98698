"""Small plotting helpers shared by the notebooks (matplotlib)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def overlay_mask(image: np.ndarray, mask: np.ndarray | None, color=(1.0, 0.2, 0.2), alpha: float = 0.45) -> np.ndarray:
    """RGB float image (H, W, 3) in [0, 1]: grayscale ``image`` (H, W) in [0, 1] with
    ``mask`` (H, W; nonzero = aponeurosis) tinted in ``color``."""
    img = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    rgb = np.repeat(img[..., None], 3, axis=-1)
    if mask is not None:
        m = np.asarray(mask) > 0
        rgb[m] = (1 - alpha) * rgb[m] + alpha * np.asarray(color, dtype=np.float32)
    return rgb


def image_grid(images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None,
               titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.8, suptitle: str | None = None):
    """Figure with ``images`` (each (H, W) in [0, 1]) in a grid, optional mask overlays
    and titles. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        m = None if masks is None else masks[i]
        ax.imshow(overlay_mask(images[i], m) if m is not None else images[i], cmap="gray", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
