"""Muscle thickness from the reference experiment's models: how far each experiment's MT
(chords, px, measured on its predicted test masks) lies from the expert's.

Per experiment the readings of every stored model are pooled (test images x seeds x draws);
pairs where either MT could not be measured are left out and counted.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from msknb.evaluation.reference.summary import experiment_label


def relative_errors(cells: dict[str, dict[str, Any]], clean: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """experiment label -> ``{"rel": (M,) relative MT error (pred - expert) / expert,
    "diff_px": (M,) pred - expert (px), "n_missing": readings without an MT}``; ``clean``
    leaves out test pairs label QA flags (their expert mask is off the bands)."""
    pooled: dict[str, dict[str, list]] = defaultdict(lambda: {"rel": [], "diff_px": [], "n_missing": 0})
    for c in cells.values():
        t = c["test"]
        p = np.asarray(t["mt_pred_px"], dtype=np.float64)
        e = np.asarray(t["mt_expert_px"], dtype=np.float64)
        keep = ~np.asarray(t["flagged"], dtype=bool) if clean else np.ones(len(p), dtype=bool)
        ok = keep & np.isfinite(p) & np.isfinite(e) & (e > 0)
        row = pooled[experiment_label(c)]
        row["rel"] += list((p[ok] - e[ok]) / e[ok])
        row["diff_px"] += list(p[ok] - e[ok])
        row["n_missing"] += int((keep & ~ok).sum())
    return {k: {"rel": np.asarray(v["rel"]), "diff_px": np.asarray(v["diff_px"]), "n_missing": v["n_missing"]}
            for k, v in pooled.items()}


def reference_mt_rows(cells: dict[str, dict[str, Any]], clean: bool = True) -> list[dict[str, Any]]:
    """One row per experiment: ``n`` readings, ``bias_px``, ``rmse_px``, ``relative_rmse_pct``,
    ``median_abs_pct``, ``within_5pct_pct``, ``loa_halfwidth_pct`` (1.96 SD of the relative
    error), ``n_missing``; sorted by name."""
    rows = []
    for name, v in sorted(relative_errors(cells, clean).items()):
        r, d = v["rel"], v["diff_px"]
        if not len(r):
            continue
        rows.append({"experiment": name, "n": int(len(r)), "bias_px": float(d.mean()),
                     "rmse_px": float(np.sqrt(np.mean(d ** 2))), "relative_rmse_pct": float(100 * np.sqrt(np.mean(r ** 2))),
                     "median_abs_pct": float(100 * np.median(np.abs(r))),
                     "within_5pct_pct": float(100 * np.mean(np.abs(r) <= 0.05)),
                     "loa_halfwidth_pct": float(100 * 1.96 * r.std(ddof=1)) if len(r) > 1 else float("nan"),
                     "n_missing": v["n_missing"]})
    return rows


def reference_mt_reading(rows: list[dict[str, Any]]) -> str | None:
    """One sentence from :func:`reference_mt_rows`: each experiment's share of readings within 5 % and
    its median error, and whether Real and 10 % differ by more than one reading in twenty."""
    by = {r["experiment"]: r for r in rows}
    if not by:
        return None
    parts = [f"{k}: {r['within_5pct_pct']:.0f} % within 5 % (median {r['median_abs_pct']:.1f} %, n = {r['n']})"
             for k, r in by.items()]
    text = "MT of the predicted test masks against the expert's — " + "; ".join(parts) + "."
    if "Real" in by and "10%" in by:
        gap = by["Real"]["within_5pct_pct"] - by["10%"]["within_5pct_pct"]
        text += (f" Training on 10 % of the images costs {gap:.0f} percentage points of readings within 5 %."
                 if gap >= 5 else " Real and 10 % differ by less than one reading in twenty within 5 %.")
    return text
