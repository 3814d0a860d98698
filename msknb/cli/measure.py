"""``python -m msknb measure SCANS... --out DIR [--spacing-mm X] [--method M] [--model M]``:
muscle thickness of a researcher's own scans (images, folders, DICOMs, multi-frame DICOM
cine loops), with a quality flag per reading.

Writes into ``DIR`` (every file atomically): ``masks/<name>.png`` (predicted mask at the
scan's own size, 0/255), ``overlays/<name>.png`` (scan, mask and chords),
``mt_over_time/<id>.png`` (cine loops), ``measurements.csv`` and ``measurements.json``
(one row per image or frame: id, frame, path, mt_px, mt_mm, flag, method, error, seconds).
``<name>`` is the file stem, ``<stem>_f0007`` for frame 7 of a cine loop. A bad input gets
an error row (and a line on stderr) and the batch goes on; exit status 1 then, else 0.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from msknb.cli.segment import default_model
from msknb.cli.thickness import parse_spacing_arg
from msknb.errors import MsknbError
from msknb.io import ensure_dir, save_with, write_json_atomic, write_png, write_text_atomic
from msknb.segmentation.model import load_segmenter
from msknb.thickness.figures import mt_over_time_figure, overlay_figure
from msknb.thickness.methods import DEFAULT_METHOD, METHODS
from msknb.thickness.pipeline import COLUMNS, MeasuredFrame, error_row, measure_frame, summary
from msknb.thickness.scans import expand_scans, read_frames


def _save_figure(fig, path: Path) -> None:
    save_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def _write_frame(out: Path, m: MeasuredFrame) -> None:
    name = m.frame.name
    write_png(out / "masks" / f"{name}.png", m.mask, mask=True)
    r = m.result
    title = (f"{name}: not measured" if r is None else
             f"{name}: MT {r.mt_px:.1f} px" + ("" if r.mt_mm is None else f" = {r.mt_mm:.2f} mm") + f" ({r.flag})")
    _save_figure(overlay_figure(m.frame.image, m.mask, r, title), out / "overlays" / f"{name}.png")


def _write_cine(out: Path, measured: list[MeasuredFrame]) -> None:
    rows = [m.row for m in measured]
    mm = all(r["mt_mm"] is not None for r in rows if r["mt_px"] is not None)
    fig = mt_over_time_figure([r["frame"] for r in rows], [r["mt_mm"] if mm else r["mt_px"] for r in rows],
                              [r["flag"] for r in rows], unit="mm" if mm else "px",
                              title=f"{measured[0].frame.id}: MT over {len(rows)} frames")
    _save_figure(fig, out / "mt_over_time" / f"{measured[0].frame.id}.png")


def _report(row: dict[str, Any]) -> None:
    if row["error"]:
        print(f"msknb measure: error: {row['error']}", file=sys.stderr)


def _measure_file(model, path: Path, spacing, args, out: Path) -> list[dict[str, Any]]:
    """Rows of one scan file (one per frame); a bad file gives one error row."""
    measured: list[MeasuredFrame] = []
    try:
        for frame in read_frames(path, spacing):
            m = measure_frame(model, frame, args.method, args.threshold)
            _write_frame(out, m)
            _report(m.row)
            measured.append(m)
    except MsknbError as e:
        row = error_row(path.stem, path, str(e), method=args.method)
        _report(row)
        return [m.row for m in measured] + [row]
    except Exception as e:  # noqa: BLE001 - one unreadable scan must not stop the batch
        row = error_row(path.stem, path, f"{path}: cannot measure ({type(e).__name__}: {e})", method=args.method)
        _report(row)
        return [m.row for m in measured] + [row]
    if len(measured) > 1:
        _write_cine(out, measured)
    return [m.row for m in measured]


def _write_tables(out: Path, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: ("" if r[k] is None else r[k]) for k in COLUMNS} for r in rows])
    write_text_atomic(out / "measurements.csv", buf.getvalue())
    write_json_atomic(out / "measurements.json", {**info, "rows": rows})


def _cli(args: argparse.Namespace) -> int:
    spacing = parse_spacing_arg(args.spacing_mm)
    model_path = default_model(args.model)
    model = load_segmenter(model_path)
    files = expand_scans(args.scans)
    out = ensure_dir(args.out)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for path in tqdm(files, desc="measure", unit="scan"):
            rows.extend(_measure_file(model, path, spacing, args, out))
    info = {"model": str(model_path), "method": args.method, "spacing_mm_argument": spacing,
            "summary": summary(rows, time.perf_counter() - t0)}
    _write_tables(out, rows, info)
    s = info["summary"]
    print(f"measured {s['n_measured']} of {s['n_rows']} image(s)/frame(s) ({s['n_ok']} ok), "
          f"{s['seconds_per_frame']} s each; wrote {out / 'measurements.csv'}")
    return 1 if s["n_failed"] else 0


def register(subparsers) -> None:
    """``python -m msknb measure SCANS... --out DIR [--spacing-mm X] [--method M] [--model M]``."""
    p = subparsers.add_parser(
        "measure", help="muscle thickness of your own scans (images, DICOMs, cine loops)",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("scans", nargs="+", metavar="SCAN", help="image or DICOM file(s), or folder(s) of them")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--spacing-mm", default=None, metavar="X",
                   help="mm per pixel: one number or ROW,COL (overrides a DICOM's own spacing)")
    p.add_argument("--method", choices=sorted(METHODS), default=DEFAULT_METHOD,
                   help=f"thickness method (default {DEFAULT_METHOD}: the paper's 5 chords)")
    p.add_argument("--model", default=None, help="segmenter checkpoint (default: the shipped segmenter)")
    p.add_argument("--threshold", type=float, default=None, help="probability threshold (default: the model's)")
    p.set_defaults(func=_cli)
