"""What a generator costs on a CPU: training images per second and seconds to draw one image,
measured with random weights for the architectures the kit compares (pixel U-Net at 64 and
256 px, folded 256 px, the cascade's two stages).

:func:`measure_cost` times one architecture; ``benchmarks/bench_generator_cost.py`` runs them
all and writes :data:`COST_TABLE` (one writer); :func:`read_cost_table` is its one reader
(notebook 04).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msknb.ddpm import diffusion as D
from msknb.ddpm.config import TrainConfig, build_model, schedule_of
from msknb.stored_results import StoredResult, read_stored_result

COST_TABLE = StoredResult("generator_cost.json", "benchmarks/bench_generator_cost.py", "generator cost table")
#: name -> TrainConfig fields of each architecture in the table
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "pixel 64 px, width 16": {"image_size": 64, "dim": 16, "condition": "mask"},
    "pixel 256 px, width 16": {"image_size": 256, "dim": 16, "condition": "mask"},
    "fold 4 at 256 px, width 16": {"image_size": 256, "dim": 16, "fold": 4, "condition": "mask"},
    "fold 4 at 256 px, width 32 (shipped)": {"image_size": 256, "dim": 32, "fold": 4, "condition": "mask"},
    "cascade stage: fold 4 at 256 px, width 32, + 64 px image": {"image_size": 256, "dim": 32, "fold": 4,
                                                                 "condition": "mask+lowres"},
}


def measure_cost(fields: dict[str, Any], batch_size: int = 8, steps: int = 3, sample_steps: int = 25,
                 seed: int = 0) -> dict[str, Any]:
    """``{"train_img_per_s", "sample_s_per_image", "parameters"}`` of the architecture ``fields``
    (TrainConfig fields; dim_mults (1, 2, 4, 8), v-prediction): the median of ``steps`` Adam
    steps on a batch of ``batch_size`` random images after one warm-up step, and the median
    network call on one image times ``sample_steps`` (a DDIM sampler's cost), in this
    process's torch threads (the median keeps a busy machine's bursts out)."""
    torch.manual_seed(seed)
    cfg = TrainConfig(**{"channels": 1, "dim_mults": (1, 2, 4, 8), "prediction": "v", "batch_size": batch_size,
                         **fields})
    model, schedule = build_model(cfg), schedule_of(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    s = cfg.image_size
    x0 = torch.rand(batch_size, 1, s, s) * 2 - 1
    cond = torch.rand(batch_size, cfg.condition_channels, s, s) * 2 - 1

    def step() -> None:
        loss = D.diffusion_loss(lambda x, t: model(D.with_condition(x, cond), t), schedule, x0, prediction="v")
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    train = batch_size / float(np.median(times))
    calls = []
    with torch.inference_mode():
        x1 = torch.randn(1, 1, s, s)
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            model(D.with_condition(x1, cond[:1]), torch.zeros(1, dtype=torch.long))
            calls.append(time.perf_counter() - t0)
    call = float(np.median(calls[1:]))
    return {"train_img_per_s": train, "sample_s_per_image": call * sample_steps,
            "parameters": sum(p.numel() for p in model.parameters())}


def read_cost_table(path: str | Path | None = None) -> dict[str, Any]:
    """The stored table ``{"rows": {name: measure_cost(...) + "fields"}, "threads", "command",
    ...}`` (``path``, default ``COST_TABLE.path``); StoredResultError (a CheckpointError)
    naming the file and the command that writes it when absent or garbled."""
    return read_stored_result(COST_TABLE, lambda r: r["rows"], path)


def cost_reading(table: dict[str, Any], reference: str = "pixel 64 px, width 16") -> str:
    """One sentence from the table: each architecture's training cost per image relative to
    ``reference``, and what sampling one image costs."""
    rows = table["rows"]
    ref = rows[reference]["train_img_per_s"]
    parts = [f"{name}: {ref / r['train_img_per_s']:.1f}x per training image, {r['sample_s_per_image']:.1f} s to draw "
             "one" for name, r in rows.items() if name != reference]
    return (f"Relative to the {reference} U-Net ({ref:.1f} training images per second, "
            f"{rows[reference]['sample_s_per_image']:.1f} s to draw one image with DDIM-25, "
            f"{table.get('threads', 1)} thread): " + "; ".join(parts) + ".")
