"""Drawings of the data stage: the label-QA sheet (flagged image/mask pairs with their mask
overlaid in red, id and flags as titles), as a matplotlib figure, a PNG or an HTML page."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from msknb.data.label_qa import PairCheck, summary
from msknb.io import write_bytes_atomic, write_text_atomic
from msknb.viz import overlay_mask

#: the sheet shows at most this many flagged pairs by default
SHEET_MAX_PAIRS = 12


def _title(chk: PairCheck) -> str:
    score = chk.scores.get("min_band_contrast")
    extra = f" ({score:.2f})" if "off_band" in chk.flags and score is not None and np.isfinite(score) else ""
    return f"{chk.id}\n{', '.join(chk.flags)}{extra}"


def label_qa_sheet(images: Sequence[np.ndarray | None], masks: Sequence[np.ndarray | None],
                   checks: Sequence[PairCheck], max_pairs: int = SHEET_MAX_PAIRS, ncols: int = 4,
                   size: float = 2.6) -> Figure:
    """Grid of the flagged pairs among ``checks`` (at most ``max_pairs``, in order), each image
    (H, W) in [0, 1] with its mask (H, W) {0, 1} tinted red; title = id, flags and the lowest
    band contrast for ``off_band``. ``images[i]``/``masks[i]`` belong to ``checks[i]``; None
    (unreadable file, size mismatch) draws the image alone or an empty panel."""
    picked = [i for i, c in enumerate(checks) if c.flags][:max_pairs]
    n = max(1, len(picked))
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, picked):
        img, msk = images[i], masks[i]
        if img is not None:
            shown = overlay_mask(img, msk) if msk is not None and np.shape(msk) == np.shape(img) else img
            ax.imshow(shown, cmap="gray", vmin=0, vmax=1)
        ax.set_title(_title(checks[i]), fontsize=8, color="darkred")
    n_flagged = sum(bool(c.flags) for c in checks)
    fig.suptitle(f"label QA: {n_flagged} of {len(checks)} pairs flagged"
                 + (f" (first {len(picked)} shown)" if n_flagged > len(picked) else "")
                 + ("" if n_flagged else " (none)"), fontsize=10)
    fig.tight_layout()
    return fig


def _png_bytes(fig: Figure, dpi: int = 90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _html_page(png: bytes, checks: Sequence[PairCheck]) -> str:
    s = summary(checks)
    rows = "".join(f"<tr><td>{html.escape(c.id)}</td><td>{html.escape(', '.join(c.flags))}</td>"
                   f"<td>{html.escape('; '.join(c.messages))}</td></tr>" for c in checks if c.flags)
    counts = ", ".join(f"{k}: {v}" for k, v in s["by_flag"].items() if v)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>label QA</title></head><body>"
            f"<h1>Label QA</h1><p>{s['n_flagged']} of {s['n_pairs']} pairs flagged ({html.escape(counts or 'none')})</p>"
            f"<img alt='flagged pairs' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<table border='1'><tr><th>id</th><th>flags</th><th>why</th></tr>{rows}</table></body></html>\n")


def save_label_qa_sheet(path: str | Path, fig: Figure, checks: Sequence[PairCheck]) -> Path:
    """Write the sheet ``fig`` atomically: ``.html`` = the PNG embedded in a page with a table of
    every flagged pair (id, flags, why); any other suffix = the PNG. Closes ``fig``."""
    path = Path(path)
    try:
        png = _png_bytes(fig)
    finally:
        plt.close(fig)
    if path.suffix.lower() in (".html", ".htm"):
        return write_text_atomic(path, _html_page(png, checks))
    return write_bytes_atomic(path, png)


def brightness_figure(images: np.ndarray, groups: Sequence[str]) -> Figure:
    """Notebook 00: left, the pixel-intensity histogram of each group (log density); right, the
    histogram of the per-image mean grey level of each group (images (N, H, W) in [0, 1]).
    The numbers behind the right panel: :func:`msknb.data.describe.brightness_by_group`."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.4))
    g = np.asarray(groups, dtype=object)
    means = np.asarray(images).reshape(len(images), -1).mean(1)
    for name in sorted(set(g.tolist())):
        idx = np.nonzero(g == name)[0]
        ax.hist(np.asarray(images)[idx].ravel(), bins=64, range=(0, 1), histtype="step", density=True,
                label=f"{name} (n={len(idx)})")
        bx.hist(means[idx], bins=30, range=(0, 1), histtype="step", label=f"{name} (n={len(idx)})")
    ax.set(xlabel="pixel intensity [0, 1]", ylabel="density", yscale="log", title="pixel intensities per group")
    bx.set(xlabel="mean grey level of an image", ylabel="images", title="image brightness per group")
    ax.legend(fontsize=8)
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig
