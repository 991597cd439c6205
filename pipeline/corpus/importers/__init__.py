"""``facepipe corpus import ROOT``: a manifest for a dataset someone else made, so facepipe reads it.

Every reader of a corpus (``detector train``/``eval``, ``corpus verify``/``export``, ``bench/attack.py``)
reads only ``ROOT/manifest.jsonl``. An importer writes that manifest for a downloaded tree, in place,
touching nothing else (``manifest.csv`` and ``perturbations.txt`` beside it; with ``faces`` the face
cache under ``.facepipe/`` that ``corpus export`` cuts frames with).

A format is one module and one line in ``IMPORTERS``: a class with ``name``, ``title``,
``recognises(root)`` (for ``--format auto``) and ``scan()`` returning the videos it found and the
official splits (``common.Scan``); what follows (the split rule, frame counts, the manifest) is shared.
``auto`` tries the formats in table order: DeeperForensics first, since its tree may also hold FF++'s
``original_sequences`` (its real side).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.corpus.importers.common import ImportResult, Progress, Warn, check_existing, write_import
from pipeline.errors import FacepipeError
from pipeline.registry import Registry

if TYPE_CHECKING:
    from pipeline.config import Config

IMPORTERS = Registry("corpus format", {
    "deeperforensics": "pipeline.corpus.importers.deeperforensics:DeeperForensicsImporter",
    "ffpp": "pipeline.corpus.importers.ffpp:FFPPImporter",
}, setting="--format")


def detect_format(root: Path) -> str:
    """The first format whose layout ``root`` has; neither is a one-line error."""
    for name in IMPORTERS:
        if IMPORTERS.load(name).recognises(root):
            return name
    raise FacepipeError(f"{root}: neither a FaceForensics++ tree (original_sequences/, manipulated_sequences/) nor a "
                        f"DeeperForensics-1.0 tree (manipulated_videos/); nothing to import")


def import_corpus(root: str | Path, fmt: str = "auto", splits: str | Path | None = None, overwrite: bool = False,
                  warn: Warn | None = None, progress: Progress | None = None,
                  config: Config | None = None) -> ImportResult:
    """Write ``root/manifest.jsonl`` for a FaceForensics++ or DeeperForensics-1.0 tree; ``config`` also
    caches the originals' faces (for ``corpus export``). Bad input is a one-line FacepipeError."""
    folder = Path(root)
    if not folder.is_dir():
        raise FacepipeError(f"corpus not found: {folder}")
    if splits is not None and not Path(splits).is_dir():
        raise FacepipeError(f"--splits {splits}: not a folder")
    name = detect_format(folder) if fmt == "auto" else fmt
    importer = IMPORTERS.load(name)(folder, Path(splits) if splits is not None else None)
    check_existing(folder, overwrite)
    scan = importer.scan()
    return write_import(folder, name, importer.title, scan, warn or (lambda message: None), progress, config)
