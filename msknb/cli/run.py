"""``msknb run``: execute the notebook series headless with papermill (:mod:`msknb.runner.series`)."""
from __future__ import annotations

from msknb.artifacts import index_path
from msknb.runner.series import parse_param, run_series, write_times


def _cli_run(args) -> int:
    series = run_series(profile=args.profile, data_dir=args.data, out_dir=args.out, seed=args.seed,
                        only=args.only, report=not args.no_report,
                        params=dict(parse_param(p) for p in args.param or []), cell_timeout=args.cell_timeout)
    print(f"index: {index_path(series.out_dir)}")
    if args.times:
        print(f"times: {write_times(series, args.times)}")
    return 0 if series.ok else 1


def register(subparsers) -> None:
    """``python -m msknb run --profile quick [--only 00 07] [--times FILE.json]``."""
    p = subparsers.add_parser("run", help="execute the notebook series with papermill",
                              description="Run the notebook series headless with papermill.")
    p.add_argument("--profile", default="quick", help="smoke | quick | paper (default: quick)")
    p.add_argument("--data", default=None, help="data folder (default: shared DL_Track set, else phantoms)")
    p.add_argument("--out", default=None, help="output folder (default: outputs/<profile>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", default=None, help="run only these notebooks (e.g. 00 03)")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="extra notebook parameter, e.g. -p epochs=3 (repeatable; unknown names are an error)")
    p.add_argument("--cell-timeout", type=float, default=None, metavar="S",
                   help="seconds one cell may run (0 = no limit); default: 5x the notebook's measured time, "
                        "at least 180 s (msknb.runner.kernel_timeouts), none at paper")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report at the end")
    p.add_argument("--times", default=None, metavar="FILE.json",
                   help="also write the notebooks' times with the machine (CPU model, count) to this JSON, "
                        "e.g. benchmarks/results/notebook_times_quick.json")
    p.set_defaults(func=_cli_run)
