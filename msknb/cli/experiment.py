"""``msknb experiment``: the stored reference experiment of the segmentation grid.

``run`` trains and scores the cells not stored yet (resumable, hours on a CPU; see
:mod:`msknb.evaluation.reference`); ``summary --json`` prints the stored results as one
JSON object; ``replace --from FOLDER`` swaps in the synthetic-data cells trained again in
FOLDER (on a set drawn by a newer generator), keeping the CPU-hours of those it replaces:
``resolution``, ``n_seeds``, ``cpu_hours``, ``generator``, ``dice`` (experiment
-> mean test Dice over seeds and draws), ``real_minus_10pct``, ``gain_10pct``,
``gain_10pct_vs_control`` (each ``mean``, ``ci_low``, ``ci_high``), ``gen_over_real``.
"""
from __future__ import annotations

import json
import shlex
import sys

from msknb.evaluation.reference.plan import (SEEDS, all_cells, gen_cells, keep_fractions, real_cells, scarce_cells,
                                             uses_generator)
from msknb.evaluation.reference.run import current_commit, run_cells
from msknb.evaluation.reference.store import REFERENCE_DIR, read_reference, replace_cells
from msknb.evaluation.reference.summary import summarise_reference


def _run(args) -> int:
    if args.part == "scarce":
        cells = scarce_cells(seeds=args.seeds, draws=args.draws)
    else:
        cells = {"all": all_cells, "real": real_cells, "gen": gen_cells}[args.part](seeds=args.seeds)
    if args.fractions:
        cells = keep_fractions(cells, args.fractions)
    command = "python -m msknb " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    run_cells(args.data, cells, folder=args.folder, state_dir=args.state_dir, max_seconds=args.max_seconds,
              threads=args.threads, progress=not args.quiet, command=command)
    return 0


def _replace(args) -> int:
    names = [c.name for c in gen_cells(SEEDS) if uses_generator(c)]
    before = len(read_reference(args.folder)["meta"].get("superseded", []))
    meta = replace_cells(args.folder, args.source, names, current_commit())
    last = meta["superseded"][-1] if len(meta.get("superseded", [])) > before else None
    print(f"{len(names)} cells of {args.folder} now come from {args.source}; "
          + (f"the {len(last['cells'])} replaced ({last['cpu_hours']:.2f} CPU-hours) stay in git history at "
             f"{last['in_git_history_at']}" if last else "they were already there"))
    return 0


def _summary(args) -> int:
    s = summarise_reference(args.folder, clean=args.clean)
    if args.json:
        print(json.dumps(s, indent=1))
    else:
        for name, d in sorted(s["dice"].items()):
            print(f"{name:>22}: test Dice {d:.3f} over {s['n_cells'][name]} model(s)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="the stored reference experiment (run it, or summarise it)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = sub.add_parser("run", help="train and score the cells not stored yet (resumable)")
    r.add_argument("--data", required=True, help="the DL_Track folder (../shared/data/dltrack_apo)")
    r.add_argument("--folder", default=str(REFERENCE_DIR), help="where results are stored")
    r.add_argument("--state-dir", default="outputs/reference_state", help="resumable training states")
    r.add_argument("--max-seconds", type=float, default=None, help="no new cell after this much time")
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    r.add_argument("--fractions", type=float, nargs="+", default=None,
                   help="only these training fractions, e.g. 0.1 (the Gen cells the 10 %% pretrain starts from come along)")
    r.add_argument("--part", choices=("all", "real", "gen", "scarce"), default="all",
                   help="which cells: all (default), the real-data ones, those using the synthetic set, or the "
                        "scarce-label setting (a generator fine-tuned on the 10 %% subset's pairs only)")
    r.add_argument("--draws", type=int, nargs="+", default=[0], help="10 %% subset draws of --part scarce")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=_run)
    x = sub.add_parser("replace", help="swap in the synthetic-data cells trained again in another folder")
    x.add_argument("--from", dest="source", required=True, help="the folder holding every synthetic-data cell")
    x.add_argument("--folder", default=str(REFERENCE_DIR), help="the folder whose cells are replaced")
    x.set_defaults(func=_replace)
    s = sub.add_parser("summary", help="the stored results: mean Dice per experiment and the paired CIs")
    s.add_argument("--folder", default=str(REFERENCE_DIR))
    s.add_argument("--json", action="store_true", help="one JSON object")
    s.add_argument("--clean", action="store_true", help="leave out test pairs label QA flags")
    s.set_defaults(func=_summary)
