"""The cost of each generator architecture on this CPU (random weights, 1 torch thread):
training images per second and seconds to draw one image with DDIM-25.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_generator_cost.py

Writes ``msknb/checkpoints/generator_cost.json`` with the command line and the machine (read by
notebook 04 through ``msknb.ddpm.cost.read_cost_table``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from msknb.ddpm.cost import ARCHITECTURES, COST_TABLE, measure_cost
from msknb.io import write_json_atomic
from msknb.runner.machine import command_line, machine_info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", default=str(COST_TABLE.path))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = {}
    for name, fields in ARCHITECTURES.items():
        rows[name] = {**measure_cost(fields, steps=a.steps), "fields": fields}
        print(f"{name}: {rows[name]['train_img_per_s']:.2f} img/s training, "
              f"{rows[name]['sample_s_per_image']:.2f} s per image (DDIM-25)")
    write_json_atomic(a.out, {"rows": rows, "threads": a.threads, "batch_size": 8,
                              "command": command_line(__file__, sys.argv[1:] if argv is None else argv),
                              "machine": {**machine_info(), "load_before": os.getloadavg()[0]},
                              "date": time.strftime("%Y-%m-%d")})
    print("->", a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
