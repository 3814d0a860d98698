"""The README's table of notebook times, rendered from the runner's measurements.

``benchmarks/notebook_times.py --profile P`` writes ``benchmarks/results/notebook_times_<P>.json``
(:func:`msknb.runner.write_times`: each notebook's wall time in s, the total, the machine).
:func:`times_table` turns those files into one markdown table (a column per profile) and
:func:`update_readme` writes it between the ``<!-- notebook-times -->`` markers of the
README, so the README quotes the file, never a number typed from memory.
``tests/test_times_table.py`` checks that the README and the files agree.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from msknb.errors import DataError
from msknb.io import write_text_atomic

BEGIN, END = "<!-- notebook-times:begin -->", "<!-- notebook-times:end -->"
PROFILES = ("smoke", "quick")


def read_times(results_dir: str | Path, profiles: Sequence[str] = PROFILES) -> dict[str, dict]:
    """``{profile: times JSON}`` of the ``notebook_times_<profile>.json`` files present in
    ``results_dir``; a file that is not valid JSON raises :class:`DataError` naming it."""
    out = {}
    for p in profiles:
        path = Path(results_dir) / f"notebook_times_{p}.json"
        if path.exists():
            try:
                out[p] = json.loads(path.read_text())
            except ValueError as exc:
                raise DataError(f"not valid JSON ({exc})", path) from exc
    return out


def times_table(times: dict[str, dict]) -> str:
    """Markdown table: one row per notebook, one column of seconds per profile, a total
    row, and a line naming the machine and date of each profile's measurement."""
    if not times:
        return "_No measured times yet: run `python benchmarks/notebook_times.py --profile quick --readme`._\n"
    names = list(dict.fromkeys(nb["name"] for t in times.values() for nb in t["notebooks"]))
    secs = {p: {nb["name"]: nb.get("seconds") for nb in t["notebooks"]} for p, t in times.items()}
    fmt = lambda s: "–" if s is None else f"{s:.0f} s"  # noqa: E731
    lines = ["| notebook | " + " | ".join(times) + " |", "|---|" + "---|" * len(times)]
    lines += [f"| {n} | " + " | ".join(fmt(secs[p].get(n)) for p in times) + " |" for n in names]
    lines.append("| **total** | " + " | ".join(f"**{t['total_seconds']:.0f} s**" for t in times.values()) + " |")
    if any(t.get("wall_seconds") for t in times.values()):
        lines.append("| runner, start to end | " + " | ".join(fmt(t.get("wall_seconds")) for t in times.values()) + " |")
    lines.append("")
    for p, t in times.items():
        m = t.get("machine", {})
        lines.append(f"{p}: measured {t.get('measured', '?')} on {m.get('cpu_count', '?')} x "
                     f"{m.get('cpu_model', '?')} ({'all notebooks ok' if t.get('ok') else 'NOT all ok'}).  ")
    return "\n".join(lines) + "\n"


def readme_block(readme_text: str, path: str | Path = "README.md") -> str:
    """The text between the markers of ``readme_text``; :class:`DataError` when they are missing."""
    if BEGIN not in readme_text or END not in readme_text:
        raise DataError(f"no {BEGIN} ... {END} markers for the table of times", path)
    return readme_text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def update_readme(readme: str | Path, results_dir: str | Path) -> Path:
    """Rewrite the table between the markers of ``readme`` from ``results_dir``'s files."""
    readme = Path(readme)
    text = readme.read_text()
    readme_block(text, readme)                     # the markers must be there
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return write_text_atomic(readme, head + BEGIN + "\n" + times_table(read_times(results_dir)) + END + tail)
