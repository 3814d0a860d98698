"""Readings of notebook 06: per-image muscle-thickness errors compared between experiments.

Input is the dict of ``msknb.thickness.experts.compare_with_experts`` (``ids``, ``expert``
(N,), ``predicted`` {experiment: (N,)}, ``flags`` {experiment: [flag per id]}) and, when
notebook 05 ran, its per-image test Dice ({experiment: {id: Dice}}, see :func:`dice_by_id`).

- :func:`mt_abs_errors` |predicted - expert| MT per image (NaN = not measured).
- :func:`measurability` how many images each experiment's mask could not be measured on or
  were flagged doubtful.
- :func:`read_mt` paired-bootstrap readings of the MT error (``msknb.readings``)
  and, for every pair where the Dice and the MT error disagree, a computed explanation.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from msknb.readings import jsonable, read_experiments


def dice_by_id(results_05: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    """{experiment: {test id: Dice}} from notebook 05's results (``test_ids`` and each
    experiment's ``test_dice_per_image``, same order); {} without them."""
    if not results_05 or not results_05.get("test_ids"):
        return {}
    ids = list(results_05["test_ids"])
    out = {}
    for name, exp in (results_05.get("experiments") or {}).items():
        per = exp.get("test_dice_per_image") if isinstance(exp, Mapping) else None
        if per is not None and len(per) == len(ids):
            out[name] = {i: float(d) for i, d in zip(ids, per)}
    return out


def mt_abs_errors(comparison: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """{experiment: {id: |predicted MT - expert MT|}} in the comparison's unit; NaN where
    either mask was not measured."""
    expert = np.asarray(comparison["expert"], dtype=np.float64)
    return {name: {i: float(abs(p - e)) for i, p, e in zip(comparison["ids"], np.asarray(pred, float), expert)}
            for name, pred in comparison["predicted"].items()}


def measurability(comparison: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """{experiment: {"n", "not_measured", "doubtful"}}: masks MT could not be measured on, and
    measured masks whose quality flag is not ``ok``."""
    out = {}
    for name, pred in comparison["predicted"].items():
        flags = comparison["flags"].get(name) or [None] * len(pred)
        measured = np.isfinite(np.asarray(pred, dtype=np.float64))
        doubtful = sum(1 for f, m in zip(flags, measured) if m and f is not None and f != "ok")
        out[name] = {"n": int(len(pred)), "not_measured": int((~measured).sum()), "doubtful": int(doubtful)}
    return out


def dice_mt_correlation(dice: Mapping[str, Mapping[str, float]], errors: Mapping[str, Mapping[str, float]]
                        ) -> dict[str, Any]:
    """Spearman rho between per-image Dice and |MT error| over every (experiment, image) with
    both; ``{"rho", "n"}`` (rho NaN when n < 3)."""
    pairs = [(d[i], errors[name][i]) for name, d in dice.items() if name in errors
             for i in d if i in errors[name] and math.isfinite(errors[name][i]) and math.isfinite(d[i])]
    if len(pairs) < 3:
        return {"rho": math.nan, "n": len(pairs)}
    rho = spearmanr(*np.asarray(pairs).T).statistic
    return {"rho": float(rho), "n": len(pairs)}


def _mean_dice(dice: Mapping[str, float] | None) -> float:
    vals = [v for v in (dice or {}).values() if math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def _strength(rho: float) -> str:
    if not math.isfinite(rho):
        return "cannot be estimated"
    return "weak" if abs(rho) < 0.3 else "moderate" if abs(rho) < 0.6 else "strong"


def explain_dice_vs_mt(reading: Mapping[str, Any], dice: Mapping[str, Mapping[str, float]],
                       counts: Mapping[str, Mapping[str, int]], corr: Mapping[str, Any]) -> str | None:
    """A sentence for a pair whose mean Dice went up while its MT error went up too (or both
    down); None when Dice and MT agree or the Dice is unknown. Built from the numbers."""
    a, b = reading["a"], reading["b"]
    d_dice = _mean_dice(dice.get(b)) - _mean_dice(dice.get(a))
    d_err = reading["diff"]
    if not (math.isfinite(d_dice) and math.isfinite(d_err)) or d_dice == 0 or d_err == 0 or (d_dice > 0) != (d_err > 0):
        return None
    ca, cb = counts[a], counts[b]
    share = lambda c, k: f"{c[k]}/{c['n']}"  # noqa: E731
    parts = [f"{b} has {'higher' if d_dice > 0 else 'lower'} mean Dice than {a} ({d_dice:+.3f}) yet a "
             f"{'larger' if d_err > 0 else 'smaller'} MT error ({d_err:+.2f}, "
             + ("beyond" if reading["significant"] else "within") + " its uncertainty)."]
    parts.append(f"MT could not be measured on {share(cb, 'not_measured')} of {b}'s masks vs "
                 f"{share(ca, 'not_measured')} of {a}'s, and {share(cb, 'doubtful')} vs {share(ca, 'doubtful')} "
                 "measured masks were flagged doubtful; the error is compared only where both were measured.")
    parts.append(f"Per image, Dice and |MT error| correlate {_strength(corr['rho'])}ly (Spearman rho "
                 f"{corr['rho']:+.2f}, n = {corr['n']}): Dice counts overlapping pixels of the whole band, MT "
                 "depends only on where the two inner aponeurosis edges lie at the chords."
                 if math.isfinite(corr["rho"]) else "Too few images to correlate Dice with the MT error.")
    return " ".join(parts)


def read_mt(comparison: Mapping[str, Any], pairs: Sequence[tuple[str, str]],
            dice: Mapping[str, Mapping[str, float]] | None = None, paper_rmse: Mapping[str, float] | None = None,
            seed: int = 0, n_boot: int = 2000) -> dict[str, Any]:
    """Readings of the per-image |MT error| for each ``(a, b)`` pair (lower is better).

    ``paper_rmse``: the paper's Table 5 RMSE (mm) per experiment; its direction is quoted (the
    units and the statistic differ: here mean |error| in ``comparison["unit"]``). Returns
    ``{"readings": [reading dicts with "text" and "explanation"], "measurability",
    "dice_mt_spearman", "unit"}``, JSON-safe.
    """
    unit = comparison["unit"]
    errors = mt_abs_errors(comparison)
    counts = measurability(comparison)
    dice = dict(dice or {})
    corr = dice_mt_correlation(dice, errors)
    readings = read_experiments(errors, pairs, metric="|MT error|", higher_is_better=False, seed=seed,
                                n_boot=n_boot, decimals=2, unit=unit)
    for r in readings:
        if paper_rmse and r["a"] in paper_rmse and r["b"] in paper_rmse:
            pa, pb = paper_rmse[r["a"]], paper_rmse[r["b"]]
            word = "higher" if pb > pa else "lower" if pb < pa else "unchanged"
            r["text"] += f" The paper's MT RMSE went {pa:.2f} -> {pb:.2f} mm ({word})."
        r["explanation"] = explain_dice_vs_mt(r, dice, counts, corr)
    return {"readings": [jsonable(r) for r in readings], "measurability": counts,
            "dice_mt_spearman": jsonable(corr), "unit": unit}


def describe_measurability(mt_reading: Mapping[str, Any], have_dice: bool = True) -> str:
    """Two lines from :func:`read_mt`'s result: per experiment, on how many of its predicted
    masks MT could not be measured / was flagged doubtful; and the per-image Spearman rho of
    Dice vs |MT error| (or why it is missing: no Dice from 05, fewer than 3 images)."""
    counts = mt_reading.get("measurability") or {}
    parts = [f"{name} {c['not_measured']}/{c['n']} not measured, {c['doubtful']} doubtful" for name, c in counts.items()]
    corr = mt_reading.get("dice_mt_spearman") or {}
    rho, n = corr.get("rho"), corr.get("n", 0)
    if not have_dice:
        corr_text = "no per-image Dice (05's results not found)"
    elif rho is None or not math.isfinite(rho):
        corr_text = f"cannot be estimated from {n} image(s) with both values (needs 3)"
    else:
        corr_text = f"{rho:+.2f} ({_strength(rho)}, n = {n})"
    return ("predicted masks: " + ("; ".join(parts) if parts else "none") +
            f"\nSpearman rho of per-image Dice vs |MT error|: {corr_text}")
