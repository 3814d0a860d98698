"""A split file: JSON with ``"train"``, ``"val"`` and ``"test"`` id lists (the kit split
``msknb/checkpoints/dltrack_split.json``, notebook 05's ``segmentation/split.json``, or a
user's ``--split FILE``). :func:`read_split_file` is the one parser; its errors are
:class:`~msknb.errors.SplitError` naming the file and the problem.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from msknb.errors import SplitError
from msknb.io import read_json_object

#: keys older split files nest the id lists under
_NESTED = ("ids", "splits", "split")


def read_split_file(path: str | Path, required: tuple[str, ...] = ("train", "test")) -> dict[str, Any]:
    """The split at ``path``: its keys, with ``train`` / ``val`` / ``test`` (when present) as
    lists of str ids. Lists nested under "ids", "splits" or "split", and test ids under
    "test_ids", are read too. Every part in ``required`` must be a list. Missing, garbled or
    lacking a required part -> :class:`SplitError` naming the file."""
    p = Path(path)
    data = read_json_object(p, SplitError, "the split file")
    for key in _NESTED:
        if isinstance(data.get(key), dict) and isinstance(data[key].get("train"), list):
            data = {**data, **data[key]}
    if "test" not in data and isinstance(data.get("test_ids"), list):
        data["test"] = data["test_ids"]
    missing = [k for k in required if not isinstance(data.get(k), list)]
    if missing:
        raise SplitError(f"split file needs id lists under {' and '.join(repr(k) for k in missing)}", p)
    out = dict(data)
    for k in ("train", "val", "test"):
        if isinstance(data.get(k), list):
            out[k] = [str(i) for i in data[k]]
    return out


def split_ids(path: str | Path, part: str = "train") -> list[str]:
    """The ``part`` ids (str) of the split file at ``path``; SplitError naming the file when
    it is unreadable or has no ``part`` list."""
    return read_split_file(path, required=(part,))[part]
