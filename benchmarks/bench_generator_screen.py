"""Screen mask-conditioned generators on the kit val masks (one run; writes JSON).

``--diagnostic``: the domain Fréchet ratio of real val images degraded to 32 / 64 / 128 px
and upsampled back to 256 px, against real (``msknb.evaluation.generator_screen.resolution_gap``):
near the 64 px generator's ratio means its gap is missing resolution and texture; near 1
means the anatomy is wrong.

``--checkpoint FILE``: draw one image for each kit val mask (``--method`` DDIM or
DPM-Solver++(2M), trailing spacing, ``--steps``, guidance ``--guidance``, ``--eta``) at the generator's own size and screen them
(``msknb.evaluation.generator_screen.screen``): intensity, alignment Dice, domain Fréchet
ratio, memorisation, each beside its real baseline; sampling seconds per image.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_generator_screen.py --diagnostic
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_generator_screen.py --checkpoint outputs/gen256/fold4_dim32.pt

``--section training`` with snapshots of one long run (``<run>/snapshots/ema_step*.pt``, written
by ``msknb train --snapshot-every``): does longer training help? Notebook 07 draws the ratio and
alignment against the step (``msknb.evaluation.training_screen``).

``--default N``: what ``msknb sample`` draws by default (no ``--model``, no ``--masks``): the
shipped 256 px generator with its stored guidance settings, ``N`` masks from its stored mask
prior; intensity against the real val images (and real-vs-real beside it) and alignment Dice
against the prior masks. Stored under ``sample_default``.

``--cascade BASE STAGE``: the same for a cascade (``msknb.ddpm.cascade.sample_cascade``): the
mask-conditioned ``BASE`` draws each image at its size (its stored guidance), the
super-resolution ``STAGE`` draws it full size.

Output: ``msknb/checkpoints/generator_screen.json`` (entries merged by name; notebook 07 reads it through
``msknb.evaluation.generator_screen.read_generator_screen``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from msknb.data.loading import load_folder
from msknb.ddpm.autoguidance import NULL_BRANCHES, load_autoguided
from msknb.ddpm.cascade import sample_cascade
from msknb.ddpm.guidance import Guidance
from msknb.ddpm.checkpoints import (SHIPPED_SAMPLE_DDPM, checkpoint_extras, guidance_record,
                                    load_checkpoint, load_model)
from msknb.ddpm.mask_prior import sample_masks
from msknb.ddpm.synthetic_set import draw_conditional
from msknb.ddpm.sample import sample_images
from msknb.ddpm.training_data import split_indices
from msknb.evaluation.generator_screen import (SCREEN_FILE, alignment_dice, intensity_row, over_seeds, resolution_gap,
                                              screen, segmenter_features)
from msknb.io import write_json_atomic
from msknb.paths import CHECKPOINTS_DIR, REPO_ROOT, default_data_dir
from msknb.segmentation.model import load_segmenter
from msknb.segmentation.shipped import SHIPPED_SEGMENTER

SPLIT = CHECKPOINTS_DIR / "dltrack_split.json"
#: the keys of the screen file that hold rows by name (merged, not replaced)
SECTIONS = ("generators", "guidance", "training", "scarce_label", "sampling")
OUT = SCREEN_FILE


def _parts(size: int, data) -> dict:
    ds = load_folder(data, image_size=size, crop_fov=True, seed=0)
    va, tr = split_indices(SPLIT, ds.ids, "val"), split_indices(SPLIT, ds.ids, "train")
    return {"val": ds.images[va].astype(np.float32), "val_masks": ds.masks[va].astype(np.float32),
            "train": ds.images[tr].astype(np.float32), "train_ids": [ds.ids[i] for i in tr],
            "val_clusters": [ds.subjects[i] for i in va], "train_clusters": [ds.subjects[i] for i in tr]}


def diagnostic(segmenter, data) -> dict:
    p = _parts(256, data)
    gap = resolution_gap(segmenter_features(segmenter), p["val"], p["train"], sizes=(32, 64, 128))
    return {"what": "real val images degraded to each size and back to 256 px vs real val (domain Fréchet ratio)",
            "by_size": {str(k): v for k, v in gap.items()}}


def generator(path: str, segmenter, data, steps: int, setting: Guidance, seeds, eta: float = 0.0,
              method: str = "ddim", autoguide=None, null: str = "good") -> dict:
    """The screen of ``path``'s draws for the val masks under the guidance ``setting`` with the
    first of ``seeds``; with more seeds, ``over_seeds`` adds each headline number's mean, sd and
    values over them. ``autoguide``
    (BAD, w): guide ``path`` with the weaker model BAD (:mod:`msknb.ddpm.autoguidance`; ``null``:
    what the pair outputs for the null mask)."""
    model, schedule, config = (load_autoguided(path, autoguide[0], float(autoguide[1]), null) if autoguide
                               else load_model(path))
    ck = load_checkpoint(path)
    p = _parts(config.image_size, data)
    rows, seconds = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        drawn = sample_images(model, schedule, None, method=method, steps=steps, seed=seed, masks=p["val_masks"],
                              guidance=setting, spacing="trailing",
                              progress=True, eta=eta)[:, 0]
        seconds.append((time.perf_counter() - t0) / len(drawn))
        rows.append(screen(drawn, p["val_masks"], p["val"], p["train"], p["train_ids"], p["val_clusters"],
                           p["train_clusters"], segmenter))
    out = {"checkpoint": str(path), "step": int(ck["step"]), "train_seconds": float(ck.get("seconds", 0.0)),
           **_parent(ck), **({"averaged_steps": ck["averaged_steps"]} if ck.get("averaged_steps") else {}),
           "config": {k: ck["config"].get(k) for k in ("image_size", "fold", "dim", "prediction", "schedule",
                                                        "zero_terminal_snr", "min_snr_gamma", "cond_dropout",
                                                        "mask_injection", "freeze_base", "loss")},
           "sampler": {"method": method, "steps": steps, "spacing": "trailing", "guidance": setting.w, "eta": eta,
                       "guidance_interval": list(setting.interval) if setting.interval else None,
                       "guidance_rescale": setting.rescale,
                       **({"guidance_region": int(setting.region)} if setting.region is not None else {}),
                       **({"guidance_coarse": setting.coarse} if setting.coarse is not None else {}),
                       **({"autoguidance": _autoguide_record(*autoguide, null)} if autoguide else {}), "seed": int(seeds[0]),
                       "seconds_per_image": seconds[0], "threads": torch.get_num_threads()}, **rows[0]}
    if len(rows) > 1:
        out["over_seeds"] = over_seeds(rows, seeds)
    return out


def _autoguide_record(bad: str, weight, null: str = "good") -> dict:
    """The weaker model that guided a row: its file, weight, null branch, step, width and training seconds."""
    ck = load_checkpoint(bad)
    return {"bad": str(bad), "weight": float(weight), "null": null, "bad_step": int(ck["step"]), "bad_dim": ck["config"].get("dim"),
            "bad_train_seconds": float(ck.get("seconds", 0.0))}


def _parent(ck: dict) -> dict:
    """Where a fine-tuned file started: ``started_from`` and the steps and seconds of that file and
    of the files it started from in turn (``started_from_step``, ``started_from_seconds``: so its
    steps and hours continue the parent's); {} for a run from scratch."""
    parent = ck.get("started_from")
    if not parent or not Path(parent).is_file():
        return {}
    p = load_checkpoint(parent)
    up = _parent(p)
    return {"started_from": str(parent), "started_from_step": int(p["step"]) + up.get("started_from_step", 0),
            "started_from_seconds": float(p.get("seconds", 0.0)) + up.get("started_from_seconds", 0.0)}


def sample_default(n: int, segmenter, data, seed: int, path: str | None = None) -> dict:
    """What ``msknb sample`` draws with no ``--model`` and no ``--masks``, screened (``path``: a
    candidate to ship in its place, drawn the same way)."""
    path = Path(path) if path else CHECKPOINTS_DIR / SHIPPED_SAMPLE_DDPM
    size = load_model(path)[2].image_size
    p = _parts(size, data)
    masks = sample_masks(checkpoint_extras(path)["mask_prior"], n, size, seed=seed)
    x, seconds = draw_conditional(path, masks, steps=25, seed=seed, progress=True)
    drawn = x[:, 0]
    half = len(p["train"]) // 2
    return {"checkpoint": path.name, **guidance_record(path), "n": int(n), "seed": int(seed),
            "seconds_per_image": seconds / n, "threads": torch.get_num_threads(),
            "intensity": intensity_row(p["val"], drawn), "intensity_real_vs_real": intensity_row(p["val"], p["train"][:half]),
            "alignment": alignment_dice(segmenter, drawn, masks)}


def cascade(base: str, stage: str, segmenter, data, steps: int, seed: int) -> dict:
    _, _, config = load_model(stage)
    ck, ck_base = load_checkpoint(stage), load_checkpoint(base)
    p = _parts(config.image_size, data)
    t0 = time.perf_counter()
    drawn = sample_cascade(base, stage, p["val_masks"], steps=steps, seed=seed, progress=True)
    per_image = (time.perf_counter() - t0) / len(drawn)
    row = screen(drawn, p["val_masks"], p["val"], p["train"], p["train_ids"], p["val_clusters"],
                 p["train_clusters"], segmenter)
    keys = ("image_size", "fold", "dim", "prediction", "schedule", "zero_terminal_snr", "min_snr_gamma",
            "cond_dropout", "lowres_size", "lowres_noise")
    return {"checkpoint": str(stage), "base": str(base), "step": int(ck["step"]),
            "train_seconds": float(ck.get("seconds", 0.0)), "base_step": int(ck_base["step"]),
            "base_train_seconds": float(ck_base.get("seconds", 0.0)),
            "config": {k: ck["config"].get(k) for k in keys},
            "sampler": {"method": "ddim", "steps": steps, "spacing": "trailing (stage); the base's own",
                        **guidance_record(base), "seconds_per_image": per_image,
                        "threads": torch.get_num_threads()}, **row}


def _file_name(path: str) -> str:
    """The row's file name: the stem, with its run folder for a training snapshot
    (``outputs/gen256/RUN/snapshots/ema_step0006000.pt`` -> ``RUN/ema_step0006000``)."""
    p = Path(path)
    return f"{p.parent.parent.name}/{p.stem}" if p.parent.name == "snapshots" else p.stem


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--diagnostic", action="store_true")
    ap.add_argument("--checkpoint", action="append", default=[])
    ap.add_argument("--default", type=int, default=0, metavar="N",
                    help="screen N images of what `msknb sample` draws by default (masks from the prior)")
    ap.add_argument("--default-model", default=None, metavar="FILE",
                    help="with --default: screen this candidate (with its mask prior) in place of the shipped file; "
                         "stored as sample_default-<name>")
    ap.add_argument("--cascade", nargs=2, metavar=("BASE", "STAGE"), action="append", default=[])
    ap.add_argument("--segmenter", default=str(SHIPPED_SEGMENTER))
    ap.add_argument("--data", default=None)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=1.0)
    ap.add_argument("--seed", type=int, nargs="+", default=[0],
                    help="sampling seed(s); with several, the row adds the spread of its numbers over them")
    ap.add_argument("--guidance-interval", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                    help="guide only where LO <= t / (T - 1) <= HI (Kynkäänniemi et al. 2024); default: every step")
    ap.add_argument("--guidance-rescale", type=float, default=0.0,
                    help="guidance rescale phi in [0, 1] (Lin et al. 2024); 0 = off")
    ap.add_argument("--guidance-region", type=int, default=None, metavar="PX",
                    help="guide only within PX px of the mask (plain conditional elsewhere); default: everywhere")
    ap.add_argument("--guidance-coarse", type=float, default=None, metavar="SIGMA",
                    help="guide only the structure coarser than a Gaussian of SIGMA px (finer detail as the plain "
                         "conditional model draws it); default: every scale")
    ap.add_argument("--eta", type=float, default=0.0, help="DDIM eta: 0 deterministic, 1 as stochastic as DDPM")
    ap.add_argument("--method", choices=["ddim", "dpm++2m"], default="ddim",
                    help="sampler: DDIM (first order) or DPM-Solver++(2M) (second order, msknb.ddpm.dpm_solver)")
    ap.add_argument("--autoguide", nargs=2, metavar=("BAD", "W"), default=None,
                    help="autoguidance (Karras et al. 2024): guide each --checkpoint with the weaker model BAD, "
                         "out = bad + W (good - bad)")
    ap.add_argument("--autoguide-null", choices=NULL_BRANCHES, default="good",
                    help="with --autoguide: the output for the null mask of classifier-free guidance (the good "
                         "model's, the weak model's, or autoguided too)")
    ap.add_argument("--section", default="generators",
                    help="where the rows go: generators (candidates to ship, shown in notebook 07), guidance (the "
                         "shipped generator under other guidance settings, also shown in 07), training (the EMA "
                         "snapshots of one long run, shown in 07 against its step) or scarce_label (the "
                         "reference experiment's generators fine-tuned on one 10 %% subset) or sampling (newer "
                         "weights sampled in other ways: --autoguide, --guidance-region, averaged snapshots)")
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args(argv)
    data = Path(a.data) if a.data else default_data_dir()
    segmenter = load_segmenter(a.segmenter)
    out = {"generators": {}, "segmenter": Path(a.segmenter).name}
    if a.diagnostic:
        out["resolution_gap"] = diagnostic(segmenter, data)
        print(json.dumps(out["resolution_gap"], indent=1))
    for path in a.checkpoint:
        name = (f"{_file_name(path)}-w{a.guidance:g}-{a.method}{a.steps}" + (f"-eta{a.eta:g}" if a.eta else "")
                + ("-gi{:g}-{:g}".format(*a.guidance_interval) if a.guidance_interval else "")
                + (f"-rescale{a.guidance_rescale:g}" if a.guidance_rescale else "")
                + (f"-region{a.guidance_region}" if a.guidance_region is not None else "")
                + (f"-coarse{a.guidance_coarse:g}" if a.guidance_coarse is not None else "")
                + (f"-ag{float(a.autoguide[1]):g}-{_file_name(a.autoguide[0])}" if a.autoguide else "")
                + (f"-null{a.autoguide_null}" if a.autoguide and a.autoguide_null != "good" else "")
                + (f"-seeds{len(a.seed)}" if len(a.seed) > 1 else ""))
        rows = out.setdefault(a.section, {})
        setting = Guidance(a.guidance, a.guidance_interval, a.guidance_rescale, a.guidance_region, a.guidance_coarse)
        rows[name] = generator(path, segmenter, data, a.steps, setting, a.seed, a.eta, a.method, a.autoguide,
                               a.autoguide_null)
        print(name, json.dumps({k: rows[name][k] for k in ("intensity", "alignment", "domain", "over_seeds")
                                if k in rows[name]}))
    if a.default:
        key = "sample_default" if not a.default_model else f"sample_default-{_file_name(a.default_model)}"
        out[key] = sample_default(a.default, segmenter, data, a.seed[0], a.default_model)
        print(key, json.dumps({k: out[key][k] for k in ("intensity", "alignment")}))
    for base, stage in a.cascade:
        name = f"cascade-{Path(base).stem}-{Path(stage).stem}-ddim{a.steps}"
        out["generators"][name] = cascade(base, stage, segmenter, data, a.steps, a.seed[0])
        print(name, json.dumps({k: out["generators"][name][k] for k in ("intensity", "alignment", "domain")}))
    _merge_into(Path(a.out), out, SECTIONS + (a.section,))
    print("->", a.out)
    return 0


def _merge_into(path: Path, new: dict, sections) -> None:
    """Write ``new``'s rows into the screen file, re-read just before writing so that a bench
    run beside this one keeps its rows: sections of rows are merged by name, other keys replaced."""
    out = json.loads(path.read_text()) if path.is_file() else {}
    for key, value in new.items():
        if key in sections and isinstance(value, dict):
            out.setdefault(key, {}).update(value)
        else:
            out[key] = value
    write_json_atomic(path, out)


if __name__ == "__main__":
    raise SystemExit(main())
