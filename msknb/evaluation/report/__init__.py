"""One self-contained HTML page comparing this kit's results with the paper's.

``write_report(out_dir)`` reads every ``<out_dir>/results/*.json`` (written by the
notebooks through :func:`msknb.results.save_results`) and writes
``<out_dir>/report.html`` atomically. Every number of ours comes from those files --
none is typed in here; the paper's numbers come from :mod:`msknb.paper` (typed once,
with its citation). Results that are missing are shown as "not run". Figures are static
PNGs (matplotlib) embedded as base64, so the page needs no network. Each of our tables
is annotated with the run's data set, split, resolution, epochs, seed and profile.

Modules: ``page`` (results through :func:`msknb.results.load_results`, write the page), ``sections`` and ``evaluation_section``
(one function per section), ``markup`` (formatting, tables, one-line "what to run" notes),
``figures`` (the PNGs), ``samples`` (the real-vs-synthetic grid), ``captions`` and ``dice_mt``
(each figure's one-sentence reading; Dice CIs beside the stored reference experiment).
Command line: ``python -m msknb report OUT_DIR`` (:mod:`msknb.cli.report`).
"""
from msknb.evaluation.report.markup import ANNOTATION_KEYS, NOT_RUN, annotation, fmt, fmt_fixed
from msknb.evaluation.report.page import render_report, write_report
from msknb.evaluation.report.sections import NOTEBOOKS

__all__ = ["ANNOTATION_KEYS", "NOTEBOOKS", "NOT_RUN", "annotation", "fmt", "fmt_fixed", "render_report",
           "write_report"]
