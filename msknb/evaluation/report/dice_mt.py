"""The numbers behind the report's Dice and Bland–Altman figures: test Dice per experiment with
a 95 % bootstrap CI over test images, for the live run (notebook 05's results) and for the
stored reference experiment (:mod:`msknb.evaluation.reference`), and the reference models'
per-image muscle thickness against the expert's; each with its one-sentence reading."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from msknb.errors import MsknbError
from msknb.evaluation.reference.store import read_reference
from msknb.evaluation.reference.summary import experiment_label, per_image, reference_readings, summarise_reference
from msknb.evaluation.summary import one_line
from msknb.readings import paired_bootstrap
from msknb.thickness.agreement import agreement

REFERENCE_COMMAND = "python -m msknb experiment run --data ../shared/data/dltrack_apo"


def mean_ci(values: Any) -> dict[str, float]:
    """``{"mean", "ci_low", "ci_high", "n"}``: mean of ``values`` (N,) and its 95 % percentile
    bootstrap CI over the entries (NaN dropped; CI NaN below 2 values)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    b = paired_bootstrap(np.zeros(v.size), v)
    return {"mean": b["diff"], "ci_low": b["ci_low"], "ci_high": b["ci_high"], "n": b["n"]}


def live_dice_rows(res05: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per experiment of notebook 05's ``results`` with per-image test Dice:
    ``experiment`` and :func:`mean_ci` of ``test_dice_per_image``."""
    rows = []
    for name, e in ((res05 or {}).get("experiments") or {}).items():
        per = e.get("test_dice_per_image") if isinstance(e, Mapping) else None
        if per:
            rows.append({"experiment": str(name), **mean_ci(per)})
    return rows


def reference_dice_rows(cells: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per experiment of the stored reference cells: :func:`mean_ci` of each test
    image's Dice averaged over the experiment's seeds and draws, and ``n_models``."""
    return [{"experiment": name, **mean_ci(d.mean(axis=0)), "n_models": int(d.shape[0])}
            for name, d in sorted(per_image(dict(cells)).items())]


def dice_reading(rows: list[dict[str, Any]], who: str) -> str:
    """The highest and lowest mean test Dice with their CIs, and whether the two CIs overlap."""
    rows = [r for r in rows if np.isfinite(r["mean"])]
    if not rows:
        return f"{who}: no experiment with per-image test Dice."
    hi, lo = max(rows, key=lambda r: r["mean"]), min(rows, key=lambda r: r["mean"])
    ci = lambda r: f"{r['mean']:.3f} (95 % CI {r['ci_low']:.3f} to {r['ci_high']:.3f}, n = {r['n']})"  # noqa: E731
    if hi is lo:
        return f"{who}: {hi['experiment']} test Dice {ci(hi)}."
    apart = lo["ci_high"] < hi["ci_low"]
    return (f"{who}: highest test Dice {hi['experiment']} {ci(hi)}, lowest {lo['experiment']} {ci(lo)}; "
            + ("their CIs do not overlap." if apart else
               "their CIs overlap, so the figure alone does not rank them (the paired readings test the difference)."))


def load_reference(folder: str | Path | None = None) -> dict[str, Any] | str:
    """``{"cells", "summary", "readings"}`` of the stored reference experiment, or one line
    saying why there is none (and what to run)."""
    try:
        cells = read_reference(folder)["cells"]
        summary = summarise_reference(folder)
    except (MsknbError, KeyError, ValueError) as e:
        return f"no stored reference experiment ({one_line(e, 160)})"
    return {"cells": cells, "summary": summary, "readings": reference_readings(summary)}


def mt_pairs(cells: Mapping[str, Any], experiment: str = "Real") -> dict[str, Any] | None:
    """Per test image of ``experiment``'s reference models: expert MT and predicted MT (px,
    averaged over the models), and whether label QA flagged the pair; None when not stored."""
    pred, expert, flagged = defaultdict(list), {}, {}
    for c in cells.values():
        t = c.get("test") or {}
        if experiment_label(c) != experiment or "mt_pred_px" not in t:
            continue
        for i, p, e, f in zip(t["ids"], t["mt_pred_px"], t["mt_expert_px"], t["flagged"]):
            pred[i].append(np.nan if p is None else p)
            expert[i], flagged[i] = np.nan if e is None else e, bool(f)
    if not pred:
        return None
    ids = sorted(pred)
    return {"experiment": experiment, "ids": ids, "expert": np.array([expert[i] for i in ids], dtype=np.float64),
            "predicted": np.array([np.nanmean(pred[i]) if np.isfinite(pred[i]).any() else np.nan for i in ids]),
            "flags": ["doubtful: label QA" if flagged[i] else "ok" for i in ids]}


def bland_altman_reading(pairs: Mapping[str, Any], unit: str = "px") -> str:
    """Bias and 95 % limits of agreement of the predicted MT against the expert's, and how many
    pairs lie outside the limits."""
    s = agreement(pairs["expert"], pairs["predicted"])
    if s["n"] < 2:
        return f"Bland–Altman ({pairs['experiment']}): fewer than 2 measured pairs."
    d = pairs["predicted"] - pairs["expert"]
    d = d[np.isfinite(d)]
    outside = int(((d < s["loa_low"]) | (d > s["loa_high"])).sum())
    median = float(np.median(np.abs(d)))
    rel = 100 * s["sd_diff"] / s["mean_a"] if s["mean_a"] else float("nan")
    return (f"Reference models ({pairs['experiment']}) against the expert: bias {s['bias']:+.2f} {unit}, limits of "
            f"agreement {s['loa_low']:+.2f} to {s['loa_high']:+.2f} {unit} (SD of the differences {rel:.1f} % of the "
            f"mean expert MT), median |difference| {median:.2f} {unit}, {outside} of {s['n']} pairs outside the limits.")
