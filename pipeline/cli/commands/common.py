"""Options and steps shared by several subcommands."""

from __future__ import annotations

import argparse


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="TOML", help="configuration file overriding pipeline.toml")
    parser.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[],
                        help="override one config key, e.g. --set encode.crf=20 (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
