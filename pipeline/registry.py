"""A name → class table whose entries are ``"module:attribute"`` strings, imported on first use.

Everything that multiplies (stages, detector and landmark backends, model architectures, sources,
sinks, corpus methods, job engines) is one ``Registry`` owned by the floor that holds the things
listed. The strings keep ``facepipe --help`` from importing torch or OpenCV, and a new entry is one
line. The core knows no entry: it only offers the table type.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from pipeline.errors import FacepipeError


class Registry(Mapping[str, str]):
    """``kind`` names what is listed ("stage", "detector backend", ...) for error messages."""

    def __init__(self, kind: str, entries: dict[str, str], setting: str = "") -> None:
        self.kind = kind
        self.setting = setting  # the config key that picks an entry, for messages ("detect.backend")
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> str:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def load(self, name: str) -> Any:
        """The class (or function) registered as ``name``; a one-line error naming the known ones."""
        if name not in self._entries:
            where = f"{self.setting} = {name!r}: " if self.setting else ""
            raise FacepipeError(f"{where}unknown {self.kind} {name!r} (known: {', '.join(self._entries)})")
        module_name, attr = self._entries[name].split(":")
        return getattr(importlib.import_module(module_name), attr)
