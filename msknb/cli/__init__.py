"""``python -m msknb <command>``: the kit's command line.

One file per command (``msknb/cli/<command>.py``) defines ``register(subparsers)`` that adds
its sub-parser and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and
returning an exit status). Errors a user can cause (:class:`MsknbError`) are printed
as one line naming the file and the problem, without a traceback, exit status 2.
"""
from __future__ import annotations

import argparse
import sys

from msknb.cli import data, experiment, measure, phantom, report, run, sample, segment, thickness, train
from msknb.errors import MsknbError

#: the commands' modules, in the order shown by ``--help``; each defines ``register(subparsers)``
COMMANDS = (run, phantom, data, train, sample, segment, thickness, measure, experiment, report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msknb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status = args.func(args)
    except MsknbError as e:
        print(f"msknb {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"msknb {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
