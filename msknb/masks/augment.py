"""Joint image/mask augmentation for aponeurosis segmentation (paper: rotation,
scaling, vertical flip, random erasing).

Every random draw comes from a seeded :class:`torch.Generator`, so the same seed gives
the same augmented batch on CPU. Geometric transforms (rotation, scaling, flip) are
applied to the image *and* its mask with the same parameters (bilinear for the image,
nearest for the mask, so the mask stays binary); random erasing blanks a rectangle in
the *image only* and leaves the mask unchanged (the aponeurosis is still there, the
network must infer it from context).

Written with ``torchvision.transforms.v2.functional`` ops on tensors.
"""
from __future__ import annotations

from typing import Any

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from msknb.errors import ConfigError

#: default augmentation parameters (angles in degrees, areas as fractions of the image)
DEFAULT_AUGMENT: dict[str, Any] = {
    "rotation_deg": 10.0,       # rotation drawn uniformly in [-r, r] degrees about the centre
    "scale": (0.9, 1.1),        # isotropic zoom drawn uniformly in [lo, hi]
    "vflip_p": 0.5,             # probability of an up-down flip (torchvision's "vertical flip")
    "erase_p": 0.5,             # probability of one erased rectangle (image only)
    "erase_area": (0.02, 0.1),  # erased area as a fraction of the image
    "erase_aspect": (0.3, 3.3),  # erased rectangle's height/width ratio
}


def augment_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``DEFAULT_AUGMENT`` updated by ``params`` (unknown keys raise ConfigError)."""
    out = dict(DEFAULT_AUGMENT)
    for key, value in (params or {}).items():
        if key not in out:
            raise ConfigError(f"unknown augmentation parameter {key!r}; known: {', '.join(out)}", "augment")
        out[key] = value
    return out


def _uniform(lo: float, hi: float, g: torch.Generator) -> float:
    return float(lo + (hi - lo) * torch.rand((), generator=g).item())


def augment_pair(image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator,
                 params: dict[str, Any] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment one ``image`` (C, H, W) float and its ``mask`` (C, H, W) {0, 1} together.

    The image is expected in [0, 1] (areas moved in from outside are filled with 0 =
    black, as outside the ultrasound field of view; erased rectangles are 0 as well).
    Returns new tensors; the inputs are not modified.
    """
    p = augment_params(params)
    g = generator
    angle = _uniform(-p["rotation_deg"], p["rotation_deg"], g)
    scale = _uniform(*p["scale"], g)
    flip = torch.rand((), generator=g).item() < p["vflip_p"]
    erase = torch.rand((), generator=g).item() < p["erase_p"]
    # always draw the rectangle, so the random stream does not depend on ``erase``
    _, h, w = image.shape
    area = _uniform(*p["erase_area"], g) * h * w
    aspect = _uniform(*p["erase_aspect"], g)
    eh = max(1, min(h, int(round((area * aspect) ** 0.5))))
    ew = max(1, min(w, int(round((area / aspect) ** 0.5))))
    ei = int(torch.randint(0, h - eh + 1, (), generator=g))
    ej = int(torch.randint(0, w - ew + 1, (), generator=g))

    img = TF.affine(image, angle=angle, translate=[0.0, 0.0], scale=scale, shear=[0.0, 0.0],
                    interpolation=InterpolationMode.BILINEAR, fill=0.0)
    msk = TF.affine(mask.float(), angle=angle, translate=[0.0, 0.0], scale=scale, shear=[0.0, 0.0],
                    interpolation=InterpolationMode.NEAREST, fill=0.0)
    if flip:
        img = TF.vertical_flip(img)
        msk = TF.vertical_flip(msk)
    if erase:
        img = TF.erase(img, ei, ej, eh, ew, torch.zeros((), dtype=img.dtype))
    return img, msk.to(mask.dtype)


def augment_batch(images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator,
                  params: dict[str, Any] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch: ``images`` (B, C, H, W) in [0, 1], ``masks`` (B, C, H, W) {0, 1};
    each sample gets its own random parameters from ``generator``."""
    pairs = [augment_pair(images[i], masks[i], generator, params) for i in range(images.shape[0])]
    return torch.stack([a for a, _ in pairs]), torch.stack([b for _, b in pairs])
