"""Notebook 07's set-level metrics as one table, each beside its real-vs-real baseline at the
same ``n``; the rows come from :data:`msknb.evaluation.metric_table.METRICS`. A metric that did
not run shows its reason in one line (naming the missing file); a value that is no metric here
(LPIPS on a random backbone) says so in its "features" cell."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msknb.evaluation import metric_table
from msknb.evaluation.metric_table import Metric, metric_values

#: longest reason or note a table cell shows (characters)
MAX_TEXT = 280
COLUMNS = ("metric", "synthetic vs real", "real vs real", "n", "features")


def one_line(text: Any, limit: int = MAX_TEXT) -> str:
    """``text`` as one line of at most ``limit`` characters: its first non-empty line, with
    "…" where cut."""
    lines = [s.strip() for s in str(text or "").splitlines() if s.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= limit and len(lines) <= 1 else first[:limit - 1].rstrip() + "…"


def fmt_value(value: float | None, spread: float | None = None) -> str:
    """``value`` (4 significant digits) and ``± spread`` when there is one; None -> "—"."""
    if value is None:
        return "—"
    return f"{value:.4g}" + (f" ± {spread:.2g}" if spread is not None else "")


def metric_row(metric: Metric, results: Mapping[str, Any]) -> dict[str, str]:
    """One row (keys :data:`COLUMNS`) of ``metric`` from notebook 07's ``results``."""
    v = metric_values(metric, results)
    if v["not_run"] is not None:
        return {"metric": metric.label, "synthetic vs real": "not run", "real vs real": "—", "n": "—",
                "features": one_line(v["not_run"])}
    features = one_line(" — ".join(str(t) for t in (v["invalid"], v["note"]) if t))
    return {"metric": metric.label, "synthetic vs real": fmt_value(v["synthetic"], v["synthetic_spread"]),
            "real vs real": fmt_value(v["real"], v["real_spread"]), "n": "—" if v["n"] is None else str(v["n"]),
            "features": features}


def metrics_rows(results: Mapping[str, Any], metrics: tuple[Metric, ...] | None = None) -> list[dict[str, str]]:
    """One row per metric of the table that notebook 07's ``results`` hold (``fid``,
    ``domain``, ``similarity``, ``lpips``, ``metrics``); metrics without any value or
    reason are left out."""
    rows = []
    for m in metric_table.METRICS if metrics is None else metrics:
        v = metric_values(m, results)
        if v["not_run"] is None and v["synthetic"] is None and v["real"] is None:
            continue
        rows.append(metric_row(m, results))
    return rows


def metrics_markdown(rows: list[dict[str, str]]) -> str:
    """The rows of :func:`metrics_rows` as a Markdown table (``|`` in text escaped)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]).replace("|", "\\|").replace("\n", " ") for c in COLUMNS) + " |")
    return "\n".join(lines)
