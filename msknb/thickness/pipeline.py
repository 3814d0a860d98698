"""``msknb measure``'s work on one frame: segment it at its own resolution, measure MT on
the probability map, and make the row of ``measurements.csv``. Drawing and file writing
are the command line's (:mod:`msknb.cli.measure`)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from msknb.errors import DataError, MsknbError
from msknb.segmentation.predict import model_threshold, predict_full_size
from msknb.thickness.methods import measure_thickness
from msknb.thickness.result import ThicknessResult
from msknb.thickness.scans import Frame

#: the columns of ``measurements.csv`` (and the keys of each row in ``measurements.json``)
COLUMNS = ("id", "frame", "path", "mt_px", "mt_mm", "flag", "method", "error", "seconds")


@dataclass
class MeasuredFrame:
    """One frame's outcome: ``row`` (COLUMNS), the binary ``mask`` uint8 (H, W) {0, 1} at
    the frame's size (None when segmentation failed) and the ``result`` (None when MT failed)."""

    frame: Frame
    row: dict[str, Any]
    mask: np.ndarray | None = None
    result: ThicknessResult | None = None


def error_row(id_: str, path, problem: str, frame: int | None = None, method: str = "") -> dict[str, Any]:
    """A row for an input that could not be measured."""
    return {"id": id_, "frame": frame, "path": str(path), "mt_px": None, "mt_mm": None, "flag": "error",
            "method": method, "error": problem, "seconds": None}


def measure_frame(model: torch.nn.Module, frame: Frame, method: str = "chords",
                  threshold: float | None = None) -> MeasuredFrame:
    """Segment ``frame`` (probabilities upsampled to its own size), binarise at the model's
    threshold and measure MT on the probability map (sub-pixel edges), in mm when the frame
    has a spacing. A ThicknessError (e.g. one band found) becomes the row's ``error``."""
    t0 = time.perf_counter()
    thr = model_threshold(model, threshold)
    try:
        prob = predict_full_size(model, frame.image)
    except DataError as e:  # name the file, not the array
        raise DataError(e.problem, frame.path) from e
    mask = (prob > thr).astype(np.uint8)
    row = {"id": frame.id, "frame": frame.frame, "path": str(frame.path), "method": method}
    result = None
    try:
        result = measure_thickness(prob, spacing_mm=frame.spacing_mm, threshold=thr, method=method)
        row.update(mt_px=round(result.mt_px, 4), mt_mm=None if result.mt_mm is None else round(result.mt_mm, 4),
                   flag=result.flag, error="")
    except MsknbError as e:
        row.update(mt_px=None, mt_mm=None, flag="error", error=f"{frame.path}: {e.problem}")
    row["seconds"] = round(time.perf_counter() - t0, 4)
    return MeasuredFrame(frame, {c: row.get(c) for c in COLUMNS}, mask, result)


def summary(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Counts and timing of a batch (for ``measurements.json``)."""
    measured = [r for r in rows if r["mt_px"] is not None]
    return {"n_rows": len(rows), "n_measured": len(measured), "n_failed": len(rows) - len(measured),
            "n_ok": sum(r["flag"] == "ok" for r in rows), "seconds_total": round(seconds, 3),
            "seconds_per_frame": round(seconds / len(rows), 4) if rows else None,
            "torch_threads": torch.get_num_threads()}
