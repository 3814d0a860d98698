"""``python -m msknb thickness PATH... [--spacing-mm X] [--method M] [--json|--csv]``:
muscle thickness of aponeurosis mask files, one JSON line or CSV row per mask."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from msknb.data import parse_spacing
from msknb.errors import ConfigError, MsknbError
from msknb.data.mask_files import expand_mask_paths, read_mask
from msknb.thickness.methods import DEFAULT_METHOD, METHODS, measure_thickness

CSV_COLUMNS = ("id", "path", "mt_px", "mt_mm", "n_chords", "method", "flag", "error")


def parse_spacing_arg(text: str | None) -> tuple[float, float] | None:
    """``--spacing-mm``: one number or ``ROW,COL`` (mm per px); ConfigError otherwise."""
    if text is None:
        return None
    try:
        values = [float(v) for v in str(text).replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--spacing-mm must be a number or ROW,COL; got {text!r}", "--spacing-mm") from None
    if len(values) not in (1, 2):
        raise ConfigError(f"--spacing-mm must be a number or ROW,COL; got {text!r}", "--spacing-mm")
    return parse_spacing(values)


def _measure_row(f, spacing, args) -> dict[str, Any]:
    row: dict[str, Any] = {"id": f.stem}
    try:
        mask, file_spacing = read_mask(f)
        r = measure_thickness(mask, spacing_mm=spacing if spacing is not None else file_spacing,
                              n_chords=args.n_chords, method=args.method)
        row.update(mt_px=round(r.mt_px, 4), mt_mm=None if r.mt_mm is None else round(r.mt_mm, 4),
                   n_chords=r.n_chords, method=r.method, flag=r.flag)
    except MsknbError as e:
        row["error"] = f"{f}: {e.problem}"
    return row


def _cli(args: argparse.Namespace) -> int:
    spacing = parse_spacing_arg(args.spacing_mm)
    if args.n_chords < 1:
        raise ConfigError(f"--n-chords must be >= 1; got {args.n_chords}", "--n-chords")
    files = expand_mask_paths(args.paths)
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n") if args.csv else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    failed = 0
    for f in files:
        row = _measure_row(f, spacing, args)
        failed += "error" in row
        if writer is not None:
            writer.writerow([str(f) if c == "path" else ("" if row.get(c) is None else row[c]) for c in CSV_COLUMNS])
        else:
            out.write(json.dumps(row) + "\n")
        out.flush()
    if failed:
        print(f"msknb thickness: {failed} of {len(files)} mask(s) could not be measured", file=sys.stderr)
    return 1 if failed else 0


def register(subparsers) -> None:
    """``python -m msknb thickness PATH... [--spacing-mm X] [--json|--csv] [--n-chords 5] [--method M]``."""
    p = subparsers.add_parser(
        "thickness", help="muscle thickness from aponeurosis masks",
        description="Muscle thickness of aponeurosis masks: files or folders of PNG/TIFF masks (a folder "
                    "with masks/ inside uses that), or DICOM masks (spacing from the file). One JSON object "
                    "per mask and line, or CSV. Exit 0: all measured; 1: some could not be measured (error "
                    "lines name the file); 2: usage error.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="mask file(s) or folder(s)")
    p.add_argument("--spacing-mm", default=None, metavar="X",
                   help="mm per pixel: one number or ROW,COL (overrides a DICOM's spacing)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON lines (default)")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    p.add_argument("--n-chords", type=int, default=5, help="number of chords (default 5, as the paper)")
    p.add_argument("--method", choices=sorted(METHODS), default=DEFAULT_METHOD,
                   help=f"thickness method (default {DEFAULT_METHOD}: the paper's chords)")
    p.set_defaults(func=_cli)
