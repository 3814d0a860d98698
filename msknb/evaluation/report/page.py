"""The report page: read every ``<out_dir>/results/*.json`` and write ``<out_dir>/report.html``."""
from __future__ import annotations

import html
import time
from pathlib import Path

from msknb.errors import MsknbError
from msknb.evaluation.report.dice_mt import load_reference
from msknb.evaluation.report.evaluation_section import section_evaluation
from msknb.evaluation.report.figures import headless
from msknb.evaluation.report.markup import CSS
from msknb.evaluation.report.sections import (NOTEBOOKS, appendix, index_table, section_ddpm, section_generic,
                                              section_segmentation, section_thickness)
from msknb.io import write_text_atomic
from msknb.paper import CITATION
from msknb.results import load_results, results_dir


def render_report(out_dir: str | Path, reference_dir: str | Path | None = None) -> str:
    """The report page as an HTML string (see :func:`write_report`)."""
    headless()
    out = Path(out_dir)
    results = load_results(out)
    reference = load_reference(reference_dir)
    present = ", ".join(n for n in NOTEBOOKS if n in results) or "none"
    body = [f"<h1>msknb report — {html.escape(str(out.resolve()))}</h1>",
            f"<p class='note'>written {time.strftime('%Y-%m-%d %H:%M:%S')}; results found: {html.escape(present)}. "
            "Every number labelled <b>ours</b> is read from <code>results/*.json</code>; the paper's numbers are "
            f"reference constants from: {html.escape(CITATION)}. Our data (public DL_Track aponeurosis set, "
            "no mm calibration), resolution and training length differ from the paper's: compare trends, "
            "not digits.</p>",
            index_table(out)]
    data = results.get("00_data")
    body.append(section_generic("00_data", data, ("n_images", "n_clusters", "image_size", "n_subjects", "groups",
                                                  "label_qa_flagged")))
    for name in ("01_forward_diffusion", "02_reverse_diffusion"):
        body.append(section_generic(name, results.get(name), ()))
    body.append(section_ddpm(results))
    body.append(section_evaluation(results.get("07_evaluation"), out))
    body.append(section_segmentation(results.get("05_segmentation"), reference))
    body.append(section_thickness(results.get("06_muscle_thickness"), reference))
    body.append(appendix(results))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>msknb report</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(out_dir: str | Path, reference_dir: str | Path | None = None) -> Path:
    """Write ``<out_dir>/report.html`` (atomically) and return its path; ``reference_dir``: the
    stored reference experiment shown beside this run (default: the one in ``msknb/checkpoints``).

    Raises :class:`MsknbError` naming ``out_dir`` when it has no ``results/*.json``.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise MsknbError("output folder does not exist", out)
    if not any(results_dir(out).glob("*.json")):
        raise MsknbError("no results/*.json in this folder; run the notebooks first (python -m msknb run)", out)
    return write_text_atomic(out / "report.html", render_report(out, reference_dir))
