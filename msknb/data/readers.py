"""Reading one image or one mask file: PNG/TIFF/JPEG/BMP (8- or 16-bit, gray or colour)
and DICOM, as float32 gray images (H, W) in [0, 1] and uint8 masks (H, W) in {0, 1}."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from msknb.data.dicom import read_dicom
from msknb.errors import DataError

IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
DICOM_EXTS = (".dcm", ".dicom")
ALL_EXTS = IMAGE_EXTS + DICOM_EXTS


def _open_array(path: Path) -> np.ndarray:
    """Pillow's pixel array of ``path``: palette/bilevel/CMYK/... converted to gray or RGB(A),
    16-bit data as uint16."""
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
    return arr


def read_raw(path: Path) -> np.ndarray:
    """Pixel array of a PNG/TIFF/JPEG/BMP as stored (2-D gray or (H, W, C)), native dtype."""
    if not path.is_file():
        raise DataError("file does not exist", path)
    if path.stat().st_size == 0:
        raise DataError("file is empty (0 bytes)", path)
    try:
        arr = _open_array(path)
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
            arr = np.asarray(tifffile.imread(path))
            while arr.ndim > 3 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
                arr = arr[0]  # first page / frame
            return arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr
        except Exception:
            pass
    raise DataError(f"unreadable image file, truncated or not an image ({type(err).__name__}: {err})", path) from err


def gray01(arr: np.ndarray) -> np.ndarray:
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
        return read_dicom(path, require_spacing=False).image
    return gray01(read_raw(path))


def load_mask(path: str | Path) -> np.ndarray:
    """Binary mask uint8 (H, W) in {0, 1}. A 0/1 mask is kept as is; otherwise a pixel is
    foreground when its brightest channel is >= half the dtype range (>= 128 for 8-bit),
    which also tolerates JPEG noise and coloured (e.g. red) masks."""
    path = Path(path)
    ext = _check_ext(path, "a mask")
    if ext in DICOM_EXTS:
        return (read_dicom(path, require_spacing=False).image >= 0.5).astype(np.uint8)
    arr = read_raw(path)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1) if arr.shape[-1] >= 3 else arr[..., 0]
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8)
    mx = float(arr.max())
    if mx <= 1.0:
        return (arr > 0).astype(np.uint8)
    half = (float(np.iinfo(arr.dtype).max) + 1) / 2 if arr.dtype.kind in "iu" else mx / 2
    return (arr >= half).astype(np.uint8)
