"""The output folder's layout in code: one writer and one reader for each file a
notebook hands to a later one.

``out_dir`` (one run of the series, ``msknb.paths.default_output_dir(profile)``)::

    ddpm/checkpoint.pt                     03 -> 04   DDPM training checkpoint (EMA inside)
    ddpm/<group>/checkpoint.pt             03 -> 04   one per muscle/group (paper: per muscle)
    synthetic/images|masks/*.png,          04 -> 05, 07  synthetic set, DL_Track layout
      synthetic/dicom/*.dcm, manifest.csv
    synthetic/generator.json               04 -> 05, 07  which generator drew the set, and the
                                                         real ids it was trained on
    segmentation/split.json                05 -> 06, 07  the grouped split (ids per side)
    segmentation/<experiment>/model.pt     05 -> 06, 07  one Attention-UNet per experiment
    segmentation/<experiment>/pred_masks/<id>.png  05 -> 06  predicted test masks
    index.json                             runner -> report  what ran: status, seconds, peak MiB

Paths are functions of ``out_dir`` so no notebook or module spells a file name twice.
Readers return ``None`` where a file a later notebook can do without is absent (the
notebook then falls back and says so) and raise :class:`~msknb.errors.MsknbError` naming
the file when it is present but unreadable.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb.data.loading import load_folder, load_mask
from msknb.data.split_file import read_split_file
from msknb.errors import MsknbError, RunIndexError, SplitError
from msknb.io import ensure_dir, ids_sha256, read_json_object, write_json_atomic, write_png

INDEX_FILE = "index.json"
DDPM_CHECKPOINT = "checkpoint.pt"
SPLIT_FILE = "split.json"
SEGMENTER_FILE = "model.pt"
PREDICTIONS_DIR = "pred_masks"
GENERATOR_FILE = "generator.json"
GENERATOR_MODES = ("joint", "mask", "image")


# ------------------------------------------------------------------ paths ----------
def ddpm_dir(out_dir: str | Path, group: str | None = None) -> Path:
    """``out_dir/ddpm`` (or ``out_dir/ddpm/<group>`` for a per-muscle model)."""
    base = Path(out_dir) / "ddpm"
    return base / group if group else base


def ddpm_checkpoint(out_dir: str | Path, group: str | None = None) -> Path:
    """Path of notebook 03's training checkpoint."""
    return ddpm_dir(out_dir, group) / DDPM_CHECKPOINT


def find_ddpm_checkpoint(out_dir: str | Path) -> Path | None:
    """Notebook 03's checkpoint in ``out_dir``: the single-model one, else the first
    per-group one, else ``None``."""
    own = ddpm_checkpoint(out_dir)
    if own.is_file():
        return own
    per_group = sorted(ddpm_dir(out_dir).glob(f"*/{DDPM_CHECKPOINT}"))
    return per_group[0] if per_group else None


def synthetic_dir(out_dir: str | Path) -> Path:
    """``out_dir/synthetic``: notebook 04's synthetic set (DL_Track layout)."""
    return Path(out_dir) / "synthetic"


def segmentation_dir(out_dir: str | Path) -> Path:
    """``out_dir/segmentation``: notebook 05's split, models and predictions."""
    return Path(out_dir) / "segmentation"


def split_path(out_dir: str | Path) -> Path:
    return segmentation_dir(out_dir) / SPLIT_FILE


def experiment_dir_name(name: str) -> str:
    """Folder name of an experiment: ``"50%+Gen"`` -> ``"50pct+Gen"``."""
    return str(name).strip().replace("%", "pct").replace("/", "_").replace(" ", "")


def experiment_dir(out_dir: str | Path, experiment: str) -> Path:
    return segmentation_dir(out_dir) / experiment_dir_name(experiment)


def segmenter_path(out_dir: str | Path, experiment: str) -> Path:
    """``out_dir/segmentation/<experiment>/model.pt``."""
    return experiment_dir(out_dir, experiment) / SEGMENTER_FILE


def predictions_dir(out_dir: str | Path, experiment: str) -> Path:
    return experiment_dir(out_dir, experiment) / PREDICTIONS_DIR


# ------------------------------------------------------------------ run index ----------
def index_path(out_dir: str | Path) -> Path:
    """``out_dir/index.json``: what ``msknb run`` ran into ``out_dir``."""
    return Path(out_dir) / INDEX_FILE


def write_index(out_dir: str | Path, index: dict[str, Any]) -> Path:
    """Write the runner's ``index.json``: ``profile``, ``data_dir``, ``seed``, ``notebooks``
    (each ``name``, ``status``, ``seconds``, ``peak_rss_mib``), ``wall_seconds``, ..."""
    return write_json_atomic(index_path(out_dir), index)


def read_index(out_dir: str | Path) -> dict[str, Any] | None:
    """The runner's ``index.json`` of ``out_dir``, or ``None`` when no series ran into it;
    unreadable or not a JSON object -> :class:`~msknb.errors.RunIndexError` naming the file."""
    path = index_path(out_dir)
    if not path.is_file():
        return None
    return read_json_object(path, RunIndexError, "the run index")


# ------------------------------------------------------------------ split ----------
def write_split(out_dir: str | Path, split: dict[str, Any]) -> Path:
    """Write ``segmentation/split.json``: at least ``{"train", "val", "test"}`` id lists
    (str), plus whatever else describes the split (seed, fractions, subsets, clusters)."""
    missing = [k for k in ("train", "test") if not isinstance(split.get(k), list)]
    if missing:
        raise SplitError(f"a split needs id lists under {missing}", split_path(out_dir))
    ensure_dir(segmentation_dir(out_dir))
    return write_json_atomic(split_path(out_dir), split)


def read_split(out_dir: str | Path) -> dict[str, Any] | None:
    """Notebook 05's split of ``out_dir`` (see :func:`msknb.data.split_file.read_split_file`:
    ``train`` / ``val`` / ``test`` id lists and how the split was made), or ``None`` when 05
    has not run; unreadable -> :class:`~msknb.errors.SplitError` naming the file."""
    p = split_path(out_dir)
    return read_split_file(p) if p.is_file() else None


# ------------------------------------------------------------------ synthetic set ----------
def read_synthetic(out_dir: str | Path, image_size: int | None = None):
    """Notebook 04's synthetic set as an ``UltrasoundSet`` (not FOV-cropped: samples already
    are field-of-view images; masks required when a ``masks/`` folder is there), or ``None``
    when there is none."""
    root = synthetic_dir(out_dir)
    if not (root / "images").is_dir() or not any((root / "images").iterdir()):
        return None
    return load_folder(root, image_size=image_size, crop_fov=False, allow_missing_masks=False)


def generator_record_path(out_dir: str | Path) -> Path:
    """``out_dir/synthetic/generator.json``."""
    return synthetic_dir(out_dir) / GENERATOR_FILE


def _checked_generator_record(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """``record`` with ``training_ids`` as sorted str (or None) and its sha256 filled in;
    MsknbError naming ``path`` when a key is missing or wrong."""
    if not isinstance(record, dict):
        raise MsknbError("a generator record must be a JSON object", path)
    missing = [k for k in ("checkpoint", "training_ids", "mode", "sampler", "n") if k not in record]
    if missing:
        raise MsknbError(f"generator record lacks {missing}", path)
    if record["mode"] not in GENERATOR_MODES:
        raise MsknbError(f"generator record mode must be one of {GENERATOR_MODES}, got {record['mode']!r}", path)
    ids = record["training_ids"]
    if ids is not None and not isinstance(ids, (list, tuple)):
        raise MsknbError("generator record training_ids must be a list of ids or null", path)
    out = dict(record)
    out["training_ids"] = None if ids is None else sorted(str(i) for i in ids)
    sha = None if ids is None else ids_sha256(out["training_ids"])
    if record.get("training_ids_sha256") not in (None, sha):
        raise MsknbError("generator record training_ids_sha256 does not match training_ids", path)
    out["training_ids_sha256"] = sha
    out["checkpoint"], out["n"] = str(record["checkpoint"]), int(record["n"])
    return out


def save_generator_record(path: str | Path, record: dict[str, Any]) -> Path:
    """Write a generator record (see :func:`write_generator_record`) to ``path`` (any
    synthetic folder's ``generator.json``, e.g. ``msknb sample --out``'s), checked, atomically."""
    p = Path(path)
    checked = _checked_generator_record(record, p)
    ensure_dir(p.parent)
    return write_json_atomic(p, checked)


def write_generator_record(out_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``synthetic/generator.json``, what drew notebook 04's synthetic set:
    ``checkpoint`` (file name), ``training_ids`` (sorted real ids the generator was trained
    on, or None = unknown), ``training_ids_sha256`` (filled in when absent),
    ``mode`` ("joint": image + mask drawn together | "mask": images drawn for given masks |
    "image": images without masks), ``sampler`` (e.g. "ddim-25"), ``n`` (images in the
    set); other keys are kept (04 adds ``condition_mask_ids``: the training-mask ids a
    mask-conditioned set was drawn for, "augmented" for augmented copies)."""
    return save_generator_record(generator_record_path(out_dir), record)


def read_generator_record(out_dir: str | Path) -> dict[str, Any] | None:
    """``synthetic/generator.json`` as written by :func:`write_generator_record`, or
    ``None`` when 04 wrote none; garbled or incomplete -> MsknbError naming the file."""
    path = generator_record_path(out_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise MsknbError(f"cannot read generator record ({e})", path) from e
    return _checked_generator_record(data, path)


# ------------------------------------------------------------------ predictions ----------
def write_prediction(out_dir: str | Path, experiment: str, image_id: str, mask: np.ndarray) -> Path:
    """Write one predicted mask (H, W) {0, 1} as ``pred_masks/<id>.png`` (0/255)."""
    return write_png(predictions_dir(out_dir, experiment) / f"{image_id}.png", mask, mask=True)


def read_predictions(out_dir: str | Path, experiment: str, ids: Sequence[str]) -> np.ndarray:
    """Predicted masks uint8 (N, H, W) {0, 1} of ``experiment``, in the order of ``ids``."""
    folder = predictions_dir(out_dir, experiment)
    return np.stack([load_mask(folder / f"{i}.png") for i in ids])


def list_predictions(out_dir: str | Path, order: Sequence[str] = ()) -> dict[str, dict[str, Path]]:
    """``{experiment folder: {id: png path}}`` of every experiment with predicted masks,
    experiments named in ``order`` first (in that order), the rest by name."""
    seg = segmentation_dir(out_dir)
    if not seg.is_dir():
        return {}
    rank = {experiment_dir_name(n): k for k, n in enumerate(order)}
    found = {}
    for d in sorted((p for p in seg.iterdir() if (p / PREDICTIONS_DIR).is_dir()),
                    key=lambda p: (rank.get(p.name, len(rank)), p.name)):
        preds = {p.stem: p for p in sorted((d / PREDICTIONS_DIR).glob("*.png"))}
        if preds:
            found[d.name] = preds
    return found
