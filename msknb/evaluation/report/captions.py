"""One-sentence readings of the report's evaluation figures, computed from the numbers each
figure draws (notebook 07's results): the intensity histograms and the distance ratios."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msknb.evaluation.metric_table import METRICS, metric_values
from msknb.evaluation.report.markup import get_in
from msknb.evaluation.verdict import CLOSE_RATIO, FAR_RATIO


def _hist_l1(ev: Mapping[str, Any]) -> str:
    metric = next((m for m in METRICS if m.key == "histogram_l1"), None)
    v = metric_values(metric, ev) if metric else None
    if not v or v["synthetic"] is None or v["real"] is None:
        return ""
    return (f"; the pooled histograms differ by L1 {v['synthetic']:.3f} against {v['real']:.3f} between two real "
            f"halves ({v['synthetic'] / v['real']:.1f}x)" if v["real"] > 0 else "")


def histogram_reading(ev: Mapping[str, Any]) -> str:
    """Mean grey level, spread and skewness of the synthetic against the real pooled histogram,
    and the histogram L1 distance beside its real-vs-real value (when stored)."""
    real, syn = get_in(ev, "intensity", "real", "all"), get_in(ev, "intensity", "synthetic", "all")
    if not isinstance(real, Mapping):
        return "Intensity histograms: none stored."
    if not isinstance(syn, Mapping):
        return (f"Real test images only (no synthetic set): mean grey {real.get('mean', float('nan')):.0f}, "
                f"skewness {real.get('skewness', float('nan')):.2f}.")
    try:
        text = (f"Synthetic mean grey {syn['mean']:.0f} vs real {real['mean']:.0f} (8-bit), grey-level SD "
                f"{syn['std']:.0f} vs {real['std']:.0f}, skewness {syn['skewness']:.2f} vs {real['skewness']:.2f}")
    except (KeyError, TypeError, ValueError):
        text = (f"Synthetic skewness {get_in(syn, 'skewness')} vs real {get_in(real, 'skewness')}")
    return text + _hist_l1(ev) + "."


def ratios_reading(rows: list[Mapping[str, Any]]) -> str:
    """Which metrics lie beyond the far line, between the lines, near 1 and below 1, from the
    verdict's rows (each with ``metric``, ``ratio``, ``reading``)."""
    drawn = [r for r in rows if isinstance(r.get("ratio"), (int, float))]
    if not drawn:
        return "No ratio to draw."
    groups = []
    for reading, where in (("far", f"beyond {FAR_RATIO:g}x"), ("in between", f"between {CLOSE_RATIO:g}x and {FAR_RATIO:g}x"),
                           ("close", f"within {CLOSE_RATIO:g}x"), ("closer than real pairs", "below 1 on a nearest pairing")):
        names = [f"{r['metric']} {r['ratio']:.3g}x" for r in drawn if r.get("reading") == reading]
        if names:
            groups.append(f"{where}: {', '.join(names)}")
    left = len(rows) - len(drawn)
    return (f"{len(drawn)} ratios drawn — " + "; ".join(groups) + "."
            + (f" {left} metric(s) without a ratio (see the verdict)." if left else ""))
