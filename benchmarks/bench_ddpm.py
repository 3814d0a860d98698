"""Benchmark of msknb's DDPM pieces (one run, one machine; writes JSON).

1. Training throughput (images/s) of msknb's ``DiffusionUNet`` vs diffusers'
   ``UNet2DModel`` of about the same parameter count: same input size, batch, number of
   steps, loss (L1 on eps), optimiser (Adam), device, threads.
2. Sampling wall time of DDPM-T vs DDIM-k on the same msknb model (the shipped
   checkpoint when it fits the image size, else random weights) -> speed-up, plus a
   crude quality proxy of each (intensity statistics vs a real batch; lower = closer).

    python benchmarks/bench_ddpm.py                      # small CPU sizes, a few minutes
    python benchmarks/bench_ddpm.py --image-size 256 --dim 64 --mults 1 2 4 8 --batch 4 --channels 1   # GPU

Output: ``benchmarks/results/ddpm.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from msknb.ddpm import diffusion as D
from msknb.io import write_json_atomic
from msknb.ddpm.checkpoints import check_pretrained, load_model, pretrained_path
from msknb.ddpm.config import TrainConfig, build_model
from msknb.ddpm.quality import quality_proxy
from msknb.ddpm.sample import sample_images
from msknb.ddpm.unet import count_parameters
from msknb.paths import REPO_ROOT
from msknb.runner.machine import device_name


def diffusers_unet(target_params: int, image_size: int, channels: int, levels: int):
    """The diffusers UNet2DModel (DDPM-style: attention at the middle levels) whose
    parameter count is closest (in log ratio) to ``target_params``."""
    from diffusers import UNet2DModel

    best = None
    for width in (8, 16, 24, 32, 48, 64):
        for layers in (1, 2):
            blocks = tuple(width * m for m in (1, 2, 4, 8)[:levels])
            down = ["DownBlock2D"] + ["AttnDownBlock2D"] * max(0, levels - 2) + ["DownBlock2D"] * (levels > 1)
            up = ["UpBlock2D"] * (levels > 1) + ["AttnUpBlock2D"] * max(0, levels - 2) + ["UpBlock2D"]
            kw = dict(sample_size=image_size, in_channels=channels, out_channels=channels, layers_per_block=layers,
                      block_out_channels=blocks, down_block_types=tuple(down[:levels]),
                      up_block_types=tuple(up[-levels:]), norm_num_groups=8, attention_head_dim=8)
            n = sum(p.numel() for p in UNet2DModel(**kw).parameters())
            score = abs(math.log(n / target_params))
            if best is None or score < best[0]:
                best = (score, kw, n)
    model = UNet2DModel(**best[1])
    return model, best[1], best[2]


def train_throughput(model, forward, x0: torch.Tensor, schedule: D.Schedule, steps: int, warmup: int = 1) -> float:
    """Images per second of eps-prediction training steps (``msknb.ddpm.diffusion.diffusion_loss``:
    L1, Adam) on batch ``x0``; ``forward(x_t, t)`` is the network's raw output."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    model.train()

    def step():
        loss = D.diffusion_loss(forward, schedule, x0, loss="l1", generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if x0.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if x0.is_cuda:
        torch.cuda.synchronize()
    return steps * x0.shape[0] / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--mults", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--timesteps", type=int, default=300)
    ap.add_argument("--ddim-steps", type=int, default=50)
    ap.add_argument("--n-samples", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "ddpm.json"))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if (args.device == "auto" and torch.cuda.is_available()) else
                          ("cpu" if args.device == "auto" else args.device))
    torch.manual_seed(0)
    cfg = TrainConfig(image_size=args.image_size, channels=args.channels, dim=args.dim, dim_mults=tuple(args.mults),
                      timesteps=args.timesteps)
    schedule = D.make_schedule("linear", args.timesteps).to(device)
    x0 = (torch.rand(args.batch, args.channels, args.image_size, args.image_size) * 2 - 1).to(device)
    report = {"device": device_name(device), "torch": torch.__version__, "image_size": args.image_size,
              "channels": args.channels, "batch": args.batch, "train_steps_timed": args.train_steps}

    # ---- 1. training throughput -----------------------------------------------------
    ours = build_model(cfg).to(device)
    n_ours = count_parameters(ours)
    ours_ips = train_throughput(ours, lambda x, t: ours(x, t), x0, schedule, args.train_steps)
    theirs, kw, n_theirs = diffusers_unet(n_ours, args.image_size, args.channels, len(args.mults))
    theirs.to(device)
    theirs_ips = train_throughput(theirs, lambda x, t: theirs(x, t).sample, x0, schedule, args.train_steps)
    report["training"] = {
        "msknb_unet": {"params": n_ours, "img_per_s": ours_ips, "dim": args.dim, "dim_mults": args.mults},
        "diffusers_unet2d": {"params": n_theirs, "img_per_s": theirs_ips,
                             "block_out_channels": list(kw["block_out_channels"]),
                             "layers_per_block": kw["layers_per_block"]},
        "param_ratio_diffusers_over_msknb": n_theirs / n_ours,
        "throughput_ratio_msknb_over_diffusers": ours_ips / theirs_ips,
    }
    print(f"training: msknb {n_ours / 1e6:.2f}M params {ours_ips:.2f} img/s | diffusers {n_theirs / 1e6:.2f}M params "
          f"{theirs_ips:.2f} img/s", flush=True)
    del theirs

    # ---- 2. sampling: DDPM-T vs DDIM-k --------------------------------------------------
    shipped = pretrained_path("ddpm_dltrack_64.pt")
    model, source = ours.eval(), "random weights"
    if shipped is not None and check_pretrained(shipped, cfg)[0]:
        model, schedule_cpu, _ = load_model(shipped, map_location=device)
        source = f"shipped checkpoint {shipped.name}"
    model.image_size = args.image_size
    real = None
    try:
        from msknb.data.loading import load_folder
        from msknb.paths import shared_data_dir

        if (shared_data_dir() / "images").is_dir():
            real = load_folder(shared_data_dir(), image_size=args.image_size, max_images=32, seed=0).images
    except Exception as e:  # noqa: BLE001 - the proxy is optional
        print(f"no real batch for the quality proxy: {e}")
    sampling = {"model": source, "n_samples": args.n_samples, "timesteps": args.timesteps}
    for method, steps in (("ddpm", args.timesteps), ("ddim", args.ddim_steps)):
        t0 = time.perf_counter()
        x = sample_images(model, schedule, args.n_samples, method=method, steps=steps, seed=0,
                          batch_size=args.n_samples, progress=False)
        sec = time.perf_counter() - t0
        entry = {"steps": steps, "seconds": sec}
        if real is not None:
            entry["quality_proxy_vs_real"] = quality_proxy(real, x)
        sampling[f"{method}_{steps}"] = entry
        print(f"{method.upper()}-{steps}: {sec:.1f} s for {args.n_samples} images", flush=True)
    sampling["speedup_ddim_over_ddpm"] = sampling[f"ddpm_{args.timesteps}"]["seconds"] / \
        sampling[f"ddim_{args.ddim_steps}"]["seconds"]
    report["sampling"] = sampling
    out = write_json_atomic(args.out, report)
    print(f"speed-up DDIM-{args.ddim_steps} vs DDPM-{args.timesteps}: {sampling['speedup_ddim_over_ddpm']:.1f}x -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
