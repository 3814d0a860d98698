"""Sampling a trained DDPM and exporting synthetic images (PNG, DICOM, DL_Track layout).

* :func:`sample_images` runs the reverse process of ``msknb.ddpm.diffusion``: ancestral DDPM
  (T network calls) or DDIM (``steps`` calls, Song et al. 2021) and returns images
  (n, C, H, W) in [0, 1]; in joint mode channel 1 is the generated aponeurosis mask.
* :func:`write_synthetic_set` writes them in the DL_Track layout (``images/``,
  ``masks/``, ``dicom/``, ``manifest.csv``) so ``msknb.data.loading.load_folder`` reads the
  synthetic set exactly like the real one.
* :func:`time_samplers` measures DDPM-T vs DDIM-k wall time on the same model.
"""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from msknb.ddpm import diffusion as D
from msknb.errors import ConfigError, DataError
from msknb.io import ensure_dir, write_bytes_atomic, write_text_atomic

__all__ = ["sample_images", "to_uint8", "export_png", "export_dicom", "write_synthetic_set", "time_samplers",
           "save_grid_png", "split_channels", "register_cli", "MANIFEST_FIELDS", "find_checkpoint",
           "image_stats", "quality_proxy", "sampler_comparison_figure", "real_vs_synthetic_figure"]

METHODS = ("ddpm", "ddim")
MANIFEST_FIELDS = ("id", "width", "height", "group", "subject", "spacing_row_mm", "spacing_col_mm")


def _denoiser(model: torch.nn.Module, device: torch.device):
    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model(x_t, t).float()

    return denoise


@torch.no_grad()
def sample_images(model: torch.nn.Module, schedule: D.Schedule, n: int, method: str = "ddpm", steps: int = 50,
                  eta: float = 0.0, seed: int = 0, batch_size: int = 16, progress: bool = True,
                  image_size: int | None = None, clip_x0: bool = True) -> np.ndarray:
    """Generate ``n`` samples with the (EMA) noise predictor ``model``.

    ``method`` 'ddpm' (ancestral, ``schedule.timesteps`` network calls per batch) or
    'ddim' (``steps`` calls, ``eta`` = 0 deterministic). ``image_size`` defaults to the
    model's training size when known (``model.image_size``) else 64 px. The predicted
    x_0 is clipped to [-1, 1] at each step (``clip_x0``), as in the annotated-diffusion
    sampler's usual setting. Seeded: the same seed gives the same images (CPU).

    Returns float32 (n, C, H, W) in [0, 1] (C = model.channels; joint mode: channel 1 is
    the mask, still continuous -- binarise with ``> 0.5``).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown sampling method {method!r}; choose ddpm or ddim", "method")
    if int(n) < 1:
        raise ConfigError(f"n must be >= 1, got {n}", "n")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}", "batch_size")
    if method == "ddim":
        D.ddim_timesteps(schedule.timesteps, steps)  # validates steps
    device = next(model.parameters()).device
    size = int(image_size or getattr(model, "image_size", None) or 64)
    channels = int(getattr(model, "channels", 1))
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(int(seed))
    sched = schedule.to(device)
    out = []
    bar = None
    n_batches = math.ceil(n / batch_size)
    if progress and n_batches > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=f"{method.upper()} samples", unit="img")
    try:
        for b in range(n_batches):
            m = min(batch_size, n - b * batch_size)
            shape = (m, channels, size, size)
            if method == "ddpm":
                x = D.ddpm_sample_loop(_denoiser(model, device), sched, shape, generator=gen,
                                       progress=progress and n_batches == 1, clip_x0=clip_x0, device=device)
            else:
                x = D.ddim_sample_loop(_denoiser(model, device), sched, shape, steps=steps, eta=eta, generator=gen,
                                       progress=progress and n_batches == 1, clip_x0=clip_x0, device=device)
            out.append(((x.clamp(-1, 1) + 1) / 2).float().cpu().numpy())
            if bar is not None:
                bar.update(m)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return np.concatenate(out, axis=0).astype(np.float32)


def split_channels(images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(n, C, H, W) [0, 1] -> (images (n, H, W) float32, masks (n, H, W) uint8 {0, 1} or None).
    The mask channel (C = 2) is binarised at 0.5."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 3:
        return arr, None
    if arr.ndim != 4 or arr.shape[1] not in (1, 2):
        raise DataError(f"images must be (n, H, W) or (n, 1|2, H, W), got {arr.shape}", "images")
    masks = (arr[:, 1] > 0.5).astype(np.uint8) if arr.shape[1] == 2 else None
    return arr[:, 0], masks


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float (H, W) in [0, 1] -> uint8 (clipped, rounded)."""
    return np.round(np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64)), 0, 1) * 255).astype(np.uint8)


def _png_bytes(arr_uint8: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr_uint8, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def save_grid_png(images: np.ndarray, path: str | Path, ncols: int = 8, pad: int = 2) -> Path:
    """Write a simple PNG mosaic of ``images`` (n, C, H, W) or (n, H, W) in [0, 1]:
    one row of images and, in joint mode, the masks (0/255) on the row below. Atomic."""
    imgs, masks = split_channels(images)
    n, h, w = imgs.shape
    ncols = max(1, min(ncols, n))
    rows_per = 2 if masks is not None else 1
    nrows = math.ceil(n / ncols)
    canvas = np.zeros((nrows * rows_per * (h + pad) + pad, ncols * (w + pad) + pad), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = pad + r * rows_per * (h + pad), pad + c * (w + pad)
        canvas[y:y + h, x:x + w] = to_uint8(imgs[i])
        if masks is not None:
            canvas[y + h + pad:y + 2 * h + pad, x:x + w] = masks[i] * 255
    return write_bytes_atomic(path, _png_bytes(canvas))


def _ids(n: int, prefix: str) -> list[str]:
    return [f"{prefix}_{i + 1:05d}" for i in range(n)]


def export_png(images: np.ndarray, out_dir: str | Path, prefix: str = "syn") -> list[Path]:
    """Write images (n, C, H, W) or (n, H, W) in [0, 1] as 8-bit PNGs
    ``out_dir/images/<prefix>_00001.png`` ...; in joint mode the mask channel is
    binarised to 0/255 under ``out_dir/masks/`` with the same names. Returns the image paths."""
    imgs, masks = split_channels(images)
    out = Path(out_dir)
    paths = []
    for i, name in enumerate(_ids(len(imgs), prefix)):
        paths.append(write_bytes_atomic(out / "images" / f"{name}.png", _png_bytes(to_uint8(imgs[i]))))
        if masks is not None:
            write_bytes_atomic(out / "masks" / f"{name}.png", _png_bytes(masks[i].astype(np.uint8) * 255))
    return paths


def _spacing_pair(spacing_mm) -> tuple[float, float] | None:
    """(row_mm, col_mm) or None when unknown (None / NaN)."""
    if spacing_mm is None:
        return None
    vals = np.atleast_1d(np.asarray(spacing_mm, dtype=np.float64)).ravel()
    if vals.size == 1:
        vals = np.repeat(vals, 2)
    if vals.size != 2:
        raise ConfigError(f"spacing_mm must be one number or (row_mm, col_mm), got {spacing_mm!r}", "spacing_mm")
    if not np.all(np.isfinite(vals)):
        return None
    if np.any(vals <= 0):
        raise ConfigError(f"spacing_mm must be positive, got {spacing_mm!r}", "spacing_mm")
    return float(vals[0]), float(vals[1])


def export_dicom(images: np.ndarray, out_dir: str | Path, spacing_mm, prefix: str = "syn",
                 description: str = "msknb synthetic (DDPM)") -> list[Path]:
    """Write the image channel of ``images`` (n, C, H, W) / (n, H, W) in [0, 1] as 8-bit
    Ultrasound DICOMs ``out_dir/<prefix>_00001.dcm`` ... in one series, with
    ``spacing_mm`` (row_mm, col_mm) per pixel and no patient identifiers
    (``msknb.data.dicom.write_dicom``). Returns the paths; [] when spacing is unknown (NaN/None),
    since a DICOM without a real pixel spacing would mislead."""
    from pydicom.uid import generate_uid

    from msknb.data.dicom import write_dicom

    spacing = _spacing_pair(spacing_mm)
    if spacing is None:
        return []
    imgs, _ = split_channels(images)
    series = generate_uid()
    return [write_dicom(Path(out_dir) / f"{name}.dcm", to_uint8(imgs[i]), spacing, description=description,
                        series_uid=series, instance=i + 1) for i, name in enumerate(_ids(len(imgs), prefix))]


def write_synthetic_set(images: np.ndarray, out_dir: str | Path, spacing_mm=None, group: str = "synthetic",
                        prefix: str | None = None, append: bool = False) -> dict[str, Any]:
    """Write a synthetic set in the DL_Track layout that ``msknb.data.loading.load_folder`` reads:

    ``out_dir/images/<id>.png``, ``out_dir/masks/<id>.png`` (joint mode, 0/255),
    ``out_dir/dicom/<id>.dcm`` (when ``spacing_mm`` is known) and ``out_dir/manifest.csv``
    with columns id, width, height, group, subject, spacing_row_mm, spacing_col_mm
    (spacing empty when unknown; subject = id: each synthetic image is its own "subject").

    ``images`` (n, C, H, W) or (n, H, W) in [0, 1]; ``spacing_mm`` (row_mm, col_mm) mm per
    pixel at this resolution, or None/NaN. ``prefix`` defaults to ``group``; with
    ``append`` rows are added to an existing manifest (one call per group).
    Returns ``{"n", "images", "masks", "dicom", "manifest"}`` (counts and the manifest path).
    """
    out = ensure_dir(out_dir)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in group)
    prefix = prefix or ("syn" if group == "synthetic" else f"syn_{safe}")
    imgs, masks = split_channels(images)
    pngs = export_png(images, out, prefix)
    dicoms = export_dicom(images, out / "dicom", spacing_mm, prefix)
    spacing = _spacing_pair(spacing_mm)
    rows = []
    manifest = out / "manifest.csv"
    if append and manifest.is_file():
        with open(manifest, newline="") as fh:
            rows = [r for r in csv.DictReader(fh)]
    new_ids = {p.stem for p in pngs}
    rows = [r for r in rows if r.get("id") not in new_ids]
    for p in pngs:
        rows.append({"id": p.stem, "width": imgs.shape[2], "height": imgs.shape[1], "group": group,
                     "subject": p.stem,
                     "spacing_row_mm": "" if spacing is None else f"{spacing[0]:.6g}",
                     "spacing_col_mm": "" if spacing is None else f"{spacing[1]:.6g}"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_FIELDS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in MANIFEST_FIELDS})
    write_text_atomic(manifest, buf.getvalue())
    return {"n": len(pngs), "images": len(pngs), "masks": 0 if masks is None else len(pngs), "dicom": len(dicoms),
            "manifest": manifest, "out_dir": out}


def time_samplers(model: torch.nn.Module, schedule: D.Schedule, n: int = 4, ddim_steps: Sequence[int] | int = 50,
                  seed: int = 0, progress: bool = False, include_ddpm: bool = True,
                  return_images: bool = False) -> dict[str, Any]:
    """Wall time (seconds) of sampling ``n`` images in one batch with DDPM (T steps) and
    DDIM with each of ``ddim_steps``, same model, same starting seed.

    Returns ``{"ddpm_<T>": s, "ddim_<k>": s, ...}`` (+ ``"images": {name: (n, C, H, W)}``
    with ``return_images``)."""
    steps_list = [ddim_steps] if isinstance(ddim_steps, int) else list(ddim_steps)
    times: dict[str, Any] = {}
    images = {}
    runs = ([("ddpm", schedule.timesteps)] if include_ddpm else []) + [("ddim", k) for k in steps_list]
    for method, k in runs:
        t0 = time.perf_counter()
        x = sample_images(model, schedule, n, method=method, steps=k, seed=seed, batch_size=n, progress=progress)
        name = f"{method}_{k}"
        times[name] = time.perf_counter() - t0
        images[name] = x
    if return_images:
        times["images"] = images
    return times


# --------------------------------------------------------------------------------------
# notebook helpers
# --------------------------------------------------------------------------------------
def find_checkpoint(out_dir: str | Path | None, pretrained: str | None = "ddpm_dltrack_64.pt") -> tuple[Path | None, str]:
    """The checkpoint notebook 04 samples from, and a sentence saying which and why:
    ``out_dir/ddpm/checkpoint.pt`` (written by 03; the first ``out_dir/ddpm/*/checkpoint.pt``
    with several groups), else the shipped ``msknb/checkpoints/<pretrained>``
    (default ``ddpm_dltrack_64.pt``), else ``(None, reason)``."""
    from msknb.ddpm.train import pretrained_path

    if out_dir is not None:
        own = Path(out_dir) / "ddpm" / "checkpoint.pt"
        if own.is_file():
            return own, f"using the model trained by 03_train_ddpm: {own}"
        per_group = sorted((Path(out_dir) / "ddpm").glob("*/checkpoint.pt"))
        if per_group:
            return per_group[0], f"using the model trained by 03_train_ddpm for group {per_group[0].parent.name}"
    shipped = pretrained_path(pretrained or "ddpm_dltrack_64.pt")
    if shipped is not None:
        return shipped, (f"no checkpoint from 03_train_ddpm in {out_dir}; falling back to the shipped "
                         f"checkpoint {shipped.name}")
    return None, f"no checkpoint from 03_train_ddpm in {out_dir} and no shipped checkpoint"


def image_stats(images: np.ndarray, bins: int = 32) -> dict[str, Any]:
    """Intensity statistics of the image channel of ``images`` ((n, C, H, W) or (n, H, W)
    in [0, 1]): mean, std, skewness, and the normalised histogram (``bins`` bins)."""
    imgs, _ = split_channels(images)
    v = imgs.astype(np.float64).ravel()
    mean, std = float(v.mean()), float(v.std())
    skew = float(((v - mean) ** 3).mean() / std ** 3) if std > 0 else 0.0
    hist = np.histogram(v, bins=bins, range=(0, 1))[0].astype(np.float64)
    return {"mean": mean, "std": std, "skewness": skew, "hist": hist / max(hist.sum(), 1)}


def quality_proxy(real: np.ndarray, synthetic: np.ndarray) -> dict[str, float]:
    """A cheap, crude realism proxy (not a substitute for FID/SSIM of notebook 07):
    absolute differences of the intensity mean, std and skewness between ``real`` and
    ``synthetic`` images, plus the L1 distance of their 32-bin intensity histograms
    (0 = identical distributions, 2 = disjoint). Lower is closer to the real data."""
    a, b = image_stats(real), image_stats(synthetic)
    return {"abs_diff_mean": abs(a["mean"] - b["mean"]), "abs_diff_std": abs(a["std"] - b["std"]),
            "abs_diff_skewness": abs(a["skewness"] - b["skewness"]),
            "hist_l1": float(np.abs(a["hist"] - b["hist"]).sum())}


def sampler_comparison_figure(times: dict[str, Any], images: dict[str, np.ndarray] | None = None, max_show: int = 4):
    """Figure: for each sampler in ``times`` (``time_samplers(..., return_images=True)``)
    a row of up to ``max_show`` samples (mask overlaid in joint mode) titled with its
    wall time. Returns the Figure."""
    import matplotlib.pyplot as plt

    from msknb.viz import overlay_mask

    images = images if images is not None else times.get("images", {})
    names = [k for k in times if k != "images"]
    ncols = max(1, min(max_show, max(len(images[k]) for k in names)))
    fig, axes = plt.subplots(len(names), ncols, figsize=(1.9 * ncols, 2.1 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        imgs, masks = split_channels(images[name])
        for c in range(ncols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(imgs):
                ax.imshow(overlay_mask(imgs[c], None if masks is None else masks[c]), cmap="gray", vmin=0, vmax=1)
        method, steps = name.split("_")
        axes[r, 0].set_title(f"{method.upper()} {steps} steps: {times[name]:.1f} s", fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def real_vs_synthetic_figure(real_images: np.ndarray, real_masks: np.ndarray | None, synthetic: np.ndarray,
                             n: int = 8):
    """Two rows: ``n`` real images (H, W) [0, 1] with their masks, and ``n`` synthetic
    samples (n, C, H, W) with their generated masks. Returns the Figure."""
    import matplotlib.pyplot as plt

    from msknb.viz import overlay_mask

    syn, syn_masks = split_channels(synthetic)
    n = max(1, min(n, len(real_images), len(syn)))
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.2), squeeze=False)
    for c in range(n):
        axes[0, c].imshow(overlay_mask(real_images[c], None if real_masks is None else real_masks[c]))
        axes[1, c].imshow(overlay_mask(syn[c], None if syn_masks is None else syn_masks[c]))
        axes[0, c].axis("off")
        axes[1, c].axis("off")
    axes[0, 0].set_title("real", fontsize=9, loc="left")
    axes[1, 0].set_title("synthetic (DDPM)", fontsize=9, loc="left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
def _cli_sample(args) -> int:
    from msknb.ddpm.train import load_model

    model, schedule, config = load_model(args.model)
    model.image_size = config.image_size
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    x = sample_images(model, schedule, args.n, method=args.method, steps=args.steps, eta=args.eta, seed=args.seed,
                      batch_size=args.batch_size, progress=not args.quiet)
    seconds = time.perf_counter() - t0
    spacing = None if args.spacing is None else tuple(args.spacing) if len(args.spacing) == 2 else args.spacing[0]
    info = write_synthetic_set(x, args.out, spacing_mm=spacing, group=args.group)
    print(f"{info['n']} images ({info['masks']} masks, {info['dicom']} DICOM) in {seconds:.1f} s -> {args.out}")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("sample", help="generate synthetic images from a trained DDPM",
                              description="Sample a DDPM checkpoint (DDPM or DDIM) and write the images in the "
                                          "DL_Track layout (images/, masks/, dicom/, manifest.csv).")
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
