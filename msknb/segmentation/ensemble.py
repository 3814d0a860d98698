"""Two or more segmenters as one: the mean of their probabilities.

Each member sees the input at its own training size (bilinear, anti-aliased when
shrinking); its probabilities are resized back to the input size and averaged, and the
ensemble returns the logit of that mean, so :func:`msknb.segmentation.predict.predict`
and ``predict_full_size`` treat it as one model. The members segment at different sizes
(say 128 and 256 px): their errors differ, and where one finds a band in pieces the other
often finds it whole.

An ensemble is stored as a small JSON manifest beside its members' weights::

    {"format": "msknb-segmenter-ensemble", "members": ["segmenter_dltrack_128.pt", ...]}

and read by :func:`msknb.segmentation.model.load_segmenter` like any checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from msknb.errors import CheckpointError

ENSEMBLE_FORMAT = "msknb-segmenter-ensemble"


class SegmenterEnsemble(nn.Module):
    """Mean-probability ensemble of segmenters; input (B, 1, H, W) in the model range,
    output logits (B, 1, H, W)."""

    def __init__(self, members: Sequence[nn.Module], meta: dict[str, Any] | None = None):
        super().__init__()
        if len(members) < 1:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        sizes = [int(m.msknb_config.get("image_size", 128)) for m in members]
        self.sizes = sizes
        first = members[0].msknb_config
        self.msknb_config = {**first, "image_size": max(sizes), "threshold": float(first.get("threshold", 0.5))}
        self.msknb_meta = dict(meta or {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        probs = []
        for member, s in zip(self.members, self.sizes):
            xi = x if size == (s, s) else F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False,
                                                         antialias=s < min(size))
            p = torch.sigmoid(member(xi))
            probs.append(p if p.shape[-2:] == size else F.interpolate(p, size=size, mode="bilinear",
                                                                        align_corners=False))
        mean = torch.stack(probs).mean(dim=0).clamp(1e-6, 1 - 1e-6)
        return torch.logit(mean)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest's dict; CheckpointError naming the file when it is not an ensemble manifest."""
    p = Path(path)
    try:
        manifest = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read the ensemble manifest ({e})", p) from e
    if not isinstance(manifest, dict) or manifest.get("format") != ENSEMBLE_FORMAT or not manifest.get("members"):
        raise CheckpointError(f"not a segmenter ensemble manifest (expected format {ENSEMBLE_FORMAT} "
                              "and a list of member checkpoints)", p)
    return manifest


def load_ensemble(path: str | Path, load_member) -> SegmenterEnsemble:
    """The ensemble the manifest at ``path`` names; members are files beside it, each read
    by ``load_member`` (a checkpoint reader)."""
    p = Path(path)
    manifest = read_manifest(p)
    members = [load_member(p.parent / name) for name in manifest["members"]]
    model = SegmenterEnsemble(members, meta=manifest)
    model.eval()
    return model
