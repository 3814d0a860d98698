"""Does longer training help? The EMA snapshots of one long generator run, screened on the kit
val masks over several sampling seeds (``benchmarks/bench_generator_screen.py --section
training``), read against the step they were taken at.

* :func:`training_rows` -- one row per snapshot, sorted by step;
* :func:`training_readings` -- sentences computed from them: the change over the run, and each
  snapshot against the shipped generator, seed by seed
  (:func:`msknb.evaluation.generator_screen.seed_comparison`).

The val ids pick and tune; the test ids are never read here.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from msknb.ddpm.checkpoints import guidance_label
from msknb.evaluation.generator_screen import TARGETS, seed_comparison, seed_spread, steps_from_start

#: where the screen keeps the snapshots of a long run (``--section training``)
TRAINING_SECTION = "training"


def training_rows(screen_file: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per screened snapshot: ``name``, ``run`` (its folder), ``step`` and ``train_hours``
    (wall-clock hours on 1 thread) counted from the start of training, through the file a
    fine-tuning run ``started_from``, ``label`` (sampler setting),
    ``n_seeds``, ``seeds``, ``domain_ratio_{mean,sd,values}``, ``alignment_{mean,sd,values}``,
    ``mean_grey``, ``real_mean_grey``, ``hist_l1`` (seed 0); sorted by step."""
    rows = []
    for name, g in (screen_file.get(TRAINING_SECTION) or {}).items():
        seeds = (g.get("over_seeds") or {}).get("seeds", [0])
        rows.append({"name": name, "run": name.split("/")[0],
                     "step": steps_from_start(g),
                     "train_hours": (float(g.get("train_seconds", 0.0)) + float(g.get("started_from_seconds", 0.0)))
                     / 3600.0, "started_from": g.get("started_from"),
                     "label": guidance_label(g.get("sampler", {})), "n_seeds": len(seeds), "seeds": seeds,
                     **seed_spread(g),
                     "mean_grey": g["intensity"]["mean_grey"], "real_mean_grey": g["intensity"]["real_mean_grey"],
                     "hist_l1": g["intensity"]["hist_l1"]})
        if rows[-1]["domain_ratio_mean"] is None:  # one seed: its own numbers
            rows[-1].update(domain_ratio_mean=g["domain"]["ratio"], domain_ratio_sd=0.0,
                            domain_ratio_values=[g["domain"]["ratio"]], alignment_mean=g["alignment"]["dice_mean"],
                            alignment_sd=0.0, alignment_values=[g["alignment"]["dice_mean"]])
    return sorted(rows, key=lambda r: r["step"])


def start_label(row: dict[str, Any]) -> str:
    """How the training screen names the weights its runs continued: their step."""
    return f"step {row['step']} (the runs' start)" if row.get("step") is not None else "the runs' start"


def training_readings(rows: list[dict[str, Any]], start: dict[str, Any] | None = None) -> list[str]:
    """Sentences from :func:`training_rows` (and the row of the weights the runs continued,
    ``start``, from :func:`msknb.evaluation.generator_screen.guidance_rows` under the same setting):
    each run from its first to its last snapshot, the snapshot with the lowest mean ratio against
    the targets, each snapshot against ``start`` seed by seed."""
    if not rows:
        return []
    out = []
    for run in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == run]
        a, b = mine[0], mine[-1]
        out.append(f"{run}: from step {a['step']} to step {b['step']} ({b['train_hours'] - a['train_hours']:.1f} "
                   f"hours more on one thread), the domain ratio over {b['n_seeds']} sampling seeds went from "
                   f"{a['domain_ratio_mean']:.2f} ± {a['domain_ratio_sd']:.2f} to {b['domain_ratio_mean']:.2f} ± "
                   f"{b['domain_ratio_sd']:.2f} and the alignment Dice from {a['alignment_mean']:.3f} to "
                   f"{b['alignment_mean']:.3f} ({b['label']}).")
    best = min(rows, key=lambda r: r["domain_ratio_mean"])
    met = [f"ratio <= {TARGETS['domain_ratio']:g} {'met' if best['domain_ratio_mean'] <= TARGETS['domain_ratio'] else 'not met'}",
           f"alignment >= {TARGETS['alignment_dice']:.2f} "
           f"{'met' if best['alignment_mean'] >= TARGETS['alignment_dice'] else 'not met'}"]
    out.append(f"The lowest mean ratio is {best['run']} at step {best['step']}: {best['domain_ratio_mean']:.2f} ± "
               f"{best['domain_ratio_sd']:.2f}, alignment {best['alignment_mean']:.3f} ({', '.join(met)}).")
    if start is not None and start.get("domain_ratio_mean") is not None:
        for r in rows:
            named = {**r, "label": f"{r['run']} step {r['step']}"}
            out.append(seed_comparison(named, {**start, "label": start_label(start)}))
    return out
