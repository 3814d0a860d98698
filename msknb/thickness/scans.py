"""A researcher's own scans, frame by frame: image files (PNG/TIFF/JPEG/BMP), DICOMs and
multi-frame DICOM cine loops (every frame), from files and folders."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from msknb.data import ALL_EXTS, load_image, parse_spacing
from msknb.data.dicom import read_dicom
from msknb.data.manifest import read_manifest_spacing
from msknb.errors import DataError
from msknb.data.mask_files import is_dicom


@dataclass
class Frame:
    """One image to measure: ``image`` float32 (H, W) in [0, 1]; ``spacing_mm`` (row, col)
    mm per px or None; ``frame``: index in a cine loop (None for a single image);
    ``n_frames``: frames of its file."""

    id: str
    path: Path
    image: np.ndarray
    spacing_mm: tuple[float, float] | None
    frame: int | None = None
    n_frames: int = 1

    @property
    def name(self) -> str:
        """File-name stem of this frame's outputs: ``<id>`` or ``<id>_f0003``."""
        return self.id if self.frame is None else f"{self.id}_f{self.frame:04d}"


def expand_scans(items: Sequence[str | Path]) -> list[Path]:
    """Scan files named in ``items``; folders give their image and DICOM files (sorted,
    hidden files skipped; a folder with ``images/`` uses that). Paths that do not exist are
    kept, so that each gets its own error row; an empty folder raises DataError naming it."""
    files: list[Path] = []
    for raw in items:
        p = Path(raw)
        if not p.is_dir():
            files.append(p)
            continue
        folder = p / "images" if (p / "images").is_dir() else p
        found = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")
                       and (f.suffix.lower() in ALL_EXTS or (not f.suffix and is_dicom(f))))
        if not found:
            raise DataError("no image or DICOM files in this folder", folder)
        files.extend(found)
    return files


def manifest_spacing_of(path: Path) -> tuple[float, float] | None:
    """The spacing of image ``path`` in a ``manifest.csv`` beside it or one folder up
    (DL_Track layout: ``root/manifest.csv``, ``root/images/<id>.png``), else None."""
    for folder in (path.parent, path.parent.parent):
        sp = read_manifest_spacing(folder).get(path.stem)
        if sp is not None:
            return sp
    return None


def read_frames(path: str | Path, spacing_mm: Any = None) -> Iterator[Frame]:
    """Frames of one scan file. ``spacing_mm`` (one number or (row, col)) overrides the
    file's spacing (a DICOM's own; an image's from a ``manifest.csv`` beside it). DataError
    naming the file when it is missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DataError("scan file not found", p)
    override = parse_spacing(spacing_mm)
    if not is_dicom(p):
        yield Frame(p.stem, p, load_image(p), override if override is not None else manifest_spacing_of(p))
        return
    d = read_dicom(p, require_spacing=False, all_frames=True)
    sp = override if override is not None else parse_spacing(d.spacing_mm)
    n = int(d.image.shape[0])
    for k in range(n):
        yield Frame(p.stem, p, d.image[k], sp, frame=k if n > 1 else None, n_frames=n)
