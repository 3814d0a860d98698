"""Notebook 07's verdict: how far the synthetic set is from the real one, read from the ratios.

Every set-level metric of notebook 07 comes with a real-vs-real baseline at the same ``n``
(two halves of the real test split). :func:`distance_ratios` turns each into a *distance
ratio* = (synthetic-vs-real distance) / (real-vs-real distance), so 1 means "as far from the
real images as real images are from each other":

- distances as they are: FID, domain Fréchet, domain KID, LPIPS;
- SSIM, a similarity, the other way round: real-vs-real SSIM / synthetic SSIM (how many
  times less similar; infinite when the synthetic SSIM is <= 0 < the baseline). 1 - SSIM
  would squash low values (0.81 vs 0.99 reads as 1.2x although 0.19 vs 0.01 is 19x less
  structure in common);
- PSNR as the mean squared error it stands for, ``10 ** (-PSNR / 10)`` (the ratio is
  ``10 ** ((PSNR_rr - PSNR_syn) / 10)``).

:func:`synthetic_verdict` classifies each ratio (<= :data:`CLOSE_RATIO` close, >
:data:`FAR_RATIO` far, else in between) and writes the conclusion from those counts.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: a ratio up to this is "about as close as two real halves" (sampling noise at small n)
CLOSE_RATIO = 1.5
#: a ratio above this is "far"
FAR_RATIO = 3.0


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(k)
    return d


def _ratio(syn: float | None, rr: float | None, kind: str) -> float | None:
    """Distance ratio of one metric; None when either value is missing or the baseline is <= 0."""
    if syn is None or rr is None or not (math.isfinite(syn) and math.isfinite(rr)):
        return None
    if kind == "psnr":
        return 10.0 ** ((rr - syn) / 10.0)
    if kind == "ssim":
        syn, rr = rr, syn  # similarity: baseline / synthetic
        if syn > 0 and rr <= 0:
            return math.inf
    if rr <= 0:
        return None
    return max(syn, 0.0) / rr


def distance_ratios(fid: Mapping | None, domain: Mapping | None, similarity: Mapping | None,
                    pairing: str = "nearest") -> list[dict[str, Any]]:
    """One row per metric that ran: ``metric``, ``synthetic``, ``real_vs_real``, ``ratio``
    (None: baseline <= 0 or missing), ``how`` (what the ratio compares). Inputs are notebook 07's
    ``fid``, ``domain`` and ``similarity`` result dicts (missing or "not run" parts are skipped)."""
    near = _get(similarity, pairing) or {}
    specs = [("FID (Inception)", _get(fid, "synthetic_vs_real", "frechet"), _get(fid, "real_vs_real", "frechet"), "dist"),
             ("domain Fréchet", _get(domain, "synthetic_vs_real", "frechet"), _get(domain, "real_vs_real", "frechet"), "dist"),
             ("domain KID", _get(domain, "synthetic_vs_real", "kid_mean"), _get(domain, "real_vs_real", "kid_mean"), "dist"),
             (f"LPIPS ({pairing})", _get(near, "synthetic", "lpips", "mean"), _get(near, "inter_patient", "lpips", "mean"), "dist"),
             (f"SSIM ({pairing})", _get(near, "synthetic", "ssim", "mean"), _get(near, "inter_patient", "ssim", "mean"), "ssim"),
             (f"PSNR ({pairing})", _get(near, "synthetic", "psnr_db", "mean"), _get(near, "inter_patient", "psnr_db", "mean"), "psnr")]
    how = {"dist": "distance / real-vs-real distance", "ssim": "real-vs-real SSIM / synthetic SSIM",
           "psnr": "MSE / real-vs-real MSE (from PSNR)"}
    rows = []
    for name, syn, rr, kind in specs:
        if syn is None or rr is None:
            continue
        rows.append({"metric": name, "synthetic": float(syn), "real_vs_real": float(rr),
                     "ratio": _ratio(float(syn), float(rr), kind), "how": how[kind]})
    return rows


def _fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else "∞" if math.isinf(ratio) else f"{ratio:.3g}x"


def _class(ratio: float | None) -> str:
    if ratio is None:
        return "undefined"
    return "close" if ratio <= CLOSE_RATIO else "far" if ratio > FAR_RATIO else "in between"


def _conclusion(counts: Mapping[str, int], lo: float, hi: float) -> str:
    n = counts["close"] + counts["far"] + counts["in between"]
    if n == 0:
        return "No metric with a usable real-vs-real baseline ran: no verdict."
    span = f"{_fmt_ratio(lo)} to {_fmt_ratio(hi)} the real-vs-real value"
    if counts["far"] == n:
        return (f"Every one of the {n} metrics puts the synthetic set far from the real one ({span}): by these "
                "measures the synthetic images are not interchangeable with real ones.")
    if counts["close"] == n:
        return (f"Every one of the {n} metrics puts the synthetic set as close to the real images as the two real "
                f"halves are to each other ({span}): at this n these measures cannot tell them apart.")
    return (f"Mixed: {counts['close']} of {n} metrics close, {counts['in between']} in between, {counts['far']} far "
            f"({span}); the synthetic set matches the real one on some measures and not on others.")


def synthetic_verdict(fid: Mapping | None, domain: Mapping | None, similarity: Mapping | None,
                      pairing: str = "nearest") -> dict[str, Any]:
    """``{"rows": distance_ratios + "reading", "counts", "verdict", "markdown"}``; the verdict
    follows only from the ratios (thresholds :data:`CLOSE_RATIO`, :data:`FAR_RATIO`)."""
    rows = distance_ratios(fid, domain, similarity, pairing)
    counts = {"close": 0, "in between": 0, "far": 0, "undefined": 0}
    for r in rows:
        r["reading"] = _class(r["ratio"])
        counts[r["reading"]] += 1
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    verdict = _conclusion(counts, min(ratios, default=math.nan), max(ratios, default=math.nan))
    lines = ["| metric | synthetic vs real | real vs real | ratio | what the ratio is | reading |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['metric']} | {r['synthetic']:.4g} | {r['real_vs_real']:.4g} | "
              f"{_fmt_ratio(r['ratio'])} | "
              f"{r['how']} | {r['reading']} |" for r in rows]
    note = (f"Ratio <= {CLOSE_RATIO}: close; > {FAR_RATIO}: far. " +
            (f"{counts['undefined']} metric(s) without a usable baseline (<= 0) left out. " if counts["undefined"] else ""))
    return {"rows": rows, "counts": counts, "verdict": verdict,
            "markdown": "\n".join(lines) + f"\n\n{note}\n\n**Verdict:** {verdict}"}
