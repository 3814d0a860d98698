"""``msknb sample``: generate synthetic images from a DDPM checkpoint (DL_Track layout)."""
from __future__ import annotations

import time

import torch

from msknb.ddpm.checkpoints import load_model
from msknb.ddpm.export import write_synthetic_set
from msknb.ddpm.sample import METHODS, sample_images


def _cli_sample(args) -> int:
    model, schedule, config = load_model(args.model)  # model.prediction comes from the checkpoint
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    x = sample_images(model, schedule, args.n, method=args.method, steps=args.steps, eta=args.eta, seed=args.seed,
                      batch_size=args.batch_size, progress=not args.quiet)
    seconds = time.perf_counter() - t0
    spacing = None if args.spacing is None else tuple(args.spacing) if len(args.spacing) == 2 else args.spacing[0]
    info = write_synthetic_set(x, args.out, spacing_mm=spacing, group=args.group)
    print(f"{info['n']} images ({info['masks']} masks, {info['dicom']} DICOM) in {seconds:.1f} s -> {args.out} "
          f"({config.prediction}-prediction model)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("sample", help="generate synthetic images from a trained DDPM",
                              description="Sample a DDPM checkpoint (DDPM or DDIM) and write the images in the "
                                          "DL_Track layout (images/, masks/, dicom/, manifest.csv). The "
                                          "prediction objective (eps, x0, v) is read from the checkpoint.")
    p.add_argument("--model", required=True, help="checkpoint (.pt) from `msknb train` or the shipped one")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--method", choices=METHODS, default="ddim")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps")
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
