"""Guiding a generator with a weaker version of itself (autoguidance, Karras et al. 2024), screened
on the kit val masks over several sampling seeds (``benchmarks/bench_generator_screen.py
--autoguide BAD W --section autoguidance``), beside the same weights without it.

* :func:`autoguidance_rows` -- the autoguided rows and the rows of the same weights (same
  training step and seconds) under classifier-free guidance alone, from any section;
* :func:`autoguidance_readings` -- sentences computed from them: the target corner, and each
  autoguided setting against the same weights and classifier-free guidance without it, seed by seed
  (:func:`msknb.evaluation.generator_screen.seed_comparison`).

The val ids pick and tune; the test ids are never read here.
"""
from __future__ import annotations

from typing import Any

from msknb.ddpm.checkpoints import guidance_label
from msknb.evaluation.generator_screen import TARGETS, seed_comparison, seed_spread

#: where the screen keeps the autoguided rows (``--section autoguidance``)
AUTOGUIDANCE_SECTION = "autoguidance"
#: the sections searched for the same weights without autoguidance
OTHER_SECTIONS = ("generators", "guidance", "training")


def _weights(g: dict[str, Any]) -> tuple:
    """Which weights a row drew with: its training step and seconds (a snapshot and its export
    agree), and the steps of the snapshots averaged into it, if any."""
    return int(g.get("step", -1)), round(float(g.get("train_seconds", 0.0))), tuple(g.get("averaged_steps") or ())


def weights_label(g: dict[str, Any]) -> str:
    """``"step 5000"``, or ``"mean of steps 5000-6000"`` for an average of snapshots."""
    averaged = g.get("averaged_steps")
    return f"mean of steps {averaged[0]}-{averaged[-1]}" if averaged else f"step {g.get('step')}"


def autoguidance_rows(screen_file: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows screened over several seeds for every autoguided generator's weights: ``name``,
    ``label`` (the weights' step and the setting in words), ``autoguided`` (bool), ``cfg_label``
    (the classifier-free guidance part of the setting), ``step``, ``n_seeds``, ``seeds``,
    ``domain_ratio`` / ``alignment`` (seed 0) and their ``*_mean`` / ``*_sd`` / ``*_values``,
    ``mean_grey``, ``real_mean_grey``, ``hist_l1`` (seed 0), ``s_per_image``; sorted by mean ratio."""
    guided = screen_file.get(AUTOGUIDANCE_SECTION) or {}
    weights = {_weights(g) for g in guided.values()}
    rows = []
    for section in (AUTOGUIDANCE_SECTION,) + OTHER_SECTIONS:
        for name, g in (screen_file.get(section) or {}).items():
            if _weights(g) not in weights or not g.get("over_seeds") or "base" in g:
                continue
            sampler = g.get("sampler", {})
            rows.append({"name": name, "label": f"{weights_label(g)}: {guidance_label(sampler)}", "autoguided": "autoguidance" in sampler,
                         "cfg_label": guidance_label({k: v for k, v in sampler.items() if k != "autoguidance"}),
                         "step": g.get("step"), "weights": _weights(g), "seeds": g["over_seeds"]["seeds"],
                         "n_seeds": len(g["over_seeds"]["seeds"]), **seed_spread(g),
                         "domain_ratio": g["domain"]["ratio"], "alignment": g["alignment"]["dice_mean"],
                         "mean_grey": g["intensity"]["mean_grey"], "real_mean_grey": g["intensity"]["real_mean_grey"],
                         "hist_l1": g["intensity"]["hist_l1"], "s_per_image": sampler.get("seconds_per_image")})
    return sorted(rows, key=lambda r: r["domain_ratio_mean"])


def autoguidance_readings(rows: list[dict[str, Any]]) -> list[str]:
    """Sentences from :func:`autoguidance_rows`: the lowest mean ratio with and without the
    alignment target, then each autoguided setting against the same weights under the same
    classifier-free guidance without the weaker model, where that was screened."""
    if not rows:
        return []
    out = []
    best = rows[0]
    aligned = [r for r in rows if r["alignment_mean"] >= TARGETS["alignment_dice"]]
    out.append(f"Lowest mean domain ratio: {best['domain_ratio_mean']:.2f} ± {best['domain_ratio_sd']:.2f} "
               f"({best['label']}), alignment {best['alignment_mean']:.3f}"
               + ("" if best["alignment_mean"] >= TARGETS["alignment_dice"] else
                  f", below the {TARGETS['alignment_dice']:.2f} target") + ".")
    if aligned and aligned[0] is not best:
        a = aligned[0]
        out.append(f"Lowest mean ratio with alignment >= {TARGETS['alignment_dice']:.2f}: "
                   f"{a['domain_ratio_mean']:.2f} ± {a['domain_ratio_sd']:.2f} ({a['label']}).")
    plain = {(r["weights"], r["cfg_label"]): r for r in rows if not r["autoguided"]}
    for r in rows:
        same = plain.get((r["weights"], r["cfg_label"])) if r["autoguided"] else None
        if same is not None:
            out.append(seed_comparison(r, same))
    return out
