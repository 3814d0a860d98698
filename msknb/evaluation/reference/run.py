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

from msknb.ddpm.checkpoints import GUIDANCE_KEYS
from msknb.evaluation.reference import store
from msknb.evaluation.reference.cell import RealData, cell_train_index, load_real, score_cell, train_cell
from msknb.evaluation.reference.plan import (RESOLUTION, TRAINING_RULE, Cell, all_cells, gen_cells, needs_synthetic,
                                             scarce_cells, starts_from, uses_generator)
from msknb.evaluation.reference.scarce import SCARCE_DIR, draw_scarce_set, finetune_generator
from msknb.evaluation.reference.synthetic import SYNTHETIC_DIR, draw_reference_set
from msknb.errors import MsknbError
from msknb.paths import REPO_ROOT
from msknb.segmentation.model import build_segmenter, load_segmenter


def current_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _record(cell: Cell, data: RealData, res, scores: dict[str, Any], threads: int,
            generator: dict[str, Any] | None) -> dict[str, Any]:
    idx = cell_train_index(data, cell)
    return {**cell.as_dict(), "resolution": RESOLUTION, "training_rule": TRAINING_RULE,
            "n_real_train": int(len(idx)), "train_ids": [data.ids[i] for i in idx],
            "best_epoch": res.best_epoch, "best_val_dice": res.best_val_dice, "epochs_run": len(res.history),
            "val_curve": [h["val_dice"] for h in res.history],
            "train_seconds": float(res.history[-1]["seconds"]) if res.history else 0.0,
            "train_cpu_seconds": float(res.history[-1]["cpu_seconds"]) if res.history and "cpu_seconds"
            in res.history[-1] else None,
            "threads": threads, "commit": current_commit(), "test": scores, "generator": generator,
            "starts_from": None if starts_from(cell) is None else starts_from(cell).name}


def _generator_summary(record: dict[str, Any]) -> dict[str, Any]:
    """What a cell file says about the synthetic set: the generator, what it saw, how it was drawn."""
    keep = ("checkpoint", "training_ids_sha256", "sampler", "guidance", "n", "drawn_at_px", "resized_to_px", "seed",
            "draw_cpu_seconds", "draw_chunks_timed", "finetune_cpu_seconds")
    ids = record.get("training_ids")
    paper = "the real masks of the kit train ids (the paper's setting: the generator saw every train pair)"
    out = {**{k: record.get(k) for k in keep}, **{k: record[k] for k in GUIDANCE_KEYS if k in record and k not in keep},
           "n_training_ids": None if ids is None else len(ids), "condition_masks": record.get("condition_masks", paper),
           "setting": record.get("setting", "paper")}
    if record.get("fine_tuned_from"):
        out.update(fine_tuned_from=record["fine_tuned_from"], fine_tuned_on=record.get("condition_mask_ids"))
    return out


def cell_model(folder: str | Path, state_dir: str | Path, name: str):
    """The finished model of cell ``name``: its stored weights, else its training state's best
    epoch (``state_dir``); None when neither exists."""
    w = Path(folder) / "weights" / f"{name}.pt"
    st = Path(state_dir) / f"{name}.state.pt"
    if w.is_file():
        model = load_segmenter(w).float()
    elif st.is_file():
        model = build_segmenter(TRAINING_RULE["channels"])
        model.load_state_dict(torch.load(st, map_location="cpu", weights_only=True)["best"]["weights"])
    else:
        return None
    model.eval()
    model.msknb_desc = name
    return model


def _synthetic_for(data_dir, data: RealData, folder: Path, progress: bool, cell: Cell | None = None,
                   max_seconds: float | None = None) -> dict[str, Any] | None:
    """The synthetic set ``cell`` trains on, drawn (or continued) at the generator's size: one
    image per real train mask (the paper's setting), or for a scarce-label cell as many from
    the generator fine-tuned on its 10 % subset (None when ``max_seconds`` ran out first)."""
    hi = load_real(data_dir, 256)
    if cell is None or cell.labels == "all":
        masks = hi.masks[[hi.ids.index(data.ids[i]) for i in data.train]]
        return draw_reference_set(masks, [data.ids[i] for i in data.train], RESOLUTION, folder=folder,
                                  progress=progress)
    ids = [data.ids[i] for i in cell_train_index(data, Cell("10%", 0.1, cell.draw, cell.seed))]
    generator = finetune_generator(data_dir, ids, cell.draw, folder=SCARCE_DIR, max_seconds=max_seconds,
                                   progress=progress)
    if generator is None:
        return None
    masks = hi.masks[[hi.ids.index(i) for i in ids]]
    return draw_scarce_set(masks, ids, len(data.train), RESOLUTION, generator, cell.draw, folder=SCARCE_DIR,
                           progress=progress)


def run_cells(data_dir: str | Path, cells: Sequence[Cell] | None = None, folder: str | Path = store.REFERENCE_DIR,
              state_dir: str | Path = "outputs/reference_state", max_seconds: float | None = None,
              threads: int | None = None, progress: bool = True, command: str = "",
              synthetic_dir: str | Path = SYNTHETIC_DIR) -> list[str]:
    """Train and score every cell of ``cells`` (default: all, :func:`~.plan.all_cells`) that
    ``folder`` does not hold yet; returns the names finished by this call. A cell that
    continues from another cell's model waits (is skipped) until that cell is stored."""
    if threads:
        torch.set_num_threads(int(threads))
    cells = list(all_cells() if cells is None else cells)
    todo = [c for c in cells if not store.is_done(folder, c.name)]
    print(f"reference experiment: {len(cells) - len(todo)} of {len(cells)} cells stored in {folder}; "
          f"{len(todo)} to run")
    if not todo:
        return []
    data = load_real(data_dir, RESOLUTION)
    t0, done, sets = time.perf_counter(), [], {}
    for cell in todo:
        left = None if max_seconds is None else max_seconds - (time.perf_counter() - t0)
        if left is not None and left <= 0:
            break
        before = starts_from(cell)
        init = None if before is None else cell_model(folder, state_dir, before.name)
        if before is not None and (init is None or not store.is_done(folder, before.name)):
            print(f"{cell.name}: waits for {before.name}, which is not finished yet")
            continue
        key = ("all", 0) if cell.labels == "all" else ("subset", cell.draw)
        if needs_synthetic(cell) and key not in sets:
            made = _synthetic_for(data_dir, data, Path(synthetic_dir), progress, cell, left)
            if made is None:
                print(f"{cell.name}: time budget spent fine-tuning its generator; re-run to continue")
                break
            sets[key] = made
        synthetic = sets.get(key)
        syn = (synthetic["images"], synthetic["masks"]) if needs_synthetic(cell) else None
        res = train_cell(data, cell, Path(state_dir) / f"{cell.name}.state.pt", synthetic=syn, init_from=init,
                         max_seconds=left, progress=progress)
        if not _finished(res):
            print(f"{cell.name}: time budget spent at epoch {len(res.history)}; re-run to continue")
            break
        gen_rec = _generator_summary(synthetic["record"]) if uses_generator(cell) and synthetic is not None else None
        if cell.gen_use == "pretrain":
            gen_rec = store.read_cells(folder)[before.name].get("generator")
        rec = _record(cell, data, res, score_cell(res.model, data), threads or torch.get_num_threads(), gen_rec)
        if cell.seed == 0 or any(starts_from(c) == cell for c in [*gen_cells((cell.seed,)),
                                                                  *scarce_cells((cell.seed,), (cell.draw,))]):
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
    cpu_s = sum(store.cell_cpu_seconds(c) for c in cells.values())
    command = command or "python -m msknb experiment run --data ../shared/data/dltrack_apo"
    try:
        before = store.read_reference(folder)["meta"]
    except MsknbError:
        before = {}
    commands = list(before.get("commands") or ([before["command"]] if before.get("command") else []))
    commands += [] if command in commands else [command]
    kept = {"superseded": before["superseded"]} if before.get("superseded") else {}
    store.write_meta(folder, {**kept, "resolution": RESOLUTION, "training_rule": TRAINING_RULE,
                              "split": "msknb/checkpoints/dltrack_split.json (kit split; test ids scored only)",
                              "command": command, "commands": commands,
                              "cpu_hours": cpu_s / 3600.0, "n_cells": len(cells), "commit": current_commit(),
                              "machine": f"{os.cpu_count()} cores"})
