"""What notebook 05's experiment grid says, computed from its per-image test Dice:
readings of the paper's comparisons (paired bootstrap 95 % CI over the test images,
:mod:`msknb.readings`) and the test Dice with and without the test pairs that
label QA flagged (:mod:`msknb.data.label_qa`)."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from msknb.readings import jsonable, read_experiments
from msknb.paper import PAPER_TABLE4, PAPER_TABLE6
from msknb.segmentation.experiments import parse_experiment


def paper_dice() -> dict[str, float]:
    """The paper's mean Dice per experiment: Table 4 (Real, Gen, Real+Gen) and Table 6 (fractions)."""
    return {**{k: v["dice"] for k, v in PAPER_TABLE4.items()}, **{k: v["dice"] for k, v in PAPER_TABLE6.items()}}


def comparison_pairs(names: Iterable[str]) -> list[tuple[str, str]]:
    """The comparisons to read among the experiments ``names``, (baseline, with synthetic):
    Real vs Real+Gen, Real vs Gen, and x % vs x %+Gen for every fraction run with and without."""
    names = list(names)
    pairs = [p for p in (("Real", "Real+Gen"), ("Real", "Gen")) if p[0] in names and p[1] in names]
    fractions = sorted((parse_experiment(n)["fraction"], n) for n in names
                       if not parse_experiment(n)["gen"] and 0 < parse_experiment(n)["fraction"] < 1)
    for _, base in reversed(fractions):
        if f"{base}+Gen" in names:
            pairs.append((base, f"{base}+Gen"))
    return pairs


def per_image_dice(results: Mapping[str, Any], exclude: Iterable[str] = ()) -> dict[str, dict[str, float]]:
    """``{experiment: {test id: Dice}}`` from the grid's ``test_dice_per_image`` (in the
    order of ``results["test_ids"]``), without the ids in ``exclude``."""
    drop = {str(i) for i in exclude}
    ids = [str(i) for i in results["test_ids"]]
    return {name: {i: float(d) for i, d in zip(ids, row["test_dice_per_image"]) if i not in drop}
            for name, row in results["experiments"].items()}


def _ratio_sentence(reading: dict[str, Any], paper: Mapping[str, float]) -> dict[str, Any]:
    """Gen's Dice as a share of Real's, next to the paper's (Table 4: 0.80 / 0.85)."""
    ratio = reading["mean_b"] / reading["mean_a"] if reading["mean_a"] else math.nan
    paper_ratio = paper["Gen"] / paper["Real"]
    extra = (f" Gen reaches {100 * ratio:.0f} % of Real's Dice (paper: {paper['Gen']:.2f} / "
             f"{paper['Real']:.2f} = {100 * paper_ratio:.0f} %).")
    return {**reading, "ratio": ratio, "paper_ratio": paper_ratio, "text": reading["text"] + extra}


def grid_readings(results: Mapping[str, Any], exclude: Iterable[str] = (), seed: int = 0,
                  n_boot: int = 2000, training_seeds: int = 1) -> list[dict[str, Any]]:
    """Readings (:func:`msknb.readings.read_comparison` dicts, JSON-safe) of
    :func:`comparison_pairs` on the per-image test Dice, leaving out the test ids in
    ``exclude``; each with the paper's difference where the paper has both experiments,
    and for Real vs Gen the ratio Gen / Real (``ratio``, ``paper_ratio``). One run of the
    grid is one training seed (``training_seeds`` = 1): a difference beyond its CI is read
    as one example, not a trend."""
    paper = paper_dice()
    per = per_image_dice(results, exclude)
    out = []
    for r in read_experiments(per, comparison_pairs(per), metric="Dice", paper=paper, seed=seed, n_boot=n_boot,
                              training_seeds=training_seeds):
        if (r["a"], r["b"]) == ("Real", "Gen"):
            r = _ratio_sentence(r, paper)
        out.append(jsonable(r))
    return out


def _stats(values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    return {"n": int(v.size), "mean": float(v.mean()) if v.size else None, "std": float(v.std()) if v.size else None}


def dice_with_and_without(results: Mapping[str, Any], flagged: Iterable[str]) -> dict[str, Any]:
    """Test Dice of every experiment over all test images and without the flagged test
    pairs: ``{"flagged_test_ids": [...], "experiments": {name: {"all": {n, mean, std},
    "without_flagged": {n, mean, std}}}}``."""
    flagged = sorted({str(i) for i in flagged} & {str(i) for i in results["test_ids"]})
    everything, clean = per_image_dice(results), per_image_dice(results, flagged)
    return {"flagged_test_ids": flagged,
            "experiments": {name: {"all": _stats(list(everything[name].values())),
                                   "without_flagged": _stats(list(clean[name].values()))} for name in everything}}
