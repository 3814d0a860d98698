"""The reference experiment in numbers: what ``msknb experiment summary --json`` prints and
notebooks 05-07 and the report show.

Per experiment the mean test Dice over seeds and subset draws; for a comparison (e.g.
10 %+Gen vs 10 %) each test image's Dice is first averaged over the seeds and draws of each
side (only the cells both sides share: the same subset draw and seed, or the same seed when one
side has a single subset), then the paired percentile bootstrap over test images gives the 95 % CI
(:func:`msknb.readings.paired_bootstrap`). The seeds' spread is reported beside it.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from msknb.ddpm.checkpoints import guidance_label
from msknb.readings import paired_bootstrap
from msknb.evaluation.reference.store import read_reference
from msknb.paper import PAPER_TABLE6


def experiment_label(cell: dict[str, Any]) -> str:
    """Experiment name as in the paper, with the synthetic set's use for x+Gen ("10%+Gen",
    "10%+Gen (pretrain)", "10% twice" for the control)."""
    if cell.get("gen_use") == "control":
        return f"{cell['experiment'].replace('+Gen', '')} twice"
    if cell.get("gen_use") == "pretrain":
        return f"{cell['experiment']} (pretrain)"
    return cell["experiment"]


def per_image_keyed(cells: dict[str, dict[str, Any]], clean: bool = False
                    ) -> dict[str, dict[tuple[int | None, int], np.ndarray]]:
    """experiment label -> {(draw, seed): (n_test,) Dice}; ``draw`` is None for experiments
    trained on all train ids or on synthetic images only (one subset). ``clean`` drops test
    pairs label QA flags."""
    rows: dict[str, dict[tuple[int | None, int], np.ndarray]] = defaultdict(dict)
    for c in cells.values():
        d = np.asarray(c["test"]["dice"], dtype=np.float64)
        if clean:
            d = d[~np.asarray(c["test"]["flagged"], dtype=bool)]
        drawn = 0.0 < float(c.get("fraction", 1.0)) < 1.0 or c.get("labels") == "subset"
        rows[experiment_label(c)][(int(c["draw"]) if drawn else None, int(c["seed"]))] = d
    return dict(rows)


def per_image(cells: dict[str, dict[str, Any]], clean: bool = False) -> dict[str, np.ndarray]:
    """experiment label -> (n_cells, n_test) Dice; ``clean`` drops test pairs label QA flags."""
    return {k: np.stack(list(v.values())) for k, v in per_image_keyed(cells, clean).items()}


def matched(a: dict[tuple, np.ndarray], b: dict[tuple, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The cells of two experiments that a comparison pairs, as (n_a, n_test) and (n_b, n_test):
    the same (draw, seed) when both were trained on drawn subsets, else the same seeds."""
    if all(d is not None for d, _ in a) and all(d is not None for d, _ in b):
        keys = sorted(set(a) & set(b))
        return np.stack([a[k] for k in keys]) if keys else np.zeros((0, 0)), \
            np.stack([b[k] for k in keys]) if keys else np.zeros((0, 0))
    seeds = {s for _, s in a} & {s for _, s in b}
    pick = lambda x: [v for (_, s), v in sorted(x.items(), key=lambda kv: (kv[0][1], kv[0][0] or 0))  # noqa: E731
                      if s in seeds]
    return (np.stack(pick(a)) if seeds else np.zeros((0, 0)), np.stack(pick(b)) if seeds else np.zeros((0, 0)))


def compare(dice: dict[str, dict[tuple, np.ndarray]], base: str, other: str) -> dict[str, Any] | None:
    """``other`` minus ``base`` over the cells they share (:func:`matched`): mean, 95 % CI over
    test images of the per-image means; None when either is missing or they share no seed."""
    if base not in dice or other not in dice:
        return None
    a, b = matched(dice[base], dice[other])
    if not len(a) or not len(b):
        return None
    boot = paired_bootstrap(a.mean(axis=0), b.mean(axis=0))
    return {"mean": boot["diff"], "ci_low": boot["ci_low"], "ci_high": boot["ci_high"],
            "significant": boot["significant"], "n_test": boot["n"], "n_cells": [int(len(a)), int(len(b))]}


def _ratio(keyed: dict[str, dict[tuple, np.ndarray]], top: str, bottom: str) -> float | None:
    """Mean test Dice of ``top`` over that of ``bottom``, on the seeds both have (None if none)."""
    if top not in keyed or bottom not in keyed:
        return None
    b, t = matched(keyed[bottom], keyed[top])
    return _nan_none(float(t.mean() / b.mean())) if len(t) and len(b) else None


def _nan_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def strict_json(obj: Any) -> Any:
    """``obj`` with every NaN/inf float as None and numpy scalars as Python ones (strict JSON)."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return _nan_none(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def synthetic_cpu_hours(cells: dict[str, dict[str, Any]]) -> tuple[float, list[str]]:
    """CPU-hours spent making the synthetic sets the cells used (each set once: its drawing
    and, for a fine-tuned generator, the fine-tune), and the sets whose drawing was not timed."""
    sets = {json.dumps(c["generator"], sort_keys=True): c["generator"] for c in cells.values()
            if isinstance(c.get("generator"), dict)}
    seconds, untimed = 0.0, []
    for g in sets.values():
        seconds += float(g.get("draw_cpu_seconds") or 0.0) + float(g.get("finetune_cpu_seconds") or 0.0)
        timed, _, of = str(g.get("draw_chunks_timed", "")).partition(" of ")
        if not of or timed != of:
            untimed.append(str(g.get("checkpoint")))
    return seconds / 3600.0, sorted(set(untimed))


def summarise_reference(folder: str | Path | None = None, clean: bool = False) -> dict[str, Any]:
    """The stored reference results as one JSON-safe dict (keys named in the module docstring
    of :mod:`msknb.cli.experiment`)."""
    ref = read_reference(folder)
    meta, cells = ref["meta"], ref["cells"]
    keyed = per_image_keyed(cells, clean)
    dice = {k: np.stack(list(v.values())) for k, v in keyed.items()}
    means = {k: float(v.mean()) for k, v in dice.items()}
    room = compare(keyed, "10%", "Real")
    syn_h, untimed = synthetic_cpu_hours(cells)
    gen = {k: c["generator"].get("checkpoint") for k, c in cells.items() if isinstance(c.get("generator"), dict)}
    return strict_json({"resolution": meta.get("resolution"), "n_seeds": len({c["seed"] for c in cells.values()}),
            "cpu_hours": meta.get("cpu_hours"), "cpu_hours_synthetic_sets": syn_h,
            "cpu_measured_cells": sum(1 for c in cells.values() if c.get("train_cpu_seconds") is not None),
            "synthetic_sets_not_timed": untimed, "generator": sorted({str(g) for g in gen.values()}) or None,
            "dice": means, "dice_seed_sd": {k: float(v.mean(axis=1).std(ddof=1)) if len(v) > 1 else None
                                            for k, v in dice.items()},
            "n_cells": {k: int(v.shape[0]) for k, v in dice.items()},
            "real_minus_10pct": room,
            "gain_10pct": compare(keyed, "10%", "10%+Gen"),
            "gain_10pct_pretrain": compare(keyed, "10%", "10%+Gen (pretrain)"),
            "gain_10pct_vs_control": compare(keyed, "10% twice", "10%+Gen (pretrain)"),
            "gain_10pct_scarce": compare(keyed, "10%", "10%+Gen, 10 % labels"),
            "gain_10pct_scarce_pretrain": compare(keyed, "10%", "10%+Gen, 10 % labels (pretrain)"),
            "gain_10pct_scarce_vs_control": compare(keyed, "10% twice", "10%+Gen, 10 % labels (pretrain)"),
            "gain_real": compare(keyed, "Real", "Real+Gen"),
            "gain_real_vs_control": compare(keyed, "Real twice", "Real+Gen (pretrain)"),
            "generator_detail": next((c["generator"] for c in cells.values() if isinstance(c.get("generator"), dict)
                                      and c.get("labels", "all") == "all"), None),
            "generator_scarce_detail": next((c["generator"] for c in cells.values() if c.get("labels") == "subset"
                                             and isinstance(c.get("generator"), dict)), None),
            "gen_over_real": _ratio(keyed, "Gen", "Real"),
            "superseded": meta.get("superseded") or [],
            "clean_test_only": clean, "command": meta.get("command"), "commands": meta.get("commands"),
            "commit": meta.get("commit")})


def provenance_line(summary: dict[str, Any]) -> str:
    """Where the stored results come from and what they cost, in one sentence."""
    untimed = summary.get("synthetic_sets_not_timed") or []
    syn = f"{summary.get('cpu_hours_synthetic_sets') or 0.0:.1f} CPU-hours for the synthetic sets"
    if untimed:
        syn += f" ({len(untimed)} set(s) drawn before their time was recorded, not counted)"
    n = sum((summary.get("n_cells") or {}).values())
    runs = len(summary.get("commands") or [summary.get("command")])
    how = f"`{summary.get('command')}`" if runs == 1 else (f"{runs} runs of `python -m msknb experiment run` "
                                                           "(their commands are in the folder's experiment.json)")
    measured = int(summary.get("cpu_measured_cells") or 0)
    how_timed = ("wall-clock × threads: runs shared the cores" if not measured else
                 f"CPU time measured for {measured} model(s), wall-clock × threads for the others, "
                 "as runs shared the cores" if measured < n else "CPU time measured")
    old = summary.get("superseded") or []
    gone = (f" Before, {sum(len(o['cells']) for o in old)} models trained on sets drawn by "
            f"{', '.join(sorted({g for o in old for g in o['generators']}))} were replaced "
            f"({sum(o['cpu_hours'] for o in old):.1f} CPU-hours, kept in git history)." if old else "")
    return (f"Precomputed by {how} (last at commit {summary.get('commit')}): {n} models at "
            f"{summary.get('resolution')} px, {'' if measured == n else 'at most '}"
            f"{summary.get('cpu_hours') or 0.0:.1f} CPU-hours of training "
            f"({how_timed}) and {syn}.{gone}")


def _read_gain(what: str, c: dict[str, Any] | None) -> str | None:
    if c is None:
        return None
    ci = f"{c['mean']:+.3f} Dice (95 % CI {c['ci_low']:+.3f} to {c['ci_high']:+.3f}, {c['n_test']} test images"
    ci += f", {c['n_cells'][0]} and {c['n_cells'][1]} models)"
    if min(c["n_cells"]) == 1:
        what += " [one model on a side: one example, not a trend]"
    if c["ci_low"] > 0:
        return f"{what}: {ci}: a measurable gain."
    if c["ci_high"] < 0:
        return f"{what}: {ci}: a measurable loss."
    return f"{what}: {ci}: no measurable effect."


def paper_size_reading(summary: dict[str, Any]) -> str | None:
    """Whether the stored 10 %+Gen comparisons rule out a gain of the paper's size (Table 6:
    10 % -> 10 %+Gen on its validation images); None before any is stored."""
    paper = PAPER_TABLE6["10%+Gen"]["dice"] - PAPER_TABLE6["10%"]["dice"]
    found = {name: summary.get(key) for name, key in (("mix", "gain_10pct"), ("pretrain", "gain_10pct_pretrain"))
             if summary.get(key)}
    if not found:
        return None
    tops = ", ".join(f"{name} up to {c['ci_high']:+.3f}" for name, c in found.items())
    head = (f"The paper's gain at 10 % (Table 6: {PAPER_TABLE6['10%']['dice']:.3f} -> "
            f"{PAPER_TABLE6['10%+Gen']['dice']:.3f}, {paper:+.3f} on its validation images)")
    if all(c["ci_high"] < paper for c in found.values()):
        return f"{head} lies above the 95 % CI of every way of using the synthetic set here ({tops}): with this " \
               "generator the stored experiment rules out a gain of the paper's size."
    return f"{head} lies inside the 95 % CI of at least one way of using the synthetic set here ({tops}): the " \
           "stored experiment cannot rule it out."


def reference_readings(summary: dict[str, Any]) -> list[str]:
    """One sentence per comparison the stored results can answer, each read from its CI;
    the comparisons not run yet are named as such."""
    pairs = [("Room for synthetic data (Real minus 10 %)", "real_minus_10pct"),
             ("10 %+Gen minus 10 % (mix, the paper's way)", "gain_10pct"),
             ("10 %+Gen minus 10 % (pretrain on synthetic, then fine-tune)", "gain_10pct_pretrain"),
             ("10 %+Gen (pretrain) minus 10 % trained twice as long (its budget-matched control)",
              "gain_10pct_vs_control"),
             ("Real+Gen minus Real (mix)", "gain_real"),
             ("Scarce labels: 10 %+Gen minus 10 % (mix), the generator fine-tuned on the 10 % pairs only",
              "gain_10pct_scarce"),
             ("Scarce labels: 10 %+Gen (pretrain) minus 10 % trained twice as long", "gain_10pct_scarce_vs_control")]
    out = []
    for what, key in pairs:
        text = _read_gain(what, summary.get(key))
        out.append(text or f"{what}: not run yet.")
    paper = paper_size_reading(summary)
    if paper:
        out.append(paper)
    if summary.get("gen_over_real") is not None:
        out.append(f"Synthetic only over Real: {summary['gen_over_real']:.2f} of Real's test Dice.")
    g = summary.get("generator_detail")
    if g:
        seen = f"the kit's {g['n_training_ids']} train ids" if g.get("n_training_ids") else "unknown ids"
        out.append(f"Synthetic images: {g.get('n')} drawn by `{g.get('checkpoint')}` ({g.get('sampler')}, guidance "
                   f"{guidance_label(g)}) at {g.get('drawn_at_px')} px, one for each real train mask; the generator "
                   f"was trained on {seen}, so in the x %+Gen rows it carries what all train pairs taught it "
                   "(the paper's setting), not only the x % of labels.")
    g = summary.get("generator_scarce_detail")
    if g:
        tuned = g.get("fine_tuned_on") or []
        out.append(f"Scarce-label rows: `{g.get('fine_tuned_from')}` fine-tuned on the {len(tuned)} pairs of the "
                   f"10 % subset only, then {g.get('n')} images drawn for {g.get('condition_masks')}; its starting "
                   "weights still saw every train pair, so this is the closest affordable setting, not a generator "
                   "that never saw the other labels.")
    return out
