"""Which real images a generator saw: the ids it was trained on, carried in its checkpoint.

A DDPM checkpoint (training state ``msknb-ddpm`` or export ``msknb-ddpm-ema``) records

* ``training_ids``: the sorted ids (str) of every real image its weights have seen, its own
  run's and, for a run started from other weights (fine-tune, ``--init-from``), the
  parent's too (the union); ``None`` when unknown (a parent without a record);
* ``training_ids_sha256``: :func:`ids_sha256` of that list (``None`` when unknown).

Notebooks 05 and 07 compare it with the segmentation test ids (:func:`test_overlap`): a
generator that saw a test image leaks it into the Gen / Real+Gen experiments.
:func:`stamp_training_ids` adds the record to a file written before records existed,
leaving the weights untouched (checked); from the shell::

    python -m msknb.ddpm.provenance FILE.pt --split msknb/checkpoints/dltrack_split.json --part train
    python -m msknb.ddpm.provenance FILE.pt --data /work/shared/data/dltrack_apo   # all its images
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

from msknb.data.loading import load_folder
from msknb.data.split_file import split_ids
from msknb.errors import CheckpointError
from msknb.io import atomic_path, ids_sha256

IDS_KEY = "training_ids"
SHA_KEY = "training_ids_sha256"


def record(ids: Iterable[str] | None) -> dict[str, Any]:
    """``{"training_ids": sorted list or None, "training_ids_sha256": hex or None}``."""
    if ids is None:
        return {IDS_KEY: None, SHA_KEY: None}
    ids = sorted({str(i) for i in ids})
    return {IDS_KEY: ids, SHA_KEY: ids_sha256(ids)}


def union_ids(own: Iterable[str] | None, parent: Iterable[str] | None, has_parent: bool) -> list[str] | None:
    """Ids seen by weights trained on ``own`` starting from a parent that saw ``parent``:
    the sorted union; ``own`` alone without a parent; ``None`` when either side is unknown."""
    if own is None or (has_parent and parent is None):
        return None
    return sorted({str(i) for i in own} | ({str(i) for i in parent} if has_parent else set()))


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError("checkpoint file not found", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds
        raise CheckpointError(f"cannot read checkpoint ({type(e).__name__})", path) from e
    if not isinstance(state, dict):
        raise CheckpointError("not an msknb checkpoint (no dict inside)", path)
    return state


def training_ids(checkpoint: str | Path | Mapping[str, Any]) -> list[str] | None:
    """The ids a checkpoint (path or loaded dict) records as trained on, sorted; ``None``
    when it records none (unknown). A list whose hash disagrees with the stored
    ``training_ids_sha256`` -> :class:`CheckpointError`."""
    path = None if isinstance(checkpoint, Mapping) else Path(checkpoint)
    state = checkpoint if path is None else _read(path)
    ids = state.get(IDS_KEY)
    if ids is None:
        return None
    ids = sorted(str(i) for i in ids)
    if state.get(SHA_KEY) and state[SHA_KEY] != ids_sha256(ids):
        raise CheckpointError("training_ids do not match training_ids_sha256", path or "checkpoint")
    return ids


def test_overlap(trained_on: Iterable[str] | None, test_ids: Iterable[str]) -> list[str] | None:
    """Sorted test ids the generator saw (must be ``[]``); ``None`` when ``trained_on`` is
    unknown."""
    if trained_on is None:
        return None
    return sorted({str(i) for i in trained_on} & {str(i) for i in test_ids})


test_overlap.__test__ = False  # a library function, not a pytest test


def _same(a: Any, b: Any) -> bool:
    """Equal values, tensors compared with ``torch.equal`` (dtype included), dicts/lists deeply."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and torch.equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def stamp_training_ids(path: str | Path, ids: Iterable[str] | None, out_path: str | Path | None = None) -> Path:
    """Add (or replace) the ``training_ids`` record of the checkpoint at ``path`` and write
    it to ``out_path`` (default: in place, atomically). The file written is read back and
    every other entry (weights, config, losses, extras) must equal the original
    (``torch.equal``), else :class:`CheckpointError`. Returns the path written."""
    src = Path(path)
    before = _read(src)
    state = {**before, **record(ids)}
    dst = Path(out_path) if out_path is not None else src
    with atomic_path(dst) as tmp:
        torch.save(state, tmp)
    after = _read(dst)
    rest = [k for k in set(before) | set(after) if k not in (IDS_KEY, SHA_KEY)]
    if not all(_same(before.get(k), after.get(k)) for k in rest):
        raise CheckpointError("stamping changed more than the training_ids record", dst)
    return dst


def ids_of_folder(data_dir: str | Path) -> list[str]:
    """The ids of every image of a data folder, as ``msknb.data.load_folder`` names them."""
    return [str(i) for i in load_folder(data_dir, image_size=64).ids]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m msknb.ddpm.provenance CHECKPOINT (--split FILE [--part train] | --data DIR)``:
    stamp the ids a generator was trained on into its file (weights unchanged, checked)."""
    ap = argparse.ArgumentParser(prog="python -m msknb.ddpm.provenance", description=main.__doc__)
    ap.add_argument("checkpoint")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--split", help="split JSON; its --part ids were the training images")
    src.add_argument("--data", help="data folder; every image in it was a training image")
    ap.add_argument("--part", default="train")
    args = ap.parse_args(argv)
    ids = split_ids(args.split, args.part) if args.split else ids_of_folder(args.data)
    stamp_training_ids(args.checkpoint, ids)
    print(f"{args.checkpoint}: training_ids = {len(ids)} ids, sha256 {ids_sha256(ids)[:12]} (weights unchanged)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
