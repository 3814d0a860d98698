"""The GPU path in one command: how fast the paper's DDPM trains and samples on this device.

Measures, for the paper's U-Net (dim 64, mults 1-2-4-8, T = 300, L1, Adam, batch 4) at
256² (``--image-size``):

* training images/s in fp32, bf16 autocast, bf16 + channels-last, and bf16 + channels-last
  + ``torch.compile`` (each: ``--warmup`` untimed steps, then ``--steps`` timed steps);
* model FLOPs per training image (forward + backward, counted by
  ``torch.utils.flop_counter.FlopCounterMode``) and the model FLOPs utilisation (MFU) =
  achieved FLOP/s / the device's peak (bf16 dense peak for bf16 modes, fp32 peak for fp32;
  the peak comes from ``--peak-tflops`` or the table below);
* DDPM-300 vs DDIM-50 sampling time for ``--n-samples`` (64) images, bf16 + channels-last;
* the paper profile's time per epoch of 300 images and its projection for 300 epochs.

    .venv/bin/python benchmarks/gpu_check.py                     # on a GPU: ~5 minutes on an H200
    .venv/bin/python benchmarks/gpu_check.py --tiny              # CPU: toy sizes, seconds (the test)

Writes ``benchmarks/results/gpu_check.json`` (or ``--out``) after every measurement, so a
run cut short keeps what it measured; the device is named in the file.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from msknb.ddpm import diffusion as D
from msknb.ddpm.unet import DiffusionUNet, count_parameters
from msknb.io import write_json_atomic
from msknb.paths import REPO_ROOT
from msknb.runner.machine import device_name

#: dense peak TFLOP/s by device-name fragment: (bf16, fp32) from the vendors' data sheets
PEAK_TFLOPS = {"H200": (989.0, 67.0), "H100": (989.0, 67.0), "A100": (312.0, 19.5), "L40S": (362.0, 91.6),
               "4090": (165.0, 82.6)}
MODES = {  # name: (autocast dtype or None, channels_last, compile)
    "fp32": (None, False, False),
    "bf16": (torch.bfloat16, False, False),
    "bf16_channels_last": (torch.bfloat16, True, False),
    "bf16_channels_last_compile": (torch.bfloat16, True, True),
}


def device_info(device: torch.device) -> dict:
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return {"name": p.name, "memory_gib": round(p.total_memory / 2 ** 30, 1), "cuda": torch.version.cuda}
    return {"name": f"CPU ({device_name(device)})"}


def peak_for(name: str, bf16: bool, override: float | None) -> float | None:
    """Peak FLOP/s of the device for the precision (None when unknown)."""
    if override:
        return override * 1e12
    for key, (p16, p32) in PEAK_TFLOPS.items():
        if key in name:
            return (p16 if bf16 else p32) * 1e12
    return None


def make_model(args, device: torch.device, channels_last: bool) -> DiffusionUNet:
    torch.manual_seed(0)
    model = DiffusionUNet(dim=args.dim, dim_mults=tuple(args.mults), channels=1).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def train_step_fn(model, opt, schedule, dtype):
    """One optimiser step of the paper's objective (``msknb.ddpm.diffusion.diffusion_loss``:
    L1 on eps), autocast to ``dtype``."""
    def step(x0: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x0.device.type, dtype=dtype, enabled=dtype is not None):
            loss = D.diffusion_loss(lambda x, t: model(x, t).float(), schedule, x0, loss="l1")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    return step


def flops_per_image(args, device: torch.device, schedule) -> float:
    """Forward + backward FLOPs of one training image (counted on a batch, divided)."""
    model = make_model(args, device, False)
    x0 = torch.randn(args.batch, 1, args.image_size, args.image_size, device=device)
    with FlopCounterMode(display=False) as fc:
        D.diffusion_loss(model, schedule, x0, loss="l1").backward()
    return fc.get_total_flops() / args.batch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_mode(args, device, schedule, mode: str) -> dict:
    dtype, channels_last, compiled = MODES[mode]
    model = make_model(args, device, channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    step = train_step_fn(torch.compile(model) if compiled else model, opt, schedule, dtype)
    x0 = torch.rand(args.batch, 1, args.image_size, args.image_size, device=device) * 2 - 1
    if channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    t_compile = time.perf_counter()
    for _ in range(args.warmup):
        step(x0)
    sync(device)
    warm = time.perf_counter() - t_compile
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step(x0)
    sync(device)
    sec = (time.perf_counter() - t0) / args.steps
    return {"seconds_per_step": sec, "img_per_s": args.batch / sec, "warmup_seconds": warm,
            "loss_finite": bool(torch.isfinite(loss).item())}


def time_sampling(args, device, schedule) -> dict:
    model = make_model(args, device, True).eval()

    def eps(x, t):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return model(x.contiguous(memory_format=torch.channels_last), t).float()

    shape = (args.n_samples, 1, args.image_size, args.image_size)
    out = {}
    for name, run in (("ddim_50", lambda g: D.ddim_sample_loop(eps, schedule, shape, steps=min(50, args.timesteps),
                                                                generator=g, progress=False, device=device)),
                      ("ddpm_300", lambda g: D.ddpm_sample_loop(eps, schedule, shape, generator=g, progress=False,
                                                                device=device))):
        g = torch.Generator(device=device).manual_seed(0)
        sync(device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            x = run(g)
        sync(device)
        out[name] = {"seconds": time.perf_counter() - t0, "n": args.n_samples, "finite": bool(torch.isfinite(x).all())}
    return out


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--mults", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--batch", type=int, default=4, help="the paper's batch size")
    ap.add_argument("--timesteps", type=int, default=300)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--n-samples", type=int, default=64)
    ap.add_argument("--n-images", type=int, default=300, help="images per epoch for the projection")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak (bf16 dense), TFLOP/s")
    ap.add_argument("--tiny", action="store_true", help="toy sizes for a CPU check")
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "gpu_check.json"))
    args = ap.parse_args(argv)
    if args.tiny:
        args.image_size, args.dim, args.mults, args.steps, args.warmup = 32, 8, [1, 2], 2, 1
        args.n_samples, args.timesteps = 2, 20
    return args


def main(argv=None) -> int:
    args = parse(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    schedule = D.make_schedule("linear", args.timesteps).to(device)
    info = device_info(device)
    flops = flops_per_image(args, device, schedule)
    report = {"device": info, "torch": torch.__version__, "image_size": args.image_size, "batch": args.batch,
              "dim": args.dim, "dim_mults": args.mults, "timesteps": args.timesteps,
              "params": count_parameters(make_model(args, torch.device("cpu"), False)),
              "train_flops_per_image": flops, "training": {}}
    print(f"{info['name']}: {report['params'] / 1e6:.1f}M params, {flops / 1e9:.1f} GFLOP per training image", flush=True)
    for mode in args.modes:
        if MODES[mode][2] and device.type != "cuda" and not args.tiny:
            continue
        r = time_mode(args, device, schedule, mode)
        peak = peak_for(info["name"], MODES[mode][0] is not None, args.peak_tflops)
        r["mfu"] = r["img_per_s"] * flops / peak if peak else None
        report["training"][mode] = r
        print(f"{mode}: {r['img_per_s']:.1f} img/s" + (f", MFU {r['mfu']:.1%}" if r["mfu"] else ""), flush=True)
        write_json_atomic(args.out, report)
    best = max(report["training"].items(), key=lambda kv: kv[1]["img_per_s"])
    per_epoch = args.n_images / best[1]["img_per_s"]
    report["paper_profile"] = {"fastest_mode": best[0], "seconds_per_epoch": per_epoch, "n_images": args.n_images,
                               f"projected_hours_{args.epochs}_epochs": per_epoch * args.epochs / 3600}
    write_json_atomic(args.out, report)
    report["sampling"] = time_sampling(args, device, schedule)
    print("sampling: " + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in report["sampling"].items()), flush=True)
    print(f"-> {write_json_atomic(args.out, report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
