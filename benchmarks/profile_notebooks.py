"""Where the time of a notebook goes: run its code cells in this process (the parameters
cell replaced by the profile's values) under cProfile and write, per notebook, each
cell's wall time and, for the heaviest cells, the functions with the most cumulative time
to ``benchmarks/results/profile_<profile>.json`` (with the machine).

    python benchmarks/profile_notebooks.py --profile smoke --only 00 07
    python benchmarks/profile_notebooks.py --profile quick --only 00 07 --out-dir /tmp/run  # reuse a run's outputs

Cells run as in the kernel, but headless (matplotlib Agg, figures closed, widgets not
shown), so the times are those of the computation, not of drawing in a browser.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import nbformat

from msknb.io import write_json_atomic
from msknb.paths import NOTEBOOKS_DIR, default_data_dir
from msknb.runner.machine import machine_info
from msknb.runner.series import list_notebooks

RESULTS = Path(__file__).resolve().parent / "results"


def _top_functions(prof: cProfile.Profile, n: int) -> list[dict[str, Any]]:
    """The ``n`` functions with the most cumulative time (s), msknb/scientific code first in view."""
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, name), (cc, nc, tt, ct, _) in st.stats.items():  # type: ignore[attr-defined]
        if name in ("<module>", "exec", "<built-in method builtins.exec>") or file == "~" and "exec" in name:
            continue
        where = file if file == "~" else f"{Path(file).parent.name}/{Path(file).name}:{line}"
        rows.append({"function": f"{where} {name}", "calls": nc, "cumulative_s": round(ct, 3), "own_s": round(tt, 3)})
    rows.sort(key=lambda r: -r["cumulative_s"])
    return rows[:n]


def profile_notebook(path: Path, params: dict[str, Any], heavy_s: float = 0.5, top: int = 12) -> dict[str, Any]:
    """Run ``path``'s code cells with ``params`` in a fresh namespace; per-cell times and profiles."""
    nb = nbformat.read(str(path), as_version=4)
    ns: dict[str, Any] = {"__name__": "__main__"}
    cells, total = [], 0.0
    cwd = os.getcwd()
    os.chdir(path.parent)  # as papermill runs a notebook: in its folder
    try:
        for k, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            source = cell.source
            if "parameters" in cell.metadata.get("tags", []):
                source += "\n" + "\n".join(f"{name} = {value!r}" for name, value in params.items())
            prof = cProfile.Profile()
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                prof.enable()
                exec(compile(source, f"{path.stem}[{k}]", "exec"), ns)  # noqa: S102 - our own notebooks
                prof.disable()
            seconds = time.perf_counter() - start
            plt.close("all")
            total += seconds
            entry = {"cell": k, "first_line": source.strip().splitlines()[0][:80] if source.strip() else "",
                     "seconds": round(seconds, 3)}
            if seconds >= heavy_s:
                entry["top_functions"] = _top_functions(prof, top)
            cells.append(entry)
    finally:
        os.chdir(cwd)
    cells_by_time = sorted(cells, key=lambda c: -c["seconds"])
    return {"notebook": path.stem, "seconds_cells": round(total, 2), "cells": cells,
            "heaviest_cells": [c["cell"] for c in cells_by_time[:3]]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--only", nargs="+", default=["00", "07"])
    ap.add_argument("--data", default=None)
    ap.add_argument("--out-dir", default=None, help="the run's output folder (default: a fresh temporary one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default="", help="a word stored with the result, e.g. 'before' or 'after'")
    ap.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/profile_<profile>.json)")
    args = ap.parse_args(argv)
    matplotlib.use("Agg")
    out = Path(args.out) if args.out else RESULTS / f"profile_{args.profile}.json"
    with tempfile.TemporaryDirectory(prefix="msknb-profile-") as tmp:
        run_dir = Path(args.out_dir or tmp).resolve()
        params = {"profile": args.profile, "data_dir": str(Path(args.data or default_data_dir()).resolve()),
                  "out_dir": str(run_dir), "seed": args.seed}
        notebooks = [profile_notebook(p, params) for p in list_notebooks(NOTEBOOKS_DIR, args.only)]
    write_json_atomic(out, {"profile": args.profile, "label": args.label, "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
                            "machine": machine_info(), "method": "cProfile, code cells run in-process, headless",
                            "notebooks": notebooks})
    for nb in notebooks:
        print(f"{nb['notebook']}: {nb['seconds_cells']} s in cells; heaviest cells {nb['heaviest_cells']}")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
