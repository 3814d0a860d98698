"""Time the notebook series on this machine and write
``benchmarks/results/notebook_times_<profile>.json`` (each notebook's wall time and peak
memory, the total, the CPU model and count). The README's table of times quotes this file.

    python benchmarks/notebook_times.py --profile quick            # all notebooks
    python benchmarks/notebook_times.py --profile smoke --only 00 07
    python benchmarks/notebook_times.py --readme-only   # rewrite the README's table from the files
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from msknb.runner.series import run_series, write_times
from msknb.runner.header_times import update_headers
from msknb.runner.times_table import update_readme

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", help="smoke | quick | paper (default: quick)")
    ap.add_argument("--only", nargs="+", default=None, help="only these notebooks (e.g. 00 07)")
    ap.add_argument("--data", default=None, help="data folder (default: the runner's)")
    ap.add_argument("--out-dir", default=None, help="run folder (default: a fresh temporary folder, so nothing is cached)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/notebook_times_<profile>.json)")
    ap.add_argument("--readme", action="store_true",
                    help="then rewrite the README's table of times and the notebooks' header rows from the files")
    ap.add_argument("--readme-only", action="store_true", help="only rewrite the README's table and the headers (no run)")
    args = ap.parse_args(argv)
    readme = RESULTS.parents[1] / "README.md"
    if args.readme_only:
        print(update_readme(readme, RESULTS), *update_headers(readme.parent / "notebooks", RESULTS))
        return 0
    out = Path(args.out) if args.out else RESULTS / f"notebook_times_{args.profile}.json"
    with tempfile.TemporaryDirectory(prefix="msknb-times-") as tmp:
        series = run_series(profile=args.profile, data_dir=args.data, out_dir=args.out_dir or tmp, seed=args.seed,
                            only=args.only, report=False)
        print(write_times(series, out))
    if args.readme and out.parent == RESULTS and series.ok and not args.only:
        print(update_readme(readme, RESULTS), *update_headers(readme.parent / "notebooks", RESULTS))
    return 0 if series.ok else 1


if __name__ == "__main__":
    sys.exit(main())
