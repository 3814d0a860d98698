"""A folder of phantoms in the DL_Track layout (:func:`write_phantom_set`): PNG images and
masks, DICOMs and ``manifest.csv``, bit-identical when regenerated with the same seed."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from msknb.data.dicom import write_dicom
from msknb.data.phantom.model import Phantom, make_phantom
from msknb.data.phantom.presets import PRESETS
from msknb.errors import ConfigError
from msknb.io import ensure_dir, save_with, to_uint8, write_png, write_text_atomic

MANIFEST_COLUMNS = ("id", "width", "height", "group", "subject", "spacing_row_mm", "spacing_col_mm",
                    "thickness_px", "thickness_mm", "seed")


def phantom_seed(seed: int, preset: str, index: int) -> int:
    """Seed of phantom ``index`` of ``preset`` in a set made with ``seed`` (uint32)."""
    order = list(PRESETS).index(preset)
    return int(np.random.SeedSequence([int(seed), order, int(index)]).generate_state(1)[0])


def _uid(key: list[str], what: str) -> str:
    return generate_uid(entropy_srcs=[*key, what])


def _make_uids_deterministic(path: Path, key: list[str]) -> None:
    """Replace the study / instance / frame-of-reference UIDs of ``path`` by UIDs derived
    from ``key`` (the set's seed, size, preset and index), so that a regenerated set is
    bit-identical (``write_dicom`` draws fresh ones)."""
    ds = pydicom.dcmread(path)
    sop = _uid(key, "sop")
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.StudyInstanceUID = _uid(key, "study")
    if "FrameOfReferenceUID" in ds:
        ds.FrameOfReferenceUID = _uid(key, "frame")
    save_with(path, lambda tmp: pydicom.dcmwrite(tmp, ds, enforce_file_format=True))


def _write_dicom_copy(out: Path, pid: str, img8: np.ndarray, ph: Phantom, key: list[str], name: str, s: int) -> None:
    dcm = out / "dicom" / f"{pid}.dcm"
    write_dicom(dcm, img8, spacing_mm=(ph.spacing_mm, ph.spacing_mm),
                description=f"msknb phantom {name} ({PRESETS[name]['description']}) seed {s}",
                series_uid=_uid(key, "series"), instance=1)
    _make_uids_deterministic(dcm, key)


def _check_set_args(presets: list[str], n_per_preset) -> None:
    for name in presets:
        if name not in PRESETS:
            raise ConfigError(f"unknown phantom preset {name!r}; choose one of {', '.join(PRESETS)}", "presets")
    if not isinstance(n_per_preset, (int, np.integer)) or n_per_preset < 1:
        raise ConfigError(f"n_per_preset must be an integer >= 1, got {n_per_preset!r}", "n_per_preset")


def write_phantom_set(out_dir: str | Path, n_per_preset: int = 6, size: int = 128, seed: int = 0,
                      dicom: bool = True, presets: Sequence[str] | None = None) -> Path:
    """Write ``n_per_preset`` phantoms of each preset in the DL_Track layout and return
    ``out_dir``:

    - ``images/<id>.png`` (8-bit gray), ``masks/<id>.png`` (0/255);
    - ``manifest.csv``: ``id,width,height,group,subject,spacing_row_mm,spacing_col_mm,
      thickness_px,thickness_mm,seed`` (``make_phantom(group, width, seed)`` remakes a row);
    - ``dicom/<id>.dcm`` (when ``dicom``), with the pixel spacing and UIDs derived from the
      seed, so the whole folder is bit-identical when regenerated.

    Ids are ``<preset>-<index:03d>`` (e.g. ``TA-003``); each phantom is its own subject.
    Files of earlier runs that are not in the new manifest are left alone.
    """
    presets = list(PRESETS) if presets is None else list(presets)
    _check_set_args(presets, n_per_preset)
    out = ensure_dir(out_dir)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for name in presets:
        for i in range(int(n_per_preset)):
            s = phantom_seed(seed, name, i)
            ph = make_phantom(name, size=size, seed=s)
            pid = f"{name}-{i:03d}"
            img8 = to_uint8(ph.image)
            write_png(out / "images" / f"{pid}.png", img8)
            write_png(out / "masks" / f"{pid}.png", ph.mask, mask=True)
            if dicom:
                key = ["msknb-phantom", str(seed), str(size), name, str(i), str(s)]
                _write_dicom_copy(out, pid, img8, ph, key, name, s)
            writer.writerow([pid, size, size, name, pid, f"{ph.spacing_mm:.6f}", f"{ph.spacing_mm:.6f}",
                             f"{ph.thickness_px:.6f}", f"{ph.thickness_mm:.6f}", s])
    write_text_atomic(out / "manifest.csv", buf.getvalue())
    return out
