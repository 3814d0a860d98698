"""What the ``paper`` profile asks of a machine without a GPU, said before a run starts.

The ``paper`` profile is the paper's settings (256 px networks, 300 epochs, 200 synthetic
images): it is meant for a GPU. ``msknb run --profile paper`` on a machine where
``torch.cuda.is_available()`` is False first prints :func:`paper_cpu_notice`: a rough time for
the notebooks selected, from the number of images in the data folder (``max_images`` when
given) and the parameters given, and the memory it needs. The time counts the images that
pass through the heavy cells' networks (training steps, sampling calls) times the seconds
one image took on one core (:data:`SECONDS_PER_IMAGE`); the light notebooks and cells
(loading, figures, metrics: minutes) are left out. Rough: a factor of 2 either way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from msknb.runner.cell_progress import duration
from msknb.data.folder import find_layout
from msknb.data.readers import ALL_EXTS
from msknb.profiles import PROFILES, settings

#: seconds per image on one core (torch with 1 thread) of the 2-core development machine
#: (Intel Xeon, shared: load 4-5), paper settings, 256 px, measured 2026-12-04:
#: ddpm_train = one training step of the paper DDPM U-Net (D 64, batch 4: 38-44 s per batch),
#: ddpm_call = one sampling call of it (no gradients, batch 4), toy_train = one training step
#: of notebook 02's toy denoiser (D 32, batch 4), seg_train = one training step of the paper
#: Attention-UNet (batch 8).
SECONDS_PER_IMAGE = {"ddpm_train": 10.0, "ddpm_call": 2.7, "toy_train": 4.8, "seg_train": 0.9}
#: share of the images in the training part of the split 03 and 05 use (the kit split: 80 %)
TRAIN_SHARE = 0.8
#: peak memory of the kernel (MiB) measured by the runner for paper-profile 03 on 8 images on
#: this CPU (256 px U-Net, batch 4; benchmarks in msknb.ddpm.unet.CPU_CHECKPOINT_ELEMENTS)
PAPER_03_PEAK_MIB = 3672


def count_images(data_dir: str | Path) -> int:
    """Image and DICOM files in ``data_dir``'s image folder (the layouts of :func:`msknb.data.load_folder`)."""
    images_dir, _ = find_layout(Path(data_dir))
    return sum(1 for p in images_dir.iterdir()
               if p.is_file() and p.suffix.lower() in ALL_EXTS and not p.name.startswith("."))


def _n(count: int, noun: str) -> str:
    """``"1 epoch"``, ``"300 epochs"``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _topic(topic: str, params: dict[str, Any]) -> dict[str, Any]:
    """The paper settings of ``topic`` with the overrides in ``params`` that it knows."""
    return settings(topic, "paper", **{k: v for k, v in params.items() if k in PROFILES[topic]["paper"]})


def _segmentation_images(params: dict[str, Any], seg: dict[str, Any], n_train: float, n_gen: int) -> float:
    """Images per epoch summed over 05's experiments (``mix``: real + synthetic in one set;
    ``pretrain``: each x+Gen fine-tunes the Gen model on its real part)."""
    from msknb.segmentation.experiments import experiment_list, parse_experiment  # local: 3 s, paper on a CPU only

    total = 0.0
    for name in experiment_list(params.get("experiments"), default=seg["grid"]):
        e = parse_experiment(name)
        with_gen = e["gen"] and (e["fraction"] == 0 or seg["gen_use"] == "mix")
        total += e["fraction"] * n_train + (n_gen if with_gen else 0)
    return total


def heavy_seconds(n_images: int, params: dict[str, Any], notebooks: Sequence[str]) -> dict[str, tuple[float, str]]:
    """Notebook -> (seconds on one core, what they are spent on) of the heavy cells of the
    ``paper`` profile on ``n_images`` images; ``params`` are the runner's ``-p`` values."""
    sec, out = SECONDS_PER_IMAGE, {}
    diff, ddpm, seg = _topic("diffusion", params), _topic("ddpm", params), _topic("segment", params)
    n_train = TRAIN_SHARE * n_images
    if "02_reverse_diffusion" in notebooks:
        steps, batch = diff["toy_train_steps"], diff["toy_batch_size"]
        out["02_reverse_diffusion"] = (steps * batch * sec["toy_train"], f"{steps} toy training steps x {batch} images")
    if "03_train_ddpm" in notebooks:
        out["03_train_ddpm"] = ((ddpm["epochs"] * n_train + ddpm["batch_size"]) * sec["ddpm_train"]
                                + 10 * ddpm["ddim_steps"] * sec["ddpm_call"],
                                f"{_n(ddpm['epochs'], 'epoch')} x ~{n_train:.0f} training images, "
                                f"10 samples x DDIM-{ddpm['ddim_steps']}")
    if "04_sampling" in notebooks:
        calls = ddpm["n_samples"] * ddpm["ddim_steps"] + ddpm["n_timing"] * (ddpm["timesteps"] + ddpm["ddim_steps"])
        out["04_sampling"] = (calls * sec["ddpm_call"], f"{ddpm['n_samples']} samples x DDIM-{ddpm['ddim_steps']}, "
                                                        f"DDPM-{ddpm['timesteps']} timing of {ddpm['n_timing']}")
    if "05_segmentation" in notebooks:
        per_epoch = _segmentation_images(params, seg, n_train, ddpm["n_samples"])
        out["05_segmentation"] = (seg["epochs"] * per_epoch * sec["seg_train"],
                                  f"{_n(seg['epochs'], 'epoch')} x ~{per_epoch:.0f} images over the experiments")
    return out


def paper_cpu_notice(data_dir: str | Path, params: dict[str, Any], notebooks: Sequence[str], threads: int) -> str:
    """The lines ``msknb run --profile paper`` prints first on a machine without a GPU."""
    n_all = count_images(data_dir)
    n = min(n_all, int(params["max_images"])) if params.get("max_images") else n_all
    parts = heavy_seconds(n, params, notebooks)
    lines = ["note: the paper profile is meant for a GPU; this machine has none (torch.cuda.is_available() "
             "is False), so it runs on the CPU.",
             f"  {n} images" + (f" (max_images of {n_all})" if n < n_all else "")
             + "; rough time of the heavy cells on one core (measured per image, msknb/cpu_estimate.py):"]
    lines += [f"    {name:22s} {duration(s):>14s}  ({what})" for name, (s, what) in parts.items()]
    total = sum(s for s, _ in parts.values())
    if parts:
        faster = f", perhaps {duration(total / threads)} on the {threads} cores this run uses" if threads > 1 else ""
        lines.append(f"  total about {duration(total)} on one core{faster}, plus minutes for the rest.")
    if "03_train_ddpm" in notebooks or "04_sampling" in notebooks:
        lines.append(f"  memory: the 256-px DDPM of 03 peaked at about {PAPER_03_PEAK_MIB / 1024:.1f} GB "
                     "(8 images, measured by the runner).")
    lines.append("  to try it on a subset: --only 03 -p max_images=8 -p epochs=1 -p ddim_steps=5 "
                 "(README: trying the paper profile on a CPU)")
    return "\n".join(lines)
