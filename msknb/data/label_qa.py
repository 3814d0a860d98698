"""Label quality: does each expert mask sit on the aponeuroses of its image?

An aponeurosis is a bright, horizontally elongated band. A correct mask therefore covers
pixels that are brighter than the pixels just above and below it. A mask shifted off
the bands (as in a run of the public DL_Track set, img_00533..00553, whose bands sit
between the bright lines), flipped, or belonging to another image is not.

:func:`check_pair` checks one image/mask pair, :func:`check_dataset` a loaded
:class:`~msknb.data.dataset.UltrasoundSet`, :func:`check_folder` the files of a folder
(it also reports mask/image size mismatches and unreadable files, which
:func:`~msknb.data.folder.load_folder` refuses). Flags and their meaning: :data:`FLAGS`;
:func:`describe` says in a few lines how many pairs were flagged and why.

Measured on the public DL_Track set (/work/shared/data/dltrack_apo, 463 pairs; 1 Dec 2026,
``python -m msknb data check /work/shared/data/dltrack_apo --json qa.json``, files' own size):
**20 flagged** -- 17 ``off_band``, all of them the known run img_00533..img_00553 (the 17 of
its ids present in the set; lowest band contrast -1.13 to -0.11, every other pair >= 0.28,
>= 0.21 when loaded at 64 px), and 3 ``single_band`` (img_00075, img_00095, img_00146: only
the superficial aponeurosis is drawn -- seen on the sheet: a true finding, not a false alarm);
no other pair. The same
20 ids come out of :func:`check_dataset` on the set loaded by notebook 00 (field-of-view
crop) at 64 and at 128 px; checking it takes < 1 s there. No threshold was tuned on this.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from msknb.data.folder import find_layout
from msknb.data.readers import ALL_EXTS, load_image, load_mask
from msknb.data.resize import resize_image, resize_mask
from msknb.errors import DataError, MsknbError

FLAGS: dict[str, str] = {
    "off_band": "the mask does not sit on bright band structure (brighter than just above/below it)",
    "empty": "the mask has (almost) no foreground pixels",
    "single_band": "the mask holds one band only (an aponeurosis pair needs two)",
    "size_mismatch": "the mask file's size differs from its image's",
    "unreadable": "the image or mask file cannot be read",
    "no_mask": "the image has no mask file",
}

# Thresholds. OFF_BAND_CONTRAST was calibrated on the whole public DL_Track set (463 pairs;
# data QA, not a test-set choice), at the files' own size and loaded at 64, 128 and 256 px:
# the lowest per-band contrast of the mislabelled run img_00533..00553 lies in [-1.13, -0.11],
# that of every other pair in [0.21, ...]; 0.1 sits in the gap at every size.
OFF_BAND_CONTRAST = 0.1   # a band less bright than this (image std units) above its neighbourhood is off band
MIN_BAND_SHARE = 0.1      # a connected component is a band when it holds >= this share of the mask
EMPTY_FRACTION = 1e-4     # fewer foreground pixels than this share of the image (and < 1 px): empty
TWO_BAND_COLUMNS = 0.25   # fraction of masked columns crossing >= 2 bands below which: single band


@dataclass
class PairCheck:
    """The result of checking one image/mask pair: ``id``, ``flags`` (names from
    :data:`FLAGS`; empty = ok), ``scores`` (the numbers behind them) and ``messages``
    (one line per flag, naming the file where there is one)."""

    id: str
    flags: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    image_path: str | None = None
    mask_path: str | None = None

    @property
    def ok(self) -> bool:
        return not self.flags

    def to_dict(self) -> dict:
        return {"id": self.id, "flags": list(self.flags), "scores": dict(self.scores),
                "messages": list(self.messages), "image_path": self.image_path, "mask_path": self.mask_path}


def _runs_per_column(mask: np.ndarray) -> np.ndarray:
    """Number of vertical foreground runs in each column, int (W,)."""
    m = mask.astype(bool)
    starts = m & ~np.vstack([np.zeros((1, m.shape[1]), bool), m[:-1]])
    return starts.sum(axis=0)


def band_thickness(mask: np.ndarray) -> float:
    """Typical vertical thickness of the mask's bands (px): foreground pixels per run, median over columns."""
    runs = _runs_per_column(mask)
    cols = runs > 0
    if not cols.any():
        return 0.0
    return float(np.median(mask.astype(bool).sum(axis=0)[cols] / runs[cols]))


def band_contrast(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean intensity on the mask minus mean intensity in the strips just above and below
    it (each as thick as the bands, :func:`band_thickness`), in units of the image's
    standard deviation. > 0: the mask is on bright bands; < 0: it lies in darker tissue beside them."""
    return band_contrasts(image, mask)[1]


def band_contrasts(image: np.ndarray, mask: np.ndarray) -> tuple[list[float], float]:
    """(contrast of each band, contrast of the whole mask), as in :func:`band_contrast`.
    A band is a connected foreground component holding >= :data:`MIN_BAND_SHARE` of the
    mask's pixels (smaller fragments count only in the whole-mask value); ``image`` float
    (H, W), ``mask`` (H, W) {0, 1}. NaN where there is no neighbourhood to compare with."""
    m = np.asarray(mask).astype(bool)
    img = np.asarray(image, dtype=np.float64)
    if not m.any():
        return [], float("nan")
    t = max(1, int(round(band_thickness(m))))
    labels, n = ndimage.label(m, structure=np.ones((3, 3), bool))
    near = ndimage.grey_dilation(labels, footprint=np.ones((2 * t + 1, 1), bool))  # band id of each strip pixel
    ring = (near > 0) & ~m
    scale = img.std() + 1e-6
    whole = float((img[m].mean() - img[ring].mean()) / scale) if ring.any() else float("nan")
    area = np.bincount(labels.ravel(), minlength=n + 1)
    inside = np.bincount(labels.ravel(), weights=img.ravel(), minlength=n + 1) / np.maximum(area, 1)
    ring_area = np.bincount(near[ring], minlength=n + 1)
    beside = np.bincount(near[ring], weights=img[ring], minlength=n + 1) / np.maximum(ring_area, 1)
    bands = [k for k in range(1, n + 1) if area[k] >= MIN_BAND_SHARE * area[1:].sum() and ring_area[k] > 0]
    return [float((inside[k] - beside[k]) / scale) for k in bands], whole


def check_pair(image: np.ndarray, mask: np.ndarray, image_id: str = "") -> PairCheck:
    """Check one pair: ``image`` float (H, W) in [0, 1], ``mask`` (H, W) in {0, 1}.

    Flags (see :data:`FLAGS`): ``size_mismatch`` (shapes differ; nothing else checked),
    ``empty``, ``single_band`` (fewer than :data:`TWO_BAND_COLUMNS` of the masked columns
    cross two bands), ``off_band`` (some band's contrast, or the whole mask's when no band
    is large enough, is below :data:`OFF_BAND_CONTRAST`). Scores: ``fg_fraction``,
    ``two_band_columns``, ``band_thickness_px``, ``band_contrast`` (whole mask, image std
    units), ``min_band_contrast``, ``n_bands``."""
    chk = PairCheck(id=image_id)
    who = f"{image_id}: " if image_id else ""
    image, mask = np.asarray(image), np.asarray(mask)
    if image.shape != mask.shape:
        chk.flags.append("size_mismatch")
        chk.messages.append(f"{who}mask shape {mask.shape} != image shape {image.shape}")
        return chk
    m = mask > 0
    chk.scores["fg_fraction"] = float(m.mean())
    if m.sum() < max(1.0, EMPTY_FRACTION * m.size):
        chk.flags.append("empty")
        chk.messages.append(f"{who}mask is empty ({int(m.sum())} foreground px)")
        return chk
    runs = _runs_per_column(m)
    two = float((runs >= 2).sum() / max(1, (runs > 0).sum()))
    per_band, whole = band_contrasts(image, m)
    worst = min(per_band) if per_band else whole
    chk.scores.update(two_band_columns=two, band_thickness_px=band_thickness(m), band_contrast=whole,
                      min_band_contrast=float(worst), n_bands=float(len(per_band)))
    if two < TWO_BAND_COLUMNS:
        chk.flags.append("single_band")
        chk.messages.append(f"{who}only {two:.0%} of the masked columns cross two bands")
    if not np.isfinite(worst) or worst < OFF_BAND_CONTRAST:
        chk.flags.append("off_band")
        chk.messages.append(f"{who}a mask band is not brighter than the tissue beside it "
                            f"(contrast {worst:.2f} image std < {OFF_BAND_CONTRAST})")
    return chk


def check_dataset(ds) -> list[PairCheck]:
    """:func:`check_pair` of every item of a loaded set (``ds.images``, ``ds.masks``, ``ds.ids``)."""
    if ds.masks is None:
        raise DataError("the set has no masks to check (no masks/ folder)", getattr(ds, "root", None))
    return [check_pair(img, msk, i) for img, msk, i in zip(ds.images, ds.masks, ds.ids)]


def flagged_ids(checks: Sequence[PairCheck]) -> list[str]:
    """Sorted ids of the checks with any flag."""
    return sorted(c.id for c in checks if c.flags)


def unflagged(ds, idx: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """``idx`` (indices into the ``UltrasoundSet`` ``ds``; default all) without the pairs
    :func:`check_dataset` flags: ``(kept int64 indices, sorted flagged ids)``."""
    idx = np.arange(len(ds)) if idx is None else np.asarray(idx, dtype=np.int64)
    flagged = flagged_ids(check_dataset(ds.subset(idx)))
    drop = set(flagged)
    return np.array([i for i in idx if str(ds.ids[i]) not in drop], dtype=np.int64), flagged


def summary(checks: Sequence[PairCheck]) -> dict:
    """JSON-ready summary: ``n_pairs``, ``n_flagged``, ``by_flag`` (flag -> count, every flag
    of :data:`FLAGS`), ``flagged_ids``, ``flagged`` ({id: flags}) and the ``thresholds`` used."""
    by_flag = {name: sum(name in c.flags for c in checks) for name in FLAGS}
    return {"n_pairs": len(checks), "n_flagged": len(flagged_ids(checks)), "by_flag": by_flag,
            "flagged_ids": flagged_ids(checks), "flagged": {c.id: list(c.flags) for c in checks if c.flags},
            "thresholds": {"off_band_contrast": OFF_BAND_CONTRAST, "min_band_share": MIN_BAND_SHARE,
                           "empty_fraction": EMPTY_FRACTION, "two_band_columns": TWO_BAND_COLUMNS}}


def describe(checks: Sequence[PairCheck], max_ids: int = 8) -> str:
    """A few lines for a notebook: "k of n pairs flagged", then one line per flag that
    occurred (count, meaning from :data:`FLAGS`, the first ``max_ids`` ids)."""
    s = summary(checks)
    ok = "" if s["n_flagged"] else " - every mask sits on bright bands"
    lines = [f"{s['n_flagged']} of {s['n_pairs']} pairs flagged{ok}"]
    for name, count in s["by_flag"].items():
        if count:
            ids = [c.id for c in checks if name in c.flags]
            more = f" ... (+{len(ids) - max_ids})" if len(ids) > max_ids else ""
            lines.append(f"  {name} ({count}): {FLAGS[name]}\n      {', '.join(ids[:max_ids])}{more}")
    return "\n".join(lines)


def read_pair(image_path: str | Path, mask_path: str | Path | None,
              size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 (H, W) in [0, 1], mask uint8 (H, W) {0, 1}) read from files, resized to
    size² px when ``size``. Raises :class:`DataError` naming the file when one is missing,
    unreadable, or the mask's size differs from the image's."""
    image_path = Path(image_path)
    if mask_path is None:
        raise DataError("no mask file for this image", image_path)
    img, msk = load_image(image_path), load_mask(mask_path)
    if msk.shape != img.shape:
        raise DataError(f"mask size {msk.shape[1]}x{msk.shape[0]} (WxH) does not match image "
                        f"{image_path} size {img.shape[1]}x{img.shape[0]}", mask_path)
    if size is not None:
        img, msk = resize_image(img, int(size)), resize_mask(msk, int(size))
    return img, msk


def _read_pair(image_path: Path, mask_path: Path | None, size: int | None) -> PairCheck:
    """Read one pair from disk and check it (unreadable / missing / mismatched files flagged, not raised)."""
    chk = _check_files(image_path, mask_path, size)
    chk.image_path = str(image_path)
    chk.mask_path = None if mask_path is None else str(mask_path)
    return chk


def _check_files(image_path: Path, mask_path: Path | None, size: int | None) -> PairCheck:
    pid = image_path.stem
    if mask_path is None:
        return PairCheck(id=pid, flags=["no_mask"], messages=[f"{image_path}: no mask file"])
    try:
        img = load_image(image_path)
    except MsknbError as e:
        return PairCheck(id=pid, flags=["unreadable"], messages=[str(e)])
    try:
        msk = load_mask(mask_path)
    except MsknbError as e:
        return PairCheck(id=pid, flags=["unreadable"], messages=[str(e)])
    if msk.shape != img.shape:
        return PairCheck(id=pid, flags=["size_mismatch"],
                         messages=[f"{mask_path}: mask size {msk.shape[1]}x{msk.shape[0]} (WxH) does not match "
                                   f"image {image_path} size {img.shape[1]}x{img.shape[0]}"])
    if size is not None:
        img, msk = resize_image(img, int(size)), resize_mask(msk, int(size))
    return check_pair(img, msk, pid)


def check_folder(folder: str | Path, size: int | None = None, progress: bool = False) -> list[PairCheck]:
    """Check every image/mask pair of a data folder (layouts of :func:`~msknb.data.folder.load_folder`),
    reading the files itself (no field-of-view crop). ``size``: resize each pair to size² px first
    (None: the files' own size). A missing or unreadable mask/image and a mask of another size are
    flagged (``no_mask``, ``unreadable``, ``size_mismatch``, message naming the file), not raised.
    Raises :class:`DataError` when the folder, its masks folder or its images are missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("data folder does not exist or is not a folder", folder)
    images_dir, masks_dir = find_layout(folder)
    if masks_dir is None:
        raise DataError("no masks/ folder: nothing to check", folder)
    files = [p for p in sorted(images_dir.iterdir()) if p.is_file() and p.suffix.lower() in ALL_EXTS
             and not p.name.startswith(".")]
    if not files:
        raise DataError(f"no images found (looked for {', '.join(ALL_EXTS)} files)", images_dir)
    masks = {}
    for p in sorted(masks_dir.iterdir()):
        if p.is_file() and p.suffix.lower() in ALL_EXTS:
            masks.setdefault(p.stem, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [_read_pair(f, masks.get(f.stem), size)
                for f in tqdm(files, desc="label QA", unit="pair", disable=not progress)]
