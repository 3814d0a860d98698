"""Small plotting helpers shared by the notebooks and the stages' figures (matplotlib) and
the image browser widget (ipywidgets)."""
from __future__ import annotations

import io
from typing import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


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


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return buf.getvalue()


def image_browser(images, masks=None, ids=None, spacing_mm=None):
    """ipywidgets browser: an IntSlider "image" over ``images`` (N, H, W) in [0, 1] and a
    "mask" Checkbox to overlay ``masks`` (N, H, W); the title shows the id and the spacing
    (mm/px, NaN = unknown). Returns the widget box (display it in a notebook).

    The view is an ``ipywidgets.Image`` holding a PNG drawn off-screen (a matplotlib
    ``Figure``, not pyplot): no Output widget, whose clear/display messages can leave a
    headless run (papermill/nbclient) waiting forever (jupyter/nbclient#312)."""
    n = len(images)
    slider = widgets.IntSlider(value=0, min=0, max=max(n - 1, 0), description="image", continuous_update=False)
    show_mask = widgets.Checkbox(value=masks is not None, description="mask", disabled=masks is None)
    view = widgets.Image(format="png")

    def draw(*_):
        i = slider.value
        title = str(ids[i]) if ids is not None else f"#{i}"
        if spacing_mm is not None:
            title += f" · spacing {np.round(np.asarray(spacing_mm[i], dtype=float), 4)} mm/px"
        fig = Figure(figsize=(4.5, 4.5))
        ax = fig.subplots()
        m = masks[i] if (masks is not None and show_mask.value) else None
        ax.imshow(overlay_mask(images[i], m), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        view.value = _png(fig)

    slider.observe(draw, names="value")
    show_mask.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([slider, show_mask]), view])
