"""What a live output may need to know when it is built from the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class SinkContext:
    config: Any  # the app settings (``.encode``, ``.capture``, ...)
    source: Any  # the live source (not yet open: its ``audio`` feed appears on open)
    source_spec: str
    overwrite: bool = False
    on_quit: Callable[[], None] = lambda: None  # stop the session (q in a window)
    stats: Callable[[], dict] = field(default=lambda: {})  # the live figures, for outputs that show them
