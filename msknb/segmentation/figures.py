"""Notebook 05's displays: the paper's Tables 4 and 6 next to ours (markdown), a Dice
bar chart (plotly), predicted masks (paper Fig. 9, matplotlib) and learning curves."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go

from msknb.paper import PAPER_TABLE4, PAPER_TABLE6
from msknb.segmentation.experiments import parse_experiment
from msknb.segmentation.metrics import METRICS, segmentation_metrics
from msknb.viz import overlay_mask


def _pm(stat: dict[str, float] | None) -> str:
    if not stat or not np.isfinite(stat.get("mean", np.nan)):
        return "–"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def table4_markdown(results: dict[str, Any]) -> str:
    """Markdown table: our Real / Gen / Real+Gen precision, recall, Dice, IoU (mean ± std
    over test images) next to the paper's Table 4 (``PAPER_TABLE4``)."""
    rows = ["| experiment | precision | recall | Dice | IoU | paper P / R / DSC / IoU |",
            "|---|---|---|---|---|---|"]
    exps = results.get("experiments", {})
    for name in ("Real", "Gen", "Real+Gen"):
        r = exps.get(name)
        paper = PAPER_TABLE4[name]
        ref = " / ".join(f"{paper[m]:.2f}" for m in METRICS)
        if r is None:
            why = "skipped" if name in results.get("skipped", {}) else "not run"
            rows.append(f"| {name} | {why} | – | – | – | {ref} |")
            continue
        rows.append(f"| {name} | " + " | ".join(_pm(r[m]) for m in METRICS) + f" | {ref} |")
    return "\n".join(rows)


def table6_markdown(results: dict[str, Any]) -> str:
    """Markdown table: Dice and IoU of the data-fraction experiments (with / without the
    synthetic set) next to the paper's Table 6 (``PAPER_TABLE6``)."""
    exps = results.get("experiments", {})
    names = [n for n in exps if parse_experiment(n)["fraction"] not in (0.0, 1.0)]
    names += [n for n in PAPER_TABLE6 if n not in names and n in results.get("skipped", {})]
    if not names:
        return "(no data-fraction experiments in this run; add e.g. \"10%\" and \"10%+Gen\" to `experiments`)"
    rows = ["| experiment | real train images | synthetic | Dice | IoU | paper DSC / IoU |", "|---|---|---|---|---|---|"]
    for name in names:
        r = exps.get(name)
        paper = PAPER_TABLE6.get(name)
        ref = f"{paper['dice']:.3f} / {paper['iou']:.3f}" if paper else "–"
        if r is None:
            rows.append(f"| {name} | – | – | skipped | skipped | {ref} |")
        else:
            rows.append(f"| {name} | {r['n_train_real']} | {r['n_train_gen']} | {_pm(r['dice'])} | {_pm(r['iou'])} | {ref} |")
    return "\n".join(rows)


def flagged_table_markdown(summary: dict[str, Any]) -> str:
    """Markdown table: each experiment's test Dice (mean ± std) over all test images and
    without the label pairs QA flagged (``summary`` from
    :func:`msknb.segmentation.grid_readings.dice_with_and_without`)."""
    flagged = summary.get("flagged_test_ids", [])
    rows = ["| experiment | Dice, all test images | Dice without flagged pairs |", "|---|---|---|"]
    for name, r in summary.get("experiments", {}).items():
        cells = [f"{_pm(r[k])} (n = {r[k]['n']})" if r[k]["n"] else "–" for k in ("all", "without_flagged")]
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    head = (f"{len(flagged)} test pair(s) flagged by label QA and left out of the right column: "
            f"{', '.join(flagged)}" if flagged else "no test pair flagged by label QA: both columns agree")
    return head + "\n\n" + "\n".join(rows)


def dice_bar_figure(results: dict[str, Any], metric: str = "dice"):
    """plotly bar chart of ``metric`` (mean, error bar = std over test images) per
    experiment, with the paper's value (Tables 4 and 6) as a diamond where it has one."""
    exps = results.get("experiments", {})
    names = list(exps)
    paper = {**PAPER_TABLE4, **PAPER_TABLE6}
    fig = go.Figure()
    fig.add_bar(x=names, y=[exps[n][metric]["mean"] for n in names], name="this run (test images)",
                error_y=dict(type="data", array=[exps[n][metric]["std"] for n in names]),
                hovertext=[f"{exps[n]['n_train_real']} real + {exps[n]['n_train_gen']} synthetic train images"
                           for n in names])
    ref = [(n, paper[n][metric]) for n in names if n in paper and metric in paper[n]]
    if ref:
        fig.add_scatter(x=[n for n, _ in ref], y=[v for _, v in ref], mode="markers", name="paper",
                        marker=dict(symbol="diamond", size=11, color="black"))
    fig.update_layout(title=f"{metric} per experiment (mean ± std over {results.get('split', {}).get('test', '?')} "
                            f"real test images)", yaxis=dict(title=metric, range=[0, 1]),
                      template="plotly_white", height=400, width=750)
    return fig


def dice_bar_static(results: dict[str, Any], metric: str = "dice", ax=None):
    """The static twin of :func:`dice_bar_figure` (matplotlib): bars = mean over test images,
    error bars = SD, each image a dot, the paper's value a black diamond (its own private
    data). Returns the figure."""
    exps = results.get("experiments", {})
    names = list(exps)
    paper = {**PAPER_TABLE4, **PAPER_TABLE6}
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(names) + 1.5), 3.6))
    x = np.arange(len(names))
    ax.bar(x, [exps[n][metric]["mean"] for n in names], yerr=[exps[n][metric]["std"] for n in names],
           color="tab:blue", alpha=0.6, capsize=3, label="this run (test images)")
    for k, n in enumerate(names):
        per = exps[n].get(f"test_{metric}_per_image") or []
        ax.scatter(np.full(len(per), k) + np.linspace(-0.25, 0.25, len(per)), per, s=5, color="tab:blue", alpha=0.5)
        if n in paper and metric in paper[n]:
            ax.scatter([k], [paper[n][metric]], marker="D", color="black", s=30,
                       label="paper (its own data)" if not any(t.get_label() == "paper (its own data)"
                                                             for t in ax.collections) else None)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set(ylim=(0, 1), ylabel=metric, title=f"{metric} per experiment")
    ax.legend(fontsize=8, loc="lower left")
    ax.figure.tight_layout()
    return ax.figure


def prediction_figure(images: np.ndarray, true_masks: np.ndarray, predictions: dict[str, np.ndarray],
                      titles: Sequence[str] | None = None, size: float = 1.9):
    """Paper Fig. 9 analogue (matplotlib): one row per image: the image, the expert mask,
    then each experiment's predicted mask (overlaid in red, Dice in the title).

    ``images`` (N, H, W) in [0, 1]; ``true_masks`` (N, H, W); ``predictions``
    ``{experiment: masks (N, H, W)}``."""
    n, cols = len(images), 2 + len(predictions)
    fig, axes = plt.subplots(n, cols, figsize=(size * cols, size * n), squeeze=False)
    for i in range(n):
        panels = [("image" if titles is None else str(titles[i]), images[i], None),
                  ("expert mask", images[i], true_masks[i])]
        for name, pred in predictions.items():
            d = segmentation_metrics(pred[i], true_masks[i])[0]["dice"]
            panels.append((f"{name}\nDice {d:.2f}", images[i], pred[i]))
        for ax, (title, img, m) in zip(axes[i], panels):
            ax.imshow(overlay_mask(img, m) if m is not None else img, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig


def learning_curves_figure(results: dict[str, Any]):
    """matplotlib figure: training loss and validation Dice per epoch, one line per experiment."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, r in results.get("experiments", {}).items():
        h = r.get("history", [])
        ep = [x["epoch"] for x in h]
        a.plot(ep, [x["loss"] for x in h], marker=".", label=name)
        b.plot(ep, [x["val_dice"] for x in h], marker=".", label=name)
        if r.get("best_epoch"):
            b.scatter([r["best_epoch"]], [r["best_val_dice"]], s=40, facecolors="none", edgecolors="k")
    a.set(xlabel="epoch", ylabel="training loss", title="training loss")
    b.set(xlabel="epoch", ylabel="Dice", title="validation Dice (circle: kept epoch)")
    b.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def synthetic_use_figure(rows: dict[str, dict[str, dict[str, Any]]]):
    """Dice per way of using the synthetic set (rows of
    :func:`msknb.segmentation.synthetic_use.synthetic_use_rows`): one panel for val (where the
    way is chosen) and one for test (reported only); a bar is the mean over seeds, dots the seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    ways = list(next(iter(rows.values())))
    width = 0.8 / len(ways)
    for ax, split in zip(axes, ("val", "test")):
        for j, way in enumerate(ways):
            xs = np.arange(len(rows)) + (j - (len(ways) - 1) / 2) * width
            vals = [rows[b][way][split] for b in rows]
            ax.bar(xs, [np.mean(v) for v in vals], width, label=way, color=f"C{j}", alpha=0.75)
            for x, v in zip(xs, vals):
                ax.plot([x] * len(v), v, "k.", ms=3)
        ax.set_xticks(range(len(rows)), list(rows))
        ax.set_title(f"{split} Dice" + (" (choice)" if split == "val" else " (report only)"), fontsize=9)
    lo = min(min(v["val"] + v["test"]) for r in rows.values() for v in r.values())
    axes[0].set_ylim(lo - 0.03, None)  # the panels share y
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(ways), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig
