"""Loading ultrasound images and aponeurosis masks into one :class:`UltrasoundSet`.

Folder layouts read by :func:`load_folder`:

- DL_Track layout: ``images/``, ``masks/`` (same file stem), optional ``manifest.csv``
  with columns ``id`` (file stem) and optionally ``group`` (or ``muscle``), ``subject``,
  ``spacing_row_mm``, ``spacing_col_mm`` (mm per pixel of the file as stored);
- original DL_Track layout: ``apo_images/``, ``apo_masks/`` (TIFF, same stem);
- a flat folder of images (PNG/TIFF/JPEG/BMP) or DICOMs, optionally with ``masks/``.

Images come back as float32 (N, H, W) in [0, 1], masks as uint8 (N, H, W) in {0, 1},
spacing as float64 (N, 2) (row_mm, col_mm) per pixel *at the returned resolution*.
Scanner screen captures are cropped to the B-mode field of view (:func:`crop_fov`), the
same box is applied to the mask, then both are resized to ``image_size``².
"""
from __future__ import annotations

import csv
import io
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb.errors import ConfigError, DataError

IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
DICOM_EXTS = (".dcm", ".dicom")
ALL_EXTS = IMAGE_EXTS + DICOM_EXTS

MANIFEST_FIELDS = ("id", "path", "group", "subject", "spacing_row_mm", "spacing_col_mm", "height", "width")


# --------------------------------------------------------------------------- single files
def _read_raw(path: Path) -> np.ndarray:
    """Pixel array of a PNG/TIFF/JPEG/BMP as stored (2-D gray or (H, W, C)), native dtype."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataError("file does not exist", path)
    if path.stat().st_size == 0:
        raise DataError("file is empty (0 bytes)", path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("P", "PA"):
                im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
            elif mode == "1":
                im = im.convert("L")
            elif mode == "CMYK" or mode == "YCbCr" or mode == "LAB" or mode == "HSV":
                im = im.convert("RGB")
            elif mode == "LA":
                im = im.convert("RGBA")
            arr = np.asarray(im)
            if mode.startswith("I;16") or (mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535):
                arr = arr.astype(np.uint16)
    except UnidentifiedImageError as e:
        arr = _read_tiff_fallback(path, e)
    except (OSError, ValueError, SyntaxError) as e:
        arr = _read_tiff_fallback(path, e)
    if arr.size == 0 or min(arr.shape[:2]) == 0:
        raise DataError(f"image is empty (shape {arr.shape})", path)
    return arr


def _read_tiff_fallback(path: Path, err: Exception) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            import tifffile

            arr = np.asarray(tifffile.imread(path))
            while arr.ndim > 3 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
                arr = arr[0]  # first page / frame
            return arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr
        except Exception:
            pass
    raise DataError(f"unreadable image file, truncated or not an image ({type(err).__name__}: {err})", path) from err


def _gray01(arr: np.ndarray) -> np.ndarray:
    """Gray float32 (H, W) in [0, 1] from a raw array (gray, RGB or RGBA; any int dtype)."""
    if arr.dtype == np.uint8 and arr.ndim == 2:
        return arr.astype(np.float32) * np.float32(1 / 255)
    if arr.dtype.kind in "iu":
        scale = float(np.iinfo(arr.dtype).max)
    elif arr.dtype.kind == "b":
        scale = 1.0
    else:
        finite = arr[np.isfinite(arr)]
        mx = float(finite.max()) if finite.size else 1.0
        scale = 1.0 if mx <= 1.0 else mx
    a = arr.astype(np.float64) / scale
    if a.ndim == 3:
        rgb = a[..., :3] if a.shape[-1] >= 3 else np.repeat(a[..., :1], 3, axis=-1)
        a = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return np.clip(np.nan_to_num(a), 0.0, 1.0).astype(np.float32)


def _check_ext(path: Path, what: str) -> str:
    ext = path.suffix.lower()
    if ext not in ALL_EXTS:
        raise DataError(f"not an image file (extension {ext or 'none'!r}); {what} must be one of "
                        f"{', '.join(ALL_EXTS)}", path)
    return ext


def load_image(path: str | Path) -> np.ndarray:
    """Grayscale float32 (H, W) in [0, 1] from PNG/TIFF/JPEG/BMP (8- or 16-bit, scaled by
    the dtype's maximum; RGB/RGBA converted to luma) or DICOM (first frame)."""
    path = Path(path)
    ext = _check_ext(path, "an image")
    if ext in DICOM_EXTS:
        from msknb.data.dicom import read_dicom

        return read_dicom(path, require_spacing=False).image
    return _gray01(_read_raw(path))


def load_mask(path: str | Path) -> np.ndarray:
    """Binary mask uint8 (H, W) in {0, 1}. A 0/1 mask is kept as is; otherwise a pixel is
    foreground when its brightest channel is >= half the dtype range (>= 128 for 8-bit),
    which also tolerates JPEG noise and coloured (e.g. red) masks."""
    path = Path(path)
    ext = _check_ext(path, "a mask")
    if ext in DICOM_EXTS:
        from msknb.data.dicom import read_dicom

        return (read_dicom(path, require_spacing=False).image >= 0.5).astype(np.uint8)
    arr = _read_raw(path)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1) if arr.shape[-1] >= 3 else arr[..., 0]
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8)
    mx = float(arr.max())
    if mx <= 1.0:
        return (arr > 0).astype(np.uint8)
    half = (float(np.iinfo(arr.dtype).max) + 1) / 2 if arr.dtype.kind in "iu" else mx / 2
    return (arr >= half).astype(np.uint8)


# --------------------------------------------------------------------------- field of view
def _blocks(a: np.ndarray, f: int) -> np.ndarray:
    """Mean over f x f blocks (float32)."""
    h2, w2 = a.shape[0] // f, a.shape[1] // f
    return a[:h2 * f, :w2 * f].reshape(h2, f, w2, f).sum(axis=(1, 3), dtype=np.float32) / np.float32(f * f)


def crop_fov(image: np.ndarray, min_area: float = 0.2) -> tuple[int, int, int, int]:
    """Bounding box ``(y0, y1, x0, x1)`` (px, end exclusive) of the B-mode field of view.

    Scanner screen captures show flat UI (bars, text, grey panels) around the image.
    On a ~128 px grid: cells with speckle (local std > 0.03 *and* most pixels differing
    from their neighbours) are opened/closed; the largest component plus large components
    in the same columns gives the box; thin attachments (columns/rows < 15 % filled) are
    trimmed; the box then grows over dim tissue (textured or not of the border's flat UI
    colour). Falls back to the whole image when nothing covers ``min_area`` of it.
    """
    from scipy import ndimage as ndi

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 8:
        return 0, int(img.shape[0]), 0, int(img.shape[1])
    H, W = img.shape
    full = (0, H, 0, W)
    f = max(1, int(round(max(H, W) / 128)))
    small = _blocks(img, f)
    h2, w2 = small.shape
    if min(h2, w2) < 8:
        return full
    m = ndi.uniform_filter(small, 5)
    m2 = ndi.uniform_filter(small * small, 5)
    std = np.sqrt(np.clip(m2 - m * m, 0, None))
    img8 = np.rint(np.clip(img, 0, 1) * 255).astype(np.int16)  # flatness is judged on 8-bit levels
    nonflat = np.zeros((H, W), bool)
    nonflat[:, 1:] = img8[:, 1:] != img8[:, :-1]
    nonflat[1:, :] |= img8[1:, :] != img8[:-1, :]
    texf = _blocks(nonflat, f)

    p = 3
    act = np.pad((std > 0.03) & (texf > 0.6), p, mode="edge")
    act = ndi.binary_opening(act, np.ones((5, 5)))
    act = ndi.binary_closing(act, np.ones((5, 5)))[p:-p, p:-p]
    lab, n = ndi.label(act)
    if n == 0:
        return full
    sizes = np.bincount(lab.ravel())[1:]
    k = int(np.argmax(sizes)) + 1
    if sizes[k - 1] < min_area * act.size:
        return full
    comp = lab == k
    cols = np.nonzero(comp.any(0))[0]
    mc0, mc1 = cols[0], cols[-1] + 1
    for j in range(1, n + 1):  # e.g. a bright band above a dark subcutaneous layer
        if j == k or sizes[j - 1] < 0.01 * act.size:
            continue
        cj = np.nonzero((lab == j).any(0))[0]
        a0, a1 = cj[0], cj[-1] + 1
        if min(a1, mc1) - max(a0, mc0) >= 0.5 * (a1 - a0) and (a1 - a0) >= 0.3 * (mc1 - mc0):
            comp |= lab == j
    rows = np.nonzero(comp.any(1))[0]
    cols = np.nonzero(comp.any(0))[0]
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1

    def extent(occ: np.ndarray) -> tuple[int, int]:
        idx = np.nonzero(occ >= 0.15)[0]
        return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, len(occ))

    a, b = extent(comp[r0:r1, c0:c1].mean(0))
    c0, c1 = c0 + a, c0 + b
    a, b = extent(comp[r0:r1, c0:c1].mean(1))
    r0, r1 = r0 + a, r0 + b

    # flat UI colours: values covering >= 15 % of the outer frame
    q = np.concatenate([img8[:2].ravel(), img8[-2:].ravel(), img8[:, :2].ravel(), img8[:, -2:].ravel()])
    counts = np.bincount(q, minlength=256)
    bg_values = np.nonzero(counts >= 0.15 * q.size)[0]
    if len(bg_values) == 0:
        bg_values = [int(counts.argmax())]
    isbg = np.zeros(img.shape, bool)
    for v in bg_values:
        isbg |= np.abs(img8 - v) <= 1
    fov = ((texf > 0.05) | (_blocks(isbg, f) < 0.5)).astype(np.float32)
    while r1 < h2 and fov[r1, c0:c1].mean() > 0.5:
        r1 += 1
    while r0 > 0 and fov[r0 - 1, c0:c1].mean() > 0.5:
        r0 -= 1
    while c1 < w2 and fov[r0:r1, c1].mean() > 0.5:
        c1 += 1
    while c0 > 0 and fov[r0:r1, c0 - 1].mean() > 0.5:
        c0 -= 1
    y0, y1 = r0 * f, (H if r1 >= h2 else r1 * f)
    x0, x1 = c0 * f, (W if c1 >= w2 else c1 * f)
    if (y1 - y0) < 8 or (x1 - x0) < 8:
        return full
    return int(y0), int(y1), int(x0), int(x1)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """float32 (size, size) in [0, 1]: anti-aliased bilinear resize.

    Uses Pillow's float ("F") resampling, whose bilinear filter widens with the scale
    factor (anti-aliasing like ``skimage.transform.resize(..., anti_aliasing=True)``) and
    is ~20x faster; skimage is used for arrays Pillow cannot take."""
    from PIL import Image

    img = np.asarray(image, dtype=np.float32)
    if img.shape == (size, size):
        return img.copy()
    try:
        out = np.asarray(Image.fromarray(img, mode="F").resize((size, size), Image.Resampling.BILINEAR))
    except (ValueError, TypeError):  # pragma: no cover - unusual arrays
        from skimage.transform import resize

        out = resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0, 1).astype(np.float32)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """uint8 (size, size) in {0, 1}: nearest-neighbour resize (skimage, order=0)."""
    from skimage.transform import resize

    if mask.shape == (size, size):
        return mask.astype(np.uint8)
    out = resize(mask.astype(np.uint8), (size, size), order=0, anti_aliasing=False, preserve_range=True,
                 mode="edge")
    return (out > 0).astype(np.uint8)


# --------------------------------------------------------------------------- the data set
@dataclass
class UltrasoundSet:
    """Images, masks and metadata of one data set (see the module docstring).

    ``images`` float32 (N, H, W) in [0, 1]; ``masks`` uint8 (N, H, W) in {0, 1} or None;
    ``ids``, ``paths``; ``spacing_mm`` float64 (N, 2) (row_mm, col_mm) per pixel at this
    resolution, NaN when unknown; ``groups`` (muscle or "all"); ``subjects`` (subject id,
    or near-duplicate cluster "dup-0007"); ``boxes`` int (N, 4) crop box in the original
    pixels (y0, y1, x0, x1); ``original_shapes`` int (N, 2).
    """

    images: np.ndarray
    masks: np.ndarray | None
    ids: list[str]
    paths: list[Path]
    spacing_mm: np.ndarray
    groups: list[str]
    subjects: list[str]
    boxes: np.ndarray | None = None
    original_shapes: np.ndarray | None = None
    root: Path | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "UltrasoundSet":
        """A new set with the items at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        return UltrasoundSet(
            images=self.images[idx], masks=None if self.masks is None else self.masks[idx],
            ids=[self.ids[i] for i in idx], paths=[self.paths[i] for i in idx],
            spacing_mm=self.spacing_mm[idx], groups=[self.groups[i] for i in idx],
            subjects=[self.subjects[i] for i in idx],
            boxes=None if self.boxes is None else self.boxes[idx],
            original_shapes=None if self.original_shapes is None else self.original_shapes[idx],
            root=self.root)

    def to_tensor(self, masks: bool = False):
        """torch float32 (N, 1, H, W) in [-1, 1] (``2 * images - 1``); with ``masks=True``
        returns ``(images, masks)`` where masks are (N, 1, H, W) in {-1, 1}."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(self.images, dtype=np.float32)).unsqueeze(1) * 2 - 1
        if not masks:
            return x
        if self.masks is None:
            raise DataError("this data set has no masks", self.root)
        m = torch.from_numpy(np.ascontiguousarray(self.masks, dtype=np.float32)).unsqueeze(1) * 2 - 1
        return x, m

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description: counts, sizes, groups, spacing."""
        sp = self.spacing_mm
        known = np.all(np.isfinite(sp), axis=1) if len(sp) else np.zeros(0, bool)
        groups: dict[str, int] = {}
        for g in self.groups:
            groups[g] = groups.get(g, 0) + 1
        out: dict[str, Any] = {
            "n_images": len(self), "n_with_mask": 0 if self.masks is None else len(self),
            "image_shape": list(self.images.shape[1:]), "groups": groups,
            "n_subjects": len(set(self.subjects)), "spacing_known": int(known.sum()),
        }
        if self.original_shapes is not None and len(self.original_shapes):
            uniq, counts = np.unique(self.original_shapes, axis=0, return_counts=True)
            out["original_sizes"] = {f"{h}x{w}": int(c) for (h, w), c in zip(uniq.tolist(), counts.tolist())}
        if known.any():
            out["spacing_row_mm"] = [float(np.min(sp[known, 0])), float(np.max(sp[known, 0]))]
            out["spacing_col_mm"] = [float(np.min(sp[known, 1])), float(np.max(sp[known, 1]))]
        return out


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


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read manifest ({e})", path) from e
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise DataError(f"manifest needs an 'id' column, found {reader.fieldnames}", path)
    return {row["id"].strip(): {k: (v or "").strip() for k, v in row.items() if k} for row in reader
            if row.get("id")}


def _manifest_spacing(row: dict[str, str], manifest: Path) -> tuple[float, float] | None:
    r, c = row.get("spacing_row_mm", ""), row.get("spacing_col_mm", "")
    if not r and not c:
        return None
    try:
        rv, cv = float(r or c), float(c or r)
    except ValueError as e:
        raise DataError(f"bad spacing for id {row.get('id')!r}: {r!r}, {c!r} (numbers in mm expected)", manifest) from e
    if not (math.isfinite(rv) and math.isfinite(cv)):
        return None
    if rv <= 0 or cv <= 0:
        raise DataError(f"spacing for id {row.get('id')!r} must be positive, got {rv}, {cv}", manifest)
    return rv, cv


def _find_layout(root: Path) -> tuple[Path, Path | None]:
    if (root / "images").is_dir():
        return root / "images", (root / "masks") if (root / "masks").is_dir() else None
    if (root / "apo_images").is_dir():
        return root / "apo_images", (root / "apo_masks") if (root / "apo_masks").is_dir() else None
    return root, (root / "masks") if (root / "masks").is_dir() else None


def _find_mask(image: Path, masks_dir: Path, index: dict[str, list[Path]]) -> Path | None:
    cands = index.get(image.stem, [])
    if not cands:
        return None
    same = [c for c in cands if c.suffix.lower() == image.suffix.lower()]
    return (same or cands)[0]


def load_folder(root: str | Path, image_size: int | None = None, crop_fov: bool = True,
                max_images: int | None = None, seed: int = 0,
                spacing_mm: float | Sequence[float] | None = None, *,
                allow_missing_masks: bool = False, progress: bool = False) -> UltrasoundSet:
    """Load a data folder (layouts in the module docstring) into an :class:`UltrasoundSet`.

    ``image_size``: resize each (cropped) image to image_size² px (None: keep; then all
    images must have the same size). ``crop_fov``: crop screen captures to the B-mode
    field of view. ``max_images`` with ``seed``: a reproducible random subset (kept in
    file order). ``spacing_mm`` (float or (row, col), mm per px of the files): used for
    images whose spacing is unknown (DICOM header and manifest come first).
    ``allow_missing_masks``: images without a mask are skipped with a warning instead
    of raising :class:`DataError`. Non-image files are skipped with a warning.
    """
    from msknb.data.dicom import _spacing_arg, read_dicom

    root = Path(root)
    if not root.exists():
        raise DataError("data folder does not exist", root)
    if not root.is_dir():
        raise DataError("data path is not a folder", root)
    if image_size is not None and (int(image_size) != image_size or image_size < 8):
        raise ConfigError(f"image_size must be an integer >= 8, got {image_size!r}", "image_size")
    if max_images is not None and (int(max_images) != max_images or max_images < 1):
        raise ConfigError(f"max_images must be a positive integer, got {max_images!r}", "max_images")
    fallback = _spacing_arg(spacing_mm)

    images_dir, masks_dir = _find_layout(root)
    files, _ = _list_files(images_dir)
    if not files:
        raise DataError(f"no images found (looked for {', '.join(ALL_EXTS)} files)", images_dir)
    manifest_path = root / "manifest.csv"
    manifest = _read_manifest(manifest_path) if manifest_path.is_file() else {}

    mask_paths: list[Path | None] = [None] * len(files)
    if masks_dir is not None:
        mask_files, _ = _list_files(masks_dir)
        index: dict[str, list[Path]] = {}
        for m in mask_files:
            index.setdefault(m.stem, []).append(m)
        keep, missing = [], []
        for i, f in enumerate(files):
            mp = _find_mask(f, masks_dir, index)
            if mp is None:
                if not allow_missing_masks:
                    expected = masks_dir / (f.stem + (f.suffix if f.suffix.lower() in IMAGE_EXTS else ".png"))
                    raise DataError(f"no mask for this image; expected {expected} "
                                    f"(or pass allow_missing_masks=True)", f)
                missing.append(f)
                continue
            mask_paths[i] = mp
            keep.append(i)
        if missing:
            warnings.warn(f"{masks_dir}: {len(missing)} image(s) without a mask skipped: "
                          + ", ".join(p.name for p in missing[:10]), stacklevel=2)
            if not keep:
                raise DataError("no image has a mask", masks_dir)
        files = [files[i] for i in keep]
        mask_paths = [mask_paths[i] for i in keep]

    if max_images is not None and max_images < len(files):
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(files), size=int(max_images), replace=False))
        files = [files[i] for i in pick]
        mask_paths = [mask_paths[i] for i in pick]

    iterator = range(len(files))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="loading", unit="img")
    images, masks, spacings, boxes, shapes, groups, subjects, thumbs = [], [], [], [], [], [], [], []
    for i in iterator:
        f = files[i]
        row = manifest.get(f.stem, {})
        sp = None
        if f.suffix.lower() in DICOM_EXTS:
            d = read_dicom(f, require_spacing=False)
            img = d.image
            if np.all(np.isfinite(d.spacing_mm)):
                sp = d.spacing_mm
        else:
            img = load_image(f)
        if sp is None and row:
            sp = _manifest_spacing(row, manifest_path)
        if sp is None:
            sp = fallback
        sp_arr = np.array(sp if sp is not None else (np.nan, np.nan), dtype=np.float64)
        msk = None
        if mask_paths[i] is not None:
            msk = load_mask(mask_paths[i])
            if msk.shape != img.shape:
                raise DataError(f"mask size {msk.shape[1]}x{msk.shape[0]} (WxH) does not match image "
                                f"{f} size {img.shape[1]}x{img.shape[0]}", mask_paths[i])
        shapes.append(img.shape)
        thumbs.append(resize_image(img, 64))
        box = _crop_box(img) if crop_fov else (0, img.shape[0], 0, img.shape[1])
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
        images.append(img)
        masks.append(msk)
        spacings.append(sp_arr)
        boxes.append(box)
        groups.append(row.get("group") or row.get("muscle") or "all")
        subjects.append(row.get("subject") or "")

    sizes = {im.shape for im in images}
    if len(sizes) > 1:
        raise DataError(f"images have different sizes after cropping ({len(sizes)} sizes, e.g. "
                        f"{sorted(sizes)[:3]}); pass image_size= to resize them to one square size", root)
    has_masks = masks_dir is not None
    ds = UltrasoundSet(
        images=np.stack(images).astype(np.float32),
        masks=np.stack(masks).astype(np.uint8) if has_masks else None,
        ids=[f.stem for f in files], paths=list(files), spacing_mm=np.stack(spacings),
        groups=groups, subjects=subjects, boxes=np.array(boxes, dtype=np.int64),
        original_shapes=np.array(shapes, dtype=np.int64), root=root)
    if not all(subjects):
        from msknb.data.splits import near_duplicate_clusters

        # near copies judged on the cropped images and on the whole frames
        labels = near_duplicate_clusters(ds.images, also=thumbs if crop_fov else None)
        ds.subjects = [s or f"dup-{labels[i]:04d}" for i, s in enumerate(subjects)]
    return ds


_crop_fov_fn = crop_fov


def _crop_box(img: np.ndarray) -> tuple[int, int, int, int]:
    return _crop_fov_fn(img)


# --------------------------------------------------------------------------- manifest
def build_manifest(ds: UltrasoundSet) -> list[dict[str, Any]]:
    """One row per item: id, path, group, subject, spacing_row_mm, spacing_col_mm (mm per
    px at the set's resolution; "" when unknown), height, width (px)."""
    rows = []
    for i in range(len(ds)):
        r, c = (float(v) for v in ds.spacing_mm[i])
        rows.append({"id": ds.ids[i], "path": str(ds.paths[i]), "group": ds.groups[i], "subject": ds.subjects[i],
                     "spacing_row_mm": "" if not math.isfinite(r) else repr(r),
                     "spacing_col_mm": "" if not math.isfinite(c) else repr(c),
                     "height": int(ds.images.shape[1]), "width": int(ds.images.shape[2])})
    return rows


def write_manifest_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts) as CSV atomically; columns: :data:`MANIFEST_FIELDS` first,
    then any extra keys in first-seen order."""
    from msknb.io import write_text_atomic

    fields = list(MANIFEST_FIELDS) if rows and all(k in rows[0] for k in MANIFEST_FIELDS) else []
    for r in rows:
        for k in r:
            if k not in fields:
                fields.append(k)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields or ["id"], lineterminator="\n", restval="")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return write_text_atomic(path, buf.getvalue())


# --------------------------------------------------------------------------- command line
def info(root: str | Path, image_size: int = 64, crop: bool = True, max_images: int | None = None,
         seed: int = 0, spacing_mm=None) -> dict[str, Any]:
    """Summary of a data folder (as printed by ``msknb data info``)."""
    from msknb.data.splits import cluster_stats, near_duplicate_clusters

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_folder(root, image_size=image_size, crop_fov=crop, max_images=max_images, seed=seed,
                         spacing_mm=spacing_mm)
    out = {"root": str(root), **ds.summary()}
    out["near_duplicates"] = cluster_stats(near_duplicate_clusters(ds.images))
    out["warnings"] = [str(w.message) for w in caught]
    return out


def _cmd_info(args) -> int:
    spacing = None
    if args.spacing_mm:
        spacing = args.spacing_mm[0] if len(args.spacing_mm) == 1 else tuple(args.spacing_mm)
    print(json.dumps(info(args.dir, image_size=args.image_size, crop=not args.no_crop,
                          max_images=args.max_images, seed=args.seed, spacing_mm=spacing), indent=2))
    return 0


def _cmd_fetch(args) -> int:
    from msknb.data.download import DLTRACK_SHA256, DLTRACK_URL, fetch_dltrack

    path = fetch_dltrack(args.cache_dir, url=args.url or DLTRACK_URL, sha256=args.sha256 or DLTRACK_SHA256)
    print(path)
    return 0


def register_cli(subparsers) -> None:
    """``msknb data info DIR`` and ``msknb data fetch``."""
    p = subparsers.add_parser("data", help="inspect or download ultrasound data")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    pi = sub.add_parser("info", help="print N, sizes, groups, spacing and near-duplicate stats as JSON")
    pi.add_argument("dir", help="data folder (DL_Track layout, apo_images/, images or DICOMs)")
    pi.add_argument("--image-size", type=int, default=64, help="resize to this square size (px)")
    pi.add_argument("--max-images", type=int, default=None)
    pi.add_argument("--seed", type=int, default=0)
    pi.add_argument("--no-crop", action="store_true", help="do not crop to the field of view")
    pi.add_argument("--spacing-mm", type=float, nargs="+", default=None, metavar="MM",
                    help="pixel spacing (mm per px; one value or ROW COL) for images without one")
    pi.set_defaults(func=_cmd_info)
    pf = sub.add_parser("fetch", help="download the public DL_Track data set into the cache")
    pf.add_argument("--cache-dir", default=None, help="default: $MSKNB_CACHE or ~/.cache/msknb/dltrack")
    pf.add_argument("--url", default=None)
    pf.add_argument("--sha256", default=None)
    pf.set_defaults(func=_cmd_fetch)

    def _no_action(args) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_no_action)
