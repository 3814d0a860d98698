"""Readings of notebook 06: per-image muscle-thickness errors compared between experiments.

Input is the dict of ``msknb.thickness.experts.compare_with_experts`` (``ids``, ``expert``
(N,), ``predicted`` {experiment: (N,)}, ``flags`` {experiment: [flag per id]}) and, when
notebook 05 ran, its per-image test Dice ({experiment: {id: Dice}}, see :func:`dice_by_id`).

- :func:`mt_abs_errors` |predicted - expert| MT per image (NaN = not measured).
- :func:`measurability` how many images each experiment's mask could not be measured on or
  were flagged doubtful.
- :func:`error_decomposition` RMSE, bias, SD (RMSE^2 = bias^2 + SD^2), mean and median
  |error| of one experiment's MT, and how much of its squared error its largest errors carry.
- :func:`read_mt` paired-bootstrap readings of the MT error (``msknb.readings``)
  and, for every pair where the Dice and the MT error disagree, or where the RMSE ranks two
  experiments the other way from the mean |error|, a computed explanation.
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


def error_decomposition(expert: Sequence[float], predicted: Sequence[float]) -> dict[str, Any]:
    """MT errors d = predicted - expert over the images where both are finite (shapes (N,),
    the comparison's unit): ``n``, ``bias`` (mean d), ``sd`` (SD of d with 1/n, so that
    RMSE^2 = bias^2 + SD^2 exactly), ``rmse``, ``mean_abs``, ``median_abs``, and ``top_k`` /
    ``top_share``: the share of the summed squared error carried by the k = max(1, n // 10)
    largest |d|. Values are NaN when n = 0."""
    e, p = np.asarray(expert, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    d = (p - e)[np.isfinite(p) & np.isfinite(e)]
    n = int(d.size)
    if n == 0:
        return {"n": 0, **{k: math.nan for k in ("bias", "sd", "rmse", "mean_abs", "median_abs", "top_share")},
                "top_k": 0}
    sq = np.sort(d ** 2)[::-1]
    k = max(1, n // 10)
    return {"n": n, "bias": float(d.mean()), "sd": float(d.std()), "rmse": float(np.sqrt(np.mean(d ** 2))),
            "mean_abs": float(np.abs(d).mean()), "median_abs": float(np.median(np.abs(d))), "top_k": k,
            "top_share": float(sq[:k].sum() / sq.sum()) if sq.sum() > 0 else math.nan}


def _decomposition_sentence(a: str, da: Mapping[str, Any], b: str, db: Mapping[str, Any]) -> str:
    """RMSE^2 = bias^2 + SD^2 for both experiments, and whether the bias or the spread makes the gap."""
    eq = lambda name, x: f"{name} {x['rmse']:.1f}² = {x['bias']:+.1f}² + {x['sd']:.1f}²"  # noqa: E731
    small_bias = all(x["bias"] ** 2 < 0.25 * x["rmse"] ** 2 for x in (da, db))
    return (f"RMSE² = bias² + SD² (SD with 1/n): {eq(a, da)}, {eq(b, db)}; "
            + ("both biases are small beside the SDs, so the RMSE gap is a gap in spread" if small_bias
               else "the bias terms differ too"))


def explain_rmse_vs_mean_error(reading: Mapping[str, Any], comparison: Mapping[str, Any]) -> str | None:
    """A sentence for a pair whose RMSE (each experiment over its own measured images, as the
    RMSE table counts it) ranks the two experiments the other way from the reading's mean
    |MT error| (over the images both were measured on); None when they agree. Built from
    :func:`error_decomposition`. Two causes are told apart from the numbers: images only one
    experiment was measured on (a gross error on one of them can carry most of its squared
    error), and, on the shared images, a few large errors that squaring lets dominate the RMSE
    while the mean and median |error| follow the typical image."""
    a, b = reading["a"], reading["b"]
    pred = comparison["predicted"]
    if a not in pred or b not in pred:
        return None
    expert = np.asarray(comparison["expert"], dtype=np.float64)
    pa, pb = np.asarray(pred[a], dtype=np.float64), np.asarray(pred[b], dtype=np.float64)
    ids = list(comparison.get("ids") or range(len(expert)))
    unit = comparison.get("unit", "")
    own_a, own_b = error_decomposition(expert, pa), error_decomposition(expert, pb)
    both = np.isfinite(pa) & np.isfinite(pb) & np.isfinite(expert)
    da, db = error_decomposition(expert[both], pa[both]), error_decomposition(expert[both], pb[both])
    d_own, d_mae = own_b["rmse"] - own_a["rmse"], db["mean_abs"] - da["mean_abs"]
    if da["n"] < 3 or not (math.isfinite(d_own) and math.isfinite(d_mae)) or d_own == 0 or d_mae == 0 \
            or (d_own > 0) == (d_mae > 0):
        return None
    lo_own = b if d_own < 0 else a
    head = (f"The RMSE table ranks {lo_own} first ({a} {own_a['rmse']:.2f} {unit} over {own_a['n']} images, {b} "
            f"{own_b['rmse']:.2f} {unit} over {own_b['n']}), the mean |error| the other way.")
    d_pair = db["rmse"] - da["rmse"]
    if d_pair != 0 and (d_pair > 0) == (d_mae > 0):      # on the shared images the RMSE agrees: the image sets differ
        parts = [head]
        for name, other, p_self, own in ((a, b, pa, own_a), (b, a, pb, own_b)):
            only = np.isfinite(p_self) & np.isfinite(expert) & ~both
            if not only.any():
                continue
            err = (p_self - expert)[only]
            k = int(np.argmax(np.abs(err)))
            share = err[k] ** 2 / (own["rmse"] ** 2 * own["n"])
            worst = ids[int(np.flatnonzero(only)[k])]
            parts.append(f"{name}'s RMSE counts {int(only.sum())} image(s) {other}'s mask could not be measured on; "
                         f"on one of them, {worst}, {name} is off by {err[k]:+.1f} {unit}, which alone carries "
                         f"{100 * share:.0f} % of {name}'s squared error.")
        parts.append(f"On the {da['n']} images both were measured on the RMSE agrees with the mean |error| ({a} "
                     f"{da['rmse']:.2f}, {b} {db['rmse']:.2f} {unit}; mean |error| {da['mean_abs']:.2f}, "
                     f"{db['mean_abs']:.2f}). {_decomposition_sentence(a, da, b, db)}. So {lo_own}'s lower RMSE in "
                     f"the table comes from which images are counted, not from smaller errors on the same images.")
        return " ".join(parts)
    lo_rmse = b if d_pair < 0 else a
    top = lambda name, x: f"{name}'s {x['top_k']} largest carry {100 * x['top_share']:.0f} %"  # noqa: E731
    median_agrees = (db["median_abs"] - da["median_abs"] > 0) == (d_mae > 0)
    typical = (f"the mean |error| ({a} {da['mean_abs']:.2f}, {b} {db['mean_abs']:.2f} {unit}) "
               + (f"and the median ({da['median_abs']:.2f}, {db['median_abs']:.2f}) count every image alike: "
                  f"{b if d_mae < 0 else a} has the smaller typical error" if median_agrees else
                  f"counts every image alike, though the median ranks them the other way ({da['median_abs']:.2f}, "
                  f"{db['median_abs']:.2f}): the typical errors are close"))
    return (f"{head} On the {da['n']} images both were measured on, {lo_rmse} still has the lower RMSE ({a} "
            f"{da['rmse']:.2f}, {b} {db['rmse']:.2f} {unit}). {_decomposition_sentence(a, da, b, db)}. Squaring "
            f"lets a few large errors dominate ({top(a, da)} of its squared error, {top(b, db)}), while {typical}, "
            f"and {lo_rmse} has fewer or smaller large errors.")


def read_mt(comparison: Mapping[str, Any], pairs: Sequence[tuple[str, str]],
            dice: Mapping[str, Mapping[str, float]] | None = None, paper_rmse: Mapping[str, float] | None = None,
            seed: int = 0, n_boot: int = 2000, training_seeds: int | None = 1) -> dict[str, Any]:
    """Readings of the per-image |MT error| for each ``(a, b)`` pair (lower is better).
    ``training_seeds``: training runs behind each experiment (one run of 05's grid: 1, so a
    difference beyond the CI reads as one example; :func:`msknb.readings.read_comparison`).
    Each reading's ``explanation`` joins :func:`explain_dice_vs_mt` and
    :func:`explain_rmse_vs_mean_error` (None when neither applies).

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
                                n_boot=n_boot, decimals=2, unit=unit, training_seeds=training_seeds)
    for r in readings:
        if paper_rmse and r["a"] in paper_rmse and r["b"] in paper_rmse:
            pa, pb = paper_rmse[r["a"]], paper_rmse[r["b"]]
            word = "higher" if pb > pa else "lower" if pb < pa else "unchanged"
            r["text"] += f" The paper's MT RMSE went {pa:.2f} -> {pb:.2f} mm ({word})."
        parts = [explain_dice_vs_mt(r, dice, counts, corr), explain_rmse_vs_mean_error(r, comparison)]
        r["explanation"] = " ".join(p for p in parts if p) or None
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
