"""The report's figures and readings: from a complete run folder (tests/report_fixture.py) the
page shows at least six figures, each with a one-sentence reading computed from its numbers
(sample grid, histograms, distance ratios, PCA, Dice with CIs beside the reference experiment,
Bland–Altman); no table cell is over 300 characters or holds a multi-line error; a missing part
is one line that says what to run."""
from __future__ import annotations

import html
import re

from report_fixture import write_run

from msknb.evaluation.report import write_report
from msknb.evaluation.report.markup import MAX_CELL, clip_cell, table
from msknb.results import save_results

CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
CAPTION = re.compile(r"<figure><img [^>]+><figcaption>(.*?)</figcaption></figure>", re.S)


def _cells(page: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in CELL.findall(page)]


def test_complete_run_has_six_figures_each_with_a_reading(tmp_path):
    out, ref = write_run(tmp_path)
    page = write_report(out, ref).read_text()
    captions = [html.unescape(c) for c in CAPTION.findall(page)]
    assert len(captions) >= 6 and all(len(c) > 20 for c in captions)
    text = " ".join(captions)
    assert "contrast" in text and "sharpness" in text  # sample grid: synthetic against real
    assert "skewness" in text and "L1" in text  # histograms
    assert re.search(r"PC2 \(\d+ % of variance\) [+-]\d\.\d\d SD", text)  # PCA offsets in real SDs
    assert "This run: highest test Dice" in text and "Reference experiment: highest test Dice Real" in text
    assert "95 % CI" in text and "limits of agreement" in text  # Dice with CIs, Bland–Altman
    assert re.search(r"\d ratios drawn — beyond 3x: ", text)  # the distance ratios
    assert "Not counted: " in page  # the verdict above them
    assert "Room for synthetic data (Real minus 10 %)" in page  # the reference experiment's readings


def test_no_table_cell_is_long_or_multi_line(tmp_path):
    out, ref = write_run(tmp_path)
    page = write_report(out, ref).read_text()
    cells = _cells(page)
    assert cells and max(len(c) for c in cells) <= MAX_CELL
    assert not any("Traceback" in c or "\n" in c for c in cells)
    assert "Traceback" not in page and "6726825d.pth: file not found" in page  # the reason's first line only
    assert len(clip_cell("x" * 1000)) == MAX_CELL and "<b>" in table(["a"], [["<b>kept</b>"]])


def test_missing_parts_are_one_line_saying_what_to_run(tmp_path):
    save_results(tmp_path, "07_evaluation", {"eval_image_size": 64, "fid": {"status": "not run", "reason": "a\nb\nc"}})
    page = write_report(tmp_path, tmp_path / "no-reference").read_text()
    lines = re.findall(r"<p class='notrun'>(.*?)</p>", page)
    for what in ("Real and synthetic images", "Distance ratios", "PCA", "Reference experiment", "Bland–Altman",
                 "06_muscle_thickness", "05_segmentation"):
        line = next((x for x in lines if html.unescape(x).startswith(what)), None)
        assert line is not None, what
        assert "Run <code>python -m msknb" in line and "\n" not in line, line
