"""The report's sections other than the evaluation's: data and diffusion notebooks,
DDPM training/sampling, segmentation, muscle thickness, the appendix and the run's index."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Sequence

from msknb.artifacts import read_index
from msknb.errors import RunIndexError
from msknb.evaluation.reference.figures import reference_figure
from msknb.evaluation.report.dice_mt import (REFERENCE_COMMAND, bland_altman_reading, dice_reading, live_dice_rows,
                                             mt_pairs, reference_dice_rows)
from msknb.evaluation.report.figures import bland_altman_fig, dice_ci_fig, img, loa_fig
from msknb.evaluation.report.readings_section import overlap_html, readings_html
from msknb.evaluation.summary import one_line
from msknb.evaluation.report.markup import (NOT_RUN, annotation, figure, fmt, get_in, missing, not_run, ours_block,
                                            pair, paper_block, paper_rows, table)
from msknb.paper import PAPER

#: the notebooks of the series, in reading order, with a title for the report
NOTEBOOKS = {
    "00_data": "Data", "01_forward_diffusion": "Forward diffusion", "02_reverse_diffusion": "Reverse diffusion",
    "03_train_ddpm": "DDPM training", "04_sampling": "Sampling", "05_segmentation": "Aponeurosis segmentation",
    "06_muscle_thickness": "Muscle thickness", "07_evaluation": "Synthetic-image evaluation",
}


def section_generic(name: str, payload: dict[str, Any] | None, keys: Sequence[str]) -> str:
    title = NOTEBOOKS.get(name, name)
    if payload is None:
        return f"<h2>{html.escape(title)} ({name})</h2>{not_run(name)}"
    res = payload.get("results") or {}
    rows = [[html.escape(k), fmt(res.get(k))] for k in keys if k in res]
    inner = table(("quantity", "value"), rows) if rows else "<p class='note'>see the appendix for all values</p>"
    return f"<h2>{html.escape(title)} ({name})</h2>{annotation(payload)}{inner}"


def section_ddpm(results: dict[str, dict[str, Any]]) -> str:
    setup = PAPER["setup"]
    paper = table(("setting", "paper"), [["image size (px)", fmt(setup["image_size"])],
                                          ["epochs", fmt(setup["ddpm_epochs"])],
                                          ["timesteps T", fmt(setup["timesteps"])],
                                          ["batch size", fmt(setup["batch_size"])]])
    train, sample = results.get("03_train_ddpm"), results.get("04_sampling")
    ours_train = table(("quantity", "value"), [[k, fmt(get_in(train, "results", k))] for k in
                        ("epochs", "steps", "final_loss", "n_params", "img_per_s")]) if train else ""
    pair_rows = [[f"masks with two aponeuroses spanning half the width ({side})",
                  fmt(get_in(sample, "results", "aponeurosis_pairs", side, "spanning_rate"))]
                 for side in ("synthetic", "real") if get_in(sample, "results", "aponeurosis_pairs", side)]
    ours_sample = table(("quantity", "value"), [[k, fmt(get_in(sample, "results", k))] for k in
                         ("n_samples", "ddpm_seconds", "ddim_seconds", "speedup")] + pair_rows) if sample else ""
    return ("<h2>DDPM training and sampling (03, 04)</h2>"
            + pair(paper_block("training setup", paper),
                    ours_block("training (03_train_ddpm)", train, ours_train)
                    + ours_block("sampling (04_sampling)", sample, ours_sample)))


def _seg_rows(exps: dict[str, Any], names: Sequence[str], cols: Sequence[str]) -> list[list[str]]:
    rows = []
    for name in names:
        e = exps.get(name)
        if e is None:
            rows.append([html.escape(name)] + [NOT_RUN] + [""] * (len(cols) - 1) + ["", ""])
            continue
        rows.append([html.escape(name)] + [fmt(e.get(c)) for c in cols]
                    + [fmt(e.get("n_train_real")), fmt(e.get("n_train_gen"))])
    return rows


def dice_html(res05: dict[str, Any] | None, reference: dict[str, Any] | str) -> str:
    """Dice per experiment with 95 % CIs (this run beside the stored reference experiment), the
    reference experiment's own figure and readings; missing parts as one line each."""
    live = live_dice_rows(res05)
    ref = reference_dice_rows(reference["cells"]) if isinstance(reference, dict) else []
    parts = []
    if not live:
        parts.append(missing("Dice of this run", "05_segmentation stored no per-image test Dice",
                             "python -m msknb run --only 05"))
    if isinstance(reference, str):
        parts.append(missing("Reference experiment", reference, REFERENCE_COMMAND))
    if live or ref:
        reading = " ".join(dice_reading(rows, who) for rows, who in ((live, "This run"), (ref, "Reference experiment"))
                           if rows)
        parts.append(figure(img(dice_ci_fig(live, ref), "Dice per experiment with CIs"), reading))
    if isinstance(reference, dict):
        sentences = reference.get("readings") or []
        parts.append(figure(img(reference_figure(reference["cells"]), "reference experiment"),
                            sentences[0] if sentences else "Reference experiment: no comparison stored.")
                     + "".join(f"<p class='note'>{html.escape(t)}</p>" for t in sentences[1:]))
    return "<h3>Dice per experiment</h3>" + "".join(parts)


def section_segmentation(payload: dict[str, Any] | None, reference: dict[str, Any] | str = "not read") -> str:
    head = "<h2>Aponeurosis segmentation (05) — paper Tables 4 and 6</h2>"
    t4, t6 = PAPER["table4"], PAPER["table6"]
    paper = (table(("experiment", "precision", "recall", "DSC", "IoU"), paper_rows(t4), t4["caption"])
             + table(("experiment", "DSC", "IoU"), paper_rows(t6), t6["caption"]))
    if payload is None:
        return (head + pair(paper_block("Tables 4 and 6", paper), ours_block("05_segmentation", None, ""))
                + dice_html(None, reference))
    res = payload.get("results") or {}
    exps = res.get("experiments") or {}
    names = list(t4["rows"]) + list(t6["rows"])
    names += [n for n in exps if n not in names]
    ours = table(("experiment", "precision", "recall", "DSC", "IoU", "n train real", "n train gen"),
                  _seg_rows(exps, names, ("precision", "recall", "dice", "iou")))
    n_test = next((e.get("n_test") for e in exps.values() if isinstance(e, dict) and e.get("n_test") is not None), None)
    ours += (f"<p class='note'>test images: {fmt(n_test)}; near-copies of test images in train: "
             f"{fmt(res.get('near_copies_test_in_train'))}; synthetic masks: "
             f"{fmt(res.get('synthetic_mask_source_detail') or res.get('synthetic_mask_source'))}</p>")
    ours += (overlap_html(res, "05_segmentation")
             + readings_html(res.get("readings"), "Readings: paired differences between experiments", "05_segmentation"))
    return (head + pair(paper_block("Tables 4 and 6", paper), ours_block("segmentation", payload, ours))
            + dice_html(res, reference))


def bland_altman_html(reference: dict[str, Any] | str) -> str:
    """Bland–Altman of the reference experiment's Real models against the expert MT, or one line."""
    if isinstance(reference, str):
        return missing("Bland–Altman", reference, REFERENCE_COMMAND)
    pairs = mt_pairs(reference["cells"], "Real")
    if pairs is None:
        return missing("Bland–Altman", "the reference experiment stores no Real model's muscle thickness",
                       REFERENCE_COMMAND)
    return figure(img(bland_altman_fig(pairs), "Bland-Altman"), bland_altman_reading(pairs))


def _loa_html(agree: dict[str, Any], unit: str) -> str:
    rows = {n: a for n, a in agree.items() if isinstance(a, dict) and isinstance(a.get("bias"), (int, float))
            and isinstance(a.get("loa_low"), (int, float)) and a["loa_low"] == a["loa_low"]}
    if not rows:
        return missing("Limits of agreement of this run", "06_muscle_thickness found no segmentation of 05 to measure",
                       "python -m msknb run --only 05 06")
    widest = max(rows, key=lambda n: rows[n]["loa_high"] - rows[n]["loa_low"])
    closest = min(rows, key=lambda n: abs(rows[n]["bias"]))
    w = rows[widest]
    reading = (f"Smallest bias: {closest} ({rows[closest]['bias']:+.2f} {unit}); widest limits: {widest} "
               f"({w['loa_low']:+.2f} to {w['loa_high']:+.2f} {unit}, n = {w.get('n')}).")
    return figure(img(loa_fig(rows, unit), "limits of agreement"), reading)


def section_thickness(payload: dict[str, Any] | None, reference: dict[str, Any] | str = "not read") -> str:
    head = "<h2>Muscle thickness (06) — paper Table 5</h2>"
    t5 = PAPER["table5"]
    paper = table(("experiment", "manual (mm)", "automatic (mm)", "RMSE (mm)"), paper_rows(t5), t5["caption"])
    ba = "<h3>Bland–Altman</h3>" + bland_altman_html(reference)
    if payload is None:
        return head + pair(paper_block("Table 5", paper), ours_block("06_muscle_thickness", None, "")) + ba
    res = payload.get("results") or {}
    unit = res.get("unit", "?")
    agree = res.get("agreement") or {}
    names = list(t5["rows"]) + [n for n in agree if n not in t5["rows"]]
    rows = []
    for n in names:
        a = agree.get(n)
        if a is None:
            rows.append([html.escape(n), NOT_RUN] + [""] * 6)
        else:
            rows.append([html.escape(n)] + [fmt(a.get(k)) for k in ("n", "rmse", "bias", "loa_low", "loa_high", "icc", "ccc")])
    ours = table(("experiment", "n", f"RMSE ({fmt(unit)})", "bias", "LoA low", "LoA high", "ICC", "CCC"), rows)
    if unit != "mm":
        ours += f"<p class='note warn'>unit {fmt(unit)}: not comparable with the paper's mm.</p>"
    ours += _loa_html(agree, fmt(unit))
    ours += readings_html(res.get("readings"), "Readings: per-image MT error between experiments", "06_muscle_thickness")
    return head + pair(paper_block("Table 5", paper), ours_block("muscle thickness agreement", payload, ours)) + ba


def _flatten(obj: Any, prefix: str = "", out: list | None = None, max_list: int = 8) -> list[tuple[str, Any]]:
    out = [] if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, max_list)
    elif isinstance(obj, list) and (len(obj) > max_list or any(isinstance(v, (list, dict)) for v in obj)):
        out.append((prefix, f"[{len(obj)} values]"))
    else:
        out.append((prefix, obj))
    return out


def appendix(results: dict[str, dict[str, Any]]) -> str:
    parts = ["<h2>Appendix: all results (from results/*.json)</h2>"]
    for name in list(NOTEBOOKS) + [n for n in results if n not in NOTEBOOKS]:
        payload = results.get(name)
        parts.append(f"<h3>{html.escape(name)}</h3>")
        if payload is None:
            parts.append(not_run(name))
            continue
        rows = [[html.escape(k), fmt(one_line(v)) if isinstance(v, str) else
                 fmt(v) if not isinstance(v, list) else html.escape(json.dumps(v))]
                for k, v in _flatten(payload.get("results") or {})]
        parts.append(annotation(payload) + table(("key", "value"), rows))
    return "".join(parts)


def index_table(out: Path) -> str:
    try:
        index = read_index(out)
    except RunIndexError as e:
        return f"<p class='warn'>{html.escape(str(e))}</p>"
    if index is None:
        return ""
    rows = [[html.escape(str(nb.get("name"))), html.escape(str(nb.get("status"))), fmt(nb.get("seconds")),
             fmt(nb.get("peak_rss_mib"))] for nb in index.get("notebooks", [])]
    return ("<h2>Run</h2>" + f"<p class='ctx'>profile {fmt(index.get('profile'))} · data {fmt(index.get('data_dir'))} · "
            f"seed {fmt(index.get('seed'))}</p>" + table(("notebook", "status", "seconds", "peak MiB"), rows))
