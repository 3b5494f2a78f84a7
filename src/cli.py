"""The `lowbit` command line: one dispatcher, one module per subcommand in `lowbit.commands`.

Subcommands are looked up by module so that each lives in its own small file; a listed module
that is not present yet is simply not offered.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

# The order here is the order of `lowbit --help`.
SUBCOMMANDS = ["formats", "demo", "recipes", "run", "train", "sim", "dse", "verify", "device", "export", "import_"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lowbit",
        description="Co-design low-precision number formats, learning rules and accelerator hardware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        modname = f"lowbit.commands.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        # Bad input is reported as one clear line, not a traceback.
        print(f"lowbit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
