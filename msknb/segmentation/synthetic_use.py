"""How should a segmenter use synthetic pairs? The stored comparison of
``benchmarks/bench_synthetic_use.py`` (``msknb/checkpoints/synthetic_use.json``), read for
notebook 05: "mix" (the paper:
synthetic pairs join the real ones), "pretrain" (train on synthetic pairs, fine-tune on the
real ones: ``gen_use`` of :func:`msknb.segmentation.experiments.run_experiment_grid`) and the
budget-matched control (the real model fine-tuned once more on its own images), over seeds,
chosen on the kit's val ids.

* :func:`read_synthetic_use` -- the stored JSON (StoredResultError when absent);
* :func:`synthetic_use_rows` -- per real base ("Real", "10%"): the val / test Dice of each way;
* :func:`synthetic_use_conclusion` -- sentences computed from its numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from msknb.stored_results import StoredResult, read_stored_result

SYNTHETIC_USE = StoredResult("synthetic_use.json", "benchmarks/bench_synthetic_use.py --control",
                             "synthetic-use comparison")
#: the ways compared, in the order the figure shows them: label -> (run prefix, experiment suffix)
WAYS = {"real only": ("mix", ""), "+ Gen, mix": ("mix", "+Gen"), "+ Gen, pretrain": ("pretrain", "+Gen"),
        "real twice (control)": ("control", " twice")}


def _check(report: dict[str, Any]) -> None:
    report["seeds"], report["n_synthetic"], report["synthetic"]
    for seed in report["seeds"]:
        for prefix in ("mix", "pretrain", "control"):
            for row in report["runs"][f"{prefix}/seed{seed}"].values():
                if isinstance(row, dict):
                    row["val_dice"], row["test_dice"]


def read_synthetic_use(path: str | Path | None = None) -> dict[str, Any]:
    """The stored comparison (``path``, default ``SYNTHETIC_USE.path``; both modes and the
    control): ``{"seeds", "n_synthetic", "synthetic", "runs", "mean", "command"}``. Missing or
    garbled: :class:`~msknb.errors.StoredResultError` naming the file and the command."""
    return read_stored_result(SYNTHETIC_USE, _check, path)


def synthetic_use_rows(report: dict[str, Any], bases=("Real", "10%")) -> dict[str, dict[str, dict[str, Any]]]:
    """``{base: {way: {"val": [per seed], "test": [per seed]}}}`` for the ``WAYS``; bases
    missing from the report are left out."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for base in bases:
        ways = {}
        for label, (prefix, suffix) in WAYS.items():
            rows = [report["runs"][f"{prefix}/seed{s}"].get(base + suffix) for s in report["seeds"]]
            if all(rows):
                ways[label] = {k: [r[f"{k}_dice"] for r in rows] for k in ("val", "test")}
        if len(ways) == len(WAYS):
            out[base] = ways
    return out


def synthetic_use_conclusion(report: dict[str, Any]) -> str:
    """Per base: mean val Dice of each way, pretrain minus mix and pretrain minus the control
    (mean over seeds, with the seeds' spread of the paired difference), as Markdown bullets."""
    lines = []
    for base, ways in synthetic_use_rows(report).items():
        val = {k: np.asarray(v["val"]) for k, v in ways.items()}
        d_mix = val["+ Gen, pretrain"] - val["+ Gen, mix"]
        d_ctl = val["+ Gen, pretrain"] - val["real twice (control)"]
        means = ", ".join(f"{k} {v.mean():.3f}" for k, v in val.items())
        lines.append(f"* **{base}** (val Dice, mean of {len(report['seeds'])} seeds): {means}. Pretrain minus mix "
                     f"{d_mix.mean():+.3f} (seeds {d_mix.min():+.3f} to {d_mix.max():+.3f}); pretrain minus the "
                     f"budget-matched control {d_ctl.mean():+.3f} (seeds {d_ctl.min():+.3f} to {d_ctl.max():+.3f}).")
    lines.append(f"* Synthetic set: {report['n_synthetic']} images ({report['synthetic']}). A difference smaller "
                 f"than its seeds' spread is not a finding.")
    return "\n".join(lines)
