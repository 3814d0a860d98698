"""Notebook 07's verdict: how far the synthetic set is from the real one, read from the ratios.

Every metric of :data:`msknb.evaluation.metric_table.METRICS` comes with a real-vs-real
baseline at the same ``n`` (two halves of the real test split). :func:`distance_ratios` turns
each into a *distance ratio* = (synthetic-vs-real distance) / (real-vs-real distance), so 1
means "as far from the real images as real images are from each other":

- distances as they are (FID, domain Fréchet, KID, LPIPS, histogram L1);
- SSIM, a similarity, the other way round: real-vs-real SSIM / synthetic SSIM (infinite when
  the synthetic SSIM is <= 0 < the baseline);
- PSNR as the mean squared error it stands for: ``10 ** ((PSNR_rr - PSNR_syn) / 10)``.

Each row gets one reading:

- ``close`` (ratio <= :data:`CLOSE_RATIO`), ``in between``, ``far`` (> :data:`FAR_RATIO`);
- ``closer than real pairs``: a per-image nearest pairing (PSNR, SSIM, LPIPS) with a ratio
  below 1. The nearest real image by MSE is a more favourable partner for a smooth image than
  for a real one, so this is not read as "close": with blurred, low-contrast samples
  (:mod:`~msknb.evaluation.texture`) it points to averaging;
- ``too small to compare``: a baseline <= 0 or within its own spread of 0 (e.g. KID from
  subsets that are almost all zero): no ratio; both values are given with their spreads;
- ``not a metric``: the value exists but measures nothing here (LPIPS on an untrained
  backbone, domain features of an untrained network);
- ``undefined``: no usable ratio otherwise.

:func:`synthetic_verdict` writes the conclusion from the counts of the first four readings.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from msknb.evaluation import metric_table
from msknb.evaluation.metric_table import Metric, metric_values
from msknb.evaluation.texture import texture_ratios

#: a ratio up to this is "about as close as two real halves" (sampling noise at small n)
CLOSE_RATIO = 1.5
#: a ratio above this is "far"
FAR_RATIO = 3.0
#: synthetic contrast or sharpness below this fraction of the real images' reads as smoothed
SMOOTH_RATIO = 0.85
#: the readings that count towards the verdict
COUNTED = ("close", "in between", "far", "closer than real pairs")
READINGS = COUNTED + ("too small to compare", "not a metric", "undefined")
HOW = {"distance": "distance / real-vs-real distance", "similarity": "real-vs-real SSIM / synthetic SSIM",
       "psnr": "MSE / real-vs-real MSE (from PSNR)"}


def ratio_of(kind: str, syn: float, rr: float) -> float | None:
    """Distance ratio of one metric (see the module docstring); None when the baseline is <= 0."""
    if not (math.isfinite(syn) and math.isfinite(rr)):
        return None
    if kind == "psnr":
        return 10.0 ** ((rr - syn) / 10.0)
    if kind == "similarity":
        syn, rr = rr, syn  # baseline / synthetic
        if syn > 0 and rr <= 0:
            return math.inf
    if rr <= 0:
        return None
    return max(syn, 0.0) / rr


def _too_small(kind: str, rr: float, spread: float | None) -> bool:
    return kind == "distance" and (rr <= 0 or (spread is not None and abs(rr) <= spread))


def _pm(value: float, spread: float | None) -> str:
    return f"{value:.2g}" + (f" ± {spread:.2g}" if spread is not None else "")


def _too_small_why(v: Mapping[str, Any]) -> str:
    syn, sd, rr = v["synthetic"], v["synthetic_spread"], v["real"]
    usable = sd is not None and sd > 1e-9 * abs(syn)  # subsets that all give one value have no spread
    above = f", {syn / sd:.1f} spreads above 0" if usable and syn > 0 else ""
    where = "is not above 0" if rr <= 0 else "is within its spread of 0"
    return (f"real vs real {_pm(rr, v['real_spread'])} {where}, so no ratio; "
            f"synthetic vs real {_pm(syn, sd if usable else None)}{above}")


def read_metric(metric: Metric, results: Mapping[str, Any]) -> dict[str, Any] | None:
    """``metric``'s row of the verdict (``metric``, ``key``, ``synthetic``, ``real_vs_real``,
    their spreads, ``ratio``, ``how``, ``reading``, ``why``), or None when it did not run."""
    v = metric_values(metric, results)
    if v["not_run"] is not None or v["synthetic"] is None or v["real"] is None:
        return None
    row = {"metric": metric.label, "key": metric.key, "synthetic": v["synthetic"], "real_vs_real": v["real"],
           "synthetic_spread": v["synthetic_spread"], "real_spread": v["real_spread"], "ratio": None,
           "how": HOW[metric.kind], "reading": "undefined", "why": None}
    if v["invalid"]:
        row.update(reading="not a metric", why=v["invalid"])
    elif _too_small(metric.kind, v["real"], v["real_spread"]):
        row.update(reading="too small to compare", why=_too_small_why(v))
    else:
        ratio = ratio_of(metric.kind, v["synthetic"], v["real"])
        row["ratio"] = ratio
        if ratio is not None:
            row["reading"] = ("closer than real pairs" if metric.pairwise and ratio < 1 else
                              "close" if ratio <= CLOSE_RATIO else "far" if ratio > FAR_RATIO else "in between")
    return row


def distance_ratios(results: Mapping[str, Any], metrics: tuple[Metric, ...] | None = None) -> list[dict[str, Any]]:
    """One row (:func:`read_metric`) per metric of the table that ran in notebook 07's ``results``."""
    table = metric_table.METRICS if metrics is None else metrics
    return [r for r in (read_metric(m, results) for m in table) if r is not None]


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else "∞" if math.isinf(ratio) else f"{ratio:.3g}x"


def _span(rows: list[dict[str, Any]]) -> str:
    ratios = [r["ratio"] for r in rows]
    lo, hi = min(ratios), max(ratios)
    return f"ratio {fmt_ratio(lo)}" if lo == hi else f"ratios {fmt_ratio(lo)} to {fmt_ratio(hi)}"


def averaging_sentence(texture: Mapping[str, Any] | None) -> str:
    """Why pairwise ratios below 1 are not "close", from the synthetic/real contrast and sharpness."""
    t = texture_ratios(texture)  # type: ignore[arg-type]
    if t is None:
        return ("the nearest real image under MSE is a kinder partner for a smooth image than for a real one, so "
                "this points to averaging (or near-copies), not to realism")
    both = f"contrast {t['contrast']:.2f}x and sharpness {t['sharpness']:.2f}x the real images'"
    if min(t.values()) < SMOOTH_RATIO:
        return (f"with synthetic {both}, this points to averaging: blurred, low-contrast images sit close to "
                "everything under MSE; it is not a sign of realism")
    return f"synthetic {both} do not show blur; check the memorisation search for near-copies"


def _conclusion(rows: list[dict[str, Any]], texture: Mapping[str, Any] | None) -> str:
    by = {k: [r for r in rows if r["reading"] == k] for k in READINGS}
    n = sum(len(by[k]) for k in COUNTED)
    left_out = [f"{r['metric']} ({r['reading']})" for r in rows if r["reading"] not in COUNTED]
    tail = f" Not counted: {'; '.join(left_out)}." if left_out else ""
    if n == 0:
        return "No metric with a usable real-vs-real baseline ran: no verdict." + tail
    parts = [f"{len(by[k])} of {n} {k} ({_span(by[k])})" for k in ("far", "in between", "close") if by[k]]
    text = "Of the metrics counted: " + ", ".join(parts) + "." if parts else ""
    if by["closer than real pairs"]:
        k = len(by["closer than real pairs"])
        text += (f" {k} of {n} put each synthetic image closer to its nearest real image than real images are to "
                 f"each other ({_span(by['closer than real pairs'])}); {averaging_sentence(texture)}.")
    if len(by["far"]) == n:
        text += " By these measures the synthetic images are not interchangeable with real ones."
    elif len(by["close"]) == n:
        text += " At this n these measures cannot tell the synthetic images from real ones."
    elif by["far"] or by["in between"]:
        text += " The synthetic set is measurably farther from the real images than they are from each other on " \
                f"{len(by['far']) + len(by['in between'])} of {n} metrics."
    return text.strip() + tail


def verdict_markdown(rows: list[dict[str, Any]], verdict: str) -> str:
    """The verdict's rows as a Markdown table, each row's "why" below it, then the verdict."""
    lines = ["| metric | synthetic vs real | real vs real | ratio | what the ratio is | reading |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['metric']} | {_pm(r['synthetic'], r['synthetic_spread'])} | {_pm(r['real_vs_real'], r['real_spread'])}"
              f" | {fmt_ratio(r['ratio'])} | {r['how']} | {r['reading']} |" for r in rows]
    why = [f"- {r['metric']}: {r['why']}" for r in rows if r.get("why")]
    note = (f"Ratio <= {CLOSE_RATIO}: close; > {FAR_RATIO}: far; below 1 on a nearest pairing: closer than real "
            "pairs (not counted as close).")
    return "\n".join(lines) + "\n\n" + "\n".join(why + [note]) + f"\n\n**Verdict:** {verdict}"


def synthetic_verdict(results: Mapping[str, Any], metrics: tuple[Metric, ...] | None = None) -> dict[str, Any]:
    """``{"rows", "counts", "verdict", "markdown"}`` from notebook 07's ``results`` (``fid``,
    ``domain``, ``similarity``, ``lpips``, ``metrics``, ``texture``); the verdict follows only
    from the rows' readings."""
    rows = distance_ratios(results, metrics)
    counts = {k: sum(r["reading"] == k for r in rows) for k in READINGS}
    verdict = _conclusion(rows, results.get("texture"))
    return {"rows": rows, "counts": counts, "verdict": verdict, "markdown": verdict_markdown(rows, verdict)}
