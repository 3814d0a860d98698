"""One set of generator weights, many ways to sample it: classifier-free guidance scales and
intervals, guidance near the mask only, guidance of the coarse structure only, autoguidance by a
weaker model (Karras et al. 2024) and averaged snapshots, screened on the kit val masks over several sampling seeds
(``benchmarks/bench_generator_screen.py --section sampling``), beside the same weights sampled
plainly.

* :func:`sampling_rows` -- the rows of the section and the rows of the same weights (same training
  step and seconds) screened in other sections;
* :func:`sampling_readings` -- sentences computed from them: the lowest ratio with and without the
  alignment target, and each variant (autoguided, guided near the mask only, guided on the coarse
  structure only, averaged weights, or mask-injection layers trained on the weights) against the
  setting it adds to, seed by seed
  (:func:`msknb.evaluation.generator_screen.seed_comparison`).

The val ids pick and tune; the test ids are never read here.
"""
from __future__ import annotations

from typing import Any

from msknb.ddpm.checkpoints import guidance_label
from msknb.evaluation.generator_screen import TARGETS, seed_comparison, setting_row, steps_from_start

#: where the screen keeps these rows (``--section sampling``)
SAMPLING_SECTION = "sampling"
#: the sections searched for the same weights sampled in other ways
OTHER_SECTIONS = ("generators", "guidance", "training")
#: sampler-record keys that make a row a variant of a plainer setting, the outermost first: a row
#: is read against the same setting without the first of them it has
VARIANT_KEYS = ("guidance_coarse", "autoguidance", "guidance_region")


def _injected(g: dict[str, Any]) -> bool:
    """Whether the weights take the mask at every U-Net resolution (``mask_injection``)."""
    return bool((g.get("config") or {}).get("mask_injection"))


def _weights(g: dict[str, Any]) -> tuple:
    """Which weights a row drew with: its training step and seconds (a snapshot and its export
    agree), and the steps of the snapshots averaged into it, if any."""
    return steps_from_start(g), round(float(g.get("train_seconds", 0.0))), tuple(g.get("averaged_steps") or ())


def weights_label(g: dict[str, Any]) -> str:
    """``"step 5000"``, ``"mean of steps 5000-6000"`` for an average of snapshots, or ``"step 6000
    (5000 + 1000 with the mask at every level)"`` for mask-injection layers trained on a start (and
    ``every weight trained`` where the rest of the network was not frozen (``freeze_base`` False;
    rows that do not record it were frozen), the loss when not the paper's L1)."""
    averaged = g.get("averaged_steps")
    if averaged:
        return f"mean of steps {averaged[0]}-{averaged[-1]}"
    if _injected(g) and g.get("started_from_step") is not None:
        config = g.get("config") or {}
        loss = config.get("loss") or "l1"
        return (f"step {steps_from_start(g)} ({g['started_from_step']} + {g['step']} with the mask at every level"
                + ("" if config.get("freeze_base", True) else ", every weight trained")
                + ("" if loss == "l1" else f", {loss.upper()} loss") + ")")
    return f"step {steps_from_start(g)}"


def sampling_rows(screen_file: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows screened over several seeds for every set of weights in the section: ``name``,
    ``label`` (the weights and the setting in words), ``variant`` (autoguided or guided near the
    mask), ``plain_label`` (the setting without those), ``weights``, ``averaged_steps`` and the
    numbers of :func:`msknb.evaluation.generator_screen.setting_row`; sorted by mean ratio.
    ``plain_label``: the setting without the first of :data:`VARIANT_KEYS` it has."""
    weights = {_weights(g) for g in (screen_file.get(SAMPLING_SECTION) or {}).values()}
    rows = []
    for section in (SAMPLING_SECTION,) + OTHER_SECTIONS:
        for name, g in (screen_file.get(section) or {}).items():
            if _weights(g) not in weights or not g.get("over_seeds") or "base" in g:
                continue
            sampler = g.get("sampler", {})
            row = setting_row(name, g)
            rows.append({**row, "label": f"{weights_label(g)}: {row['label']}", "setting": row["label"],
                         "variant": any(k in sampler for k in VARIANT_KEYS),
                         "plain_label": guidance_label(_without_variant(sampler)),
                         "weights": _weights(g), "averaged_steps": g.get("averaged_steps"), "step": steps_from_start(g),
                         "checkpoint": g.get("checkpoint"), "started_from": g.get("started_from"),
                         "injected_from": g.get("started_from_step") if _injected(g) else None})
    return sorted(rows, key=lambda r: r["domain_ratio_mean"])


def _without_variant(sampler: dict[str, Any]) -> dict[str, Any]:
    """``sampler`` without the first of :data:`VARIANT_KEYS` it has (unchanged without any)."""
    key = next((k for k in VARIANT_KEYS if k in sampler), None)
    return {k: v for k, v in sampler.items() if k != key}


def _plain_of(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row ``row`` adds to: for mask-injection layers, the weights they were trained on (the
    file they started from, else the plain weights at their starting step), sampled the same way; else the same weights sampled without the row's variant; for averaged
    weights, the first averaged snapshot sampled the same way; None when not screened."""
    if row["injected_from"] is not None:
        same = [r for r in rows if r["setting"] == row["setting"] and not r["averaged_steps"]]
        return next((r for r in same if row["started_from"] and r["checkpoint"] == row["started_from"]),
                    next((r for r in same if r["step"] == row["injected_from"] and r["injected_from"] is None), None))
    if row["variant"]:
        return next((r for r in rows if r["weights"] == row["weights"] and r["setting"] == row["plain_label"]),
                    None)
    if row["averaged_steps"]:
        return next((r for r in rows if r["step"] == row["averaged_steps"][0] and not r["averaged_steps"]
                     and r["injected_from"] is None and not r["variant"] and r["plain_label"] == row["plain_label"]),
                    None)
    return None


def sampling_readings(rows: list[dict[str, Any]]) -> list[str]:
    """Sentences from :func:`sampling_rows`: the lowest mean ratio with and without the
    alignment target, then each variant or averaged set of weights against the plain row it adds
    to (:func:`_plain_of`), where that was screened."""
    if not rows:
        return []
    best = rows[0]
    out = [f"Lowest mean domain ratio: {best['domain_ratio_mean']:.2f} ± {best['domain_ratio_sd']:.2f} "
           f"({best['label']}), alignment {best['alignment_mean']:.3f}"
           + ("" if best["alignment_mean"] >= TARGETS["alignment_dice"] else
              f", below the {TARGETS['alignment_dice']:.2f} target") + "."]
    aligned = [r for r in rows if r["alignment_mean"] >= TARGETS["alignment_dice"]]
    if aligned and aligned[0] is not best:
        a = aligned[0]
        gap = abs(a["mean_grey"] - a["real_mean_grey"])
        out.append(f"Lowest mean ratio with alignment >= {TARGETS['alignment_dice']:.2f}: "
                   f"{a['domain_ratio_mean']:.2f} ± {a['domain_ratio_sd']:.2f} ({a['label']}); its mean grey level "
                   f"(seed 0) is {a['mean_grey']:.3f} against {a['real_mean_grey']:.3f} for the real images, "
                   + ("inside" if gap <= TARGETS["mean_grey_gap"] else "outside")
                   + f" the {TARGETS['mean_grey_gap']:g} target.")
    elif not aligned:
        out.append(f"No setting reaches alignment {TARGETS['alignment_dice']:.2f} on these weights.")
    for r in rows:
        plain = _plain_of(r, rows)
        if plain is not None:
            out.append(seed_comparison(r, plain))
    return out
