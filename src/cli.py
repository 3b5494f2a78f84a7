"""The `lowbit` command line: one dispatcher, one module per subcommand in `lowbit.commands`, each
imported here by name and registered in the order of `lowbit --help`."""
from __future__ import annotations

import argparse
import os
import sys

from lowbit.commands import demo, device, dse, export, formats, import_, recipes, run, sim, train, verify

# The order here is the order of `lowbit --help`.
SUBCOMMANDS = (formats, demo, recipes, run, train, sim, dse, verify, device, export, import_)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lowbit",
        description="Co-design low-precision number formats, learning rules and accelerator hardware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in SUBCOMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        from lowbit.numerics.backend import ENV, check_backend
        check_backend(os.environ.get(ENV) or None, ENV)   # a misspelled LOWBIT_BACKEND fails before any work
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        # Bad input is reported as one clear line, not a traceback.
        print(f"lowbit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
