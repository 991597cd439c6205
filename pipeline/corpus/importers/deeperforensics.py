"""DeeperForensics-1.0 as its unzip script lays it out (``EndlessSora/DeeperForensics-1.0``, dataset/README.md).

    manipulated_videos/<variant>/NNN_AXXX.mp4       FF++ target video NNN, actor AXXX's face (M/W + 3 digits)
    lists/splits/{train,val,test}.txt               one fake file name per line (the same name in every variant)
    lists/manipulated_videos_distortions_meta/manipulated_videos_<variant>_meta.txt
                                                    ``<video path> TYPE:LEVEL ...`` per perturbed video
    source_videos/<actor>/...                       the actors' studio recordings (not used, see below)

The eleven variants of the same 1,000 swaps, as the dataset documents them:

- clean: ``end_to_end`` (DF-VAE, method ``DF-VAE``) and ``reenact_postprocess`` (DF-VAE's reenacted faces
  post-processed by hand, method ``DF-VAE-reenact``);
- perturbed copies of ``end_to_end``: ``end_to_end_level_{1..5}`` (random-type distortions at one level),
  ``end_to_end_random_level`` (random type and level) and ``end_to_end_mix_{2,3,4}_distortions`` (2-4 mixed).
  Their manifest ``perturbation`` is ``[<variant>]`` and ``variant`` the folder, so ``detector train``
  (clean only) leaves them out and ``detector eval`` gives each variant its robustness row, as the
  paper's std / std-sing / std-rand settings group them; the meta file's per-video distortions, when
  present, are kept in ``distortions``. Any other folder is skipped with one warning line.

**Reals.** The dataset says its real side is the *target* videos, FF++'s YouTube originals at c23,
which it does not redistribute; the actors' ``source_videos`` are explicitly not the real part (studio
footage of other people: a detector would learn the studio). So, as DeepfakeBench does, reals are
``original_sequences/youtube/c23/videos/NNN.mp4`` inside ROOT (put FF++'s c23 originals there; a
symlink out of ROOT is refused like every path). Other compressions of them are not listed, since
every DeeperForensics fake pairs with a c23 target (a detector would otherwise learn compression),
and the fakes are listed as ``c23`` too. A DeeperForensics-only tree gives fakes only, with one
warning line: ``detector train`` then refuses it until the originals are added.

**Splits**: the official lists (``ROOT/lists/splits`` or ``--splits DIR``) name fakes; a fake's target
NNN and actor AXXX take its split, a real NNN the split of its fakes. The lists group fakes by actor,
so no person is in two splits; a name breaking that is left out with the shared leak rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from pipeline.corpus.importers.common import (Candidate, Scan, SplitTable, examples, list_videos, official_splits,
                                              subfolders)
from pipeline.corpus.importers.ffpp import compression_folders
from pipeline.corpus.layout import ORIGINAL
from pipeline.errors import FacepipeError

MANIPULATED = "manipulated_videos"
CLEAN = {"end_to_end": "DF-VAE", "reenact_postprocess": "DF-VAE-reenact"}
PERTURBED = re.compile(r"^end_to_end_(level_[1-5]|random_level|mix_[2-4]_distortions)$")
NAME = re.compile(r"^(\d+)_([A-Za-z]\d+)$")
COMPRESSION = "c23"  # the targets' compression; the fakes are made from c23 targets
META = "lists/manipulated_videos_distortions_meta"
SPLITS_HINT = "DeeperForensics ships them under lists/splits; point at them with --splits DIR"


def read_names(path: Path) -> list[str]:
    """A split list: one fake file name (or path) per line -> file stems."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FacepipeError(f"{path}: not a readable split list ({exc.__class__.__name__})") from None
    return [Path(line.strip().replace("\\", "/")).stem for line in text.splitlines() if line.strip()]


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """A split list's (target, source) pairs: ``NNN_MXXX`` names; other lines are not fakes and are skipped."""
    return [(name.group(1), name.group(2)) for name in map(NAME.match, read_names(path)) if name]


def read_meta(path: Path) -> dict[str, tuple[str, ...]]:
    """``<video path> TYPE:LEVEL ...`` lines -> stem -> distortions (order kept: it is the order applied)."""
    if not path.is_file():
        return {}
    meta = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            meta[Path(parts[0].replace("\\", "/")).stem] = tuple(parts[1:])
    return meta


class DeeperForensicsImporter:
    """Finds DeeperForensics-1.0's fakes, their FF++ targets and the official split lists."""

    name: ClassVar[str] = "deeperforensics"
    title: ClassVar[str] = "DeeperForensics-1.0"

    def __init__(self, root: Path, splits: Path | None = None) -> None:
        self.root, self.splits_dir = root, splits

    @classmethod
    def recognises(cls, root: Path) -> bool:
        return (root / MANIPULATED).is_dir()

    def scan(self) -> Scan:
        if not self.recognises(self.root):
            raise FacepipeError(f"{self.root}: not a DeeperForensics-1.0 tree (no {MANIPULATED}/)")
        warnings: list[str] = []
        candidates, unknown, odd = self._fakes()
        if not candidates:
            raise FacepipeError(f"{self.root}: no DeeperForensics fakes ({MANIPULATED}/<variant>/NNN_MXXX.mp4)")
        if unknown or odd:
            parts = [f"unknown variant folder(s) {', '.join(unknown)}"] if unknown else []
            parts += [f"{len(odd)} video(s) not named NNN_MXXX ({examples(odd, 2)})"] if odd else []
            warnings.append(f"skipped {'; '.join(parts)}")
        reals, others = self._originals()
        if not reals:
            warnings.append(f"no FF++ target videos in {ORIGINAL}/c23/videos (DeeperForensics' real side, not part "
                            f"of its download; its source_videos are not the real part): the manifest lists fakes only, "
                            f"and a detector needs real videos too")
        if others:
            warnings.append(f"{ORIGINAL}/{{{','.join(others)}}}: not listed (DeeperForensics' fakes pair with c23 "
                            f"targets; other compressions of the reals alone would teach a detector compression)")
        table = self._splits(warnings)
        return Scan(reals + candidates, table, warnings)

    def _fakes(self) -> tuple[list[Candidate], list[str], list[str]]:
        found, unknown, odd = [], [], []
        for folder in subfolders(self.root / MANIPULATED):
            variant = folder.name
            perturbed = bool(PERTURBED.match(variant))
            if variant not in CLEAN and not perturbed:
                unknown.append(variant)
                continue
            meta = read_meta(self.root / META / f"manipulated_videos_{variant}_meta.txt") if perturbed else {}
            for path in list_videos(self.root, folder) + list_videos(self.root, folder / "videos"):
                stem = Path(path).stem
                name = NAME.match(stem)
                if not name:
                    odd.append(path)
                    continue
                found.append(Candidate(path, "fake", name.group(1), COMPRESSION, CLEAN.get(variant, "DF-VAE"),
                                       name.group(2), variant=variant if perturbed else "",
                                       perturbation=(variant,) if perturbed else (), distortions=meta.get(stem, ())))
        return found, unknown, odd

    def _originals(self) -> tuple[list[Candidate], list[str]]:
        """The c23 FF++ targets, and the other compression folders found (not listed)."""
        reals, others = [], []
        for compression, folder in compression_folders(self.root / ORIGINAL):
            paths = [p for p in list_videos(self.root, folder) if Path(p).stem.isdigit()]
            if compression == COMPRESSION:
                reals += [Candidate(p, "real", Path(p).stem, compression) for p in paths]
            elif paths:
                others.append(folder.parent.name)
        return reals, others

    def _splits(self, warnings: list[str]) -> SplitTable | None:
        return official_splits(self.splits_dir or self.root / "lists" / "splits", ".txt", self.splits_dir is not None,
                               "DeeperForensics' split lists", SPLITS_HINT, warnings, read_pairs, both_orders=False)
