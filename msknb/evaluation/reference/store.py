"""The reference experiment's folder: its one writer and one reader.

Layout (``REFERENCE_DIR``, committed)::

    experiment.json        what was run: resolution, training rule, seeds, generator, commands, CPU seconds
    cells/<cell>.json      one finished cell: settings, val curve, per-test-image Dice and MT
    weights/<cell>.pt      seed-0 models, weights only (fp16), loadable by ``segment predict --model``

A cell file is written once, when the cell is finished (atomically); its presence is what
"finished" means, so a re-run skips it.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from msknb.errors import CheckpointError
from msknb.io import write_bytes_atomic, write_json_atomic
from msknb.paths import CHECKPOINTS_DIR
from msknb.segmentation.model import save_segmenter

REFERENCE_DIR = CHECKPOINTS_DIR / "reference"


def cell_path(folder: str | Path, name: str) -> Path:
    return Path(folder) / "cells" / f"{name}.json"


def is_done(folder: str | Path, name: str) -> bool:
    return cell_path(folder, name).is_file()


def write_cell(folder: str | Path, name: str, record: dict[str, Any]) -> Path:
    return write_json_atomic(cell_path(folder, name), record)


def write_weights(folder: str | Path, name: str, model, config: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Weights only, in half precision (a 128 px Attention-UNet: about 1 MB)."""
    return save_segmenter(copy.deepcopy(model).half(), config, Path(folder) / "weights" / f"{name}.pt", meta={**meta, "dtype": "float16"})


def write_meta(folder: str | Path, meta: dict[str, Any]) -> Path:
    return write_json_atomic(Path(folder) / "experiment.json", meta)


def read_cells(folder: str | Path) -> dict[str, dict[str, Any]]:
    """Every stored cell record by name (an unreadable file raises CheckpointError naming it)."""
    out = {}
    for f in sorted((Path(folder) / "cells").glob("*.json")):
        try:
            out[f.stem] = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            raise CheckpointError(f"cannot read reference result ({e})", f) from e
    return out


def cell_cpu_seconds(cell: dict[str, Any]) -> float:
    """A stored cell's training CPU seconds: measured (all threads) where the cell records
    them, else its wall seconds times its threads (an upper bound on shared cores)."""
    measured = cell.get("train_cpu_seconds")
    return float(measured) if measured is not None else float(cell.get("train_seconds", 0.0)) * int(cell.get("threads", 1))


def replace_cells(folder: str | Path, source: str | Path, names: list[str], commit: str) -> dict[str, Any]:
    """Replace cells ``names`` of ``folder`` by those stored in ``source`` (cell files and
    weights; a replaced cell's old weights go when ``source`` has none), e.g. the synthetic-data
    cells trained again on a set drawn by a newer generator. ``experiment.json`` counts the
    CPU-hours of the cells now stored and keeps the replaced ones under ``superseded`` (their
    files stay in git history at ``commit``). Raises CheckpointError naming the first cell file
    ``source`` lacks, before anything is written; running it again changes nothing more."""
    src, dst = Path(source), Path(folder)
    missing = [cell_path(src, n) for n in names if not is_done(src, n)]
    if missing:
        raise CheckpointError(f"{len(missing)} of the {len(names)} cells to replace are not stored here yet", missing[0])
    old, new, meta = read_cells(dst), read_cells(src), read_reference(dst)["meta"]
    replaced = [n for n in names if n in old and old[n] != new[n]]
    superseded = list(meta.get("superseded", []))
    if replaced:
        superseded.append({"cells": replaced, "cpu_hours": sum(cell_cpu_seconds(old[n]) for n in replaced) / 3600.0,
                           "generators": sorted({str((old[n].get("generator") or {}).get("checkpoint"))
                                                 for n in replaced}), "in_git_history_at": commit})
    for n in names:
        write_cell(dst, n, new[n])
        w_src, w_dst = src / "weights" / f"{n}.pt", dst / "weights" / f"{n}.pt"
        if w_src.is_file():
            write_bytes_atomic(w_dst, w_src.read_bytes())
        elif n in replaced:
            w_dst.unlink(missing_ok=True)
    cells = read_cells(dst)
    src_meta, commands = read_reference(src)["meta"], list(meta.get("commands", []))
    commands += [c for c in src_meta.get("commands", []) if c not in commands]
    meta.update(commands=commands, superseded=superseded, n_cells=len(cells),
                commit=src_meta.get("commit", meta.get("commit")),
                cpu_hours=sum(cell_cpu_seconds(c) for c in cells.values()) / 3600.0)
    write_meta(dst, meta)
    return meta


def read_reference(folder: str | Path | None = None) -> dict[str, Any]:
    """``{"meta": experiment.json, "cells": {name: record}}``. Raises CheckpointError naming
    the folder (and what to run) when nothing is stored, or naming a file that does not read."""
    root = Path(folder) if folder is not None else REFERENCE_DIR
    files = sorted((root / "cells").glob("*.json"))
    if not (root / "experiment.json").is_file() or not files:
        raise CheckpointError("no reference results stored here; run "
                              "`python -m msknb experiment run --data ../shared/data/dltrack_apo`", root)
    try:
        meta = json.loads((root / "experiment.json").read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read reference result ({e})", root / "experiment.json") from e
    return {"meta": meta, "cells": read_cells(root)}
