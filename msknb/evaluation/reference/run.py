"""Run the reference experiment's missing cells, each written as it finishes.

Re-running the same command skips finished cells and continues the cell in progress from
its state file (a kill loses at most one epoch). ``max_seconds`` bounds one call: no new
cell starts after it is spent, and the cell in progress stops at the end of an epoch (its
state is kept, so the next call continues it).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from msknb.evaluation.reference import store
from msknb.evaluation.reference.cell import RealData, cell_train_index, load_real, score_cell, train_cell
from msknb.evaluation.reference.plan import RESOLUTION, TRAINING_RULE, Cell, real_cells
from msknb.paths import REPO_ROOT


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _record(cell: Cell, data: RealData, res, scores: dict[str, Any], threads: int) -> dict[str, Any]:
    idx = cell_train_index(data, cell)
    return {**cell.as_dict(), "resolution": RESOLUTION, "training_rule": TRAINING_RULE,
            "n_real_train": int(len(idx)), "train_ids": [data.ids[i] for i in idx],
            "best_epoch": res.best_epoch, "best_val_dice": res.best_val_dice, "epochs_run": len(res.history),
            "val_curve": [h["val_dice"] for h in res.history],
            "train_seconds": float(res.history[-1]["seconds"]) if res.history else 0.0,
            "threads": threads, "commit": _commit(), "test": scores, "generator": None}


def run_cells(data_dir: str | Path, cells: Sequence[Cell] | None = None, folder: str | Path = store.REFERENCE_DIR,
              state_dir: str | Path = "outputs/reference_state", max_seconds: float | None = None,
              threads: int | None = None, progress: bool = True, command: str = "") -> list[str]:
    """Train and score every cell of ``cells`` (default: the real-data cells) that ``folder``
    does not hold yet; returns the names finished by this call."""
    if threads:
        torch.set_num_threads(int(threads))
    cells = list(cells or real_cells())
    todo = [c for c in cells if not store.is_done(folder, c.name)]
    print(f"reference experiment: {len(cells) - len(todo)} of {len(cells)} cells stored in {folder}; "
          f"{len(todo)} to run")
    if not todo:
        return []
    data = load_real(data_dir, RESOLUTION)
    t0, done = time.perf_counter(), []
    for cell in todo:
        left = None if max_seconds is None else max_seconds - (time.perf_counter() - t0)
        if left is not None and left <= 0:
            break
        res = train_cell(data, cell, Path(state_dir) / f"{cell.name}.state.pt", max_seconds=left, progress=progress)
        if not _finished(res):
            print(f"{cell.name}: time budget spent at epoch {len(res.history)}; re-run to continue")
            break
        rec = _record(cell, data, res, score_cell(res.model, data), threads or torch.get_num_threads())
        if cell.seed == 0:
            store.write_weights(folder, cell.name, res.model, res.config, {"cell": cell.name})
        store.write_cell(folder, cell.name, rec)
        _update_meta(folder, command, threads)  # after every cell: a killed run keeps a readable folder
        done.append(cell.name)
        print(f"{cell.name}: best val Dice {res.best_val_dice:.3f} at epoch {res.best_epoch}, "
              f"{rec['train_seconds']:.0f} s")
    return done


def _finished(res) -> bool:
    """Stopped by patience or by reaching the last epoch (not by the time budget)."""
    n = len(res.history)
    return n >= int(TRAINING_RULE["epochs"]) or n - res.best_epoch >= int(TRAINING_RULE["patience"])


def _update_meta(folder, command: str, threads: int | None) -> None:
    cells = store.read_cells(folder)
    cpu_s = sum(float(c.get("train_seconds", 0.0)) * int(c.get("threads", 1)) for c in cells.values())
    store.write_meta(folder, {"resolution": RESOLUTION, "training_rule": TRAINING_RULE,
                              "split": "msknb/checkpoints/dltrack_split.json (kit split; test ids scored only)",
                              "command": command or "python -m msknb experiment run --data ../shared/data/dltrack_apo",
                              "cpu_hours": cpu_s / 3600.0, "n_cells": len(cells), "commit": _commit(),
                              "machine": f"{os.cpu_count()} cores"})
