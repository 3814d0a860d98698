"""``msknb sample``: generate synthetic images from a DDPM checkpoint (DL_Track layout).

Unconditional / joint models draw ``--n`` images; a mask-conditioned model draws one image
per mask of ``--masks DIR`` (a DL_Track folder or a folder of mask files) or of
``--masks prior --n N`` (the parametric generator of ``msknb.ddpm.mask_prior``, fitted to
``--data DIR``'s masks or read from the checkpoint); without ``--masks`` it draws ``--n``
masks from the prior first. Without ``--model`` the shipped mask-conditioned 256 px generator is used. Beside the set it writes
``generator.json`` (``msknb.artifacts.save_generator_record``): the checkpoint and the real
ids it was trained on.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from msknb.artifacts import GENERATOR_FILE, save_generator_record
from msknb.data import load_folder
from msknb.ddpm.autoguidance import load_autoguided
from msknb.ddpm.checkpoints import (SHIPPED_COND_DDPM, SHIPPED_DDPM, SHIPPED_SAMPLE_DDPM, checkpoint_extras, guidance_record,
                                    load_model, pretrained_path)
from msknb.ddpm.condition_masks import read_condition_masks
from msknb.ddpm.export import write_synthetic_set
from msknb.ddpm.mask_prior import fit_mask_prior, sample_masks
from msknb.ddpm.sample import METHODS, sample_images
from msknb.ddpm.synthetic_set import draw_conditional, generator_record, sampler_name
from msknb.errors import CheckpointError, ConfigError, DataError


def _model_path(args) -> Path:
    if args.model:
        return Path(args.model)
    name = SHIPPED_SAMPLE_DDPM
    path = pretrained_path(name)
    if path is None:
        raise CheckpointError("no --model given and the shipped generator is missing", name)
    return path


def _is_dltrack_folder(folder: Path) -> bool:
    return (folder / "images").is_dir() and (folder / "masks").is_dir()


def condition_masks(args, model_path: Path, size: int) -> tuple[np.ndarray, list[str]]:
    """``(masks (N, size, size) {0, 1}, errors)`` named by ``--masks``: 'prior' draws ``--n``
    from the mask prior (fitted to ``--data``'s masks, else the checkpoint's); a DL_Track
    folder is loaded like training data (field-of-view crop, resize); any other folder's mask
    files are resized, a bad file left out with one line in ``errors``. Every mask is read
    before anything is generated or written."""
    if args.masks == "prior":
        if args.data:
            prior = fit_mask_prior(load_folder(args.data, image_size=size).masks)
        else:
            prior = checkpoint_extras(model_path)["mask_prior"]
            if prior is None:
                raise ConfigError(f"{model_path} stores no mask prior: pass --data DIR to fit one", "masks")
        return sample_masks(prior, args.n, size, seed=args.seed), []
    folder = Path(args.masks)
    if not folder.is_dir():
        raise DataError("--masks must be a folder of masks or 'prior'", folder)
    if _is_dltrack_folder(folder):
        return load_folder(folder, image_size=size).masks, []
    masks, _, errors = read_condition_masks(folder, size)
    return masks, errors


def _autoguide(args) -> tuple[Path, float] | None:
    """``--autoguide FILE W`` as (file, w), or None; ConfigError naming the problem."""
    if not args.autoguide:
        return None
    file, weight = args.autoguide
    try:
        w = float(weight)
    except ValueError:
        raise ConfigError(f"--autoguide FILE W: W must be a number >= 1, got {weight!r}", "autoguide") from None
    return Path(file), w


def _draw(args, path: Path, model, schedule, config, errors: list[str]) -> tuple[np.ndarray, float]:
    """``(images (n, C, H, W) in [0, 1], seconds)``; conditional: the masks as channel 1; the
    masks that could not be used are added to ``errors``."""
    if args.masks:
        masks, bad = condition_masks(args, path, config.image_size)
        for line in bad:
            print(f"msknb sample: error: {line}", file=sys.stderr)
        errors.extend(bad)
        return draw_conditional(path, masks, method=args.method, steps=args.steps, seed=args.seed,
                                batch_size=args.batch_size, progress=not args.quiet, guidance=args.guidance,
                                noise_start=args.noise_start, eta=args.eta, autoguide=_autoguide(args))
    if args.autoguide:
        model = load_autoguided(path, *_autoguide(args))[0]
    start_mean = None if args.noise_start else checkpoint_extras(path)["mean_image"]
    t0 = time.perf_counter()
    x = sample_images(model, schedule, args.n, method=args.method, steps=args.steps, eta=args.eta, seed=args.seed,
                      batch_size=args.batch_size, progress=not args.quiet, start_mean=start_mean)
    return x, time.perf_counter() - t0


def _cli_sample(args) -> int:
    path = _model_path(args)
    model, schedule, config = load_model(path)  # model.prediction comes from the checkpoint
    if config.condition == "mask" and not args.masks:
        args.masks = "prior"  # an image without a mask: draw the mask from the prior first, then the image
    if args.threads:
        torch.set_num_threads(args.threads)
    errors: list[str] = []
    x, seconds = _draw(args, path, model, schedule, config, errors)
    spacing = None if args.spacing is None else tuple(args.spacing) if len(args.spacing) == 2 else args.spacing[0]
    info = write_synthetic_set(x, args.out, spacing_mm=spacing, group=args.group)
    mode = "mask" if args.masks else ("joint" if config.channels == 2 else "image")
    extra = guidance_record(path, args.guidance) if args.masks else {}
    if args.autoguide:
        extra["autoguidance"] = {"checkpoint": Path(args.autoguide[0]).name, "weight": float(args.autoguide[1])}
    save_generator_record(Path(args.out) / GENERATOR_FILE,
                          generator_record(path, mode, sampler_name(args.method, args.steps, config.timesteps),
                                           info["n"], **extra))
    print(f"{info['n']} images ({info['masks']} masks, {info['dicom']} DICOM) in {seconds:.1f} s -> {args.out} "
          f"({config.prediction}-prediction model {path.name})")
    if errors:
        raise DataError(f"{len(errors)} mask file(s) could not be used and were left out (named above); "
                        f"the other {info['n']} image(s) were written", args.masks)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("sample", help="generate synthetic images from a trained DDPM",
                              description="Sample a DDPM checkpoint (DDPM or DDIM) and write the images in the "
                                          "DL_Track layout (images/, masks/, dicom/, manifest.csv). The "
                                          "prediction objective (eps, x0, v) is read from the checkpoint.")
    p.add_argument("--model", default=None, help="checkpoint (.pt) from `msknb train`; default: the shipped "
                                                 f"mask-conditioned 256 px one ({SHIPPED_SAMPLE_DDPM}); the 64 px "
                                                 f"ones are {SHIPPED_COND_DDPM} and {SHIPPED_DDPM} (joint image+mask)")
    p.add_argument("--masks", default=None, help="mask-conditioned models: a folder of masks (one image per mask) "
                                                 "or 'prior' (draw --n masks from the parametric generator)")
    p.add_argument("--data", default=None, help="with --masks prior: fit the prior to this data folder's masks")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (1 = off); default: the scale stored in the checkpoint "
                        "(chosen on validation masks; 1 when none)")
    p.add_argument("--autoguide", nargs=2, metavar=("FILE", "W"), default=None,
                   help="guide with a weaker checkpoint FILE trained for the same task (autoguidance, Karras et "
                        "al. 2024): output = weak + W (model - weak); W = 1 is the model alone")
    p.add_argument("--noise-start", action="store_true",
                   help="start from N(0, I) even when the checkpoint stores a mean image (by default such a "
                        "model starts from the forward marginal of it, the fix for too-bright samples)")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--method", choices=METHODS, default="ddim")
    p.add_argument("--steps", type=int, default=25, help="DDIM steps")
    p.add_argument("--eta", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--spacing", type=float, nargs="+", default=None,
                   help="mm per pixel (one value, or row col) for the DICOMs/manifest")
    p.add_argument("--group", default="synthetic")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cli_sample)
