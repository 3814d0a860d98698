""":class:`UltrasoundSet`: the images, masks and metadata of one loaded data set."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from msknb.errors import DataError


@dataclass
class UltrasoundSet:
    """Images, masks and metadata of one data set (see :mod:`msknb.data.folder`).

    ``images`` float32 (N, H, W) in [0, 1]; ``masks`` uint8 (N, H, W) in {0, 1} or None;
    ``ids``, ``paths``; ``spacing_mm`` float64 (N, 2) (row_mm, col_mm) per pixel at this
    resolution, NaN when unknown; ``groups`` (muscle or "all"); ``subjects`` (subject id,
    or near-duplicate cluster "dup-0007"); ``boxes`` int (N, 4) crop box in the original
    pixels (y0, y1, x0, x1); ``original_shapes`` int (N, 2).
    """

    images: np.ndarray
    masks: np.ndarray | None
    ids: list[str]
    paths: list[Path]
    spacing_mm: np.ndarray
    groups: list[str]
    subjects: list[str]
    boxes: np.ndarray | None = None
    original_shapes: np.ndarray | None = None
    root: Path | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "UltrasoundSet":
        """A new set with the items at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        return UltrasoundSet(
            images=self.images[idx], masks=None if self.masks is None else self.masks[idx],
            ids=[self.ids[i] for i in idx], paths=[self.paths[i] for i in idx],
            spacing_mm=self.spacing_mm[idx], groups=[self.groups[i] for i in idx],
            subjects=[self.subjects[i] for i in idx],
            boxes=None if self.boxes is None else self.boxes[idx],
            original_shapes=None if self.original_shapes is None else self.original_shapes[idx],
            root=self.root)

    def to_tensor(self, masks: bool = False):
        """torch float32 (N, 1, H, W) in [-1, 1] (``2 * images - 1``); with ``masks=True``
        returns ``(images, masks)`` where masks are (N, 1, H, W) in {-1, 1}."""
        x = torch.from_numpy(np.ascontiguousarray(self.images, dtype=np.float32)).unsqueeze(1) * 2 - 1
        if not masks:
            return x
        if self.masks is None:
            raise DataError("this data set has no masks", self.root)
        m = torch.from_numpy(np.ascontiguousarray(self.masks, dtype=np.float32)).unsqueeze(1) * 2 - 1
        return x, m

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description: counts, sizes, groups, spacing."""
        sp = self.spacing_mm
        known = np.all(np.isfinite(sp), axis=1) if len(sp) else np.zeros(0, bool)
        groups: dict[str, int] = {}
        for g in self.groups:
            groups[g] = groups.get(g, 0) + 1
        out: dict[str, Any] = {
            "n_images": len(self), "n_with_mask": 0 if self.masks is None else len(self),
            "image_shape": list(self.images.shape[1:]), "groups": groups,
            "n_subjects": len(set(self.subjects)), "spacing_known": int(known.sum()),
        }
        if self.original_shapes is not None and len(self.original_shapes):
            uniq, counts = np.unique(self.original_shapes, axis=0, return_counts=True)
            out["original_sizes"] = {f"{h}x{w}": int(c) for (h, w), c in zip(uniq.tolist(), counts.tolist())}
        if known.any():
            out["spacing_row_mm"] = [float(np.min(sp[known, 0])), float(np.max(sp[known, 0]))]
            out["spacing_col_mm"] = [float(np.min(sp[known, 1])), float(np.max(sp[known, 1]))]
        return out
