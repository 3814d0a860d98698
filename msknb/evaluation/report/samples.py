"""The images of the report's real-vs-synthetic grid: a few real test images (read from the
data folder notebook 07 recorded, at its evaluation size) and as many synthetic ones (from
``<out_dir>/synthetic/``), with their contrast and sharpness."""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from msknb.artifacts import synthetic_dir
from msknb.data import load_folder
from msknb.data.subset import load_ids
from msknb.errors import MsknbError
from msknb.evaluation.summary import one_line
from msknb.evaluation.texture import texture_ratios, texture_stats

#: images per row of the grid
N_SHOWN = 6


class NoSamples(NamedTuple):
    """Why there is no grid (one line) and the command that would make one."""
    why: str
    command: str


class Samples(NamedTuple):
    """``real`` (k, H, W) and ``synthetic`` (k, H, W) in [0, 1], their ids, and a reading."""
    real: np.ndarray
    synthetic: np.ndarray
    real_ids: list[str]
    synthetic_ids: list[str]
    reading: str


def _pick(n: int, k: int) -> np.ndarray:
    return np.linspace(0, n - 1, min(k, n)).round().astype(int) if n else np.zeros(0, int)


def samples_reading(real: np.ndarray, synthetic: np.ndarray, texture: dict[str, Any] | None) -> str:
    """One sentence: mean grey level, contrast and sharpness of synthetic against real, from
    notebook 07's stored ``texture`` (whole sets) or else from the images shown."""
    ratios = texture_ratios(texture)
    where = "over the evaluated sets"
    if ratios is None:
        ratios = texture_ratios({"real": texture_stats(real), "synthetic": texture_stats(synthetic)})
        where = "over the images shown"
    grey = f"mean grey {255 * synthetic.mean():.0f} vs {255 * real.mean():.0f} (8-bit, images shown)"
    if ratios is None:
        return f"Synthetic images: {grey}."
    smooth = min(ratios.values()) < 0.85
    return (f"Synthetic images: {grey}; contrast {ratios['contrast']:.2f}x and sharpness {ratios['sharpness']:.2f}x "
            f"the real images' {where}" + (": smoother than real ultrasound." if smooth else "."))


def load_samples(out_dir: str | Path, ev: dict[str, Any], context: dict[str, Any],
                 k: int = N_SHOWN) -> Samples | NoSamples:
    """:class:`Samples` for the grid, or :class:`NoSamples` (why there are none, what to run).
    ``ev``/``context``: notebook 07's results and context (``pca.real_ids``, ``eval_image_size``, ``data``)."""
    folder = synthetic_dir(out_dir)
    if not (folder / "images").is_dir():
        return NoSamples(f"no synthetic set in {folder}", "python -m msknb run --only 04 07")
    size = ev.get("eval_image_size")
    ids = list((ev.get("pca") or {}).get("real_ids") or [])
    data = context.get("data")
    if not ids or not data or not isinstance(size, int):
        return NoSamples("notebook 07 recorded no real test ids or data folder", "python -m msknb run --only 07")
    try:
        syn = load_folder(folder, image_size=size, crop_fov=False, allow_missing_masks=True)
        real = load_ids(data, [ids[i] for i in _pick(len(ids), k)], size)
    except (MsknbError, OSError) as e:
        return NoSamples(f"cannot read the sample images ({one_line(e, 160)})",
                         f"python -m msknb report {out_dir} on the machine that holds the data")
    s_idx, r_idx = _pick(len(syn), k), _pick(len(real), k)
    r_img, s_img = real.images[r_idx], syn.images[s_idx]
    return Samples(r_img, s_img, [str(real.ids[i]) for i in r_idx], [str(syn.ids[i]) for i in s_idx],
                   samples_reading(r_img, s_img, ev.get("texture")))
