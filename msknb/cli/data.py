"""``msknb data info DIR`` (a data folder's summary as JSON) and ``msknb data fetch``."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from msknb.data.download import DLTRACK_SHA256, DLTRACK_URL, fetch_dltrack
from msknb.data.folder import load_folder
from msknb.data.splits import cluster_stats, near_duplicate_clusters


def info(root: str | Path, image_size: int = 64, crop: bool = True, max_images: int | None = None,
         seed: int = 0, spacing_mm=None) -> dict[str, Any]:
    """Summary of a data folder (as printed by ``msknb data info``): the set's summary,
    near-duplicate statistics and the loading warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_folder(root, image_size=image_size, crop_fov=crop, max_images=max_images, seed=seed,
                         spacing_mm=spacing_mm)
    out = {"root": str(root), **ds.summary()}
    out["near_duplicates"] = cluster_stats(near_duplicate_clusters(ds.images))
    out["warnings"] = [str(w.message) for w in caught]
    return out


def _cmd_info(args) -> int:
    spacing = None
    if args.spacing_mm:
        spacing = args.spacing_mm[0] if len(args.spacing_mm) == 1 else tuple(args.spacing_mm)
    print(json.dumps(info(args.dir, image_size=args.image_size, crop=not args.no_crop,
                          max_images=args.max_images, seed=args.seed, spacing_mm=spacing), indent=2))
    return 0


def _cmd_fetch(args) -> int:
    path = fetch_dltrack(args.cache_dir, url=args.url or DLTRACK_URL, sha256=args.sha256 or DLTRACK_SHA256)
    print(path)
    return 0


def register(subparsers) -> None:
    """``msknb data info DIR`` and ``msknb data fetch``."""
    p = subparsers.add_parser("data", help="inspect or download ultrasound data")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    pi = sub.add_parser("info", help="print N, sizes, groups, spacing and near-duplicate stats as JSON")
    pi.add_argument("dir", help="data folder (DL_Track layout, apo_images/, images or DICOMs)")
    pi.add_argument("--image-size", type=int, default=64, help="resize to this square size (px)")
    pi.add_argument("--max-images", type=int, default=None)
    pi.add_argument("--seed", type=int, default=0)
    pi.add_argument("--no-crop", action="store_true", help="do not crop to the field of view")
    pi.add_argument("--spacing-mm", type=float, nargs="+", default=None, metavar="MM",
                    help="pixel spacing (mm per px; one value or ROW COL) for images without one")
    pi.set_defaults(func=_cmd_info)
    pf = sub.add_parser("fetch", help="download the public DL_Track data set into the cache")
    pf.add_argument("--cache-dir", default=None, help="default: $MSKNB_CACHE or ~/.cache/msknb/dltrack")
    pf.add_argument("--url", default=None)
    pf.add_argument("--sha256", default=None)
    pf.set_defaults(func=_cmd_fetch)

    def _no_action(args) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_no_action)
