"""Measurement-grade MT (issue 14): the shipped segmenter on the kit split's TEST ids.

On images whose near copies are all outside training (``msknb/checkpoints/dltrack_split.json``,
grouped by near-duplicate cluster), it measures

- Dice of the segmenter at its training size (128 px, image cropped to the field of view
  and resized, expert mask likewise) and at the image's own size (probabilities upsampled,
  as ``msknb measure`` does);
- MT from its full-size probabilities vs MT of the expert mask, the same method on both
  (``chords`` and ``dltrack``): relative RMSE, median |relative error|, share within 5 %,
  readings outside 10 % and how many of them carry no doubtful flag, agreement
  (:func:`msknb.thickness.agreement.agreement`, px) for all readings and for flag-ok ones;
- ``msknb measure`` on 100 images of the data folder: seconds per image with
  ``--threads`` torch threads, the machine load (``os.getloadavg()``) before and after.

The same numbers without the test pairs that label QA (:mod:`msknb.data.label_qa`) flags
go to ``without_flagged_labels`` (issue 18: report with and without them).

Targets (issue 14): Dice >= 0.85; relative RMSE <= 3 %; >= 95 % within 5 %; every reading
outside 10 % flagged doubtful. Writes ``benchmarks/results/measure.json``::

    .venv/bin/python benchmarks/bench_measure.py --data ../shared/data/dltrack_apo
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msknb.cli import main as msknb_main
from msknb.data import crop_fov, load_image, load_mask, resize_image, resize_mask
from msknb.data.label_qa import check_pair
from msknb.errors import DataError, MsknbError
from msknb.io import write_json_atomic
from msknb.segmentation.metrics import segmentation_metrics
from msknb.segmentation.model import load_segmenter
from msknb.segmentation.predict import model_threshold, predict, predict_full_size
from msknb.data.kit_split import KIT_SPLIT_FILE
from msknb.data.split_file import split_ids
from msknb.paths import REPO_ROOT, shared_data_dir
from msknb.runner.machine import machine_info
from msknb.segmentation.shipped import DEFAULT_SEGMENTER
from msknb.thickness.agreement import agreement
from msknb.thickness.methods import measure_thickness

TARGETS = {"dice": 0.85, "relative_rmse_pct": 3.0, "within_5pct_pct": 95.0, "outside_10pct_unflagged": 0}


def find_file(folder: Path, stem: str) -> Path:
    """The file ``folder/<stem>.*``; DataError naming it when absent."""
    hits = sorted(folder.glob(stem + ".*"))
    if not hits:
        raise DataError(f"no file for id {stem!r}", folder)
    return hits[0]


def dice_at_size(model, image: np.ndarray, expert: np.ndarray, size: int) -> float:
    """Dice at the model's training size: both cropped to the field of view and resized."""
    y0, y1, x0, x1 = crop_fov(image)
    _, pred = predict(model, resize_image(image[y0:y1, x0:x1], size)[None])
    return segmentation_metrics(pred, resize_mask(expert[y0:y1, x0:x1], size)[None])[0]["dice"]


def _reading(prob_or_mask: np.ndarray, method: str, threshold: float):
    try:
        return measure_thickness(prob_or_mask, threshold=threshold, method=method)
    except MsknbError:
        return None


def evaluate_ids(model, data: Path, ids: list[str], methods: list[str]) -> dict[str, Any]:
    """Per-image Dice (training size, full size) and MT readings (expert, predicted) per method."""
    thr = model_threshold(model)
    size = int(model.msknb_config.get("image_size", 128))
    rows: list[dict[str, Any]] = []
    for i in ids:
        img = load_image(find_file(data / "images", i))
        ex = (load_mask(find_file(data / "masks", i)) > 0).astype(np.uint8)
        prob = predict_full_size(model, img)
        row = {"id": i, "label_qa": check_pair(img, ex, i).flags,
               "dice_train_size": dice_at_size(model, img, ex, size),
               "dice_full_size": segmentation_metrics((prob > thr).astype(np.uint8)[None], ex[None])[0]["dice"]}
        for m in methods:
            e, p = _reading(ex.astype(np.float32), m, 0.5), _reading(prob, m, thr)
            row[m] = {"expert_px": None if e is None else e.mt_px, "pred_px": None if p is None else p.mt_px,
                      "flag": "error" if p is None else p.flag}
        rows.append(row)
    return {"rows": rows, "threshold": thr, "image_size": size}


def mt_stats(rows: list[dict[str, Any]], method: str) -> dict[str, Any]:
    """Relative errors, flags and agreement (px) of one method's readings."""
    r = [x[method] for x in rows]
    no_expert = [x["id"] for x, v in zip(rows, r) if v["expert_px"] is None]
    both = [(x["id"], v) for x, v in zip(rows, r) if v["expert_px"] is not None]
    failed = [i for i, v in both if v["pred_px"] is None]
    meas = [(i, v) for i, v in both if v["pred_px"] is not None]
    e = np.array([v["expert_px"] for _, v in meas], dtype=np.float64)
    p = np.array([v["pred_px"] for _, v in meas], dtype=np.float64)
    ok = np.array([v["flag"] == "ok" for _, v in meas], dtype=bool)
    rel = (p - e) / e if len(e) else np.zeros(0)
    big = np.abs(rel) > 0.10

    def block(sel: np.ndarray) -> dict[str, Any]:
        if not sel.any():
            return {"n": 0}
        a = rel[sel]
        return {"n": int(sel.sum()), "relative_rmse_pct": float(100 * np.sqrt(np.mean(a ** 2))),
                "median_abs_relative_pct": float(100 * np.median(np.abs(a))),
                "within_5pct_pct": float(100 * np.mean(np.abs(a) <= 0.05)),
                "outside_10pct": int(np.sum(np.abs(a) > 0.10)),
                "agreement_px": agreement(e[sel], p[sel])}

    return {"n_images": len(rows), "n_expert_unmeasurable": len(no_expert), "expert_unmeasurable_ids": no_expert,
            "n_failed": len(failed), "failed_ids": failed, "n_measured": len(meas), "n_ok": int(ok.sum()),
            "all": block(np.ones(len(meas), dtype=bool)), "flag_ok": block(ok),
            "outside_10pct_unflagged": int(np.sum(big & ok)),
            "outside_10pct_unflagged_ids": [meas[k][0] for k in np.nonzero(big & ok)[0]],
            "failed_count_as_flagged": "a failed reading (no MT) is an error row, never a silent number"}


def time_measure(model_path: Path, data: Path, n: int, threads: int) -> dict[str, Any]:
    """Run ``msknb measure`` on the first ``n`` images of ``data/images``; seconds per image."""
    files = sorted(p for p in (data / "images").iterdir() if p.is_file() and not p.name.startswith("."))[:n]
    load_before = os.getloadavg()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            rc = msknb_main(["measure", *map(str, files), "--out", tmp, "--model", str(model_path)])
        seconds = time.perf_counter() - t0
        info = json.loads((Path(tmp) / "measurements.json").read_text())
    return {"n_images": len(files), "exit_status": rc, "seconds_total": round(seconds, 2),
            "seconds_per_image": round(seconds / max(len(files), 1), 3), "torch_threads": threads,
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "n_measured": info["summary"]["n_measured"], "n_ok": info["summary"]["n_ok"],
            "note": "wall time of the whole command (model load, reading, segmentation, MT, masks, overlays, "
                    "tables); the machine is shared, so read it beside the load average",
            "dltrack_us_paper_seconds_per_image_cpu": 4.6}


def spread(values: list[float]) -> dict[str, float]:
    """Mean, population std, median, min and the number of values."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v)), "min": float(v.min()),
            "n": int(v.size)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(shared_data_dir()))
    ap.add_argument("--model", default=str(DEFAULT_SEGMENTER))
    ap.add_argument("--split", default=str(KIT_SPLIT_FILE), help="JSON with a 'test' id list")
    ap.add_argument("--part", choices=["val", "test"], default="test",
                    help="which ids of the split: val while choosing models and settings, test once at the end")
    ap.add_argument("--methods", nargs="+", default=["chords", "dltrack"])
    ap.add_argument("--n-timing", type=int, default=100, help="images for the `measure` timing (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "measure.json"))
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    data, model_path = Path(a.data), Path(a.model)
    model = load_segmenter(model_path)
    ids = split_ids(a.split, a.part)
    t0 = time.perf_counter()
    ev = evaluate_ids(model, data, ids, a.methods)
    rows = ev["rows"]
    dice = {"train_size_px": ev["image_size"], "at_train_size": spread([r["dice_train_size"] for r in rows]),
            "at_full_size": spread([r["dice_full_size"] for r in rows])}
    out = {"benchmark": "measure (issue 14)", "data": str(data), "split": str(a.split), "model": str(model_path),
           "ids": f"the split's {a.part} ids: grouped by near-duplicate cluster, none has a near copy in training",
           "part": a.part, "n_test": len(ids), "threshold": ev["threshold"], "dice": dice,
           "mt": {m: mt_stats(rows, m) for m in a.methods}, "seconds_eval": round(time.perf_counter() - t0, 1),
           "targets": TARGETS, "machine": machine_info(), "per_image": rows}
    clean = [r for r in rows if not r["label_qa"]]
    out["without_flagged_labels"] = {
        "what": "the same test ids without the pairs msknb.data.label_qa flags (expert mask off the bands, "
                "single band, ...): there the metric scores the expert's error, not the segmenter's",
        "flagged": {r["id"]: r["label_qa"] for r in rows if r["label_qa"]}, "n": len(clean),
        "dice": {"at_train_size": spread([r["dice_train_size"] for r in clean]),
                 "at_full_size": spread([r["dice_full_size"] for r in clean])},
        "mt": {m: mt_stats(clean, m) for m in a.methods}}
    if a.n_timing > 0:
        out["measure_timing"] = time_measure(model_path, data, a.n_timing, a.threads)
    write_json_atomic(a.out, out)
    print(f"Dice {dice['at_train_size']['mean']:.3f} at {ev['image_size']} px, "
          f"{dice['at_full_size']['mean']:.3f} at full size (n={len(ids)})")
    w = out["without_flagged_labels"]
    print(f"without the {len(w['flagged'])} label-QA-flagged test pairs (n={w['n']}): Dice "
          f"{w['dice']['at_train_size']['mean']:.3f} at {ev['image_size']} px; chords rel RMSE "
          f"{w['mt'][a.methods[0]]['all'].get('relative_rmse_pct', float('nan')):.1f} %")
    for m, s in out["mt"].items():
        al, ok = s["all"], s["flag_ok"]
        print(f"{m}: measured {s['n_measured']}, failed {s['n_failed']}; all: rel RMSE "
              f"{al.get('relative_rmse_pct', float('nan')):.1f} %, median {al.get('median_abs_relative_pct', float('nan')):.1f} %, "
              f"within 5 % {al.get('within_5pct_pct', float('nan')):.0f} %; ok ({ok['n']}): rel RMSE "
              f"{ok.get('relative_rmse_pct', float('nan')):.1f} %; outside 10 % unflagged: {s['outside_10pct_unflagged']}")
    if "measure_timing" in out:
        t = out["measure_timing"]
        print(f"measure: {t['seconds_per_image']} s/image over {t['n_images']} ({t['torch_threads']} threads, "
              f"load {t['loadavg_before']})")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
