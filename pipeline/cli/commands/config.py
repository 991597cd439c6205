"""``facepipe config``: print the effective configuration (or the documented defaults) as TOML."""

from __future__ import annotations

import argparse

from pipeline.cli.commands.common import add_config_options
from pipeline.cli.settings import load_config
from pipeline.cli.configdoc import render


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="print the effective configuration as documented TOML")
    parser.add_argument("--defaults", action="store_true", help="print the built-in defaults (what pipeline.toml holds)")
    add_config_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    config = None if args.defaults else load_config(args.config, args.set)
    print(render(config), end="")
    return 0
