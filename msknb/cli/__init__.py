"""``python -m msknb <command>``: the kit's command line.

Each module with a command defines ``register_cli(subparsers)`` that adds its
sub-parser and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and
returning an exit status). Errors a user can cause (:class:`MsknbError`) are printed
as one line naming the file and the problem, without a traceback, exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from msknb.errors import MsknbError

#: the commands, in the order shown by ``--help``: ``msknb/cli/<name>.py`` defines
#: ``register(subparsers)``
COMMANDS = ("run", "phantom", "data", "train", "sample", "segment", "thickness", "measure", "report")
#: during the restructure: where a command's ``register_cli`` lived before ``cli/<name>.py``
LEGACY: dict[str, str] = {}


def _command_module(name: str):
    try:
        return importlib.import_module(f"msknb.cli.{name}"), "register"
    except ModuleNotFoundError as e:
        if e.name != f"msknb.cli.{name}":
            raise
    if name in LEGACY:
        return importlib.import_module(f"msknb.{LEGACY[name]}"), "register_cli"
    return None, None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msknb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module, attr = _command_module(name)
        if module is not None:
            getattr(module, attr)(sub)
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
