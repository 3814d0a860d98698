"""The one table of notebook 07's set-level metrics, read by the metrics table
(:mod:`~msknb.evaluation.summary`), the verdict (:mod:`~msknb.evaluation.verdict`) and the
report (:mod:`msknb.evaluation.report`).

Each :class:`Metric` row says where its synthetic-vs-real value and its real-vs-real baseline
(same ``n``) sit in notebook 07's results dict, what spread goes with each, how a ratio of the
two is formed (``kind``), whether the value is a per-image pairing (``pairwise``: a ratio
below 1 then means "closer than two real images", not "close"), and when it is no metric at
all (``invalid``: e.g. LPIPS on an untrained backbone).

A row with ``compute`` is computed by :func:`compute_table_metrics` in notebook 07 from
:class:`EvalSets` and stored under ``results["metrics"][key]`` as ``{"n", "note",
"synthetic_vs_real": {"value", "spread"}, "real_vs_real": {"value", "spread"}}``: adding
such a metric is its module, its row here and its test; notebook 07, the verdict and the
report pick it up.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from msknb.evaluation.intensity import histogram_l1_with_baseline

#: how a ratio to the baseline is formed: distances divided; a similarity the other way
#: round (baseline / synthetic); PSNR as the mean squared error it stands for
KINDS = ("distance", "similarity", "psnr")

Path_ = tuple[str, ...]


class EvalSets(NamedTuple):
    """The image sets a computed metric sees, all (N, H, W) float in [0, 1] at the evaluation
    size: ``real_a`` and ``real_b`` are the two halves of the real test split (by
    near-duplicate cluster), ``synthetic`` the synthetic set or None."""
    real_a: np.ndarray
    real_b: np.ndarray
    synthetic: np.ndarray | None
    seed: int = 0


@dataclass(frozen=True)
class Metric:
    """One row of :data:`METRICS`; paths index notebook 07's results dict."""
    key: str
    label: str
    kind: str
    synthetic: Path_
    real: Path_
    synthetic_spread: Path_ | None = None
    real_spread: Path_ | None = None
    n: Path_ | None = None
    note: Path_ | None = None
    #: the dict that says ``{"status": "not run", "reason": ...}`` when the metric did not run
    status: Path_ | None = None
    pairwise: bool = False
    invalid: Callable[[Mapping[str, Any]], str | None] | None = None
    compute: Callable[[EvalSets], dict[str, Any]] | None = None


def get_in(d: Any, path: Path_ | None) -> Any:
    """``d[p0][p1]...`` or None where a step is missing (or ``path`` is None)."""
    if path is None:
        return None
    for k in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(k)
    return d


def _lpips_invalid(results: Mapping[str, Any]) -> str | None:
    lp = results.get("lpips")
    if isinstance(lp, Mapping) and lp.get("pretrained") is False:
        return "LPIPS on a random (untrained) backbone: not a metric"
    return None


def _domain_invalid(results: Mapping[str, Any]) -> str | None:
    if get_in(results, ("domain", "trained")) is False:
        return "features of a random (untrained) CNN: not a metric"
    return None


def _fid_label(results: Mapping[str, Any]) -> str | None:
    fid = results.get("fid")
    if isinstance(fid, Mapping) and fid.get("standard") is False:
        return "Fréchet on a stand-in network, not FID"
    return None


def _pairwise(key: str, label: str, measure: str, kind: str, note: Path_ | None = None, invalid=None) -> Metric:
    side = lambda s, stat: ("similarity", "nearest", s, measure, stat)  # noqa: E731
    return Metric(key, f"{label} (nearest pairing)", kind, side("synthetic", "mean"), side("inter_patient", "mean"),
                  side("synthetic", "std"), side("inter_patient", "std"), ("similarity", "nearest", "n"),
                  note, None, pairwise=True, invalid=invalid)


def _domain(key: str, label: str, value: str, spread: str | None) -> Metric:
    return Metric(key, label, "distance", ("domain", "synthetic_vs_real", value), ("domain", "real_vs_real", value),
                  None if spread is None else ("domain", "synthetic_vs_real", spread),
                  None if spread is None else ("domain", "real_vs_real", spread),
                  ("domain", "n"), ("domain", "note"), ("domain",), invalid=_domain_invalid)


def _computed(key: str, label: str, kind: str, compute: Callable[[EvalSets], dict[str, Any]]) -> Metric:
    side = lambda s, stat: ("metrics", key, s, stat)  # noqa: E731
    return Metric(key, label, kind, side("synthetic_vs_real", "value"), side("real_vs_real", "value"),
                  side("synthetic_vs_real", "spread"), side("real_vs_real", "spread"), ("metrics", key, "n"),
                  ("metrics", key, "note"), ("metrics", key), compute=compute)


#: notebook 07's set-level metrics, in the order they are shown
METRICS: tuple[Metric, ...] = (
    Metric("fid", "FID (Inception)", "distance", ("fid", "synthetic_vs_real", "frechet"),
           ("fid", "real_vs_real", "frechet"), n=("fid", "n"), note=("fid", "note"), status=("fid",),
           invalid=_fid_label),
    _domain("domain_frechet", "domain Fréchet (segmentation bottleneck)", "frechet", None),
    _domain("domain_kid", "domain KID (segmentation bottleneck)", "kid_mean", "kid_std"),
    _pairwise("lpips", "LPIPS", "lpips", "distance", ("lpips", "reason"), _lpips_invalid),
    _pairwise("ssim", "SSIM", "ssim", "similarity"),
    _pairwise("psnr", "PSNR (dB)", "psnr_db", "psnr"),
    _computed("histogram_l1", "intensity histogram L1 (256 bins)", "distance", histogram_l1_with_baseline),
)


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        return None
    return float(x)


def metric_values(metric: Metric, results: Mapping[str, Any]) -> dict[str, Any]:
    """What notebook 07's ``results`` hold for ``metric``: ``synthetic``, ``real`` (None where
    missing), ``synthetic_spread``, ``real_spread``, ``n``, ``note``, ``not_run`` (the
    reason, when the metric's dict says "not run"), ``invalid`` (why the value is no metric
    here, or None)."""
    status = get_in(results, metric.status)
    not_run = None
    if isinstance(status, Mapping) and status.get("status") == "not run":
        not_run = str(status.get("reason") or "not run")
    return {"synthetic": _number(get_in(results, metric.synthetic)), "real": _number(get_in(results, metric.real)),
            "synthetic_spread": _number(get_in(results, metric.synthetic_spread)),
            "real_spread": _number(get_in(results, metric.real_spread)),
            "n": get_in(results, metric.n), "note": get_in(results, metric.note), "not_run": not_run,
            "invalid": metric.invalid(results) if metric.invalid else None}


def compute_table_metrics(sets: EvalSets, metrics: tuple[Metric, ...] | None = None) -> dict[str, dict[str, Any]]:
    """``{key: result}`` of every row with ``compute`` of ``metrics`` (default :data:`METRICS`, looked up
    when called); notebook 07 stores it as ``results["metrics"]``."""
    table = METRICS if metrics is None else metrics
    return {m.key: m.compute(sets) for m in table if m.compute is not None}
