"""The ``facepipe`` entry point: parses arguments, runs a subcommand, turns errors into one line.

Every user-fixable problem is a :class:`FacepipeError`: printed as ``facepipe: error: ...`` with a
non-zero exit and no traceback. Ctrl-C exits with 130 after the command has cleaned up.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pipeline import __version__
from pipeline.cli.commands import COMMANDS
from pipeline.errors import FacepipeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facepipe", description="Video face pipeline: convert, extract, train, live, corpus.")
    parser.add_argument("--version", action="version", version=f"facepipe {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"pipeline.cli.commands.{name}").register(subparsers)
    for sub in subparsers.choices.values():
        sub.set_defaults(parser=sub)  # so that a stray argument is reported with that command's usage
    return parser


def error(message: str) -> None:
    print(f"facepipe: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        owner = getattr(args, "parser", None) or parser
        hint = getattr(args, "extra_hint", "")
        owner.error(f"unrecognized arguments: {' '.join(extra)}" + (f" ({hint})" if hint else ""))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FacepipeError as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted; partial output removed")
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
