"""Loading a data folder into one :class:`~msknb.data.dataset.UltrasoundSet` (:func:`load_folder`).

Folder layouts read:

- DL_Track layout: ``images/``, ``masks/`` (same file stem), optional ``manifest.csv``
  with columns ``id`` (file stem) and optionally ``group`` (or ``muscle``), ``subject``,
  ``spacing_row_mm``, ``spacing_col_mm`` (mm per pixel of the file as stored);
- original DL_Track layout: ``apo_images/``, ``apo_masks/`` (TIFF, same stem);
- a flat folder of images (PNG/TIFF/JPEG/BMP) or DICOMs, optionally with ``masks/``.

Images come back as float32 (N, H, W) in [0, 1], masks as uint8 (N, H, W) in {0, 1},
spacing as float64 (N, 2) (row_mm, col_mm) per pixel *at the returned resolution*.
Scanner screen captures are cropped to the B-mode field of view (:func:`~msknb.data.fov.crop_fov`),
the same box is applied to the mask, then both are resized to ``image_size``². With
``cache_dir`` the prepared set is stored there and read back on the next call with the
same files and settings (:mod:`msknb.data.cache`).
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from msknb.data.cache import folder_key, read_set, write_set
from msknb.data.dataset import UltrasoundSet
from msknb.data.dicom import read_dicom
from msknb.data.fov import crop_fov as find_fov_box
from msknb.data.manifest import read_manifest
from msknb.data.readers import ALL_EXTS, DICOM_EXTS, IMAGE_EXTS, load_image, load_mask
from msknb.data.resize import resize_image, resize_mask
from msknb.data.spacing import manifest_spacing, parse_spacing
from msknb.data.splits import near_duplicate_clusters
from msknb.errors import ConfigError, DataError


def _list_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image/DICOM files, skipped non-image files) directly in ``folder``, sorted."""
    keep, skipped = [], []
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            continue
        if p.suffix.lower() in ALL_EXTS and not p.name.startswith("."):
            keep.append(p)
        else:
            skipped.append(p)
    if skipped:
        names = ", ".join(p.name for p in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        warnings.warn(f"{folder}: skipping {len(skipped)} non-image file(s): {names}", stacklevel=3)
    return keep, skipped


def find_layout(root: Path) -> tuple[Path, Path | None]:
    """(images folder, masks folder or None) of a data folder (layouts in the module docstring)."""
    if (root / "images").is_dir():
        return root / "images", (root / "masks") if (root / "masks").is_dir() else None
    if (root / "apo_images").is_dir():
        return root / "apo_images", (root / "apo_masks") if (root / "apo_masks").is_dir() else None
    return root, (root / "masks") if (root / "masks").is_dir() else None


def _find_mask(image: Path, index: dict[str, list[Path]]) -> Path | None:
    cands = index.get(image.stem, [])
    if not cands:
        return None
    same = [c for c in cands if c.suffix.lower() == image.suffix.lower()]
    return (same or cands)[0]


def _check_args(root: Path, image_size: int | None, max_images: int | None) -> None:
    if not root.exists():
        raise DataError("data folder does not exist", root)
    if not root.is_dir():
        raise DataError("data path is not a folder", root)
    if image_size is not None and (int(image_size) != image_size or image_size < 8):
        raise ConfigError(f"image_size must be an integer >= 8, got {image_size!r}", "image_size")
    if max_images is not None and (int(max_images) != max_images or max_images < 1):
        raise ConfigError(f"max_images must be a positive integer, got {max_images!r}", "max_images")


def _pair_masks(files: list[Path], masks_dir: Path | None,
                allow_missing_masks: bool) -> tuple[list[Path], list[Path | None]]:
    """The image files that have a mask (all of them, else :class:`DataError`, unless
    ``allow_missing_masks``) and their mask files (None everywhere without ``masks_dir``)."""
    if masks_dir is None:
        return files, [None] * len(files)
    mask_files, _ = _list_files(masks_dir)
    index: dict[str, list[Path]] = {}
    for m in mask_files:
        index.setdefault(m.stem, []).append(m)
    kept, mask_paths, missing = [], [], []
    for f in files:
        mp = _find_mask(f, index)
        if mp is None:
            if not allow_missing_masks:
                expected = masks_dir / (f.stem + (f.suffix if f.suffix.lower() in IMAGE_EXTS else ".png"))
                raise DataError(f"no mask for this image; expected {expected} "
                                f"(or pass allow_missing_masks=True)", f)
            missing.append(f)
            continue
        kept.append(f)
        mask_paths.append(mp)
    if missing:
        warnings.warn(f"{masks_dir}: {len(missing)} image(s) without a mask skipped: "
                      + ", ".join(p.name for p in missing[:10]), stacklevel=3)
        if not kept:
            raise DataError("no image has a mask", masks_dir)
    return kept, mask_paths


def _pick(files: list[Path], mask_paths: list[Path | None], max_images: int | None,
          seed: int) -> tuple[list[Path], list[Path | None]]:
    """A reproducible random subset of ``max_images`` items, kept in file order."""
    if max_images is None or max_images >= len(files):
        return files, mask_paths
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(files), size=int(max_images), replace=False))
    return [files[i] for i in pick], [mask_paths[i] for i in pick]


def _read_with_spacing(f: Path, row: dict[str, str], manifest_path: Path,
                       fallback: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W) in [0, 1], spacing (row_mm, col_mm) of the file: DICOM header, else
    manifest, else ``fallback``, else NaN)."""
    sp = None
    if f.suffix.lower() in DICOM_EXTS:
        d = read_dicom(f, require_spacing=False)
        img = d.image
        if np.all(np.isfinite(d.spacing_mm)):
            sp = d.spacing_mm
    else:
        img = load_image(f)
    if sp is None and row:
        sp = manifest_spacing(row, manifest_path)
    if sp is None:
        sp = fallback
    return img, np.array(sp if sp is not None else (np.nan, np.nan), dtype=np.float64)


def _prepare_item(f: Path, mask_path: Path | None, row: dict[str, str], manifest_path: Path,
                  fallback, crop: bool, image_size: int | None) -> dict[str, Any]:
    """One item read, cropped to the field of view and resized: image, mask, spacing at the
    returned size, box, original shape and a 64 px thumbnail of the whole frame."""
    img, sp_arr = _read_with_spacing(f, row, manifest_path, fallback)
    msk = None
    if mask_path is not None:
        msk = load_mask(mask_path)
        if msk.shape != img.shape:
            raise DataError(f"mask size {msk.shape[1]}x{msk.shape[0]} (WxH) does not match image "
                            f"{f} size {img.shape[1]}x{img.shape[0]}", mask_path)
    item = {"shape": img.shape, "thumb": resize_image(img, 64)}
    box = find_fov_box(img) if crop else (0, img.shape[0], 0, img.shape[1])
    y0, y1, x0, x1 = box
    img = img[y0:y1, x0:x1]
    if msk is not None:
        msk = msk[y0:y1, x0:x1]
    if image_size is not None:
        h, w = img.shape
        sp_arr = sp_arr * np.array([h / image_size, w / image_size])
        img = resize_image(img, int(image_size))
        if msk is not None:
            msk = resize_mask(msk, int(image_size))
    item.update(image=img, mask=msk, spacing=sp_arr, box=box, group=row.get("group") or row.get("muscle") or "all",
                subject=row.get("subject") or "")
    return item


def _prepare_all(files: list[Path], mask_paths: list[Path | None], manifest: dict[str, dict[str, str]],
                 manifest_path: Path, fallback, crop: bool, image_size: int | None, progress: bool,
                 workers: int | None) -> list[dict[str, Any]]:
    """:func:`_prepare_item` of every file, in file order, on ``workers`` threads (default
    min(4, CPUs); decoding and the FOV search release the GIL: ~1.3x on 2 busy cores)."""
    def one(i: int) -> dict[str, Any]:
        return _prepare_item(files[i], mask_paths[i], manifest.get(files[i].stem, {}), manifest_path, fallback,
                             crop, image_size)

    n = len(files)
    workers = max(1, min(int(workers or min(4, os.cpu_count() or 1)), n))
    with ThreadPoolExecutor(workers) as pool:
        items = pool.map(one, range(n)) if workers > 1 else map(one, range(n))
        if progress:
            items = tqdm(items, total=n, desc="loading", unit="img")
        return list(items)


def _assemble(root: Path, files: list[Path], items: list[dict[str, Any]], has_masks: bool,
              crop: bool) -> UltrasoundSet:
    """The set of the prepared ``items``; items without a subject get their near-duplicate
    cluster ("dup-0007") as subject."""
    sizes = {it["image"].shape for it in items}
    if len(sizes) > 1:
        raise DataError(f"images have different sizes after cropping ({len(sizes)} sizes, e.g. "
                        f"{sorted(sizes)[:3]}); pass image_size= to resize them to one square size", root)
    subjects = [it["subject"] for it in items]
    ds = UltrasoundSet(
        images=np.stack([it["image"] for it in items]).astype(np.float32),
        masks=np.stack([it["mask"] for it in items]).astype(np.uint8) if has_masks else None,
        ids=[f.stem for f in files], paths=list(files), spacing_mm=np.stack([it["spacing"] for it in items]),
        groups=[it["group"] for it in items], subjects=subjects,
        boxes=np.array([it["box"] for it in items], dtype=np.int64),
        original_shapes=np.array([it["shape"] for it in items], dtype=np.int64), root=root)
    if not all(subjects):
        # near copies judged on the cropped images and on the whole frames
        labels = near_duplicate_clusters(ds.images, also=[it["thumb"] for it in items] if crop else None)
        ds.subjects = [s or f"dup-{labels[i]:04d}" for i, s in enumerate(subjects)]
    return ds


def load_folder(root: str | Path, image_size: int | None = None, crop_fov: bool = True,
                max_images: int | None = None, seed: int = 0,
                spacing_mm: float | Sequence[float] | None = None, *,
                allow_missing_masks: bool = False, progress: bool = False,
                cache_dir: str | Path | None = None, workers: int | None = None) -> UltrasoundSet:
    """Load a data folder (layouts in the module docstring) into an :class:`UltrasoundSet`.

    ``image_size``: resize each (cropped) image to image_size² px (None: keep; then all
    images must have the same size). ``crop_fov``: crop screen captures to the B-mode
    field of view. ``max_images`` with ``seed``: a reproducible random subset (kept in
    file order). ``spacing_mm`` (float or (row, col), mm per px of the files): used for
    images whose spacing is unknown (DICOM header and manifest come first).
    ``allow_missing_masks``: images without a mask are skipped with a warning instead
    of raising :class:`DataError`. Non-image files are skipped with a warning.
    ``cache_dir``: keep the prepared set there (keyed by the files' path, size and mtime
    and these settings) and read it back on the next identical call. ``workers``: threads
    reading the files (default min(4, CPUs); 1 = in this thread); the result does not depend on it.
    """
    root = Path(root)
    _check_args(root, image_size, max_images)
    fallback = parse_spacing(spacing_mm)
    images_dir, masks_dir = find_layout(root)
    files, _ = _list_files(images_dir)
    if not files:
        raise DataError(f"no images found (looked for {', '.join(ALL_EXTS)} files)", images_dir)
    files, mask_paths = _pair_masks(files, masks_dir, allow_missing_masks)
    files, mask_paths = _pick(files, mask_paths, max_images, seed)
    manifest_path = root / "manifest.csv"
    key = None
    if cache_dir is not None:
        settings = {"image_size": image_size, "crop_fov": bool(crop_fov), "max_images": max_images, "seed": seed,
                    "spacing_mm": fallback, "allow_missing_masks": allow_missing_masks}
        key = folder_key([*files, *(m for m in mask_paths if m is not None), manifest_path], settings)
        cached = read_set(cache_dir, key)
        if cached is not None:
            return cached
    manifest = read_manifest(manifest_path) if manifest_path.is_file() else {}
    items = _prepare_all(files, mask_paths, manifest, manifest_path, fallback, crop_fov, image_size, progress, workers)
    ds = _assemble(root, files, items, masks_dir is not None, crop_fov)
    if key is not None:
        write_set(cache_dir, key, ds)
    return ds
