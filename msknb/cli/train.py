"""``msknb train``: train a DDPM on a data folder (resumable; one model per group)."""
from __future__ import annotations

from pathlib import Path

import torch.distributed

from msknb.data import load_folder
from msknb.ddpm.checkpoints import conditioning_extras, export_ema
from msknb.ddpm.config import LOSSES
from msknb.ddpm.diffusion import PREDICTIONS, SCHEDULE_KINDS
from msknb.ddpm.groups import train_groups
from msknb.ddpm.training_data import split_indices
from msknb.profiles import settings

#: command-line flag -> TrainConfig field, set only when given
_OPTIONAL = ("checkpoint_every", "max_seconds", "sample_every", "lr", "batch_size", "prediction", "min_snr_gamma",
             "condition", "cond_dropout", "dim", "fold", "schedule", "lowres_size", "lowres_noise",
             "ema_decay", "lr_decay", "lr_decay_start", "lr_min", "snapshot_every", "mask_loss_weight", "loss")


def _export(results: dict, export: str, ds) -> None:
    """EMA weights (fp16) of each group's checkpoint to ``export`` (``<stem>_<group>.pt`` for
    several); a mask-conditioned model also stores its mask prior and mean image."""
    for g, r in results.items():
        if r.checkpoint_path is None:
            continue
        dst = Path(export) if len(results) == 1 else Path(export).with_name(f"{Path(export).stem}_{g}.pt")
        extra = {"img_per_s_last_session": float(r.img_per_s)}
        if r.config.condition is not None:
            idx = [i for i, gi in enumerate(ds.groups or ["all"] * len(ds)) if len(results) == 1 or gi == g]
            extra.update(conditioning_extras(ds.images[idx], ds.masks[idx]))
        export_ema(r.checkpoint_path, dst, half=True, extra=extra)
        print(f"EMA weights (fp16) -> {dst}")


def _cli_train(args) -> int:
    s = settings("ddpm", args.profile, epochs=args.epochs, image_size=args.image_size,
                 joint_mask=True if args.joint else None, max_steps=args.max_steps)
    ds = load_folder(args.data, image_size=s["image_size"], max_images=s.get("max_images"), seed=args.seed)
    if args.split:
        ds = ds.subset(split_indices(args.split, ds.ids, "train"))
        print(f"training on the {len(ds)} 'train' ids of {args.split}")
    if args.condition:
        s["joint_mask"] = False  # the mask is the condition, not a generated channel
    extra = {k: getattr(args, k) for k in _OPTIONAL if getattr(args, k)}
    if args.hflip:
        extra["hflip"] = True
    for flag in ("zero_terminal_snr", "mask_injection", "freeze_base"):
        if getattr(args, flag):
            extra[flag] = True
    pretrained = args.init_from
    results = train_groups(ds, s, args.out, seed=args.seed, progress=not args.quiet, pretrained=pretrained,
                           strict_pretrained=pretrained is not None, **extra)
    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:  # torchrun: rank 0 reports, exports
        return 0
    for g, r in results.items():
        print(f"{g}: {r.steps} steps, final loss {r.final_loss:.4f}, {r.img_per_s:.1f} img/s, "
              f"{r.seconds:.0f} s -> {r.checkpoint_path}")
    if args.export:
        _export(results, args.export, ds)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a DDPM on a data folder (resumable)",
                              description="Train the paper's DDPM (eps-prediction, L1) on a data folder; "
                                          "re-running the same command resumes from <out>/checkpoint.pt.")
    p.add_argument("--data", required=True, help="data folder (DL_Track layout, TIFF layout, DICOMs, images)")
    p.add_argument("--profile", default="quick", help="smoke | quick | paper")
    p.add_argument("--out", required=True, help="output folder for checkpoint.pt")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-seconds", type=float, default=None, help="stop (with a checkpoint) after this wall time")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr-decay", choices=["cosine"], default=None,
                   help="cosine: decay lr from --lr-decay-start to --lr-min at the last step (--max-steps)")
    p.add_argument("--lr-decay-start", type=int, default=None, help="step where the decay starts (default 0)")
    p.add_argument("--lr-min", type=float, default=None, help="lr at the last step (default 0)")
    p.add_argument("--ema-decay", type=float, default=None, help="EMA decay per step (default 0.995)")
    p.add_argument("--snapshot-every", type=int, default=None,
                   help="also write the EMA weights (fp16) every N steps to <out>/snapshots/, candidates to screen")
    p.add_argument("--prediction", choices=PREDICTIONS, default=None,
                   help="what the network predicts: eps (noise, the paper's; default), x0 or v (velocity)")
    p.add_argument("--zero-terminal-snr", action="store_true",
                   help="rescale the schedule to zero terminal SNR (Lin et al. 2024; needs --prediction v or x0)")
    p.add_argument("--min-snr-gamma", type=float, default=None, help="Min-SNR-gamma loss weighting (e.g. 5)")
    p.add_argument("--dim", type=int, default=None, help="U-Net base width (the profile's when absent)")
    p.add_argument("--fold", type=int, default=None,
                   help="fold each p x p pixel block into channels (4: a 256 px model at a 64 px model's cost)")
    p.add_argument("--schedule", choices=SCHEDULE_KINDS, default=None, help="noise schedule (the profile's when absent)")
    p.add_argument("--joint", action="store_true", help="train on image + aponeurosis mask (2 channels)")
    p.add_argument("--condition", choices=["mask", "mask+lowres"], default=None,
                   help="mask: the network is given the aponeurosis mask and draws the image; mask+lowres: also "
                        "the image at --lowres-size px (the super-resolution stage of a cascade, msknb.ddpm.cascade)")
    p.add_argument("--lowres-size", type=int, default=None, help="cascade: px of the low-res stage (default 64)")
    p.add_argument("--lowres-noise", type=float, default=None,
                   help="cascade: largest noise SD added to the low-res image in training (default 0.2)")
    p.add_argument("--cond-dropout", type=float, default=None,
                   help="probability of the null mask in training (classifier-free guidance), e.g. 0.1")
    p.add_argument("--mask-loss-weight", type=float, default=None,
                   help="mask-conditioned models: loss weight of the pixels near the mask (within 8 px; the "
                        "others 1), e.g. 4; default 1")
    p.add_argument("--loss", choices=LOSSES, default=None,
                   help="the training loss (default: the profile's, L1 as in the paper); l2 is mean-seeking")
    p.add_argument("--mask-injection", action="store_true",
                   help="mask-conditioned models: the mask also enters at every U-Net resolution (layers that "
                        "start at zero, so --init-from a model without them draws as before)")
    p.add_argument("--freeze-base", action="store_true",
                   help="with --mask-injection: train only those layers, the rest kept as --init-from gave it")
    p.add_argument("--split", default=None,
                   help="split JSON (e.g. msknb/checkpoints/dltrack_split.json): train on its 'train' ids only")
    p.add_argument("--hflip", action="store_true", help="random horizontal flips")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--sample-every", type=int, default=None, help="steps between preview sample grids (PNG)")
    p.add_argument("--init-from", default=None, help="initialise from this checkpoint (fine-tuning)")
    p.add_argument("--export", default=None, help="also write the EMA weights (fp16) to this file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_train)
