"""The reference experiment's figure: test Dice per training-set fraction, with and without
the synthetic set, as the paper's Table 6 (its values drawn beside as crosses).

Each point is the mean over seeds and subset draws; the bar is the 95 % bootstrap CI over
test images (per-image Dice averaged over the cells first); small dots are single models.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from msknb.readings import paired_bootstrap
from msknb.evaluation.reference.summary import per_image
from msknb.evaluation.reference.thickness import relative_errors
from msknb.paper import PAPER_TABLE6

#: x position (percent of the kit's train ids) of each real-data experiment
_PERCENT = {"10%": 10, "30%": 30, "50%": 50, "Real": 100}


def _ci(rows: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % bootstrap CI over test images of ``rows`` (n_cells, n_test)."""
    b = paired_bootstrap(np.zeros(rows.shape[1]), rows.mean(axis=0))
    return b["diff"], b["ci_low"], b["ci_high"]


def reference_figure(cells: dict[str, dict[str, Any]], title: str = "Reference experiment: test Dice"):
    """Matplotlib figure from the stored cells (:func:`~.store.read_reference`'s ``"cells"``)."""
    dice = per_image(cells)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    series = {"real only": "", "+ synthetic (mix)": "+Gen", "+ synthetic (pretrain)": "+Gen (pretrain)",
              "trained twice (control)": " twice", "+ synthetic, generator saw 10 % labels (mix)": "+Gen, 10 % labels"}
    for k, (label, suffix) in enumerate(series.items()):
        xs, ms, lo, hi = [], [], [], []
        for base, pct in _PERCENT.items():
            name = base + suffix if suffix != " twice" else f"{base} twice"
            if name not in dice:
                continue
            m, a, b = _ci(dice[name])
            x = pct + (k - 2) * 1.4
            xs.append(x), ms.append(m), lo.append(m - a), hi.append(b - m)
            ax.scatter(np.full(len(dice[name]), x), dice[name].mean(axis=1), s=8, color=f"C{k}", alpha=0.5)
        if xs:
            ax.errorbar(xs, ms, yerr=[lo, hi], fmt="o-", color=f"C{k}", capsize=3, label=label)
    for name, row in PAPER_TABLE6.items():
        base = name.replace("+Gen", "")
        ax.scatter([_PERCENT[base]], [row["dice"]], marker="x", color="C1" if "+Gen" in name else "C0", s=40,
                   label="paper, Table 6 (val Dice)" if name == "10%" else None)
    for name, style in (("Gen", ":"), ("Gen, 10 % labels", "-.")):
        if name in dice:
            m, a, b = _ci(dice[name])
            ax.axhline(m, color="grey", ls=style, label=f"synthetic only{name[3:]}: {m:.3f}")
    ax.set_xlabel("share of the kit's train images (%)")
    ax.set_ylabel("test Dice")
    ax.set_xticks([10, 30, 50, 100])
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def reference_mt_figure(cells: dict[str, dict[str, Any]], clean: bool = True):
    """Relative MT error per experiment (box over all readings of its models), the ±5 % band shaded."""
    errs = relative_errors(cells, clean)
    names = sorted(errs, key=lambda k: (np.median(np.abs(errs[k]["rel"])) if len(errs[k]["rel"]) else 1.0))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.5))
    ax.axvspan(-5, 5, color="tab:green", alpha=0.12, label="within 5 %")
    ax.boxplot([100 * errs[k]["rel"] for k in names], orientation="horizontal", showfliers=True, widths=0.6,
               flierprops={"markersize": 3})
    ax.set_yticks(range(1, len(names) + 1), names)
    ax.set_xlim(-60, 60)
    ax.set_xlabel("MT error of the predicted mask vs the expert's (% of the expert's MT; chords)")
    ax.set_title("Reference experiment: MT on the test ids (all models of each experiment)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
