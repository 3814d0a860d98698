"""``msknb segment train ...`` and ``msknb segment predict ...``: train an Attention-UNet
aponeurosis segmenter on a data folder, or apply one to images (masks at their own size)."""
from __future__ import annotations

import sys
from pathlib import Path

from msknb.data import load_folder
from msknb.errors import DataError, MsknbError
from msknb.io import ensure_dir, write_png
from msknb.profiles import settings
from msknb.segmentation.experiments import make_split
from msknb.segmentation.metrics import segmentation_metrics, summarise
from msknb.segmentation.model import load_segmenter
from msknb.segmentation.predict import collect_images, predict, predict_file
from msknb.segmentation.shipped import DEFAULT_SEGMENTER, all_data_split
from msknb.segmentation.training import train_segmenter


def default_model(model: str | None) -> Path:
    """``model``, else the shipped segmenter; DataError naming the file when it is absent."""
    if model:
        return Path(model)
    if not DEFAULT_SEGMENTER.is_file():
        raise DataError("the shipped segmenter is not installed (train it with `python -m "
                        "msknb.segmentation.shipped --data DATA`, or pass --model)", DEFAULT_SEGMENTER)
    return DEFAULT_SEGMENTER


def _cmd_predict(args) -> int:
    model = load_segmenter(default_model(args.model))
    files = collect_images(args.images)
    out = ensure_dir(args.out)
    failed: list[str] = []
    written = 0
    for f in files:
        try:
            if not f.is_file():
                raise DataError("image file not found", f)
            write_png(out / f"{f.stem}.png", predict_file(model, f, args.threshold), mask=True)
            written += 1
        except MsknbError as e:
            failed.append(str(e))
            print(f"msknb segment predict: error: {e}", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 - an unreadable image must not stop the others
            msg = f"{f}: cannot segment ({type(e).__name__}: {e})"
            failed.append(msg)
            print(f"msknb segment predict: error: {msg}", file=sys.stderr)
    print(f"wrote {written} mask(s) to {out}")
    if failed:
        raise DataError(f"{len(failed)} of {len(files)} image(s) failed: " + "; ".join(failed), args.out)
    return 0


def _paper_split(ds, seed: int, cfg: dict) -> tuple[dict, str]:
    split = make_split(ds, cfg.get("fractions", (0.4, 0.2, 0.4)), seed=seed)
    note = f"paper split 40/20/40 (near copies test-in-train: {split['near_copies_test_in_train']})"
    return {"train": split["train"], "val": split["val"], "test": split["test"]}, note


def _all_data_split(ds, seed: int, _cfg: dict) -> tuple[dict, str]:
    split = all_data_split(ds, seed=seed)
    note = (f"all data ({split['source']}: val picks the epoch"
            + (f", {len(split['excluded'])} kit test image(s) left out and scored" if len(split["excluded"]) else "")
            + ")")
    return {"train": split["train"], "val": split["val"], "test": split["excluded"]}, note


def _cmd_train(args) -> int:
    cfg = settings("segment", args.profile, epochs=args.epochs, image_size=args.image_size)
    ds = load_folder(args.data, image_size=int(cfg["image_size"]), crop_fov=not args.no_crop,
                     max_images=cfg.get("max_images"), seed=args.seed)
    if ds.masks is None:
        raise DataError("the data folder has no masks/ (training needs expert masks)", args.data)
    cfg["crop_fov"] = not args.no_crop
    split, note = (_paper_split if args.paper_split else _all_data_split)(ds, args.seed, cfg)
    tr, va, te = split["train"], split["val"], split["test"]
    if len(tr) == 0:
        raise DataError("no training images left after the split", args.data)
    res = train_segmenter(ds.images[tr], ds.masks[tr], ds.images[va], ds.masks[va], cfg, out_path=args.out,
                          seed=args.seed, progress=True)
    test = "no test images"
    if len(te):
        s = summarise(segmentation_metrics(predict(res.model, ds.images[te], cfg.get("threshold", 0.5))[1],
                                           ds.masks[te]))
        test = f"test Dice {s['dice']['mean']:.3f} ± {s['dice']['std']:.3f}, IoU {s['iou']['mean']:.3f}"
    print(f"{note}; train/val/test {len(tr)}/{len(va)}/{len(te)}; best epoch {res.best_epoch}, "
          f"val Dice {res.best_val_dice:.3f}; {test}; {res.seconds:.0f} s; saved {args.out}")
    return 0


TRAIN_HELP = ("Train on all images of a data folder but a grouped validation part that picks the epoch: "
              "on the DL_Track set the kit split's val ids (msknb/checkpoints/dltrack_split.json), and its "
              "test ids are left out of training (they score the model, as in benchmarks/bench_measure.py); "
              "on other data a grouped 90/10 split (near-duplicate clusters on one side). --paper-split uses "
              "the paper experiments' 40/20/40 split instead (as notebook 05).")


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train on a data folder (all data but a grouped val part; --paper-split: 40/20/40)",
                       description=TRAIN_HELP)
    t.add_argument("--data", required=True, help="data folder (DL_Track layout: images/, masks/)")
    t.add_argument("--profile", default="quick", help="smoke | quick | paper (default quick)")
    t.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--image-size", type=int, default=None, dest="image_size", help="px (square)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-crop", action="store_true", help="do not crop screen captures to the field of view")
    t.add_argument("--paper-split", action="store_true", dest="paper_split",
                   help="the paper experiments' 40/20/40 train/val/test split (by subject/cluster)")
    t.set_defaults(func=_cmd_train)


def register(subparsers) -> None:
    """``msknb segment train ...`` and ``msknb segment predict ...``."""
    p = subparsers.add_parser("segment", help="aponeurosis segmentation (Attention-UNet)",
                              description="Train an Attention-UNet aponeurosis segmenter or apply one.")
    sub = p.add_subparsers(dest="segment_command", metavar="ACTION")
    _add_train(sub)
    q = sub.add_parser("predict", help="write binary masks (0/255 PNG, original size) for images")
    q.add_argument("--model", default=None,
                   help=f"checkpoint written by 'segment train' or notebook 05 (default: {DEFAULT_SEGMENTER.name})")
    q.add_argument("images", nargs="+", help="image files and/or folders of images")
    q.add_argument("--out", required=True, help="output folder for <image name>.png masks")
    q.add_argument("--threshold", type=float, default=None, help="probability threshold (default: the model's)")
    q.set_defaults(func=_cmd_predict)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])
