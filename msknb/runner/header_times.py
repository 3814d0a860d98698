"""The "How long it runs" row in each notebook's header, written from the runner's measured
times (the same files as the README's table, :mod:`msknb.runner.times_table`), so the
notebooks and the README quote one measurement.

A header holds ``| smoke | quick | paper |`` then one row: the smoke and quick cells are
rewritten from ``notebook_times_<profile>.json``; the paper cell (not measured on a CPU) and
the rest of the header are kept, and the sentence "measured by the runner ... on <date>"
gets the measurement's date.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import nbformat

from msknb.runner.times_table import read_times

HEADER_ROW = "| smoke | quick | paper |\n|---|---|---|\n"
_ROW = re.compile(re.escape(HEADER_ROW) + r"\|([^|\n]*)\|([^|\n]*)\|([^\n]*)\|")
_DATE = re.compile(r"(measured by the runner \(`python -m msknb run`\) on )([0-9]{1,2} [A-Z][a-z]{2} [0-9]{4})")


def _fmt(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.0f} s"


def header_text(text: str, smoke: float | None, quick: float | None, date: str | None) -> str:
    """``text`` (a header cell) with its smoke and quick times (s) and measurement date replaced."""
    text = _ROW.sub(lambda m: f"{HEADER_ROW}| {_fmt(smoke)} | {_fmt(quick)} |{m.group(3)}|", text, count=1)
    return _DATE.sub(lambda m: m.group(1) + date, text, count=1) if date else text


def update_headers(notebooks_dir: str | Path, results_dir: str | Path) -> list[Path]:
    """Rewrite the header row of every notebook in ``notebooks_dir`` that has a measured time;
    returns the notebooks changed."""
    times = read_times(results_dir)
    secs = {p: {nb["name"]: nb.get("seconds") for nb in t["notebooks"]} for p, t in times.items()}
    stamp = times.get("quick", times.get("smoke", {})).get("measured")
    date = datetime.fromisoformat(stamp).strftime("%-d %b %Y") if stamp else None
    changed = []
    for path in sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown" and HEADER_ROW in cell.source:
                new = header_text(cell.source, secs.get("smoke", {}).get(path.stem),
                                  secs.get("quick", {}).get(path.stem), date)
                if new != cell.source:
                    cell.source = new
                    nbformat.write(nb, path)
                    changed.append(path)
                break
    return changed
