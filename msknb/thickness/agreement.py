"""Agreement between two measurement methods (e.g. muscle thickness on expert vs
predicted masks): RMSE, Bland–Altman bias and limits of agreement, ICC(2,1), Lin's CCC.

References
----------
- Bland J.M., Altman D.G. (1986) Statistical methods for assessing agreement between two
  methods of clinical measurement. Lancet 327(8476):307-310.
- Shrout P.E., Fleiss J.L. (1979) Intraclass correlations: uses in assessing rater
  reliability. Psychol. Bull. 86(2):420-428 (ICC(2,1): two-way random effects,
  absolute agreement, single measures).
- Koo T.K., Li M.Y. (2016) A guideline of selecting and reporting intraclass correlation
  coefficients for reliability research. J. Chiropr. Med. 15(2):155-163 (same model,
  "two-way random, absolute agreement, single rater"; < 0.5 poor, 0.5-0.75 moderate,
  0.75-0.9 good, > 0.9 excellent).
- Lin L.I. (1989) A concordance correlation coefficient to evaluate reproducibility.
  Biometrics 45(1):255-268.

All statistics are in the unit of the inputs (px or mm). The Bland–Altman plot is
:func:`msknb.thickness.figures.bland_altman_figure`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from msknb.errors import ConfigError
from msknb.paper import PAPER_MANUAL_MT_MM, PAPER_SOURCE, PAPER_TABLE5_RMSE_MM  # noqa: F401 (re-exported)


def icc_2_1(ratings: Any) -> float:
    """ICC(2,1) of ``ratings`` (n targets, k raters): two-way random effects, absolute
    agreement, single measures (Shrout & Fleiss 1979; Koo & Li 2016)::

        ICC(2,1) = (BMS - EMS) / (BMS + (k - 1) EMS + k (JMS - EMS) / n)

    with BMS the between-targets, JMS the between-raters and EMS the residual mean
    square of the two-way ANOVA without replication. NaN for n < 2 or a degenerate
    denominator. Rows with NaN must be removed by the caller.
    """
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ConfigError(f"ratings must be (n targets, k >= 2 raters); got shape {x.shape}", "ratings")
    n, k = x.shape
    if n < 2:
        return float("nan")
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_total = np.sum((x - grand) ** 2)
    ss_err = ss_total - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    denom = bms + (k - 1) * ems + k * (jms - ems) / n
    if denom <= 0 or not np.isfinite(denom):
        return float("nan")
    return float((bms - ems) / denom)


def lin_ccc(a: Any, b: Any) -> float:
    """Lin's concordance correlation coefficient (1989) with population (1/n) moments::

        CCC = 2 s_ab / (s_a^2 + s_b^2 + (mean_a - mean_b)^2)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2:
        return float("nan")
    ma, mb = a.mean(), b.mean()
    sab = np.mean((a - ma) * (b - mb))
    denom = a.var() + b.var() + (ma - mb) ** 2
    return float(2 * sab / denom) if denom > 0 else float("nan")


def agreement(a: Any, b: Any, ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Agreement of method ``b`` with reference method ``a`` (1-D, same length, paired).

    Pairs where either value is NaN/inf are dropped (``n_dropped``, ``dropped_ids``).
    Returns a JSON-friendly dict: ``n``, ``n_dropped``, ``dropped_ids`` (when ``ids``),
    ``mean_a``, ``mean_b``, ``sd_a``, ``sd_b``, ``rmse`` (sqrt mean (b-a)^2), ``mae``,
    ``bias`` (mean of b - a), ``sd_diff`` (sample SD of b - a), ``loa_low``/``loa_high``
    (bias -+ 1.96 sd_diff, Bland & Altman 1986), ``icc_2_1``, ``ccc``, ``pearson_r``.
    Statistics that need more pairs than there are are NaN.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ConfigError(f"a and b must have the same length; got {len(a)} and {len(b)}", "agreement")
    if ids is not None and len(ids) != len(a):
        raise ConfigError(f"ids must have one entry per pair; got {len(ids)} for {len(a)}", "ids")
    keep = np.isfinite(a) & np.isfinite(b)
    out: dict[str, Any] = {"n": int(keep.sum()), "n_dropped": int((~keep).sum())}
    if ids is not None:
        out["dropped_ids"] = [str(i) for i, k in zip(ids, keep) if not k]
    a, b = a[keep], b[keep]
    n = len(a)
    nan = float("nan")
    d = b - a
    out.update(
        mean_a=float(a.mean()) if n else nan, mean_b=float(b.mean()) if n else nan,
        sd_a=float(a.std(ddof=1)) if n > 1 else nan, sd_b=float(b.std(ddof=1)) if n > 1 else nan,
        rmse=float(math.sqrt(np.mean(d ** 2))) if n else nan, mae=float(np.mean(np.abs(d))) if n else nan,
        bias=float(d.mean()) if n else nan, sd_diff=float(d.std(ddof=1)) if n > 1 else nan,
    )
    out["loa_low"] = out["bias"] - 1.96 * out["sd_diff"]
    out["loa_high"] = out["bias"] + 1.96 * out["sd_diff"]
    out["icc_2_1"] = icc_2_1(np.column_stack([a, b])) if n > 1 else nan
    out["ccc"] = lin_ccc(a, b)
    if n > 2 and a.std() > 0 and b.std() > 0:
        out["pearson_r"] = float(np.corrcoef(a, b)[0, 1])
    else:
        out["pearson_r"] = nan
    return out
