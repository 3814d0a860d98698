"""Readings of results: paired bootstrap CIs and one-sentence verdicts built from the numbers.

A *reading* says which way a comparison went, whether the difference is larger than its
uncertainty and how it compares with the paper. It is a function of the per-image results,
never prose fixed in advance.

- :func:`paired_bootstrap` resamples the test images (with replacement) and gives the 95 %
  percentile CI of the paired difference ``b - a``.
- :func:`read_comparison` adds a sentence (``text``) to those numbers.
- :func:`read_experiments` reads a grid of experiments (notebook 05: Dice; 06: MT error).

Contract with the notebooks and the report: a notebook stores its readings in its results
JSON (``save_results``) under the key ``"readings"`` as a list of :func:`read_comparison`
dicts (JSON-safe: plain floats, NaN as ``None`` via :func:`jsonable`). The report
(``msknb.evaluation.report``) shows ``text`` and the CI of every reading it finds there.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from msknb.errors import ConfigError

#: CI level of every reading (percentile bootstrap)
CI_LEVEL = 0.95
#: the comparisons the paper draws between its experiments (Tables 4-6): (baseline, with synthetic)
EXPERIMENT_PAIRS: tuple[tuple[str, str], ...] = (("Real", "Gen"), ("Real", "Real+Gen"), ("50%", "50%+Gen"),
                                                  ("30%", "30%+Gen"), ("10%", "10%+Gen"))


def _paired_arrays(a, b) -> tuple[np.ndarray, np.ndarray, int]:
    """``a``, ``b`` as float arrays with NaN pairs dropped; returns (a, b, n_dropped)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ConfigError(f"paired values need the same images in the same order; got {a.size} and {b.size} values")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep], int(a.size - keep.sum())


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0,
                     stat: Callable[..., Any] = np.mean) -> dict[str, Any]:
    """Paired percentile bootstrap of ``stat(b - a)`` over test images.

    ``a``, ``b``: per-image values (same images, same order), shape (N,). Pairs where either
    value is NaN/inf are dropped and counted (``n_dropped``). ``stat`` must accept ``axis=``.
    Returns ``n``, ``n_dropped``, ``mean_a``, ``mean_b``, ``diff`` (= ``stat(b - a)``),
    ``ci_low``, ``ci_high`` (95 % percentile CI), ``significant`` (the CI excludes 0),
    ``n_boot``, ``seed``. Fewer than 2 pairs: CI NaN, not significant.
    """
    if int(n_boot) < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}")
    a, b, dropped = _paired_arrays(a, b)
    n = int(a.size)
    out: dict[str, Any] = {"n": n, "n_dropped": dropped, "n_boot": int(n_boot), "seed": int(seed),
                           "mean_a": float(np.mean(a)) if n else math.nan,
                           "mean_b": float(np.mean(b)) if n else math.nan,
                           "diff": float(stat(b - a)) if n else math.nan,
                           "ci_low": math.nan, "ci_high": math.nan, "significant": False}
    if n < 2:
        return out
    d = b - a
    idx = np.random.default_rng(seed).integers(0, n, size=(int(n_boot), n))
    boot = np.asarray(stat(d[idx], axis=1), dtype=np.float64)
    tail = (1.0 - CI_LEVEL) / 2.0 * 100.0
    low, high = np.percentile(boot, [tail, 100.0 - tail])
    out["ci_low"], out["ci_high"] = float(low), float(high)
    out["significant"] = bool(low > 0.0 or high < 0.0)
    return out


def _fmt(x: float, decimals: int) -> str:
    """``x`` signed with ``decimals`` decimals; a non-zero value that would print as 0 gets
    the digits that show its sign (a CI bound of +0.0003 must not read "+0.000")."""
    if x is None or not math.isfinite(x):
        return "n/a"
    while x != 0 and round(abs(x), decimals) == 0 and decimals < 6:
        decimals += 1
    return f"{x:+.{decimals}f}"


def _direction(r: Mapping[str, Any], higher_is_better: bool) -> str:
    """"better" / "worse" (for ``b``) when the CI excludes 0, "too few" (< 2 pairs), else "no effect"."""
    if r["n"] < 2:
        return "too few"
    if not r["significant"]:
        return "no effect"
    return "better" if (r["diff"] > 0) == higher_is_better else "worse"


def _paper_sentence(r: Mapping[str, Any], paper_diff: float, decimals: int) -> str:
    """How our difference compares with the paper's ``paper_diff``."""
    said = f"The paper reports {_fmt(paper_diff, decimals)}"
    if not math.isfinite(r["ci_low"]):
        return said + "."
    if r["ci_low"] <= paper_diff <= r["ci_high"]:
        return said + ", inside our CI (consistent)."
    same_sign = np.sign(paper_diff) == np.sign(r["diff"]) and paper_diff != 0
    side = "above" if paper_diff > r["ci_high"] else "below"
    how = "same direction" if same_sign else "opposite direction"
    return said + f", {side} our CI ({how})."


def read_comparison(metric: str, name_a: str, a: Sequence[float], name_b: str, b: Sequence[float],
                    higher_is_better: bool = True, paper_diff: float | None = None, seed: int = 0,
                    n_boot: int = 2000, decimals: int = 3, unit: str = "",
                    training_seeds: int | None = None) -> dict[str, Any]:
    """Read ``b`` against ``a`` on ``metric`` (per-image values of the same test images).

    ``training_seeds``: how many training runs (seeds) stand behind each experiment's values.
    The bootstrap CI covers only which test images were drawn, so with ``1`` a difference
    beyond it is said to be one example (one training run), not a finding about the
    experiments; None (unknown) keeps the plain wording.

    Returns the :func:`paired_bootstrap` numbers plus ``metric``, ``a``, ``b`` (names),
    ``higher_is_better``, ``direction`` ("better" / "worse" / "no effect" / "too few", said of ``b``),
    ``paper_diff``, ``training_seeds`` and ``text``, e.g. "Real+Gen vs Real: Dice +0.012 (95 % CI -0.020 to
    +0.041, n = 47): within the uncertainty - no measurable effect. The paper reports
    +0.010, inside our CI (consistent)."
    """
    r = paired_bootstrap(a, b, n_boot=n_boot, seed=seed)
    direction = _direction(r, higher_is_better)
    u = f" {unit}" if unit else ""
    head = (f"{name_b} vs {name_a}: {metric} {_fmt(r['diff'], decimals)}{u} (95 % CI "
            f"{_fmt(r['ci_low'], decimals)} to {_fmt(r['ci_high'], decimals)}, n = {r['n']})")
    has_paper = paper_diff is not None and math.isfinite(float(paper_diff))
    if direction == "too few":  # no difference or CI to print
        dropped = f"; {r['n_dropped']} left out where either value is missing" if r["n_dropped"] else ""
        text = f"{name_b} vs {name_a}: {metric}: too few paired images to read (n = {r['n']} with both values{dropped})."
        if has_paper:
            text += f" The paper reports {_fmt(float(paper_diff), decimals)}."
    else:
        if direction == "no effect":
            verdict = "within the uncertainty - no measurable effect."
        elif training_seeds == 1:
            lower = "higher" if r["diff"] > 0 else "lower"
            verdict = (f"{lower} beyond the test-image uncertainty - {name_b} did {direction} than {name_a} in this "
                       f"one training run (one seed: one example; the CI does not cover another training run).")
        else:
            lower = "higher" if r["diff"] > 0 else "lower"
            verdict = f"{lower} beyond the uncertainty - {name_b} is {direction} than {name_a} here."
        text = f"{head}: {verdict}"
        if has_paper:
            text += " " + _paper_sentence(r, float(paper_diff), decimals)
    return {**r, "metric": metric, "a": name_a, "b": name_b, "higher_is_better": bool(higher_is_better),
            "direction": direction, "paper_diff": None if paper_diff is None else float(paper_diff),
            "training_seeds": training_seeds, "text": text}


def _aligned(values_a, values_b) -> tuple[list[float], list[float]]:
    """Two per-image series as aligned lists; mappings (id -> value) align on common ids."""
    if isinstance(values_a, Mapping) and isinstance(values_b, Mapping):
        ids = sorted(set(values_a) & set(values_b))
        return [values_a[i] for i in ids], [values_b[i] for i in ids]
    return list(values_a), list(values_b)


def read_experiments(per_image: Mapping[str, Any], pairs: Sequence[tuple[str, str]], metric: str = "Dice",
                     paper: Mapping[str, float] | None = None, higher_is_better: bool = True, seed: int = 0,
                     n_boot: int = 2000, decimals: int = 3, unit: str = "",
                     training_seeds: int | None = None) -> list[dict[str, Any]]:
    """Read each ``(a, b)`` pair of experiments; pairs with a missing experiment are skipped.
    ``training_seeds``: see :func:`read_comparison` (1 for one run of a grid).

    ``per_image``: {experiment: per-image values} -- lists in one shared image order, or
    {image id: value} mappings (aligned on the ids both have). ``paper``: {experiment: the
    paper's value of the same metric}; when both are there, ``paper_diff = paper[b] - paper[a]``.
    """
    readings = []
    for name_a, name_b in pairs:
        if name_a not in per_image or name_b not in per_image:
            continue
        a, b = _aligned(per_image[name_a], per_image[name_b])
        paper_diff = None
        if paper is not None and name_a in paper and name_b in paper:
            paper_diff = float(paper[name_b]) - float(paper[name_a])
        readings.append(read_comparison(metric, name_a, a, name_b, b, higher_is_better=higher_is_better,
                                        paper_diff=paper_diff, seed=seed, n_boot=n_boot,
                                        decimals=decimals, unit=unit, training_seeds=training_seeds))
    return readings


def jsonable(reading: Mapping[str, Any]) -> dict[str, Any]:
    """A reading with NaN/inf floats as ``None`` (strict JSON) and numpy scalars as Python ones."""
    out = {}
    for k, v in reading.items():
        if isinstance(v, (np.floating, float)):
            v = float(v)
            out[k] = v if math.isfinite(v) else None
        elif isinstance(v, np.integer):
            out[k] = int(v)
        elif isinstance(v, np.bool_):
            out[k] = bool(v)
        else:
            out[k] = v
    return out


def readings_markdown(readings: Sequence[Mapping[str, Any]], explanation_key: str = "explanation") -> str:
    """A Markdown bullet list: one reading's ``text`` per line (and its ``explanation`` when
    there is one); "(no readings)" for an empty list."""
    if not readings:
        return "(no readings: fewer than two of the compared experiments ran)"
    lines = []
    for r in readings:
        lines.append(f"- {r['text']}")
        if r.get(explanation_key):
            lines.append(f"  *Why:* {r[explanation_key]}")
    return "\n".join(lines)
