"""``manifest.csv``: one row per image (id, path, group, subject, spacing, size), read
beside a data folder and written beside a synthetic set."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

from msknb.data.dataset import UltrasoundSet
from msknb.data.spacing import manifest_spacing
from msknb.errors import DataError
from msknb.io import write_text_atomic

MANIFEST_FIELDS = ("id", "path", "group", "subject", "spacing_row_mm", "spacing_col_mm", "height", "width")


def read_manifest(path: str | Path) -> dict[str, dict[str, str]]:
    """``{id: row}`` of a manifest (values stripped strings); needs an ``id`` column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read manifest ({e})", path) from e
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise DataError(f"manifest needs an 'id' column, found {reader.fieldnames}", path)
    return {row["id"].strip(): {k: (v or "").strip() for k, v in row.items() if k} for row in reader
            if row.get("id")}


def read_manifest_spacing(root: str | Path) -> dict[str, tuple[float, float]]:
    """``{id: (row_mm, col_mm)}`` of the ids of ``root/manifest.csv`` with a known spacing
    ({} without a manifest); a bad spacing raises :class:`DataError` naming the manifest."""
    path = Path(root) / "manifest.csv"
    if not path.is_file():
        return {}
    rows = read_manifest(path)
    spacing = {i: manifest_spacing(row, path) for i, row in rows.items()}
    return {i: sp for i, sp in spacing.items() if sp is not None}


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
