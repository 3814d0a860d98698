"""``msknb report OUT_DIR``: write OUT_DIR/report.html from OUT_DIR/results/*.json."""
from __future__ import annotations

from msknb.evaluation.report import write_report


def _cli_report(args) -> int:
    page = write_report(args.out_dir)
    print(page)
    return 0


def register(subparsers) -> None:
    """``python -m msknb report OUT_DIR``."""
    p = subparsers.add_parser("report", help="write OUT_DIR/report.html from OUT_DIR/results/*.json",
                              description="One self-contained HTML page comparing this kit's results with the paper's.")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder of a run (holds results/)")
    p.set_defaults(func=_cli_report)
