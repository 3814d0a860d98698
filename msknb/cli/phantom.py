"""``msknb phantom``: write synthetic ultrasound phantoms with masks (DL_Track layout)."""
from __future__ import annotations

import argparse
from pathlib import Path

from msknb.data.phantom import PRESETS, write_phantom_set
from msknb.paths import PHANTOM_SAMPLES_DIR


def _cli(args: argparse.Namespace) -> int:
    out = write_phantom_set(args.out, n_per_preset=args.n_per_preset, size=args.size, seed=args.seed,
                            dicom=not args.no_dicom)
    n = args.n_per_preset * len(PRESETS)
    print(f"wrote {n} phantoms ({args.size}x{args.size}) to {out}")
    return 0


def register(subparsers) -> None:
    """``python -m msknb phantom --out data_samples/phantoms --n-per-preset 6 --size 128 --seed 0``
    (the defaults regenerate the committed ``data_samples/phantoms``)."""
    p = subparsers.add_parser(
        "phantom", help="write synthetic ultrasound phantoms with masks (DL_Track layout)",
        description="Write synthetic longitudinal B-mode phantoms (images/, masks/, dicom/, manifest.csv). "
                    "The defaults regenerate data_samples/phantoms bit for bit.")
    p.add_argument("--out", type=Path, default=PHANTOM_SAMPLES_DIR, help="output folder (default: %(default)s)")
    p.add_argument("--n-per-preset", type=int, default=6, help="phantoms per muscle preset (default: 6)")
    p.add_argument("--size", type=int, default=128, help="image size in px (default: 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the set (default: 0)")
    p.add_argument("--no-dicom", action="store_true", help="skip dicom/<id>.dcm")
    p.set_defaults(func=_cli)
