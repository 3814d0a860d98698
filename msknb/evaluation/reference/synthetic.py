"""The reference experiment's synthetic set: one generated image for each real training mask.

The paper's setting: the generator saw all the kit's train images, and each synthetic image
comes with a label (here the real train mask the image was drawn for, at the generator's
size; the paper annotated its 200 images by hand). The images are drawn at the generator's
size (256 px for the shipped folded model) and resized to the experiment's
:data:`~.plan.RESOLUTION` px; the masks are the real train masks at that resolution.

Drawn in chunks of :data:`CHUNK` masks, each written as it finishes (``chunk_###.npz``) with
its own seed, so a killed run loses at most one chunk and a re-run continues. ``set.json``
records the generator (file, SHA-256, the ids it trained on), sampler, guidance and mask ids;
a folder drawn with other settings is moved aside, never mixed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from msknb.data.resize import resize_image, resize_mask
from msknb.ddpm.checkpoints import SHIPPED_SAMPLE_DDPM, guidance_record, load_model
from msknb.ddpm.synthetic_set import draw_conditional, generator_record, sampler_name
from msknb.errors import CheckpointError
from msknb.io import move_aside, sha256_file, write_json_atomic
from msknb.paths import CHECKPOINTS_DIR

#: masks drawn per chunk (one file each)
CHUNK = 16
SYNTHETIC_DIR = Path("outputs/reference_synthetic")


def _settings(checkpoint: Path, mask_ids: list[str], seed: int, steps: int, guidance: dict[str, Any]) -> dict[str, Any]:
    return {"checkpoint": checkpoint.name, "checkpoint_sha256": sha256_file(checkpoint), "mask_ids": mask_ids,
            "seed": int(seed), "steps": int(steps), **guidance, "chunk": CHUNK}


def _open_folder(folder: Path, settings: dict[str, Any]) -> None:
    """Keep ``folder`` when it was drawn with ``settings``; move it aside otherwise."""
    rec = folder / "set.json"
    if rec.is_file():
        try:
            old = json.loads(rec.read_text()).get("settings")
        except (OSError, ValueError):
            old = None
        if old == settings:
            return
        move_aside(folder, "this synthetic set was drawn with other settings")
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(rec, {"settings": settings, "complete": False})


def draw_reference_set(masks_hi: np.ndarray, mask_ids: list[str], size: int, folder: str | Path = SYNTHETIC_DIR,
                       checkpoint: str | Path | None = None, seed: int = 0, steps: int = 25,
                       guidance: float | None = None, progress: bool = True) -> dict[str, Any]:
    """``{"images": (N, size, size) float32 [0, 1], "masks": (N, size, size) float32 {0, 1},
    "record": generator record}``: one image per mask of ``masks_hi`` (N, H, W) {0, 1} at the
    generator's size, with ``mask_ids`` (N ids). Resumes from the chunks in ``folder``."""
    ckpt = Path(checkpoint) if checkpoint is not None else CHECKPOINTS_DIR / SHIPPED_SAMPLE_DDPM
    if not ckpt.is_file():
        raise CheckpointError("the generator checkpoint is missing", ckpt)
    gen_size = load_model(ckpt)[2].image_size
    folder = Path(folder)
    sampler_guidance = guidance_record(ckpt, guidance)
    _open_folder(folder, _settings(ckpt, list(mask_ids), seed, steps, sampler_guidance))
    m_gen = np.stack([resize_mask(m, gen_size) for m in masks_hi])
    starts = range(0, len(m_gen), CHUNK)
    for k in tqdm(starts, desc="synthetic set (chunks)", disable=not progress):
        path = folder / f"chunk_{k // CHUNK:03d}.npz"
        if path.is_file():
            continue
        t0 = time.process_time()
        x, _ = draw_conditional(ckpt, m_gen[k:k + CHUNK], steps=steps, seed=seed + k // CHUNK, progress=False,
                                batch_size=CHUNK, guidance=guidance)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, images=(x[:, 0] * 65535).round().astype(np.uint16),
                            cpu_seconds=np.float64(time.process_time() - t0))
        tmp.replace(path)
    chunks = [np.load(folder / f"chunk_{k // CHUNK:03d}.npz") for k in starts]
    hi = np.concatenate([c["images"] for c in chunks])
    timed = [float(c["cpu_seconds"]) for c in chunks if "cpu_seconds" in c.files]
    images = np.stack([resize_image(x.astype(np.float32) / 65535.0, size) for x in hi])
    masks = np.stack([resize_mask(m, size) for m in masks_hi]).astype(np.float32)
    record = generator_record(ckpt, "mask", sampler_name("ddim", steps, 0), len(images), **sampler_guidance,
                              condition_mask_ids=list(mask_ids), drawn_at_px=int(gen_size), resized_to_px=int(size),
                              seed=int(seed), draw_cpu_seconds=float(sum(timed)),
                              draw_chunks_timed=f"{len(timed)} of {len(chunks)}")
    write_json_atomic(folder / "set.json", {"settings": _settings(ckpt, list(mask_ids), seed, steps, sampler_guidance),
                                            "complete": True, "record": record})
    return {"images": images, "masks": masks, "record": record}
