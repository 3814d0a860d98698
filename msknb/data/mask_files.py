"""Mask files a user hands over (PNG/TIFF, or DICOM with its spacing) and folders of them."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from msknb.data.readers import load_mask
from msknb.data.spacing import parse_spacing
from msknb.data.dicom import read_dicom
from msknb.errors import DataError, MsknbError

#: mask file types read from folders
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".dcm")


def is_dicom(path: Path) -> bool:
    """``.dcm`` suffix, or the ``DICM`` marker at byte 128."""
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def read_mask(path: Path) -> tuple[np.ndarray, tuple[float, float] | None]:
    """(mask, spacing from the file or None); DataError naming the file if unreadable.
    PNG/TIFF through :func:`msknb.data.load_mask`; a DICOM through
    :func:`msknb.data.dicom.read_dicom` (its pixel spacing, when present, comes along)."""
    try:
        if is_dicom(path):
            d = read_dicom(path, require_spacing=False)
            return np.asarray(d.image), parse_spacing(d.spacing_mm)
        return np.asarray(load_mask(path)), None
    except MsknbError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoder failure is a bad file
        raise DataError(f"cannot read mask ({type(e).__name__}: {e})", path) from e


def expand_mask_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Mask files named in ``paths``; a folder gives its mask files (its ``masks/`` when it
    has one). A missing path or an empty folder raises DataError naming it."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise DataError("no such file or folder", p)
        if p.is_dir():
            folder = p / "masks" if (p / "masks").is_dir() else p
            found = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in MASK_SUFFIXES
                           and not f.name.startswith("."))
            if not found:
                raise DataError(f"no mask files ({', '.join(MASK_SUFFIXES)}) in folder", folder)
            files.extend(found)
        else:
            files.append(p)
    return files
