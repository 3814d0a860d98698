"""``msknb data info DIR`` (a data folder's summary as JSON), ``msknb data check DIR`` (label
quality of its image/mask pairs) and ``msknb data fetch``."""
from __future__ import annotations

import functools
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from msknb.data import label_qa
from msknb.data.download import DLTRACK_SHA256, DLTRACK_URL, fetch_dltrack
from msknb.data.figures import SHEET_MAX_PAIRS, label_qa_sheet, save_label_qa_sheet
from msknb.data.folder import load_folder
from msknb.data.splits import cluster_stats, near_duplicate_clusters
from msknb.errors import ConfigError, MsknbError
from msknb.io import write_json_atomic


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


def _sheet_arrays(checks, size):
    """(images, masks) of the checks for the sheet: read only for the flagged pairs (None elsewhere,
    and where a file cannot be read or the sizes differ)."""
    images, masks = [None] * len(checks), [None] * len(checks)
    for k, c in enumerate(checks):
        if c.flags and c.image_path and c.mask_path:
            try:
                images[k], masks[k] = label_qa.read_pair(c.image_path, c.mask_path, size)
            except MsknbError:
                pass
    return images, masks


def _cmd_check(args) -> int:
    if args.size is not None and args.size < 32:
        raise ConfigError(f"--size must be >= 32 px, got {args.size}", "--size")
    to_stdout = args.json == "-"  # bare --json: the JSON is the output, the human lines go to stderr
    say = functools.partial(print, file=sys.stderr if to_stdout else sys.stdout)
    checks = label_qa.check_folder(args.dir, size=args.size, progress=True)
    s = label_qa.summary(checks)
    counts = ", ".join(f"{k}: {v}" for k, v in s["by_flag"].items() if v) or "none"
    say(f"{args.dir}: {s['n_pairs']} pairs, {s['n_flagged']} flagged ({counts})")
    for c in checks:
        if c.flags:
            say(f"  {c.id}: {', '.join(c.flags)}" + (f"  [{c.messages[0]}]" if c.messages else ""))
    if args.json:
        report = {"root": str(args.dir), "size": args.size, **s, "checks": [c.to_dict() for c in checks]}
        if to_stdout:
            print(json.dumps(report, indent=2))
        else:
            say(f"wrote {write_json_atomic(args.json, report)}")
    if args.sheet:
        images, masks = _sheet_arrays(checks, args.size)
        fig = label_qa_sheet(images, masks, checks, max_pairs=args.max_sheet)
        say(f"wrote {save_label_qa_sheet(args.sheet, fig, checks)}")
    return 0


def _cmd_fetch(args) -> int:
    path = fetch_dltrack(args.cache_dir, url=args.url or DLTRACK_URL, sha256=args.sha256 or DLTRACK_SHA256)
    print(path)
    return 0


def register(subparsers) -> None:
    """``msknb data info DIR``, ``msknb data check DIR`` and ``msknb data fetch``."""
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
    pc = sub.add_parser("check", help="flag image/mask pairs whose mask is off the bright bands, empty, "
                        "single-band, or of another size (a report: exit 0 even when pairs are flagged)")
    pc.add_argument("dir", help="data folder with images and masks (DL_Track layout or apo_images/apo_masks)")
    pc.add_argument("--json", nargs="?", const="-", default=None, metavar="OUT.json",
                    help="every pair's flags and scores as JSON: to OUT.json, or to stdout without a file name")
    pc.add_argument("--sheet", default=None, metavar="OUT.png|OUT.html",
                    help="write a sheet of the flagged pairs with their masks overlaid in red")
    pc.add_argument("--size", type=int, default=None, metavar="N",
                    help="check at N x N px (default: each file's own size)")
    pc.add_argument("--max-sheet", type=int, default=SHEET_MAX_PAIRS, help="most pairs drawn on the sheet")
    pc.set_defaults(func=_cmd_check)
    pf = sub.add_parser("fetch", help="download the public DL_Track data set into the cache")
    pf.add_argument("--cache-dir", default=None, help="default: $MSKNB_CACHE or ~/.cache/msknb/dltrack")
    pf.add_argument("--url", default=None)
    pf.add_argument("--sha256", default=None)
    pf.set_defaults(func=_cmd_fetch)

    def _no_action(args) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_no_action)
