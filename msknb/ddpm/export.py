"""Writing generated images: the synthetic set in the DL_Track layout (PNG, DICOM, manifest)
and PNG sample grids.

:func:`write_synthetic_set` writes ``images/``, ``masks/`` (joint mode), ``dicom/`` and
``manifest.csv`` so that ``msknb.data.load_folder`` (and ``msknb.artifacts.read_synthetic``)
reads the synthetic set exactly like the real one. Every file is written atomically.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import generate_uid

from msknb.data.dicom import write_dicom
from msknb.errors import ConfigError, DataError
from msknb.io import ensure_dir, to_uint8, write_png, write_text_atomic

MANIFEST_FIELDS = ("id", "width", "height", "group", "subject", "spacing_row_mm", "spacing_col_mm")


def split_channels(images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(n, C, H, W) [0, 1] -> (images (n, H, W) float32, masks (n, H, W) uint8 {0, 1} or None).
    The mask channel (C = 2) is binarised at 0.5."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 3:
        return arr, None
    if arr.ndim != 4 or arr.shape[1] not in (1, 2):
        raise DataError(f"images must be (n, H, W) or (n, 1|2, H, W), got {arr.shape}", "images")
    masks = (arr[:, 1] > 0.5).astype(np.uint8) if arr.shape[1] == 2 else None
    return arr[:, 0], masks


def save_grid_png(images: np.ndarray, path: str | Path, ncols: int = 8, pad: int = 2) -> Path:
    """Write a simple PNG mosaic of ``images`` (n, C, H, W) or (n, H, W) in [0, 1]:
    one row of images and, in joint mode, the masks (0/255) on the row below. Atomic."""
    imgs, masks = split_channels(images)
    n, h, w = imgs.shape
    ncols = max(1, min(ncols, n))
    rows_per = 2 if masks is not None else 1
    nrows = math.ceil(n / ncols)
    canvas = np.zeros((nrows * rows_per * (h + pad) + pad, ncols * (w + pad) + pad), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = pad + r * rows_per * (h + pad), pad + c * (w + pad)
        canvas[y:y + h, x:x + w] = to_uint8(imgs[i])
        if masks is not None:
            canvas[y + h + pad:y + 2 * h + pad, x:x + w] = masks[i] * 255
    return write_png(path, canvas)


def _ids(n: int, prefix: str) -> list[str]:
    return [f"{prefix}_{i + 1:05d}" for i in range(n)]


def export_png(images: np.ndarray, out_dir: str | Path, prefix: str = "syn") -> list[Path]:
    """Write images (n, C, H, W) or (n, H, W) in [0, 1] as 8-bit PNGs
    ``out_dir/images/<prefix>_00001.png`` ...; in joint mode the mask channel is
    binarised to 0/255 under ``out_dir/masks/`` with the same names. Returns the image paths."""
    imgs, masks = split_channels(images)
    out = Path(out_dir)
    paths = []
    for i, name in enumerate(_ids(len(imgs), prefix)):
        paths.append(write_png(out / "images" / f"{name}.png", imgs[i]))
        if masks is not None:
            write_png(out / "masks" / f"{name}.png", masks[i], mask=True)
    return paths


def _spacing_pair(spacing_mm) -> tuple[float, float] | None:
    """(row_mm, col_mm) or None when unknown (None / NaN)."""
    if spacing_mm is None:
        return None
    vals = np.atleast_1d(np.asarray(spacing_mm, dtype=np.float64)).ravel()
    if vals.size == 1:
        vals = np.repeat(vals, 2)
    if vals.size != 2:
        raise ConfigError(f"spacing_mm must be one number or (row_mm, col_mm), got {spacing_mm!r}", "spacing_mm")
    if not np.all(np.isfinite(vals)):
        return None
    if np.any(vals <= 0):
        raise ConfigError(f"spacing_mm must be positive, got {spacing_mm!r}", "spacing_mm")
    return float(vals[0]), float(vals[1])


def export_dicom(images: np.ndarray, out_dir: str | Path, spacing_mm, prefix: str = "syn",
                 description: str = "msknb synthetic (DDPM)") -> list[Path]:
    """Write the image channel of ``images`` (n, C, H, W) / (n, H, W) in [0, 1] as 8-bit
    Ultrasound DICOMs ``out_dir/<prefix>_00001.dcm`` ... in one series, with
    ``spacing_mm`` (row_mm, col_mm) per pixel and no patient identifiers
    (``msknb.data.dicom.write_dicom``). Returns the paths; [] when spacing is unknown (NaN/None),
    since a DICOM without a real pixel spacing would mislead."""
    spacing = _spacing_pair(spacing_mm)
    if spacing is None:
        return []
    imgs, _ = split_channels(images)
    series = generate_uid()
    return [write_dicom(Path(out_dir) / f"{name}.dcm", to_uint8(imgs[i]), spacing, description=description,
                        series_uid=series, instance=i + 1) for i, name in enumerate(_ids(len(imgs), prefix))]


def _manifest_rows(manifest: Path, append: bool, pngs: list[Path], shape, group: str, spacing) -> list[dict]:
    rows = []
    if append and manifest.is_file():
        with open(manifest, newline="") as fh:
            rows = [r for r in csv.DictReader(fh)]
    new_ids = {p.stem for p in pngs}
    rows = [r for r in rows if r.get("id") not in new_ids]
    for p in pngs:
        rows.append({"id": p.stem, "width": shape[1], "height": shape[0], "group": group, "subject": p.stem,
                     "spacing_row_mm": "" if spacing is None else f"{spacing[0]:.6g}",
                     "spacing_col_mm": "" if spacing is None else f"{spacing[1]:.6g}"})
    return rows


def write_synthetic_set(images: np.ndarray, out_dir: str | Path, spacing_mm=None, group: str = "synthetic",
                        prefix: str | None = None, append: bool = False) -> dict[str, Any]:
    """Write a synthetic set in the DL_Track layout that ``msknb.data.load_folder`` reads:

    ``out_dir/images/<id>.png``, ``out_dir/masks/<id>.png`` (joint mode, 0/255),
    ``out_dir/dicom/<id>.dcm`` (when ``spacing_mm`` is known) and ``out_dir/manifest.csv``
    with columns id, width, height, group, subject, spacing_row_mm, spacing_col_mm
    (spacing empty when unknown; subject = id: each synthetic image is its own "subject").

    ``images`` (n, C, H, W) or (n, H, W) in [0, 1]; ``spacing_mm`` (row_mm, col_mm) mm per
    pixel at this resolution, or None/NaN. ``prefix`` defaults to ``group``; with
    ``append`` rows are added to an existing manifest (one call per group).
    Returns ``{"n", "images", "masks", "dicom", "manifest", "out_dir"}`` (counts and paths).
    """
    out = ensure_dir(out_dir)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in group)
    prefix = prefix or ("syn" if group == "synthetic" else f"syn_{safe}")
    imgs, masks = split_channels(images)
    pngs = export_png(images, out, prefix)
    dicoms = export_dicom(images, out / "dicom", spacing_mm, prefix)
    manifest = out / "manifest.csv"
    rows = _manifest_rows(manifest, append, pngs, imgs.shape[1:], group, _spacing_pair(spacing_mm))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_FIELDS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in MANIFEST_FIELDS})
    write_text_atomic(manifest, buf.getvalue())
    return {"n": len(pngs), "images": len(pngs), "masks": 0 if masks is None else len(pngs), "dicom": len(dicoms),
            "manifest": manifest, "out_dir": out}
