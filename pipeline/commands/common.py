"""Options and steps shared by several subcommands."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="TOML", help="configuration file overriding pipeline.toml")
    parser.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[],
                        help="override one config key, e.g. --set encode.crf=20 (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path`` and rename, so readers never see half a file."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temp, path)
