"""FaceForensics++ as its download script lays it out (``ondyari/FaceForensics``, ``download-FaceForensics.py``).

    original_sequences/youtube/{raw,c23,c40}/videos/NNN.mp4            real video NNN (person NNN)
    manipulated_sequences/<Method>/{raw,c23,c40}/videos/TTT_SSS.mp4    TTT's frames, SSS's face
    manipulated_sequences/<Method>/masks/videos/TTT_SSS.mp4            its mask video (optional)
    original_sequences/actors/..., manipulated_sequences/DeepFakeDetection/...   DFD: no split, skipped

Any method folder is read (Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter, ...); a video
not named ``NNN`` / ``TTT_SSS`` (DeepFakeDetection's actors and scenes) has no official split and is
skipped, all of them counted in one warning line.

**raw is c0.** FF++'s ``raw`` folder is what its compression script calls c0 (the lossless x264
encode), and facepipe's tree, ``--compression`` options and detector slices all say ``c0``
(``pipeline.corpus.layout.COMPRESSIONS``). So the manifest's ``compression`` is ``c0`` for ``raw``
videos while their ``path`` keeps FF++'s folder name: one name per compression everywhere facepipe
reports, and the files stay where the download put them.

**Splits** are FF++'s official ``train.json`` / ``val.json`` / ``test.json`` (in its GitHub repository
under ``dataset/splits``, not in the video download), each a list of ``[TTT, SSS]`` pairs: a real
video is in the split whose pairs hold its number, a fake in the split holding its pair in either
order. Read from ``ROOT/splits/`` unless ``--splits DIR`` says where.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import ClassVar

from pipeline.corpus.importers.common import (Candidate, Scan, SplitTable, examples, list_videos, official_splits,
                                              subfolders)
from pipeline.corpus.layout import COMPRESSIONS, MANIPULATED, ORIGINAL
from pipeline.errors import FacepipeError

FOLDERS = {"raw": "c0", "c0": "c0", "c23": "c23", "c40": "c40"}  # FF++ folder -> manifest compression
NUMBER = re.compile(r"^\d+$")
PAIR = re.compile(r"^(\d+)_(\d+)$")
SPLITS_HINT = "FF++ ships them in its GitHub repository under dataset/splits; point at them with --splits DIR"


def compression_folders(parent: Path) -> list[tuple[str, Path]]:
    """(compression, videos folder) of every ``raw``/``c0``/``c23``/``c40`` child of ``parent``."""
    return [(FOLDERS[p.name], p / "videos") for p in subfolders(parent) if p.name in FOLDERS]


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """An FF++ split file; anything but a JSON list of two-item pairs is a one-line error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FacepipeError(f"{path}: not a JSON split file ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, list) or not all(isinstance(p, list) and len(p) == 2 for p in data):
        raise FacepipeError(f"{path}: not an FF++ split file (a JSON list of [target, source] pairs)")
    return [(str(a), str(b)) for a, b in data]


class FFPPImporter:
    """Finds FF++'s videos, masks and official split pairs; see the module docstring."""

    name: ClassVar[str] = "ffpp"
    title: ClassVar[str] = "FaceForensics++"

    def __init__(self, root: Path, splits: Path | None = None) -> None:
        self.root, self.splits_dir = root, splits

    @classmethod
    def recognises(cls, root: Path) -> bool:
        return (root / "original_sequences").is_dir() or (root / MANIPULATED).is_dir()

    def scan(self) -> Scan:
        if not self.recognises(self.root):
            raise FacepipeError(f"{self.root}: not a FaceForensics++ tree (no original_sequences/ or {MANIPULATED}/)")
        warnings: list[str] = []
        candidates, unnamed = self._originals()
        if not candidates:
            warnings.append(f"no original videos ({ORIGINAL}/<compression>/videos/NNN.mp4): the manifest lists "
                            f"fakes only, and a detector needs real videos too")
        fakes, no_masks, mask_gaps, odd = self._fakes()
        candidates += fakes
        unnamed += odd
        if not candidates:
            raise FacepipeError(f"{self.root}: no FaceForensics++ videos ({ORIGINAL}/<compression>/videos/NNN.mp4 or "
                                f"{MANIPULATED}/<Method>/<compression>/videos/TTT_SSS.mp4)")
        if no_masks or mask_gaps:
            parts = [f"no masks for {', '.join(no_masks)} ({MANIPULATED}/<Method>/masks/videos)"] if no_masks else []
            parts += [f"{len(mask_gaps)} fake(s) without their mask file ({examples(mask_gaps, 2)})"] if mask_gaps else []
            warnings.append("; ".join(parts) + ": those fakes are listed without a mask")
        warnings += self._compression_gaps(candidates)
        actors = sum(len(list_videos(self.root, folder)) for _, folder in
                     compression_folders(self.root / "original_sequences" / "actors"))
        if actors or unnamed:
            where = ["original_sequences/actors"] if actors else []
            where += sorted({"/".join(Path(p).parts[:2]) for p in unnamed})
            warnings.append(f"skipped {actors + len(unnamed)} video(s) not named NNN / TTT_SSS ({', '.join(where)}): "
                            f"DeepFakeDetection has no official split")
        table = self._splits(warnings)
        return Scan(candidates, table, warnings)

    def _originals(self) -> tuple[list[Candidate], list[str]]:
        found, odd = [], []
        for compression, folder in compression_folders(self.root / ORIGINAL):
            for path in list_videos(self.root, folder):
                stem = Path(path).stem
                if NUMBER.match(stem):
                    found.append(Candidate(path, "real", stem, compression))
                else:
                    odd.append(path)
        return found, odd

    def _fakes(self) -> tuple[list[Candidate], list[str], list[str], list[str]]:
        """Fakes, methods without any mask, fakes missing their mask, videos not named TTT_SSS."""
        fakes, no_masks, gaps, odd = [], [], [], []
        for method_dir in subfolders(self.root / MANIPULATED):
            method = method_dir.name
            masks = {Path(p).stem: p for p in list_videos(self.root, method_dir / "masks" / "videos")}
            mine = []
            for compression, folder in compression_folders(method_dir):
                for path in list_videos(self.root, folder):
                    pair = PAIR.match(Path(path).stem)
                    if not pair:
                        odd.append(path)
                        continue
                    mask = masks.get(Path(path).stem)
                    if masks and mask is None:
                        gaps.append(path)
                    mine.append(Candidate(path, "fake", pair.group(1), compression, method, pair.group(2), mask=mask))
            if mine and not masks:
                no_masks.append(method)
            fakes += mine
        return fakes, no_masks, gaps, odd

    def _compression_gaps(self, candidates: list[Candidate]) -> list[str]:
        """One line: compressions the download lacks, and groups (originals, methods) missing one others have."""
        have: dict[str, set[str]] = {}
        for candidate in candidates:
            have.setdefault(candidate.method or "originals", set()).add(candidate.compression)
        found = set().union(*have.values())
        missing = [c for c in COMPRESSIONS if c not in found]
        uneven = [f"{group} lacks {', '.join(sorted(found - comps))}" for group, comps in sorted(have.items())
                  if comps != found]
        if not missing and not uneven:
            return []
        names = {"c0": "c0 (raw)"}
        parts = [f"no {' or '.join(names.get(c, c) for c in missing)} videos (importing "
                 f"{', '.join(c for c in COMPRESSIONS if c in found)})"] if missing else []
        return ["; ".join(parts + uneven)]

    def _splits(self, warnings: list[str]) -> SplitTable | None:
        return official_splits(self.splits_dir or self.root / "splits", ".json", self.splits_dir is not None,
                               "FF++'s official split pairs", SPLITS_HINT, warnings, read_pairs, both_orders=True)
