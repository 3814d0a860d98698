"""Which training objective? The stored screening of ``benchmarks/bench_objectives.py``
(``msknb/checkpoints/objectives.json``), read for notebook 03: ε-prediction (the paper), Min-SNR-γ loss weights
(Hang et al. 2023) and v-prediction with zero terminal SNR (Lin et al. 2024), each trained
for the same steps from the same seed and scored on the kit's val masks.

* :func:`read_objective_screening` -- the stored JSON (StoredResultError when absent);
* :func:`objective_screening_conclusion` -- one sentence computed from its numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from msknb.stored_results import StoredResult, read_stored_result

OBJECTIVE_SCREENING = StoredResult("objectives.json", "benchmarks/bench_objectives.py", "objective screening")
#: the sampler setting each objective is judged by: DDIM-50 from the forward marginal of the
#: training mean image (for zero terminal SNR that marginal is N(0, I) itself)
JUDGED_SETTING = "ddim50+mean"


def _check(report: dict[str, Any]) -> None:
    report["steps"], report["n"]
    for row in report["objectives"].values():
        s = row["samplers"][JUDGED_SETTING]
        s["mean_grey"], s["hist_l1"], s["skewness"], s["alignment"]["dice_mean"]


def read_objective_screening(path: str | Path | None = None) -> dict[str, Any]:
    """The stored screening (``path``, default ``OBJECTIVE_SCREENING.path``): ``{"steps", "n",
    "command", "objectives": {name: {"samplers": {setting: {...}}}}}``. Missing or garbled:
    :class:`~msknb.errors.StoredResultError` naming the file and the benchmark that writes it."""
    return read_stored_result(OBJECTIVE_SCREENING, _check, path)


def objective_screening_conclusion(report: dict[str, Any]) -> str:
    """Sentences from the numbers: each objective's alignment Dice, mean grey and histogram L1
    (DDIM-50 from the mean image); the largest alignment gap; and what it can carry. The
    screening trains each objective once, from one seed, and stores no spread over seeds, so a
    gap is read as one example, never as "best"."""
    rows = {k: v["samplers"][JUDGED_SETTING] for k, v in report["objectives"].items()}
    real = next(iter(rows.values()))["real_mean_grey"]
    parts = "; ".join(f"{k}: alignment Dice {s['alignment']['dice_mean']:.3f}, mean grey {s['mean_grey']:.3f}, "
                      f"hist L1 {s['hist_l1']:.2f}" for k, s in rows.items())
    dice = {k: rows[k]["alignment"]["dice_mean"] for k in rows}
    hi, lo = max(dice, key=dice.get), min(dice, key=dice.get)
    return (f"Same {report['steps']} steps and seed for each objective, DDIM-50 on {report['n']} val masks "
            f"(real mean grey {real:.3f}): {parts}. The largest alignment gap is {dice[hi] - dice[lo]:.3f} "
            f"({hi} over {lo}), from one training run per objective with one seed; how much a second seed would "
            f"move each number is not measured, so this is one example, not a measured difference: no objective "
            f"is shown to be better.")
