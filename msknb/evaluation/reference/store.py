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
from msknb.io import write_json_atomic
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
