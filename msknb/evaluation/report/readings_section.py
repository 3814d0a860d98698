"""The report's readings: paired-bootstrap CIs between experiments (05, 06: results key
``"readings"``, dicts of :func:`msknb.readings.read_comparison`), notebook 07's
verdict (``"verdict"``, :func:`msknb.evaluation.verdict.synthetic_verdict`) and the
generator's overlap with the test split (``"generator_test_overlap"``).

The numbers are the notebooks' own (read from their results JSON, nothing recomputed). A
notebook that ran but wrote no such key (an older run), a garbled value or a reading
without some field gives a line saying what is missing, never an exception."""
from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from msknb.evaluation.report.markup import fmt, table

def _signed(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return "—"
    return f"{value:+.3g}"


def _missing_line(what: str, source: str, why: str) -> str:
    return f"<p class='warn'>{html.escape(what)}: missing — {html.escape(source)} {html.escape(why)}.</p>"


def readings_html(readings: Any, title: str = "Readings", source: str = "the notebook") -> str:
    """A table (comparison, metric, difference, 95 % CI, n, reading, paper) and each reading's
    sentence (and its ``explanation``), from the list of reading dicts ``readings``.

    ``None`` (the notebook wrote no ``"readings"``: pass ``results.get("readings")``) or not a list:
    one line saying the readings are missing and why; an empty list: one line saying no pair
    of compared experiments ran; entries that are not dicts are left out and counted."""
    if readings is None:
        return _missing_line(title, source, "wrote no \"readings\" in its results (rerun it with this kit)")
    if not isinstance(readings, (list, tuple)):
        return _missing_line(title, source, f"wrote \"readings\" as {type(readings).__name__}, not a list")
    good = [r for r in readings if isinstance(r, Mapping)]
    if not good:
        return (f"<p class='note'>{html.escape(title)}: none — fewer than two of the compared experiments ran"
                + (f" ({len(readings)} unreadable entries)" if readings else "") + ".</p>")
    rows, texts = [], []
    for r in good:
        ci = f"{_signed(r.get('ci_low'))} to {_signed(r.get('ci_high'))}"
        rows.append([html.escape(f"{r.get('b', '?')} vs {r.get('a', '?')}"), html.escape(str(r.get("metric", "?"))),
                     _signed(r.get("diff")), ci, fmt(r.get("n")), html.escape(str(r.get("direction", "—"))),
                     _signed(r.get("paper_diff"))])
        text = r.get("text") or "(this reading has no sentence)"
        texts.append(f"<li>{html.escape(str(text))}"
                     + (f"<br><i>Why:</i> {html.escape(str(r['explanation']))}" if r.get("explanation") else "")
                     + "</li>")
    skipped = len(readings) - len(good)
    return (f"<h4>{html.escape(title)}</h4>"
            + table(("comparison", "metric", "difference (b − a)", "95 % CI (paired bootstrap)", "n", "reading",
                     "paper difference"), rows)
            + f"<ul class='note'>{''.join(texts)}</ul>"
            + (f"<p class='warn'>{skipped} unreadable reading(s) left out.</p>" if skipped else ""))


def verdict_html(results: Mapping[str, Any]) -> str:
    """Notebook 07's distance ratios and the verdict drawn from them, from 07's ``results``.
    No ``"verdict"`` key (an older run): a line saying the verdict is missing; ``None`` (07
    had no synthetic set): a line saying why there is none (``fallback_reason``); no rows:
    the verdict sentence alone."""
    if "verdict" not in results:
        return _missing_line("Verdict", "07_evaluation", "wrote no \"verdict\" in its results (rerun it with this kit)")
    verdict = results["verdict"]
    if verdict is None:
        why = results.get("fallback_reason") or "no synthetic set"
        return f"<p class='warn'>Verdict: none — {html.escape(str(why))}.</p>"
    if not isinstance(verdict, Mapping):
        return _missing_line("Verdict", "07_evaluation", f"wrote \"verdict\" as {type(verdict).__name__}, not a dict")
    rows = [[html.escape(str(r.get("metric"))), fmt(r.get("synthetic")), fmt(r.get("real_vs_real")),
             "—" if r.get("ratio") is None else f"{fmt(r['ratio'], 3)}×", html.escape(str(r.get("how"))),
             html.escape(str(r.get("reading")))] for r in (verdict.get("rows") or []) if isinstance(r, Mapping)]
    sentence = f"<p><b>{html.escape(str(verdict.get('verdict') or 'no verdict sentence recorded'))}</b></p>"
    if not rows:
        return "<h4>Verdict</h4>" + sentence
    return ("<h4>Verdict</h4>"
            + table(("metric", "synthetic vs real", "real vs real", "ratio", "what the ratio is", "reading"), rows)
            + sentence)


def overlap_html(results: Mapping[str, Any], source: str = "the notebook") -> str:
    """One line: how many test images the generator was trained on (must be 0), that its
    provenance is unknown (``None``), or that ``source`` did not record it (key absent)."""
    if "generator_test_overlap" not in results:
        return _missing_line("Generator overlap with the test split", source,
                             "did not record \"generator_test_overlap\"")
    n = results["generator_test_overlap"]
    if n is None:
        return ("<p class='warn'>Generator provenance unknown: its overlap with the test split could not be "
                "checked.</p>")
    cls = "warn" if n else "note"
    return f"<p class='{cls}'>Test images the generator was trained on: <b>{fmt(n)}</b> (must be 0).</p>"
