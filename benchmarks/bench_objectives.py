"""Which training objective? eps vs Min-SNR-γ vs v + zero terminal SNR, same budget (issue 13).

Trains the mask-conditioned DDPM of the quick profile (64 px, dim 16, T = 300, kit split
train ids, classifier-free mask dropout 0.1) once per objective of ``--objectives``, from the
same seed and for the same number of steps, then scores each with
``benchmarks/bench_conditional.py`` on the kit split's val masks (never the test ids):
mean grey level, skewness, histogram L1 and alignment Dice, from N(0, I) (``ddim50``) and
from the forward marginal of the training mean image (``ddim50+mean``). Objectives:

* ``eps``: the paper's ε-prediction, linear β (the shipped generator's objective);
* ``eps+minsnr5``: the same with Min-SNR-γ loss weights, γ = 5 (Hang et al. 2023);
* ``v+zsnr``: v-prediction with the betas rescaled to zero terminal SNR (Lin et al. 2024);
* ``v+zsnr+minsnr5``: both.

One short run each is a screening, not a verdict (seed noise is not measured): read it as
"which objective is worth a long run".

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_objectives.py --steps 800   # CPU, ~20 min per objective

Output: ``msknb/checkpoints/objectives.json`` (or ``--out``), with the command line; notebook 03
reads it with ``msknb.ddpm.lessons.objectives.read_objective_screening``. The runs and their
checkpoints go to ``--work`` (default ``outputs/bench_objectives``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from msknb.data.kit_split import KIT_SPLIT_FILE
from msknb.ddpm.lessons.objectives import OBJECTIVE_SCREENING
from msknb.io import write_json_atomic
from msknb.paths import REPO_ROOT, default_data_dir
from msknb.runner.machine import command_line
from msknb.segmentation.shipped import SHIPPED_SEGMENTER

#: objective -> extra ``msknb train`` arguments
OBJECTIVES = {"eps": [], "eps+minsnr5": ["--min-snr-gamma", "5"],
              "v+zsnr": ["--prediction", "v", "--zero-terminal-snr"],
              "v+zsnr+minsnr5": ["--prediction", "v", "--zero-terminal-snr", "--min-snr-gamma", "5"]}


def train_command(objective: str, a: argparse.Namespace, run: Path) -> list[str]:
    """The ``python -m msknb train`` command line that trains ``objective`` into ``run``."""
    return [sys.executable, "-m", "msknb", "train", "--data", str(a.data), "--profile", a.profile,
            "--out", str(run), "--condition", "mask", "--cond-dropout", "0.1", "--split", str(a.split),
            "--epochs", "100000", "--max-steps", str(a.steps), "--lr", "1e-3", "--batch-size", str(a.batch_size),
            "--checkpoint-every", str(a.steps), "--export", str(run / "ema.pt"), "--seed", str(a.seed),
            "--quiet", *([] if a.image_size is None else ["--image-size", str(a.image_size)]), *OBJECTIVES[objective]]


def run_objective(objective: str, a: argparse.Namespace) -> dict:
    """Train (unless its export is there already) and score one objective."""
    run = Path(a.work) / objective.replace("+", "_")
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads)}
    row: dict = {"train_args": OBJECTIVES[objective]}
    if not (run / "ema.pt").is_file():
        t0 = time.perf_counter()
        subprocess.run(train_command(objective, a, run), check=True, env=env, cwd=REPO_ROOT)
        row["train_seconds"] = round(time.perf_counter() - t0, 1)
    scored = run / "conditional.json"
    subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "bench_conditional.py"), "--checkpoint",
                    str(run / "ema.pt"), "--segmenter", str(a.segmenter), "--data", str(a.data), "--split", str(a.split),
                    "--n", str(a.n), "--steps", str(a.ddim_steps), "--settings", "ddim50", "ddim50+mean",
                    "--out", str(scored)], check=True, env=env, cwd=REPO_ROOT)
    r = json.loads(scored.read_text())
    row.update(step=r["step"], config=r["config"], samplers=r["samplers"], real_64=r["real_64"])
    return row


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objectives", nargs="+", default=["eps", "eps+minsnr5", "v+zsnr"], choices=list(OBJECTIVES))
    ap.add_argument("--steps", type=int, default=1000, help="training steps per objective (same for all)")
    ap.add_argument("--data", default=None, help="DL_Track folder (default: the shared data)")
    ap.add_argument("--split", default=str(KIT_SPLIT_FILE))
    ap.add_argument("--segmenter", default=str(SHIPPED_SEGMENTER))
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=None, help="px (default: the profile's)")
    ap.add_argument("--n", type=int, default=32, help="val masks to draw images for")
    ap.add_argument("--ddim-steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(REPO_ROOT / "outputs" / "bench_objectives"))
    ap.add_argument("--out", default=str(OBJECTIVE_SCREENING.path))
    a = ap.parse_args(argv)
    a.data = Path(a.data) if a.data else default_data_dir()
    if a.steps < 1:
        ap.error("--steps must be >= 1")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    result = {"benchmark": "training objective screening (issue 13)", "steps": a.steps, "seed": a.seed,
              "threads": a.threads, "data": str(a.data), "masks_from": "kit split val ids", "n": a.n,
              "command": command_line(__file__, sys.argv[1:] if argv is None else argv), "objectives": {}}
    for objective in a.objectives:
        result["objectives"][objective] = row = run_objective(objective, a)
        for name, s in row["samplers"].items():
            print(f"{objective:>15} {name:>12}: mean grey {s['mean_grey']:.3f} (real {s['real_mean_grey']:.3f}), "
                  f"skewness {s['skewness']:.2f} (real {s['real_skewness']:.2f}), hist L1 {s['hist_l1']:.2f}, "
                  f"alignment Dice {s['alignment']['dice_mean']:.3f}")
        write_json_atomic(a.out, result)
    print("->", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
