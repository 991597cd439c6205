"""The one check on paths read from files (manifests, identities CSVs, ``alignments.json``).

Those files can come from anyone (a downloaded corpus, a faceset shared by a colleague), so a path
inside them is untrusted: ``../../x`` or ``/etc/passwd`` would make a reader open, or a writer
mirror, something outside the folder the user named. Every such path goes through :func:`inside`,
which resolves it (symlinks included) and refuses one that ends up outside its root.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import FacepipeError


def inside(root: str | Path, relative: object, where: str = "", follow_links: bool = True) -> Path:
    """``root / relative``, resolved, when it stays inside ``root``; else a one-line FacepipeError.

    ``where`` names the file (and line) the path came from, for the message. Absolute paths, any
    ``..`` (a writer that mirrors the path under another root must not climb out of that one either)
    and symlinks that point out are all refused; the result is the resolved path. ``follow_links=False``
    checks the name only (for a folder whose entries are symlinks by design, such as a build's inputs),
    and returns ``root / relative`` unresolved."""
    prefix = f"{where}: " if where else ""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise FacepipeError(f"{prefix}path {relative!r} is not a relative path inside {root}")
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise FacepipeError(f"{prefix}path {relative!r} leads outside {root}; refusing it")
    if not follow_links:
        return Path(root) / relative
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(base / relative))
    if not target.is_relative_to(base):
        raise FacepipeError(f"{prefix}path {relative!r} leads outside {root}; refusing it")
    return target
